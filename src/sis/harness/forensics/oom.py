"""OOM kills: the kernel's out-of-memory killer ending a process is the kernel working as
designed, an event to show in timelines, never a crash (a panic on OOM, and `Out of memory and
no killable processes`, are panics and the crash finder reports them).

    find_oom_kills(text) -> [OomKill]          every kill in a console capture, in order
    iter_oom_kills(lines) -> Iterator[OomKill]  the same over `lines.split_lines()` lines

One event per process killed, at its `Killed process N (comm)` line, with what the lines before
it said about the kill (which task asked for memory, whether a cgroup's limit was hit):

* 5.x+: `oom-kill:constraint=CONSTRAINT_MEMCG,...,oom_memcg=/x,task_memcg=/x,task=comm,pid=N`
  then `Memory cgroup out of memory: Killed process N (comm) total-vm:...` (global: `Out of
  memory: Killed process ...`);
* 3.x-4.x: `Out of memory: Kill process N (comm) score S or sacrifice child` (memcg: `Memory
  cgroup out of memory: Kill process ...`, after `Task in /x killed as a result of limit of /x`)
  then `Killed process M (comm) total-vm:...` (the child sacrificed may differ from N).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

from sis.harness.forensics.lines import Line, split_lines

_INVOKED = re.compile(r"^(?P<comm>.+?) invoked oom-killer: ")
_CONSTRAINT = re.compile(r"^oom-kill:constraint=CONSTRAINT_(?P<c>[A-Z_]+),(?P<rest>.*)$")
_LIMIT = re.compile(r"^Task in (?P<task>\S+) killed as a result of limit of (?P<memcg>\S+)")
_CHOSEN = re.compile(
    r"^(?P<scope>Memory cgroup out of memory|Out of memory(?: \([^)]*\))?): Kill process"
)
_KILLED = re.compile(
    r"^(?:(?P<scope>Memory cgroup out of memory|Out of memory(?: \([^)]*\))?): )?"
    r"Killed process (?P<pid>\d+),?(?: UID \d+,)? \((?P<comm>[^)]*)\)(?P<rest>.*)$"
)
_KB = re.compile(r"\b(total-vm|anon-rss|file-rss|shmem-rss):(\d+)kB")
_UID = re.compile(r"\bUID:(\d+)")
_STAMP = re.compile(r"\[\s*(\d+\.\d+)\]")

#: CONSTRAINT_* as the kernel names them, and the word an event uses.
CONSTRAINTS = {"NONE": "global", "MEMCG": "memcg", "CPUSET": "cpuset", "MEMORY_POLICY": "mempolicy"}


@dataclass(frozen=True)
class OomKill:
    """One process killed by the OOM killer."""

    pid: int
    victim: str  # the killed process's comm
    constraint: str  # global, memcg, cpuset or mempolicy
    memcg: str = ""  # the cgroup whose limit was hit ("" when global or not said)
    invoker: str = ""  # the task whose allocation started the kill ("" when not printed)
    uid: int | None = None
    total_vm_kb: int | None = None
    anon_rss_kb: int | None = None
    line: int = 0  # 1-based line of the `Killed process` line in the capture
    start_line: int = 0  # where the OOM report began (`invoked oom-killer`), else `line`
    uptime: float | None = None  # the kernel's timestamp of the kill line, when printed
    kind: str = "oom-kill"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def find_oom_kills(text: str) -> list[OomKill]:
    """Every OOM kill in a console capture, in order; [] for none."""
    return list(iter_oom_kills(split_lines(text)))


def iter_oom_kills(lines: Iterable[Line]) -> Iterator[OomKill]:
    ctx: dict[str, object] = {}
    for ln in lines:
        t = ln.text.strip()
        if (
            "oom" not in t
            and "Killed process" not in t
            and "killed as a result" not in t
            and ("Out of memory" not in t and "out of memory" not in t)
        ):
            continue
        if m := _INVOKED.match(t):
            ctx = {"invoker": m.group("comm"), "start": ln.number}
        elif m := _CONSTRAINT.match(t):
            ctx["constraint"] = CONSTRAINTS.get(m.group("c"), m.group("c").lower())
            fields = dict(kv.split("=", 1) for kv in m.group("rest").split(",") if "=" in kv)
            if fields.get("oom_memcg"):
                ctx["memcg"] = fields["oom_memcg"]
        elif m := _LIMIT.match(t):
            ctx["constraint"] = "memcg"
            ctx["memcg"] = m.group("memcg")
        elif m := _CHOSEN.match(t):
            if m.group("scope").startswith("Memory cgroup"):
                ctx["constraint"] = "memcg"
        elif m := _KILLED.match(t):
            scope = m.group("scope") or ""
            constraint = str(ctx.get("constraint") or "")
            if scope.startswith("Memory cgroup"):
                constraint = "memcg"
            kb = dict(_KB.findall(m.group("rest")))
            uid = _UID.search(m.group("rest"))
            stamp = _STAMP.search(ln.raw) if ln.stamped else None
            yield OomKill(
                pid=int(m.group("pid")),
                victim=m.group("comm"),
                constraint=constraint or "global",
                memcg=str(ctx.get("memcg") or ""),
                invoker=str(ctx.get("invoker") or ""),
                uid=int(uid.group(1)) if uid else None,
                total_vm_kb=int(kb["total-vm"]) if "total-vm" in kb else None,
                anon_rss_kb=int(kb["anon-rss"]) if "anon-rss" in kb else None,
                line=ln.number,
                start_line=int(ctx.get("start") or ln.number),  # type: ignore[call-overload]
                uptime=float(stamp.group(1)) if stamp else None,
            )
            ctx = {}
