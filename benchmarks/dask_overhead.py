"""`sis check --preset all` on the reference kernel through an already-running local Dask
cluster (2 worker processes x 2 threads, TLS, loopback) against the local executor at the same
parallelism (-j 4: the default on 2 CPUs), rounds interleaved, medians reported: the overhead
ratio (goal <= 1.2x) and the time to the first result of each.

Also the numbers the 100-workers / 10,000-jobs estimate in docs/fleet.md rests on: the
scheduler's memory per waiting job task, the bytes a result and a job's files take on the way
back, a cluster's start-up, and what importing the client costs a command.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROUNDS = int(os.environ.get("SIS_BENCH_ROUNDS", "3"))
PARALLEL = 4


def one_check(executor: str, options: dict) -> dict:
    from sis.harness.commands.check import plan
    from sis.harness.plan import run_plan
    from sis.harness.results import exit_code

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        p = plan(["sim"], "all", [], out, PARALLEL, None, Path(tmp) / "baselines", executor)
        p.executor_options = options
        first: list[float] = []
        started = time.perf_counter()
        results = run_plan(
            p, on_result=lambda r: first or first.append(time.perf_counter() - started)
        )
        wall = time.perf_counter() - started
        files = [f for f in (out / "targets").rglob("*") if f.is_file()]
        data = sum(f.stat().st_blocks * 512 for f in files)
        return {
            "wall_s": wall,
            "first_result_s": first[0] if first else None,
            "exit": exit_code(results),
            "results": len(results),
            "result_bytes": (out / "results.jsonl").stat().st_size,
            "file_data_bytes": data,
            "files": len(files),
        }


def scheduler_bytes_per_task(n: int = 1000) -> float | None:
    """Scheduler RSS growth per job-like task left waiting (it asks for a resource nobody has,
    as a job waits for a free VM slot), on a cluster of its own, submitted in one call."""
    from distributed import Client, LocalCluster

    def rss(dask_scheduler=None) -> int:  # noqa: ANN001
        import gc

        import psutil

        gc.collect()
        return psutil.Process().memory_info().rss

    job = {"target": "sim", "preset": "default", "phases": ["suites", "metrics"], "options": {}}
    with (
        LocalCluster(
            n_workers=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        before = client.run_on_scheduler(rss)
        futures = client.map(
            _job_like, [dict(job, n=i) for i in range(n)], pure=False, resources={"none": 1}
        )
        time.sleep(3)
        after = client.run_on_scheduler(rss)
        client.cancel(futures)
    return (after - before) / n


def _job_like(job: dict) -> dict:
    return job


def import_seconds() -> float:
    code = (
        "import time; t = time.perf_counter(); import distributed; print(time.perf_counter() - t)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(r.stdout.strip())


def main() -> None:
    from distributed import Client, LocalCluster, Security

    from sis.harness.executors.dask_worker import SisWorkerPlugin

    t0 = time.perf_counter()
    security = Security.temporary()
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=PARALLEL // 2,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        worker_dashboard_address=None,
        security=security,
        protocol="tls://",
    )
    client = Client(cluster, security=security)
    client.register_plugin(SisWorkerPlugin(), name="sis")
    cluster_start = time.perf_counter() - t0
    dask_opts = {"scheduler": cluster.scheduler_address, "security": security}

    local, dask = [], []
    for _ in range(ROUNDS):
        local.append(one_check("local", {}))
        dask.append(one_check("dask", dask_opts))
    client.close()
    cluster.close()
    per_task = scheduler_bytes_per_task()

    def med(runs: list[dict], key: str) -> float:
        return round(statistics.median(r[key] for r in runs), 3)

    ratio = med(dask, "wall_s") / med(local, "wall_s")
    print(
        json.dumps(
            {
                "benchmark": "dask_overhead",
                "workload": "sis check --preset all, reference kernel, 4 jobs, -j 4",
                "baseline": "local executor (-j 4), same run, rounds interleaved",
                "rounds": ROUNDS,
                "local_wall_s": med(local, "wall_s"),
                "dask_wall_s": med(dask, "wall_s"),
                "overhead_ratio": round(ratio, 3),
                "goal_ratio": 1.2,
                "meets_goal": ratio <= 1.2,
                "local_first_result_s": med(local, "first_result_s"),
                "dask_first_result_s": med(dask, "first_result_s"),
                "exits": sorted({r["exit"] for r in local + dask}),
                "results_per_run": dask[0]["results"],
                "result_json_bytes_per_result": round(dask[0]["result_bytes"] / dask[0]["results"]),
                "file_data_bytes_per_job": dask[0]["file_data_bytes"] // 4,
                "files_per_job": dask[0]["files"] // 4,
                "cluster_start_s": round(cluster_start, 2),
                "client_import_distributed_s": round(import_seconds(), 2),
                "scheduler_bytes_per_waiting_task": round(per_task),
                "load_average_1m": round(os.getloadavg()[0], 1),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
