"""The log baseline file: what a kernel's log should say, kept as a plain text file a team
commits (``DIR/NAME.baseline``, UTF-8)::

    # sis-log-baseline v1
    # target: sim
    # profile: sis
    # preset: default
    # suites: basic_commands networking
    # source: kernel_log
    # recorded: 2026-11-26T22:13:00Z
    # records: 15
    #
    # <free comment lines: how to re-record>
       1 INFO kernel: SIS Kernel <hash> (<branch>) built <date> python <ver> name=sis-default
       3 INFO net: eth0: link up iface=eth0
       ...

* Line 1 names the format and its version; a reader refuses other versions.
* Then ``# key: value`` header lines: the target as given to ``--target`` (``sim``, a profile
  name or a profile file), the profile's name, the preset, the suites run after boot (space
  separated, may be empty), where the log came from (``kernel_log``: the kernel's own serial
  line; ``console``: log records picked out of the console), when it was recorded (UTC), and
  how many records it holds. Unknown keys are kept and ignored. Other ``#`` lines are comments.
* Then one line per event, in log order: a count and the event's signature
  (`sis.harness.logs.normalize`), like ``uniq -c``: consecutive records with the same
  signature are one line with their count. Editing a baseline by hand is fine.

Comparing a run with a baseline is `sis.harness.logs.diff`; recording and checking are
`sis.harness.logs.regression`.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sis.harness.outdir import OutputError, write_atomic

__all__ = [
    "FORMAT_VERSION",
    "SUFFIX",
    "Baseline",
    "BaselineError",
    "Event",
    "accept_command",
    "baseline_path",
    "collapse",
    "find_baseline",
    "read_baseline",
    "write_baseline",
]

FORMAT_VERSION = 1
SUFFIX = ".baseline"
_MAGIC = "# sis-log-baseline v"


class BaselineError(Exception):
    """A baseline cannot be read, written or checked; the message is one line."""


@dataclass
class Event:
    signature: str
    count: int = 1
    line: int = 0  # where it is in the baseline file (0: not from a file)


@dataclass
class Baseline:
    target: str
    preset: str
    events: list[Event]
    profile: str = ""
    suites: list[str] = field(default_factory=list)
    source: str = "kernel_log"
    recorded: str = ""
    records: int = 0
    extra: dict[str, str] = field(default_factory=dict)
    path: Path | None = None
    #: Things worth knowing about the recording run (not stored in the file).
    notes: list[str] = field(default_factory=list)

    def signatures(self) -> list[str]:
        return [e.signature for e in self.events for _ in range(e.count)]

    def lines(self) -> list[int]:
        """The file line of each signature of `signatures()`."""
        return [e.line for e in self.events for _ in range(e.count)]

    def render(self, comment: Sequence[str] = ()) -> str:
        header = {
            "target": self.target,
            "profile": self.profile,
            "preset": self.preset,
            "suites": " ".join(self.suites),
            "source": self.source,
            "recorded": self.recorded,
            "records": str(self.records or sum(e.count for e in self.events)),
            **self.extra,
        }
        out = [f"{_MAGIC}{FORMAT_VERSION}"]
        out += [f"# {k}: {v}".rstrip() for k, v in header.items()]
        out.append("#")
        out += [f"# {c}".rstrip() for c in comment]
        width = max([4] + [len(str(e.count)) for e in self.events])
        out += [f"{e.count:>{width}} {e.signature}" for e in self.events]
        return "\n".join(out) + "\n"


def baseline_path(directory: str | Path, name: str) -> Path:
    """Where the baseline `name` lives in `directory`."""
    if not name or "/" in name or name in (".", ".."):
        raise BaselineError(f"bad baseline name {name!r}: use a plain file name without '/'")
    return Path(directory) / f"{name.removesuffix(SUFFIX)}{SUFFIX}"


def collapse(signatures: Sequence[str], lines: Sequence[int] | None = None) -> list[Event]:
    """Consecutive equal signatures as one event with a count."""
    events: list[Event] = []
    for i, sig in enumerate(signatures):
        if events and events[-1].signature == sig:
            events[-1].count += 1
        else:
            events.append(Event(sig, 1, lines[i] if lines else 0))
    return events


def read_baseline(path: str | Path) -> Baseline:
    """Read a baseline file; any problem is a one-line BaselineError naming file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineError(
            f"{path}: no such baseline (record one with `sis logs baseline`)"
        ) from None
    except UnicodeDecodeError:
        raise BaselineError(f"{path}: not a baseline file (not UTF-8 text)") from None
    except OSError as e:
        raise BaselineError(f"{path}: cannot read: {e.strerror or e}") from None
    lines = text.splitlines()
    if not lines or not lines[0].startswith(_MAGIC):
        raise BaselineError(f"{path}:1: not a baseline file (expected '{_MAGIC}{FORMAT_VERSION}')")
    version = lines[0][len(_MAGIC) :].strip()
    if version != str(FORMAT_VERSION):
        raise BaselineError(
            f"{path}:1: baseline format v{version} is not supported "
            f"(this SIS reads v{FORMAT_VERSION}); re-record it with `sis logs baseline`"
        )
    header: dict[str, str] = {}
    events: list[Event] = []
    for n, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        if line.startswith("#"):
            key, sep, value = line[1:].strip().partition(":")
            if sep and not events and key.strip() and " " not in key.strip():
                header.setdefault(key.strip(), value.strip())
            continue
        count, _, sig = line.strip().partition(" ")
        if not count.isdigit() or int(count) < 1:
            raise BaselineError(
                f"{path}:{n}: expected '<count> <event signature>', got {_short(line)!r}"
            )
        events.append(Event(sig.strip(), int(count), n))
    for key in ("target", "preset"):
        if not header.get(key):
            raise BaselineError(f"{path}: header has no '# {key}: ...' line")
    known = ("target", "profile", "preset", "suites", "source", "recorded", "records")
    records = header.get("records", "")
    return Baseline(
        target=header["target"],
        preset=header["preset"],
        events=events,
        profile=header.get("profile", ""),
        suites=header.get("suites", "").split(),
        source=header.get("source", "kernel_log"),
        recorded=header.get("recorded", ""),
        records=int(records) if records.isdigit() else 0,
        extra={k: v for k, v in header.items() if k not in known},
        path=path,
    )


def write_baseline(baseline: Baseline, path: str | Path, command: str = "") -> Path:
    """Write atomically (a crash never leaves half a baseline)."""
    path = Path(path)
    comment = [
        "One kernel log event a line, in log order: <count> <signature>. Values that change",
        "between runs are masked (<num>, <dur>, <addr>, ...). Edit by hand if you like.",
    ]
    if command:
        comment.append(f"Re-record: {command}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A fresh temporary name (never a predictable one a link could be waiting at).
        write_atomic(path, baseline.render(comment))
    except OSError as e:
        raise BaselineError(f"{path}: cannot write: {e.strerror or e}") from None
    except OutputError as e:
        raise BaselineError(f"cannot write the baseline: {e}") from None
    baseline.path = path
    return path


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def find_baseline(directory: str | Path, profile: str, preset: str) -> Path | None:
    """The baseline for `profile`/`preset` in `directory`: ``<profile>-<preset>.baseline``,
    else the first (by name) whose header names that profile and preset."""
    directory = Path(directory)
    preferred = directory / f"{profile}-{preset}{SUFFIX}"
    if preferred.exists():
        return preferred
    if not directory.is_dir():
        return None
    for candidate in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            b = read_baseline(candidate)
        except BaselineError:
            continue
        if (b.profile or b.target) == profile and b.preset == preset:
            return candidate
    return None


def accept_command(
    target: str, preset: str, name: str, directory: str | Path, suites: Sequence[str] = ()
) -> str:
    """The `sis logs baseline` command line that (re-)records this baseline."""
    argv = ["sis", "logs", "baseline", "--target", target, "--preset", preset]
    argv += ["--name", name, "--dir", str(directory)]
    for s in suites:
        argv += ["--suite", s]
    return shlex.join(argv)
