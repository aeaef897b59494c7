"""`sis soak`: hours of workload on one or more targets, sampled all along, judged for leaks
and thresholds, in OUT/soak-report.html. Exit 0 when every target passed, 1 when one failed
(a leak, a broken threshold), 2 when the lab could not do its job, 130 when interrupted (the
report is written anyway; `--resume` continues the run)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sis.cli.errors import fail

__all__ = ["soak"]


def soak(
    target: Annotated[
        list[str], typer.Option("--target", "-t", help="sim, linux-busybox or a profile file")
    ] = ["sim"],  # noqa: B006
    preset: Annotated[str, typer.Option(help="preset of the targets")] = "default",
    duration: Annotated[str, typer.Option(help="how long to soak: 90s, 10m, 2h, 1h30m")] = "10m",
    interval: Annotated[str, typer.Option(help="time between samples: 1s, 10s, 1m")] = "10s",
    workload: Annotated[
        str, typer.Option(help="a built-in workload (churn, tmpfs-grow) or a workload file")
    ] = "churn",
    out: Annotated[Path, typer.Option(help="where samples and the report go")] = Path("sis-out"),
    resume: Annotated[
        bool, typer.Option(help="continue the soak in OUT (same files, the gap marked)")
    ] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="targets soaked at once")] = 1,
    seed: Annotated[int, typer.Option(help="seed of the workload's random choices")] = 0,
    threshold: Annotated[
        list[str],
        typer.Option(help="a rule, e.g. 'p99(ctx_switch_p99_ns) < 5ms over 5m' (repeatable)"),
    ] = [],  # noqa: B006
    leak_min: Annotated[
        float, typer.Option(help="the smallest growth, in MiB/h, that counts as a leak")
    ] = 1.0,
    warmup: Annotated[
        float, typer.Option(help="fraction of each boot's samples discarded as warm-up")
    ] = 0.1,
    append: Annotated[
        str, typer.Option(help="the kernel command line, e.g. sis.bug=leak_on_spawn")
    ] = "",
) -> None:
    """Soak targets: play a workload for DURATION, sample every INTERVAL, judge the samples
    (Hamed–Rao Mann–Kendall and Theil–Sen leak analysis, windowed thresholds)."""
    import signal
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from rich.console import Console

    from sis.harness.datafile import DataFileError
    from sis.harness.outdir import OutputDir, OutputError
    from sis.harness.session import Session
    from sis.harness.soak import soak_dir
    from sis.harness.soak.judge import FAIL, PASS, headline, judge
    from sis.harness.soak.report import REPORT, TargetSoak, write_report
    from sis.harness.soak.run import SoakConfig, SoakError, run_soak
    from sis.harness.soak.sampling import read_records
    from sis.harness.soak.statistics import parse_duration, parse_threshold
    from sis.harness.soak.workload import load_workload
    from sis.harness.targets import TargetError
    from sis.harness.targets.profile import load_profile

    console = Console(stderr=True, markup=False)  # names are text
    try:
        seconds, every = parse_duration(duration), parse_duration(interval)
        for rule in threshold:
            parse_threshold(rule)
        rules = tuple(threshold) + load_workload(workload).thresholds
        names = [load_profile(t).name for t in target]
        for t in target:
            load_profile(t).variables(preset)
    except (ValueError, DataFileError) as e:
        fail("soak", str(e))
    if seconds <= 0 or every <= 0:
        fail("soak", "--duration and --interval must be positive")
    if not 0 <= warmup < 0.9:
        fail("soak", "--warmup is a fraction of the samples, 0 .. 0.9")
    labels = [n if names.count(n) == 1 else f"{n}-{i + 1}" for i, n in enumerate(names)]
    config = SoakConfig(workload, every, seconds, seed, tuple(threshold), leak_min, warmup, append)
    stop = threading.Event()
    problems: dict[str, str] = {}

    def one(spec: str, label: str) -> None:
        directory = soak_dir(out, label, preset)
        if resume and not (directory / "samples.jsonl").exists():
            problems[label] = f"nothing to resume in {directory}"
            return
        try:
            session = Session(
                spec, preset=preset, workdir=out / "targets", name=f"{label}-{preset}",
                overrides={"append": append} if append else None,
            )  # fmt: skip
            session.start()
        except (TargetError, DataFileError, OSError) as e:
            problems[label] = f"target did not start: {e}"
            return
        try:
            console.print(f"Soaking {label}/{preset} for {duration} ({workload}), samples in "
                          f"{directory}")  # fmt: skip
            run_soak(session, config, directory, resume=resume, stop=stop)
        except (SoakError, DataFileError, TargetError) as e:
            problems[label] = str(e)
        finally:
            session.poweroff()

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    interrupted = False
    try:
        with OutputDir(out):
            previous = signal.signal(signal.SIGTERM, handler)
            try:
                with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
                    futures = [
                        pool.submit(one, s, lb) for s, lb in zip(target, labels, strict=True)
                    ]
                    try:
                        for f in futures:
                            while not f.done():
                                stop.wait(0.2)
                            f.result()
                    except KeyboardInterrupt:
                        interrupted = True
                        console.print("Interrupted: ending the soak (resume with --resume)")
                        stop.set()
            finally:
                signal.signal(signal.SIGTERM, previous)
            soaks = []
            verdicts = []
            for label in labels:
                directory = soak_dir(out, label, preset)
                records = read_records(directory / "samples.jsonl")
                if not records:
                    continue
                start = next((r for r in records if r["kind"] == "start"), {})
                j = judge(records, thresholds=rules, leak_min=leak_min, warmup=warmup)
                soaks.append(TargetSoak(f"{label}/{preset}", directory, records, j,
                                        start.get("config", {})))  # fmt: skip
                verdicts.append(j.verdict)
                console.print(f"{label}/{preset}: {headline(j)}")
            if soaks:
                write_report(out / REPORT, soaks)
                console.print(f"Report: {out / REPORT}")
    except OutputError as e:
        fail("soak", str(e))
    for label, why in problems.items():
        console.print(f"sis soak: {label}: {why}")
    if interrupted:
        raise typer.Exit(130)
    if problems or not verdicts:
        raise typer.Exit(2)
    raise typer.Exit(1 if FAIL in verdicts else 0 if all(v == PASS for v in verdicts) else 2)
