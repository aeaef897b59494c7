"""Phases: what a job does with its booted target, in order. Every command that boots a target
(`check`, `chaos run`, `soak`, `fuzz`, `logs`, `metrics collect`, `selftest`) plans jobs made of
phases; this module is their one ordered registry.

A phase has a name, whether `sis check` runs it by default, the capabilities it needs, typed
options (a dataclass: an unknown or mistyped option is an error when the plan is made, naming
the phase and the key), and `run(session, job, options)`, which yields results as they come.
A phase that reads the run's captures after the target is off (log regression) says
`after_poweroff = True`; the others get a session at its shell. A phase may also name
placeholder values its target must be started with (`overrides(job, options)`, e.g. the fuzz
executor's port) and prepare the target before it boots (`before_boot(session, job, options)`,
e.g. keep a copy of the disk as it was)."""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from sis.harness.results import TestResult

if TYPE_CHECKING:
    from sis.harness.jobs import Job
    from sis.harness.session import Session


class PlanError(ValueError):
    """A plan that cannot be run (an unknown phase or option, no preset): one line."""


class Phase(Protocol):
    name: ClassVar[str]
    requires: ClassVar[frozenset[str]]
    after_poweroff: ClassVar[bool]
    Options: ClassVar[type]

    def planned(self, job: Job, options: Any) -> list[tuple[str, str]]:
        """(suite, test) names this phase will report, for progress and for ERROR results
        when the target never boots; may be empty when the names are only known by running."""
        ...

    def run(self, session: Session, job: Job, options: Any) -> Iterator[TestResult]: ...


@dataclass(frozen=True)
class Entry:
    name: str
    default: bool  # run by `sis check` unless --phases says otherwise
    summary: str
    module: str  # sis.harness.phases.<module>, imported when the phase is used
    cls: str


#: Every phase, in the order a job runs them.
REGISTRY: tuple[Entry, ...] = (
    Entry("suites", True, "shell suites typed into the target's shell", "suites", "SuitesPhase"),
    Entry("metrics", True, "metrics formats, promtool and counters that move", "metrics",
          "MetricsPhase"),
    Entry("metrics_collect", False, "metrics sampled for a while into a JSONL file",
          "metrics_collect", "MetricsCollectPhase"),
    Entry("chaos", False, "chaos experiments (power-cycles the target)", "chaos", "ChaosPhase"),
    Entry("crash_points", False, "the disk rebuilt and checked at every crash point of a logged "
          "workload", "crash_points", "CrashPointsPhase"),
    Entry("soak", False, "a workload played for long, sampled, judged for leaks", "soak",
          "SoakPhase"),
    Entry("fuzz", False, "syscall fuzzing, crashes deduplicated and minimized", "fuzz",
          "FuzzPhase"),
    Entry("fuzz_repro", False, "a reproducer replayed on a fresh boot", "fuzz_repro",
          "FuzzReproPhase"),
    Entry("fuzz_validate", False, "syscalls with one bad argument each, compared with Linux",
          "fuzz_validate", "FuzzValidatePhase"),
    Entry("crash_probe", False, "known-dangerous requests that must not crash the kernel",
          "crash_probe", "CrashProbePhase"),
    Entry("log_capture", False, "the boot's kernel log, normalized (for baselines)",
          "log_capture", "LogCapturePhase"),
    Entry("log_regression", True, "this run's kernel log against a recorded baseline",
          "log_regression", "LogRegressionPhase"),
)  # fmt: skip

PHASE_ORDER = tuple(e.name for e in REGISTRY)
DEFAULT_PHASES = tuple(e.name for e in REGISTRY if e.default)
#: What `sis check --phases` offers: the phases that need no per-command input.
CHECK_PHASES = ("suites", "metrics", "chaos", "soak", "fuzz", "crash_probe", "log_regression")

_loaded: dict[str, Phase] = {}


def phase(name: str) -> Phase:
    """The phase called `name` (PlanError naming the known ones otherwise)."""
    if name not in _loaded:
        entry = next((e for e in REGISTRY if e.name == name), None)
        if entry is None:
            raise PlanError(f"unknown phase {name!r} (known: {', '.join(PHASE_ORDER)})")
        module = importlib.import_module(f"sis.harness.phases.{entry.module}")
        _loaded[name] = getattr(module, entry.cls)()
    return _loaded[name]


def phases_by_name() -> dict[str, Phase]:
    return {name: phase(name) for name in PHASE_ORDER}


def ordered(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """`names` checked and put in the registry's order."""
    for name in names:
        phase(name)
    return tuple(n for n in PHASE_ORDER if n in names)


def check_help() -> str:
    """The --phases help of `sis check`, from the registry."""
    by_name = {e.name: e for e in REGISTRY}
    return "; ".join(
        f"{n}{' (default)' if by_name[n].default else ''}: {by_name[n].summary}"
        for n in CHECK_PHASES
    )


def options_for(name: str, given: Mapping[str, Any] | None) -> Any:
    """The typed options of phase `name` from plain data: PlanError for an unknown key, a value
    of the wrong type or a required option left out, naming the phase and the key."""
    cls = phase(name).Options
    fields = {f.name: f for f in dataclasses.fields(cls)}
    given = dict(given or {})
    for key in given:
        if key not in fields:
            known = ", ".join(fields) or "none"
            raise PlanError(f"phase {name} has no option {key!r} (it has: {known})")
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in given.items():
        values[key] = _coerce(name, key, hints[key], value)
    missing = [
        f.name
        for f in fields.values()
        if f.name not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise PlanError(f"phase {name} needs option {missing[0]!r}")
    return cls(**values)


def options_data(options: Any) -> dict[str, Any]:
    """Typed options back to plain data (for a job, which travels as JSON)."""
    return {k: _plain(v) for k, v in dataclasses.asdict(options).items()}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _coerce(phase_name: str, key: str, hint: Any, value: Any) -> Any:
    """`value` as the option's declared type: ints are floats where a float is wanted, lists
    are tuples where a tuple is; anything else of the wrong type is a PlanError."""
    wrong = PlanError(f"phase {phase_name} option {key!r}: {value!r} is not {_type_name(hint)}")
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(hint):
            try:
                return _coerce(phase_name, key, arm, value)
            except PlanError:
                continue
        raise wrong
    if hint is type(None):
        if value is None:
            return None
        raise wrong
    if hint is Any:
        return value
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise wrong
        (arm, *_rest) = typing.get_args(hint) or (Any,)
        items = [_coerce(phase_name, key, arm, v) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise wrong
        return dict(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong
        return value
    if isinstance(hint, type) and not isinstance(value, hint):
        raise wrong
    return value


def _type_name(hint: Any) -> str:
    names = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}
    if hint in names:
        return names[hint]
    origin = typing.get_origin(hint)
    if origin in (list, tuple):
        return "a list"
    if origin is dict:
        return "a mapping"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(hint) if a is not type(None))
    return getattr(hint, "__name__", str(hint))
