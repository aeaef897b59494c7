"""Soak workloads as data: strict YAML read before anything boots, and the runner that plays
one against a Session, one step at a time, so samples can be taken between steps.

    name: churn
    description: files churned, processes spawned and killed, pings, a syscall mix
    requires: [shell]              # capabilities the whole workload needs
    setup:                         # after every boot (a restart runs it again)
      - {run: mkdir /soak, status: null}
    cycle:                         # played in order, again and again, until the soak ends
      - run: echo soak ${n} > /soak/f${n}      # ${n}: the cycle number, ${seed}: the run's seed
      - run: cat /soak/f${n}
        expect: '^soak ${n}$'
      - {run: ping -c 1 127.0.0.1, requires: [network], every: 5}
      - choose: [syscall 172, stat /, uptime]  # one of them, picked by the seeded RNG
        requires: [sis_contract]
    pace: 0                        # seconds of rest after each cycle
    thresholds: [errors == 0]      # rules for the judge (statistics.parse_threshold)

A step that fails (a status or output other than expected) is a workload error: counted, the
first ones kept, and the soak goes on. A step whose target dies raises TargetDied to the soak
loop, which restarts the target and plays `setup` again.
"""

from __future__ import annotations

import random
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sis.harness.datafile import (
    DataFileError,
    builtin_names,
    check_keys,
    display_name,
    find_data_file,
    kind_of,
    line_of,
    load_mapping,
    safe_name,
)

if TYPE_CHECKING:
    from sis.harness.session import Session

WORKLOAD_DIR = Path(__file__).resolve().parent / "workloads"
DEFAULT_WORKLOAD = "churn"
MAX_TIMEOUT_S = 600.0
#: Errors kept verbatim for the report (all of them are counted).
KEPT_ERRORS = 20
#: Commands a SIS shell runs itself; everything else is a program, i.e. a spawn.
SIS_BUILTINS = frozenset({"echo", "cd", "exit"})

_TOP_KEYS = {"name", "description", "requires", "setup", "cycle", "pace", "thresholds"}
_STEP_KEYS = {"run", "choose", "requires", "status", "expect", "timeout", "every"}


@dataclass(frozen=True)
class Step:
    commands: tuple[str, ...]  # one for `run`, the alternatives for `choose`
    requires: frozenset[str] = frozenset()
    status: int | str | None = 0  # a number, "nonzero", or None for any
    expect: str = ""
    timeout: float = 10.0
    every: int = 1  # played on every Nth cycle
    line: int | None = None


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    requires: frozenset[str]
    setup: tuple[Step, ...]
    cycle: tuple[Step, ...]
    pace: float = 0.0
    thresholds: tuple[str, ...] = ()
    path: Path | None = None


def builtin_workloads() -> list[str]:
    return builtin_names(WORKLOAD_DIR)


def load_workload(name_or_path: str | Path) -> Workload:
    """A built-in workload by name (`churn`) or a workload file by path; DataFileError with
    FILE:LINE otherwise."""
    path = find_data_file(name_or_path, WORKLOAD_DIR, "workload")
    return parse_workload(load_mapping(path, "a workload"), path)


def parse_workload(data: dict, path: Path) -> Workload:
    from sis.harness.soak.statistics import parse_threshold

    check_keys(data, _TOP_KEYS, path, "")
    for key in ("name", "cycle"):
        if key not in data:
            raise DataFileError(path, line_of(data), f"a workload needs '{key}'")
    try:
        name = safe_name(data["name"], "'name'")
        description = display_name(data.get("description", name), "'description'", 500)
    except ValueError as e:
        raise DataFileError(path, line_of(data, "name"), str(e)) from None
    requires = _names(path, data, "requires", "")
    setup = _steps(path, data, "setup")
    cycle = _steps(path, data, "cycle")
    if not cycle:
        raise DataFileError(path, line_of(data, "cycle"), "'cycle' needs at least one step")
    pace = data.get("pace", 0)
    if isinstance(pace, bool) or not isinstance(pace, (int, float)) or not 0 <= pace <= 3600:
        raise DataFileError(path, line_of(data, "pace"), f"'pace' is seconds 0..3600, not {pace!r}")
    rules = data.get("thresholds", [])
    if not isinstance(rules, list):
        raise DataFileError(path, line_of(data, "thresholds"), "'thresholds' is a list of rules")
    for rule in rules:
        try:
            parse_threshold(rule)
        except ValueError as e:
            raise DataFileError(path, line_of(data, "thresholds"), f"thresholds: {e}") from None
    return Workload(name, description, requires, setup, cycle, float(pace), tuple(rules), path)


def _names(path: Path, data: dict, key: str, where: str) -> frozenset[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DataFileError(path, line_of(data, key), f"{where}'{key}' is a list of capabilities")
    return frozenset(value)


def _steps(path: Path, data: dict, key: str) -> tuple[Step, ...]:
    items = data.get(key, [])
    if not isinstance(items, list):
        raise DataFileError(path, line_of(data, key), f"'{key}' is a list of steps")
    return tuple(
        _step(path, item, f"{key}[{i}]: ", line_of(data, key)) for i, item in enumerate(items)
    )


def _step(path: Path, data: Any, where: str, parent_line: int | None) -> Step:
    if not isinstance(data, dict):
        raise DataFileError(path, parent_line, f"{where}a step is a mapping, not a {kind_of(data)}")
    check_keys(data, _STEP_KEYS, path, where)
    line = line_of(data)
    kinds = [k for k in ("run", "choose") if k in data]
    if len(kinds) != 1:
        raise DataFileError(path, line, f"{where}a step has exactly one of 'run' or 'choose'")
    raw = data[kinds[0]]
    commands = raw if kinds[0] == "choose" else [raw]
    if not isinstance(commands, list) or not commands:
        raise DataFileError(path, line, f"{where}'choose' is a non-empty list of commands")
    for c in commands:
        try:
            display_name(c, f"{where}a command", 2000)
        except ValueError as e:
            raise DataFileError(path, line, str(e)) from None
    status = data.get("status", 0)
    if not (
        status is None
        or status == "nonzero"
        or (isinstance(status, int) and not isinstance(status, bool))
    ):
        raise DataFileError(
            path,
            line_of(data, "status"),
            f"{where}'status' is a number, nonzero or null, not {status!r}",
        )
    expect = data.get("expect", "")
    if not isinstance(expect, str):
        raise DataFileError(path, line_of(data, "expect"), f"{where}'expect' is a regex")
    try:
        re.compile(expect.replace("${n}", "0").replace("${seed}", "0"))
    except re.error as e:
        raise DataFileError(
            path, line_of(data, "expect"), f"{where}'expect' is not a valid regex: {e}"
        ) from None
    timeout = data.get("timeout", 10)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not 0 < timeout <= MAX_TIMEOUT_S
    ):
        raise DataFileError(
            path, line_of(data, "timeout"), f"{where}'timeout' is seconds 0..{MAX_TIMEOUT_S:g}"
        )
    every = data.get("every", 1)
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise DataFileError(path, line_of(data, "every"), f"{where}'every' is a whole number >= 1")
    return Step(
        tuple(commands),
        _names(path, data, "requires", where),
        status,
        expect,
        float(timeout),
        every,
        line,
    )


def spawns_of(command: str) -> int:
    """Programs a SIS shell starts for a command line: one per part (split at `;`, `&`, `|`)
    that is not a builtin (a lab-side count, so the true rate of a per-spawn leak is known)."""
    n = 0
    for part in re.split(r"[;&|]", command):
        try:
            words = shlex.split(part)
        except ValueError:
            words = part.split()
        if words and words[0] not in SIS_BUILTINS:
            n += 1
    return n


@dataclass
class Counters:
    """What the workload did, cumulative over the whole run (a resumed run continues them)."""

    cycles: int = 0
    steps: int = 0
    spawns: int = 0
    errors: int = 0
    panics: int = 0
    restarts: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class WorkloadRunner:
    """Plays a workload on a session step by step (`step()`), after `setup()` on each boot."""

    workload: Workload
    session: Session
    seed: int = 0
    counters: Counters = field(default_factory=Counters)
    errors: list[dict[str, Any]] = field(default_factory=list)
    _position: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        caps = self.session.capabilities
        self._cycle = [s for s in self.workload.cycle if s.requires <= caps]
        self._setup = [s for s in self.workload.setup if s.requires <= caps]
        if not self._cycle:
            raise ValueError(
                f"workload {self.workload.name}: no cycle step fits {self.session.name} "
                f"(it has: {', '.join(sorted(caps))})"
            )

    def missing(self) -> list[str]:
        return sorted(self.workload.requires - self.session.capabilities)

    def setup(self) -> None:
        for step in self._setup:
            self._play(step, self.counters.cycles)

    def step(self) -> None:
        """Play the next step of the cycle (skipping those not due this cycle)."""
        while True:
            step = self._cycle[self._position]
            n = self.counters.cycles
            self._position += 1
            if self._position == len(self._cycle):
                self._position = 0
                self.counters.cycles += 1
            if n % step.every == 0:
                self._play(step, n)
                return

    @property
    def cycle_ended(self) -> bool:
        return self._position == 0

    def _play(self, step: Step, n: int) -> None:
        command = self._rng.choice(step.commands) if len(step.commands) > 1 else step.commands[0]
        command = command.replace("${n}", str(n)).replace("${seed}", str(self.seed))
        self.counters.steps += 1
        self.counters.spawns += spawns_of(command)
        # TargetDied goes up to the soak loop; console trouble is the lab's, also raised.
        result = self.session.run(command, timeout=step.timeout)
        why = ""
        if step.status == "nonzero":
            if result.status in (0, None):
                why = "exited 0, expected nonzero"
        elif step.status is not None and result.status is not None and result.status != step.status:
            why = f"exited {result.status}, expected {step.status}"
        if not why and step.expect:
            rx = step.expect.replace("${n}", str(n)).replace("${seed}", str(self.seed))
            if not re.search(rx, result.output, re.MULTILINE):
                why = f"output did not match {rx!r}"
        if why:
            self.counters.errors += 1
            if len(self.errors) < KEPT_ERRORS:
                first = (result.output.strip().splitlines() or [""])[0][:200]
                self.errors.append({"command": command, "why": why, "output": first})
