"""An OOM kill is the kernel working as designed: a boot records it as an event (in the job
summary, the report and the session journal), never as its crash."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from sis.harness.crashwatch import CrashWatch
from sis.harness.report import write_html
from sis.harness.results import JobSummary
from sis.harness.soak.oomwatch import OomWatch

OOM = """\
[   12.0] stress invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE), order=0
[   12.1] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,\
oom_memcg=/hog,task_memcg=/hog,task=hog,pid=77,uid=0
[   12.2] Memory cgroup out of memory: Killed process 77 (hog) total-vm:268472kB, \
anon-rss:261888kB, file-rss:1204kB, shmem-rss:0kB, UID:0 pgtables:568kB oom_score_adj:0
[   13.0] sis: still here
"""


def _watch() -> CrashWatch:
    profile = SimpleNamespace(kind="qemu")
    return CrashWatch(SimpleNamespace(profile=profile))  # type: ignore[arg-type]


def test_an_oom_kill_is_an_event_of_the_boot_not_its_crash(tmp_path: Path) -> None:
    log = tmp_path / "kernel.log"
    log.write_text(OOM)
    watch = _watch()
    [event] = watch.events({"kernel_log": str(log)})
    assert (event["kind"], event["victim"], event["pid"]) == ("oom-kill", "hog", 77)
    assert (event["constraint"], event["memcg"]) == ("memcg", "/hog")
    assert watch.diagnose({"kernel_log": str(log)}, "poweroff") == {}


def test_the_report_shows_a_boots_oom_kills(tmp_path: Path) -> None:
    boot = {
        "number": 1, "started": 0.0, "seconds_to_shell": 1.0, "ended": "poweroff",
        "artifacts": {}, "crash": {}, "restored": False,
        "events": [{"kind": "oom-kill", "victim": "hog", "pid": 77, "constraint": "memcg",
                    "memcg": "/hog", "uptime": 12.2}],
    }  # fmt: skip
    job = JobSummary("linux-busybox", "default", boots=[boot])
    write_html([], tmp_path / "report.html", jobs=[job])
    page = (tmp_path / "report.html").read_text()
    assert "oom-kill: hog (pid 77, memcg /hog) at 12.2 s" in page


class _Soaked:
    """What OomWatch asks of a session: the current boot's kernel log, and when it started."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.boots = [SimpleNamespace(started=1000.0)]

    def artifacts(self) -> dict[str, Path]:
        return {"kernel_log": self.log}


def test_a_soak_sees_each_oom_kill_once_even_when_its_report_arrives_in_pieces(
    tmp_path: Path,
) -> None:
    log = tmp_path / "kernel.log"
    lines = OOM.splitlines(keepends=True)
    log.write_text("".join(lines[:2]) + lines[2][:30])  # cut inside the `Killed process` line
    watch = OomWatch(_Soaked(log))  # type: ignore[arg-type]
    assert watch.new_kills() == []
    with open(log, "a") as f:
        f.write(lines[2][30:] + lines[3])
    [kill] = watch.new_kills()
    assert kill["why"] == "oom-kill: hog (pid 77, memcg)" and kill["t"] == 1012.2
    assert watch.new_kills() == []
    with open(log, "a") as f:
        f.write("[   20.0] quiet\n" * 500 + OOM.replace("77", "78"))
    assert [k["oom_kill"]["pid"] for k in watch.new_kills()] == [78]


def test_the_soak_report_shows_oom_kills_on_the_charts_and_in_a_table(tmp_path: Path) -> None:
    from sis.harness.soak.judge import judge
    from sis.harness.soak.report import TargetSoak, write_report

    recs = [{"kind": "start", "t": 0.0, "settings": {}, "config": {}}]
    for i in range(1, 40):
        recs.append({"kind": "sample", "t": float(i), "segment": 0,
                     "metrics": {"mem_used_bytes": 1000 + i}, "counters": {}})  # fmt: skip
    recs.append({"kind": "event", "t": 20.5, "segment": 0, "why": "oom-kill: hog (pid 77, memcg)",
                 "oom_kill": {"pid": 77}})  # fmt: skip
    soak = TargetSoak("linux-busybox/default", tmp_path, recs, judge(recs))
    write_report(tmp_path / "soak.html", [soak])
    page = (tmp_path / "soak.html").read_text()
    assert "+20 s</td><td>oom-kill: hog (pid 77, memcg)" in page
    assert page.count('stroke="#7b3fa0"') >= 1
