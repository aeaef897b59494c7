"""Chaos experiments as data: a steady-state hypothesis (probes with tolerances), a method
(inject a fault, run a workload, wait, probe) and rollbacks that always run — Chaos Toolkit's
model, read from strict YAML. Every problem is `FILE:LINE: problem`, found before anything
boots; an unknown field suggests the closest known one.

    name: disk_full
    description: the disk fills while files are written
    steady_state:
      - {name: shell answers, run: echo alive, expect: '^alive$'}
      - {name: no panic, no_log: 'KERNEL PANIC|Kernel panic'}
    method:
      - {inject: disk_full, rate: 40}
      - {workload: write, files: 8}
      - {wait: 0.5}
    rollbacks:
      - {run: 'rm /tmp/x', status: null}
    verify: true          # nothing acknowledged lost: power cycle, checksums, fsck

An experiment with `crash_points: {max_prefixes: 8, reorders: 2}` runs its workload on a disk
whose writes are logged, cuts the power, and checks the disk at every crash point of the log
(chaos/crashrun.py); `max_prefixes` (a number or `all`) and `reorders` bound the points
checked between two flushes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

EXPERIMENT_DIR = Path(__file__).resolve().parent / "experiments"

#: Faults an experiment may inject; each maps to an injector per target (injectors.py).
FAULTS = (
    "disk_full",
    "disk_fail",
    "network_fail",
    "memory_pressure",
    "slow_io",
    "random_panic",
    "power_cut",
    "freeze",
)
WORKLOADS = ("write",)
MAX_FILES = 64
MAX_WAIT_S = 600.0

_TOP_KEYS = {
    "name", "description", "requires", "steady_state", "method", "rollbacks", "verify",
    "crash_points",
}  # fmt: skip
_CRASH_POINT_KEYS = {"max_prefixes", "reorders"}
_PROBE_COMMON = {"name", "timeout", "retry"}
_PROBE_KINDS: dict[str, set[str]] = {
    "run": {"expect", "not_expect", "status"},
    "metric": {"min", "max"},
    "no_log": set(),
    "checksums": set(),
}
_ACTIVITY_KEYS: dict[str, set[str]] = {
    "inject": {"rate", "name"},
    "workload": {"files", "name"},
    "wait": {"name"},
    "probe": set(),
    "run": {"expect", "not_expect", "status", "timeout", "name"},
}


@dataclass(frozen=True)
class Probe:
    """One check of the steady state. `kind`: `run` (a command's status and output), `metric`
    (a value in [min, max]), `no_log` (no kernel log record matching `pattern` in this
    experiment), `checksums` (every acknowledged write reads back unchanged)."""

    kind: str
    name: str
    run: str = ""
    expect: tuple[str, ...] = ()
    not_expect: tuple[str, ...] = ()
    status: int | str | None = 0  # a number, "nonzero", or None for any
    metric: str = ""
    min: float | None = None
    max: float | None = None
    pattern: str = ""
    timeout: float = 30.0
    retry: int = 0  # re-check up to this many times, 0.5 s apart, before it counts as false
    line: int | None = None


@dataclass(frozen=True)
class Activity:
    """One step of the method (or a rollback): `inject` a fault, run the `workload`, `wait`,
    check a `probe`, or `run` a command."""

    kind: str
    name: str
    fault: str = ""
    rate: int | None = None
    files: int = 8
    seconds: float = 0.0
    probe: Probe | None = None
    line: int | None = None


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    requires: tuple[str, ...]
    steady_state: tuple[Probe, ...]
    method: tuple[Activity, ...]
    rollbacks: tuple[Activity, ...] = ()
    verify: bool = False
    path: Path | None = None
    #: {"max_prefixes": int | None, "reorders": int} for a crash-point experiment, else None
    crash_points: dict[str, int | None] | None = None

    @property
    def faults(self) -> list[str]:
        return [a.fault for a in self.method if a.kind == "inject"]

    @property
    def expects_panic(self) -> bool:
        """A panic is the fault itself (random_panic), not a failure of the kernel."""
        return "random_panic" in self.faults


def builtin_experiments() -> list[str]:
    return builtin_names(EXPERIMENT_DIR)


def load_experiment(name_or_path: str | Path) -> Experiment:
    """A built-in experiment by name (`disk_full`) or an experiment file by path."""
    path = find_data_file(name_or_path, EXPERIMENT_DIR, "experiment")
    return parse_experiment(load_mapping(path, "an experiment"), path)


# ------------------------------------------------------------------------------------ parsing


def _fail(path: Path, data: Any, key: str | None, problem: str) -> DataFileError:
    return DataFileError(path, line_of(data, key) if key else line_of(data), problem)


def _regexes(path: Path, data: dict, key: str, where: str) -> tuple[str, ...]:
    value = data.get(key)
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    for rx in items:
        if not isinstance(rx, str):
            raise _fail(path, data, key, f"{where}'{key}' must be a regex or a list of them")
        try:
            re.compile(rx)
        except re.error as e:
            raise _fail(
                path, data, key, f"{where}'{key}': {rx!r} is not a valid regex: {e}"
            ) from None
    return tuple(items)


def _number(path: Path, data: dict, key: str, where: str, *, lo: float, hi: float) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise _fail(
            path, data, key, f"{where}'{key}' must be a number {lo:g}..{hi:g}, not {value!r}"
        )
    return float(value)


def _status(path: Path, data: dict, where: str) -> int | str | None:
    if "status" not in data:
        return 0
    value = data["status"]
    if (
        value is None
        or value == "nonzero"
        or (isinstance(value, int) and not isinstance(value, bool))
    ):
        return value
    raise _fail(
        path, data, "status", f"{where}'status' is a number, nonzero or null, not {value!r}"
    )


def _text(path: Path, data: dict, key: str, where: str, default: str = "") -> str:
    value = data.get(key, default)
    try:
        return display_name(value, f"{where}'{key}'", limit=2000)
    except ValueError as e:
        raise _fail(path, data, key, str(e)) from None


def _parse_probe(path: Path, data: Any, where: str) -> Probe:
    if not isinstance(data, dict):
        raise DataFileError(path, None, f"{where}a probe is a mapping, not a {kind_of(data)}")
    kinds = [k for k in _PROBE_KINDS if k in data]
    if len(kinds) != 1:
        raise _fail(
            path, data, None,
            f"{where}a probe has exactly one of {', '.join(_PROBE_KINDS)} "
            f"({'none' if not kinds else ', '.join(kinds)} given)",
        )  # fmt: skip
    kind = kinds[0]
    check_keys(data, _PROBE_COMMON | _PROBE_KINDS[kind] | {kind}, path, where)
    name = _text(path, data, "name", where, default=f"{kind} {data[kind]}")
    timeout = (
        _number(path, data, "timeout", where, lo=0.1, hi=MAX_WAIT_S) if "timeout" in data else 30.0
    )
    retry = int(_number(path, data, "retry", where, lo=0, hi=100)) if "retry" in data else 0
    common = {"kind": kind, "name": name, "timeout": timeout, "retry": retry, "line": line_of(data)}
    if kind == "run":
        return Probe(
            run=_text(path, data, "run", where),
            expect=_regexes(path, data, "expect", where),
            not_expect=_regexes(path, data, "not_expect", where),
            status=_status(path, data, where),
            **common,
        )
    if kind == "metric":
        metric = data["metric"]
        if not isinstance(metric, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", metric):
            raise _fail(
                path, data, "metric", f"{where}'metric' is a metric name such as heap_failures"
            )
        bounds = {
            k: _number(path, data, k, where, lo=-1e18, hi=1e18) for k in ("min", "max") if k in data
        }
        if not bounds:
            raise _fail(path, data, None, f"{where}a metric probe needs 'min', 'max' or both")
        return Probe(metric=metric, **bounds, **common)
    if kind == "no_log":
        return Probe(
            pattern=_regexes(path, data, "no_log", where)[0] if data["no_log"] else "", **common
        )
    if data["checksums"] != "unchanged":
        raise _fail(path, data, "checksums", f"{where}'checksums' can only be 'unchanged'")
    return Probe(**common)


def _parse_activity(path: Path, data: Any, where: str, *, rollback: bool = False) -> Activity:
    if not isinstance(data, dict):
        raise DataFileError(path, None, f"{where}an activity is a mapping, not a {kind_of(data)}")
    allowed = ("run",) if rollback else tuple(_ACTIVITY_KEYS)
    kinds = [k for k in allowed if k in data]
    if len(kinds) != 1:
        raise _fail(
            path, data, None,
            f"{where}an activity has exactly one of {', '.join(allowed)} "
            f"({'none' if not kinds else ', '.join(kinds)} given)",
        )  # fmt: skip
    kind = kinds[0]
    line = line_of(data)
    if kind == "probe":
        check_keys(data, {"probe"}, path, where)
        probe = _parse_probe(path, data["probe"], where)
        return Activity(kind="probe", name=probe.name, probe=probe, line=line)
    check_keys(data, _ACTIVITY_KEYS[kind] | {kind}, path, where)
    if kind == "inject":
        fault = data["inject"]
        if fault not in FAULTS:
            raise _fail(
                path, data, "inject", f"{where}unknown fault {fault!r} (known: {', '.join(FAULTS)})"
            )
        rate = int(_number(path, data, "rate", where, lo=1, hi=100)) if "rate" in data else None
        name = _text(path, data, "name", where, default=f"inject {fault}")
        return Activity(kind="inject", name=name, fault=fault, rate=rate, line=line)
    if kind == "workload":
        if data["workload"] not in WORKLOADS:
            raise _fail(
                path,
                data,
                "workload",
                f"{where}unknown workload {data['workload']!r} (known: {', '.join(WORKLOADS)})",
            )
        files = (
            int(_number(path, data, "files", where, lo=1, hi=MAX_FILES)) if "files" in data else 8
        )
        name = _text(path, data, "name", where, default=f"write {files} files")
        return Activity(kind="workload", name=name, files=files, line=line)
    if kind == "wait":
        seconds = _number(path, data, "wait", where, lo=0, hi=MAX_WAIT_S)
        name = _text(path, data, "name", where, default=f"wait {seconds:g} s")
        return Activity(kind="wait", name=name, seconds=seconds, line=line)
    probe = _parse_probe(path, {k: v for k, v in data.items()}, where)
    return Activity(
        kind="run", name=probe.name if "name" in data else probe.run, probe=probe, line=line
    )


def _items(path: Path, data: dict, key: str) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(path, data, key, f"'{key}' must be a list, not a {kind_of(value)}")
    return value


def parse_experiment(data: Any, path: Path) -> Experiment:
    if not isinstance(data, dict):
        raise DataFileError(path, 1, "an experiment is a mapping of fields")
    check_keys(data, _TOP_KEYS, path, "")
    if "name" not in data:
        raise _fail(path, data, None, "missing required field 'name'")
    try:
        name = safe_name(data["name"], "name")
    except ValueError as e:
        raise _fail(path, data, "name", str(e)) from None
    description = _text(path, data, "description", "", default=name)
    requires = data.get("requires") or []
    if not isinstance(requires, list) or not all(
        isinstance(c, str) and re.fullmatch(r"[A-Za-z0-9_.-]+", c) for c in requires
    ):
        raise _fail(path, data, "requires", "'requires' is a list of capability words")
    steady = [
        _parse_probe(path, p, f"steady_state[{i}]: ")
        for i, p in enumerate(_items(path, data, "steady_state"))
    ]
    method = [
        _parse_activity(path, a, f"method[{i}]: ")
        for i, a in enumerate(_items(path, data, "method"))
    ]
    if not method:
        raise _fail(path, data, None, "'method' must list at least one activity")
    rollbacks = [
        _parse_activity(path, a, f"rollbacks[{i}]: ", rollback=True)
        for i, a in enumerate(_items(path, data, "rollbacks"))
    ]
    verify = data.get("verify", False)
    if not isinstance(verify, bool):
        raise _fail(path, data, "verify", f"'verify' must be true or false, not {verify!r}")
    if (verify or any(p.kind == "checksums" for p in steady)) and not any(
        a.kind == "workload" for a in method
    ):
        raise _fail(
            path, data, "verify", "checking acknowledged writes needs a 'workload' in the method"
        )
    return Experiment(
        name=name,
        description=description,
        requires=tuple(requires),
        steady_state=tuple(steady),
        method=tuple(method),
        rollbacks=tuple(rollbacks),
        verify=verify,
        path=path,
        crash_points=_parse_crash_points(path, data, method),
    )


def _parse_crash_points(
    path: Path, data: dict[str, Any], method: list[Activity]
) -> dict[str, int | None] | None:
    value = data.get("crash_points")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _fail(path, data, "crash_points", "'crash_points' is a mapping")
    check_keys(value, _CRASH_POINT_KEYS, path, "crash_points: ")
    prefixes = value.get("max_prefixes", 8)
    reorders = value.get("reorders", 2)
    if prefixes != "all" and (isinstance(prefixes, bool) or not isinstance(prefixes, int)):
        raise _fail(path, data, "crash_points", "'max_prefixes' is a number or 'all'")
    if isinstance(reorders, bool) or not isinstance(reorders, int) or reorders < 0:
        raise _fail(path, data, "crash_points", "'reorders' is a number, 0 or more")
    if isinstance(prefixes, int) and prefixes < 0:
        raise _fail(path, data, "crash_points", "'max_prefixes' is a number, 0 or more")
    kinds = [(a.kind, a.fault) for a in method]
    if not any(k == "workload" for k, _ in kinds) or ("inject", "power_cut") not in kinds:
        raise _fail(
            path,
            data,
            "crash_points",
            "crash points need a 'workload' and a power_cut in the method",
        )
    return {"max_prefixes": None if prefixes == "all" else prefixes, "reorders": reorders}


def load_experiments(names: list[str]) -> list[Experiment]:
    """The experiments named (all built-ins when none): DataFileError with FILE:LINE on a bad one."""
    return [load_experiment(n) for n in (names or builtin_experiments())]
