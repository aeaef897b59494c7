"""An OOM kill is the kernel working as designed: a boot records it as an event (in the job
summary, the report and the session journal), never as its crash."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from sis.harness.crashwatch import CrashWatch
from sis.harness.report import write_html
from sis.harness.results import JobSummary

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
