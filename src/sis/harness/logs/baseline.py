"""Log baselines: what a kernel's log should say, kept as a plain text file a team commits,
and the check of a fresh run against it.

The baseline file (``DIR/NAME.baseline``, UTF-8) is::

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

A check boots the target again (the one the baseline names unless overridden), runs the same
suites, normalizes its log and compares it with the baseline as a *multiset* of signatures:
an event the baseline has more often than the run is **removed**, a regression; an event the
run has more often is **added**, allowed unless the check is strict. Order is not judged,
because records of concurrent tasks interleave differently from run to run (on the SIS
reference kernel everything else is deterministic), but the diff that is shown follows the
order of the log (`difflib` on the signature sequences), in unified-diff style, with events
that only moved left out.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import shlex
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sis.harness.logs.normalize import signature
from sis.harness.logs.parse import ParseReport, parse_text
from sis.harness.results import ERROR, FAIL, PASS, StepResult, TestResult

__all__ = [
    "FORMAT_VERSION",
    "SUFFIX",
    "Baseline",
    "BaselineDiff",
    "BaselineError",
    "Capture",
    "Event",
    "accept_command",
    "baseline_path",
    "capture_log",
    "check_against_baseline",
    "collapse",
    "compare",
    "find_baseline",
    "log_regression_result",
    "read_baseline",
    "record_baseline",
    "write_baseline",
]

FORMAT_VERSION = 1
SUFFIX = ".baseline"
_MAGIC = "# sis-log-baseline v"
SUITE = "log_regression"
DIFF_CONTEXT = 2
MAX_DIFF_LINES = 200

Status = Callable[[str], None]


class BaselineError(Exception):
    """A baseline cannot be read, written or checked; the message is one line."""


# ------------------------------------------------------------------------------- the file


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
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(baseline.render(comment), encoding="utf-8")
        tmp.replace(path)
    except OSError as e:
        raise BaselineError(f"{path}: cannot write: {e.strerror or e}") from None
    baseline.path = path
    return path


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


# ------------------------------------------------------------------------------ capturing


@dataclass
class Capture:
    """The log of one run of a target, parsed and normalized."""

    target: str
    profile: str
    preset: str
    suites: list[str]
    source: str  # "kernel_log" or "console"
    report: ParseReport
    signatures: list[str]
    lines: list[int]  # the log line of each signature
    log_path: Path | None = None
    results: list[TestResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _mask_workdir(data: bytes, workdir: Path) -> bytes:
    """Paths of the run's own files (its disk image) differ from run to run: the directory
    they are in becomes <workdir>, spelled absolute or relative to the current directory."""
    spellings = {str(workdir.resolve())}
    with contextlib.suppress(ValueError):
        spellings.add(os.path.relpath(workdir.resolve()))
    for spelling in sorted(spellings - {".", ""}, key=len, reverse=True):
        data = data.replace(spelling.encode() + b"/", b"<workdir>/")
    return data


def _from_text(
    data: bytes,
    source: str,
    *,
    target: str,
    profile: str,
    preset: str,
    suites: list[str],
    log_path: Path | None,
    workdir: Path | None,
) -> Capture:
    if workdir is not None:
        data = _mask_workdir(data, workdir)
    report = parse_text(data, mixed=source == "console")
    capture = Capture(
        target=target,
        profile=profile,
        preset=preset,
        suites=suites,
        source=source,
        report=report,
        signatures=[signature(r) for r in report.records],
        lines=[r.line for r in report.records],
        log_path=log_path,
    )
    if report.problems:
        capture.notes.append(
            f"{len(report.problems)} malformed log line(s) ignored, the first at "
            f"{log_path or 'the log'}:{report.problems[0]}"
        )
    if not report.records:
        capture.notes.append(f"no log records found in the {source.replace('_', ' ')}")
    return capture


def capture_log(
    target: str = "sim",
    *,
    preset: str = "default",
    suites: Sequence[str] = (),
    workdir: str | Path,
    on_status: Status | None = None,
) -> Capture:
    """Boot `target`, run `suites`, power it off, and parse and normalize its kernel log
    (its own serial line if the profile has one, else the records in the console)."""
    from sis.harness.datafile import DataFileError
    from sis.harness.runner import run_suite
    from sis.harness.suites import load_suite
    from sis.harness.targets import TargetError, make_target

    status = on_status or (lambda _text: None)
    workdir = Path(workdir).resolve()
    try:
        loaded = [load_suite(s) for s in suites]
        tgt = make_target(target, preset=preset, workdir=workdir)
    except DataFileError as e:
        raise BaselineError(str(e)) from None
    profile = tgt.profile
    results: list[TestResult] = []
    try:
        status(f"booting {profile.name}/{preset}")
        tgt.start()
        for suite in loaded:
            status(f"running suite {suite.name}")
            run_suite(tgt, suite, results.append)
    except TargetError as e:
        tgt.kill()
        raise BaselineError(f"{profile.name}/{preset}: {e}") from None
    finally:
        status("powering off")
        tgt.poweroff()
    artifacts = tgt.artifacts()
    source = "kernel_log" if "kernel_log" in artifacts else "console"
    log_path = artifacts.get(source)
    if log_path is None:
        raise BaselineError(f"{profile.name}/{preset} left no {source} capture in {workdir}")
    capture = _from_text(
        log_path.read_bytes(),
        source,
        target=target,
        profile=profile.name,
        preset=preset,
        suites=[s.name for s in loaded],
        log_path=log_path,
        workdir=workdir,
    )
    capture.results = results
    bad = [r for r in results if r.verdict in (FAIL, ERROR)]
    if bad:
        capture.notes.append(
            f"{len(bad)} suite test(s) did not pass while the log was captured, "
            f"first: {bad[0].suite} :: {bad[0].test}: {bad[0].reason}"
        )
    if tgt.boots > 1:
        capture.notes.append(
            f"the kernel was restarted {tgt.boots - 1} time(s) during the suites; "
            "only the last boot's log is used"
        )
    return capture


def capture_from_file(
    path: str | Path, *, source: str = "kernel_log", target: str = "", preset: str = ""
) -> Capture:
    """A capture from a log file already on disk (console captures: source="console")."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise BaselineError(f"{path}: cannot read: {e.strerror or e}") from None
    # A target keeps its files beside its captures, so their directory is the run's workdir.
    return _from_text(
        data,
        source,
        target=target,
        profile="",
        preset=preset,
        suites=[],
        log_path=path,
        workdir=path.parent,
    )


# ------------------------------------------------------------------------------ comparing


@dataclass
class DiffLine:
    op: str  # " " context, "-" removed (in the baseline, not in the run), "+" added
    signature: str
    count: int = 1
    baseline_line: int = 0
    log_line: int = 0


@dataclass
class BaselineDiff:
    removed: list[tuple[str, int]]  # signature, how many fewer times than in the baseline
    added: list[tuple[str, int]]  # signature, how many more times
    moved: int  # events present in both, in another order (not judged)
    strict: bool
    hunks: list[list[DiffLine]]
    baseline_path: Path | None = None
    log_path: Path | None = None
    what: str = ""  # "sis/default"
    accept: str = ""  # the command that re-records the baseline
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.removed and not (self.strict and self.added)

    @property
    def regression(self) -> bool:
        return bool(self.removed)

    def summary(self) -> str:
        n_removed = sum(n for _, n in self.removed)
        n_added = sum(n for _, n in self.added)
        parts = []
        if n_removed:
            parts.append(f"{n_removed} event{'s' * (n_removed != 1)} removed")
        if n_added:
            allowed = "" if self.strict else " (allowed)"
            parts.append(f"{n_added} event{'s' * (n_added != 1)} added{allowed}")
        if not parts:
            parts.append("log matches the baseline")
        if self.moved:
            parts.append(f"{self.moved} in a different order (not checked)")
        return ", ".join(parts)

    def render(self, max_lines: int = MAX_DIFF_LINES) -> str:
        """The readable diff: header, unified-diff-like hunks, verdict, what to do."""
        out: list[str] = []
        if self.removed or self.added:
            where = f" ({self.what})" if self.what else ""
            out.append(f"--- {self.baseline_path or 'baseline'}{where}")
            out.append(f"+++ {self.log_path or 'this run'}")
            shown, total = 0, sum(len(h) for h in self.hunks)
            for hunk in self.hunks:
                if shown >= max_lines:
                    break
                first_b = next((d.baseline_line for d in hunk if d.baseline_line), 0)
                first_l = next((d.log_line for d in hunk if d.log_line), 0)
                where = [f"baseline line {first_b}"] if first_b else []
                where += [f"log line {first_l}"] if first_l else []
                out.append(f"@@ {', '.join(where)} @@" if where else "@@")
                for d in hunk[: max_lines - shown]:
                    times = f"  (x{d.count})" if d.count > 1 else ""
                    out.append(f"{d.op} {d.signature}{times}")
                    shown += 1
            if shown < total:
                out.append(f"... {total - shown} more diff lines not shown")
        verdict = "FAIL" if not self.ok else "ok"
        out.append(f"{verdict}: {self.summary()}")
        if self.removed:
            out.append(
                "Removed events are a regression: the kernel no longer logs what the baseline "
                "expects."
            )
        if (self.removed or self.added) and self.accept:
            out.append(f"If the new log is right, accept it as the baseline: {self.accept}")
        return "\n".join(out)


def compare(
    expected: Sequence[str],
    actual: Sequence[str],
    *,
    strict: bool = False,
    expected_lines: Sequence[int] | None = None,
    actual_lines: Sequence[int] | None = None,
) -> BaselineDiff:
    """Compare two signature sequences: removed and added events as multisets; the hunks of
    an order-following diff of the two, showing removals and additions but not moves."""
    want, got = Counter(expected), Counter(actual)
    removed_budget = want - got
    added_budget = got - want
    removed = [(s, n) for s, n in _in_order(expected, removed_budget)]
    added = [(s, n) for s, n in _in_order(actual, added_budget)]
    moved = 0
    merged: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(None, expected, actual, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for k in range(i2 - i1):
                merged.append(
                    DiffLine(
                        " ",
                        expected[i1 + k],
                        baseline_line=_at(expected_lines, i1 + k),
                        log_line=_at(actual_lines, j1 + k),
                    )
                )
            continue
        for i in range(i1, i2):
            sig = expected[i]
            if removed_budget[sig] > 0:
                removed_budget[sig] -= 1
                merged.append(DiffLine("-", sig, baseline_line=_at(expected_lines, i)))
            else:
                moved += 1
        for j in range(j1, j2):
            sig = actual[j]
            if added_budget[sig] > 0:
                added_budget[sig] -= 1
                merged.append(DiffLine("+", sig, log_line=_at(actual_lines, j)))
    return BaselineDiff(
        removed=removed, added=added, moved=moved, strict=strict, hunks=_hunks(merged)
    )


def _at(lines: Sequence[int] | None, i: int) -> int:
    return lines[i] if lines is not None and i < len(lines) else 0


def _in_order(seq: Sequence[str], counts: Counter[str]) -> list[tuple[str, int]]:
    """The signatures of `counts`, in their first order of appearance in `seq`."""
    seen: dict[str, int] = {}
    for sig in seq:
        if counts[sig] > 0 and sig not in seen:
            seen[sig] = counts[sig]
    return list(seen.items())


def _hunks(merged: list[DiffLine], context: int = DIFF_CONTEXT) -> list[list[DiffLine]]:
    """Changes with `context` lines around them; runs of one line repeated collapse."""
    changed = [i for i, d in enumerate(merged) if d.op != " "]
    if not changed:
        return []
    ranges: list[list[int]] = []
    for i in changed:
        lo, hi = max(0, i - context), min(len(merged), i + context + 1)
        if ranges and lo <= ranges[-1][1]:
            ranges[-1][1] = max(ranges[-1][1], hi)
        else:
            ranges.append([lo, hi])
    hunks = []
    for lo, hi in ranges:
        hunk: list[DiffLine] = []
        for d in merged[lo:hi]:
            last = hunk[-1] if hunk else None
            if last is not None and last.op == d.op and last.signature == d.signature:
                last.count += 1
            else:
                hunk.append(DiffLine(d.op, d.signature, 1, d.baseline_line, d.log_line))
        hunks.append(hunk)
    return hunks


# ---------------------------------------------------------------------------- operations


def accept_command(
    target: str, preset: str, name: str, directory: str | Path, suites: Sequence[str] = ()
) -> str:
    """The `sis logs baseline` command line that (re-)records this baseline."""
    argv = ["sis", "logs", "baseline", "--target", target, "--preset", preset]
    argv += ["--name", name, "--dir", str(directory)]
    for s in suites:
        argv += ["--suite", s]
    return shlex.join(argv)


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class _Workdir:
    """The given directory, or a fresh temporary one that is removed unless kept."""

    def __init__(self, given: str | Path | None) -> None:
        self.given = given is not None
        self.path = Path(given) if given is not None else Path(tempfile.mkdtemp(prefix="sis-logs-"))
        self.keep = self.given

    def close(self) -> None:
        if not self.keep:
            shutil.rmtree(self.path, ignore_errors=True)


def record_baseline(
    target: str = "sim",
    *,
    directory: str | Path,
    name: str | None = None,
    preset: str = "default",
    suites: Sequence[str] = (),
    workdir: str | Path | None = None,
    on_status: Status | None = None,
) -> Baseline:
    """Boot `target`, run `suites`, and write its normalized log as `directory/NAME.baseline`
    (NAME defaults to ``<profile>-<preset>``). Returns the baseline (with `path` set)."""
    wd = _Workdir(workdir)
    try:
        capture = capture_log(
            target, preset=preset, suites=suites, workdir=wd.path, on_status=on_status
        )
    finally:
        wd.close()
    name = name or f"{capture.profile}-{preset}"
    path = baseline_path(directory, name)
    baseline = Baseline(
        target=target,
        profile=capture.profile,
        preset=preset,
        suites=list(suites),
        source=capture.source,
        recorded=_utc_now(),
        records=len(capture.signatures),
        events=collapse(capture.signatures),
        notes=capture.notes,
    )
    if not baseline.events:
        raise BaselineError(
            f"{capture.profile}/{preset} logged no records; nothing to record as a baseline"
            + (f" ({capture.notes[0]})" if capture.notes else "")
        )
    write_baseline(baseline, path, accept_command(target, preset, name, directory, suites))
    return baseline


def check_against_baseline(
    name: str,
    directory: str | Path,
    *,
    target: str | None = None,
    preset: str | None = None,
    suites: Sequence[str] | None = None,
    strict: bool = False,
    workdir: str | Path | None = None,
    log: str | Path | None = None,
    on_status: Status | None = None,
) -> BaselineDiff:
    """Run the target the baseline names (or `target`/`preset`/`suites` if given), or take
    the log file `log`, and compare its normalized log with the baseline."""
    path = baseline_path(directory, name)
    base = read_baseline(path)
    target = target or base.target
    preset = preset or base.preset
    suite_names = list(base.suites if suites is None else suites)
    wd: _Workdir | None = None
    if log is not None:
        capture = capture_from_file(log, source=base.source, target=target, preset=preset)
    else:
        wd = _Workdir(workdir)
        try:
            capture = capture_log(
                target, preset=preset, suites=suite_names, workdir=wd.path, on_status=on_status
            )
        except BaseException:
            wd.close()
            raise
    diff = compare(
        base.signatures(),
        capture.signatures,
        strict=strict,
        expected_lines=base.lines(),
        actual_lines=capture.lines,
    )
    diff.baseline_path = path
    diff.what = f"{base.profile or base.target}/{base.preset}, recorded {base.recorded or '?'}"
    diff.accept = accept_command(target, preset, name, directory, suite_names)
    diff.notes = capture.notes
    if wd is not None:
        if diff.ok:
            wd.close()
        else:
            wd.keep = True  # the evidence stays for the user
    diff.log_path = capture.log_path
    return diff


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


def log_regression_result(
    target_profile_name: str,
    preset: str,
    directory: str | Path,
    *,
    artifacts: dict[str, str] | dict[str, Path] | None = None,
    strict: bool = False,
    workdir: str | Path | None = None,
) -> TestResult | None:
    """The log regression check of `sis check`, as a TestResult (suite "log_regression",
    test = the baseline's name), or None when `directory` has no baseline for this target
    and preset. With `artifacts` (a target's `artifacts()` after its run) the log of that
    run is checked; otherwise the target is booted again with the baseline's suites."""
    started = time.monotonic()
    path = find_baseline(directory, target_profile_name, preset)
    if path is None:
        return None
    name = path.name.removesuffix(SUFFIX)

    def result(verdict: str, reason: str, output: str = "", ok: bool = True) -> TestResult:
        command = f"sis logs check --name {shlex.quote(name)} --dir {shlex.quote(str(directory))}"
        return TestResult(
            target=target_profile_name,
            preset=preset,
            suite=SUITE,
            test=name,
            verdict=verdict,
            reason=reason,
            steps=[StepResult(command, output, None, time.monotonic() - started, ok, reason)],
            duration_s=time.monotonic() - started,
            artifacts={"baseline": str(path), **{k: str(v) for k, v in (artifacts or {}).items()}},
        )

    try:
        base = read_baseline(path)
        log = None
        if artifacts:
            log = artifacts.get("kernel_log") if base.source == "kernel_log" else None
            log = log or artifacts.get("console")
        target = base.target if (base.profile or base.target) == target_profile_name else None
        diff = check_against_baseline(
            name,
            directory,
            target=target or target_profile_name,
            preset=preset,
            strict=strict,
            workdir=workdir,
            log=log,
        )
    except BaselineError as e:
        return result(ERROR, str(e), ok=False)
    text = diff.render()
    if diff.ok:
        return result(PASS, "", text)
    return result(FAIL, f"log regression against {path}: {diff.summary()}", text, ok=False)
