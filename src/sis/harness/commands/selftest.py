"""`sis selftest`: every readiness job against a clean target and against every planted bug,
as a detection matrix job x kernel. Each target the self-test knows has a table of its own
(`TARGETS`): its rows, its planted bugs and how a bug is planted. Each cell is one job through
the one door, running the row's phase as `sis check`, `sis chaos run`, `sis soak` and
`sis fuzz` run it:

  sis            the reference kernel, a bug planted with `-append "sis.bug=NAME
                 sis.bug_seed=N"` (contract section 9; none for the clean column)
  linux-busybox  a real Linux guest (and its -arm64/-riscv64 twins), a bug planted as a
                 configuration of the guest: options of the row's phase (`nobarrier`: the
                 chaos disk's ext4 mounted without barriers; `ack_before_fsync`: the workload
                 acknowledges a write before its fsync returns)

A cell is
  ok           the clean kernel, and the job passed
  caught       a bug the job is meant to catch, and it failed for that bug's reason
  missed       a bug the job is meant to catch, and it passed
  other        a bug the job is meant to catch, and it failed for another reason
  quiet        a bug the job is not meant for, and it passed
  also caught  a bug the job is not meant for, and it failed with that bug's symptom (a
               crash, or the reason another job is meant to give for it)
  false alarm  it failed on the clean kernel, or failed on a bug it is not meant for without
               that bug's symptom
  error        the lab could not run the cell (a row that raised, a cell with no result)
  skipped      the job did not apply

The self-test holds only when every bug is caught by each job meant for it, no cell is a
false alarm, other or error, and the run completed. The oracle (which job catches which bug,
by what reason) lives here alone: the detectors never import it."""

from __future__ import annotations

import json
import random
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sis.contract.bugs import NAMES as BUG_NAMES
from sis.contract.bugs import NULL_DEREF_IOCTL_FUNCTION, PWRITE_OVERFLOW_FUNCTION
from sis.harness.capacity import cpu_count, default_parallel, target_bytes
from sis.harness.chaos.experiment import load_experiment
from sis.harness.commands.chaos import crash_point_options
from sis.harness.jobs import Job
from sis.harness.outdir import write_atomic
from sis.harness.plan import Plan
from sis.harness.results import ERROR, FAIL, PASS, SKIP, TestResult
from sis.harness.targets.profile import load_profile

CLEAN = "clean"
CAUGHT, MISSED, OTHER, QUIET, ALSO, FALSE_ALARM, OK, LAB_ERROR, SKIPPED = (
    "caught", "missed", "other", "quiet", "also caught", "false alarm", "ok", "error", "skipped",
)  # fmt: skip
#: Cells that keep the self-test from holding.
BAD = (MISSED, OTHER, FALSE_ALARM, LAB_ERROR)
MATRIX = "matrix.json"


@dataclass(frozen=True)
class Row:
    job: str  # "chaos/disk_full"
    phase: str  # the phase that runs it
    options: dict[str, Any] = field(default_factory=dict)
    #: The bugs this job must catch, each with the regex one of its FAIL reasons must match.
    catches: dict[str, str] = field(default_factory=dict)
    budget_s: float = 60.0  # what a cell of this row may take (printed with the matrix)


def _chaos(name: str, catches: dict[str, str]) -> Row:
    return Row(f"chaos/{name}", "chaos", {"experiments": [name]}, catches, budget_s=60)


_LOST = r"^lost \d+ acknowledged bytes in "
#: A crash point that lost acknowledged data (crashpoints.PointResult.reason): the point first.
_LOST_AT_POINT = r"^at .+ \(log entry \d+\): lost \d+ acknowledged bytes of "


def _crash_points_options() -> dict[str, Any]:
    """The crash-point experiment's phase options as `sis chaos run crash_points` gives them
    (the seed is the cell's)."""
    options = crash_point_options(load_experiment("crash_points"), seed=0)
    del options["seed"]
    return options


_FUZZ = r"^kernel crashed under fuzzing .*"
#: The soak and fuzz cells are short forms that still prove the point: a soak long enough to
#: tell a leak from warm-up, a fuzz run long enough to find the planted crashes.
SOAK_S, FUZZ_S = 45.0, 90.0
ROWS: list[Row] = [
    _chaos("disk_full", {"enospc_panic": r"^kernel panicked under disk_full"}),
    _chaos("disk_fail", {"fsync_lies": _LOST}),
    _chaos("network_fail", {"net_wedge": r"^steady state not restored after network_fail"}),
    _chaos("memory_pressure", {"oom_hang": r"^hung under memory_pressure"}),
    _chaos("slow_io", {}),
    _chaos("random_panic", {}),
    _chaos("power_cut", {"fsync_lies": _LOST}),
    Row("chaos/crash_points", "crash_points", _crash_points_options(),
        {"fsync_lies": _LOST_AT_POINT}, budget_s=60),
    Row("soak/churn", "soak",
        {"workload": "churn", "duration": SOAK_S, "interval": 1.0},
        {"leak_on_spawn": r"^leaking \+[\d.]+ MiB/h"}, budget_s=SOAK_S + 30),
    Row("fuzz/syscalls", "fuzz", {"duration": FUZZ_S, "stop_on_crash": True},
        {"pwrite_overflow": _FUZZ + PWRITE_OVERFLOW_FUNCTION,
         "null_deref_ioctl": _FUZZ + NULL_DEREF_IOCTL_FUNCTION}, budget_s=FUZZ_S + 30),
    Row("crash/forensics", "crash_probe", {},
        {"null_deref_ioctl": rf"^kernel crashed in ioctl \S+: .*\b{NULL_DEREF_IOCTL_FUNCTION}\b"},
        budget_s=30),
]  # fmt: skip


@dataclass(frozen=True)
class Target:
    """A target the self-test runs on: its rows, its planted bugs and how a bug is planted."""

    name: str  # a built-in profile
    rows: tuple[Row, ...]
    #: Each planted bug (a column) with the options of the row's phase that plant it; with
    #: `seeded`, none: the bug is a kernel parameter, `-append "sis.bug=NAME sis.bug_seed=N"`.
    bugs: dict[str, dict[str, Any]]
    seeded: bool = False
    #: A bug's symptoms besides the reasons its rows give (the same loss, said by another job).
    symptoms: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def symptoms_of(self, bug: str) -> list[str]:
        return [r.catches[bug] for r in self.rows if bug in r.catches] + list(
            self.symptoms.get(bug, ())
        )


SIS = Target("sis", tuple(ROWS), {name: {} for name in BUG_NAMES}, seeded=True)

CRASH_POINTS = Row(
    "chaos/crash_points", "crash_points", _crash_points_options(),
    {"nobarrier": _LOST_AT_POINT, "ack_before_fsync": _LOST_AT_POINT}, budget_s=90,
)  # fmt: skip
LINUX_ROWS: list[Row] = [
    CRASH_POINTS,
    # The power is cut after the fsyncs returned: lost data there means the disk was never
    # told to flush (nobarrier); an early acknowledgement is durable by then.
    Row("chaos/power_cut", "chaos", {"experiments": ["power_cut"]}, {"nobarrier": _LOST},
        budget_s=60),
]  # fmt: skip
#: Linux's planted bugs are configurations of the guest, planted by the rows' phase options.
LINUX_BUGS: dict[str, dict[str, Any]] = {
    "nobarrier": {"mount_options": "nobarrier"},
    "ack_before_fsync": {"ack_before_fsync": True},
}


def _linux(name: str) -> Target:
    return Target(name, tuple(LINUX_ROWS), LINUX_BUGS, symptoms={"ack_before_fsync": (_LOST,)})


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (SIS, _linux("linux-busybox"), _linux("linux-busybox-arm64"),
              _linux("linux-busybox-riscv64"))
}  # fmt: skip


@dataclass
class SelftestPlan:
    rows: list[Row]
    columns: list[str]  # "clean" and bug names
    out: Path
    seed: int  # seeds the faults, the workloads and the fuzzer
    bug_seed: int | None  # places each planted bug's trigger (None: the bugs take no seed)
    diagonal: bool = False  # only the cells meant for each bug (and the clean column)
    cells: list[tuple[Row, str]] = field(default_factory=list)
    target: Target = SIS


def plan_selftest(
    jobs: list[str],
    bugs: list[str],
    out: Path,
    seed: int = 0,
    clean: bool = True,
    bug_seed: int | None = None,
    diagonal: bool = False,
    target: str = "sis",
) -> SelftestPlan:
    """ValueError naming an unknown target, job or bug, or one of another target. On a seeded
    target `bug_seed=None` draws one (say it: the command prints it, so a run can be
    repeated); a target whose bugs take no seed refuses one."""
    if target not in TARGETS:
        raise ValueError(f"no self-test for target {target!r} (known: {', '.join(TARGETS)})")
    table = TARGETS[target]
    known = {r.job: r for r in table.rows}
    for j in jobs:
        if j not in known:
            elsewhere = [t.name for t in TARGETS.values() if j in {r.job for r in t.rows}]
            raise ValueError(
                f"job {j!r} is not a row of {target}'s self-test (its jobs: {', '.join(known)})"
                if elsewhere
                else f"unknown job {j!r} (known: {', '.join(known)})"
            )
    rows = [known[j] for j in jobs] if jobs else list(table.rows)
    for b in bugs:
        if b not in table.bugs:
            elsewhere = [t.name for t in TARGETS.values() if b in t.bugs]
            raise ValueError(
                f"planted bug {b!r} is not one of {target}'s (its bugs: "
                f"{', '.join(table.bugs)}; {b} is {elsewhere[0]}'s)"
                if elsewhere
                else f"unknown planted bug {b!r} (known: {', '.join(table.bugs)})"
            )
    wanted = bugs or [b for b in table.bugs if any(b in r.catches for r in table.rows)]
    columns = ([CLEAN] if clean else []) + wanted
    if not table.seeded:
        if bug_seed is not None:
            raise ValueError(
                f"{target}'s planted bugs are configurations of the guest: they take no --bug-seed"
            )
    elif bug_seed is None:
        bug_seed = random.SystemRandom().randrange(1, 1 << 31)
    plan = SelftestPlan(rows, columns, out, seed, bug_seed, diagonal, target=table)
    plan.cells = [
        (row, column)
        for column in columns
        for row in rows
        if not diagonal or column == CLEAN or column in row.catches
    ]
    return plan


def cell_label(row: Row, column: str, target: str = "sis") -> str:
    """The target's name in the cell's results and files: <target>-<column>-<job>."""
    return f"{target}-{column}-{row.job.replace('/', '-')}"


def target_ready(plan: SelftestPlan) -> None:
    """ValueError when the plan's target cannot boot here: a QEMU guest without its QEMU or
    its image (an image is not built in the middle of a matrix, by cells racing to build it)."""
    from sis.harness.images.arches import arch_spec
    from sis.harness.images.target import image_dir

    profile = load_profile(plan.target.name)
    if profile.kind != "qemu":
        return
    binary = profile.binary or f"qemu-system-{profile.arch}"
    if shutil.which(binary) is None:
        raise ValueError(f"{binary} is not installed (make qemu-deps)")
    builder, given = profile.image.get("builder"), profile.image.get("dir")
    if builder is None:
        return  # a profile's own image files: QEMU says if one is missing
    directory = image_dir(profile.arch, given, profile.path)
    if not (directory / "manifest.json").is_file():
        arch = arch_spec(profile.arch).debian
        build = f"sis image build {builder}" + (f" --arch {arch}" if arch != "amd64" else "")
        raise ValueError(
            f"{profile.name} has no image in {directory}: build it with "
            f"`{build}{f' --out {directory}' if given else ''}`"
        )


def as_plan(plan: SelftestPlan, jobs: int | None = None, executor: str = "local") -> Plan:
    """The cells as jobs of the one door: the target, preset and label from the plan's
    table, a bug planted by `-append` (the reference kernel) or by the phase's options."""
    table = plan.target
    profile = load_profile(table.name)
    job_list = []
    for row, column in plan.cells:
        options = dict(row.options)
        overrides = {}
        if column != CLEAN and table.seeded:
            overrides["append"] = f"sis.bug={column} sis.bug_seed={plan.bug_seed}"
        elif column != CLEAN:
            options.update(table.bugs[column])
        if row.phase in ("chaos", "crash_points", "soak", "fuzz"):
            options["seed"] = plan.seed
        job_list.append(
            Job(
                target=table.name, preset="default", target_name=profile.name,
                phases=(row.phase,), workdir=str(plan.out / "targets"),
                options={row.phase: options}, label=cell_label(row, column, table.name),
                overrides=overrides,
            )
        )  # fmt: skip
    memory = profile.variables("default").get("memory")
    sizes = [target_bytes(profile.kind, memory)] * len(job_list)
    # A QEMU guest under TCG keeps a host CPU busy with each of its vCPUs' work: half as many
    # at once as reference kernels, which mostly wait.
    cpus = max(1, cpu_count() // 2) if profile.kind == "qemu" else None
    parallel = default_parallel(sizes, cpus=cpus) if jobs is None else max(1, jobs)
    return Plan("SIS selftest", [job_list], plan.out, parallel, executor)


def cell_result(results: list[TestResult]) -> TestResult | None:
    """A cell's one verdict from what its phase reported: FAIL if any result failed (their
    reasons joined), else ERROR if any errored, else PASS if any passed, else SKIP."""
    if not results:
        return None
    for verdict in (FAIL, ERROR, PASS, SKIP):
        chosen = [r for r in results if r.verdict == verdict]
        if chosen:
            first = chosen[0]
            return TestResult(
                first.target, first.preset, "selftest", first.test, verdict,
                "; ".join(dict.fromkeys(r.reason for r in chosen if r.reason)),
                crash=next((r.crash for r in chosen if r.crash), {}),
            )  # fmt: skip
    return None


def classify(row: Row, column: str, result: TestResult | None, target: Target = SIS) -> str:
    if result is None or result.verdict == ERROR:
        return LAB_ERROR
    if result.verdict == SKIP:
        return SKIPPED
    if column == CLEAN:
        return OK if result.verdict == PASS else FALSE_ALARM
    reasons = result.reason.split("; ")
    if column in row.catches:
        if result.verdict == PASS:
            return MISSED
        rx = row.catches[column]
        return CAUGHT if any(re.search(rx, why) for why in reasons) else OTHER
    if result.verdict == PASS:
        return QUIET
    symptoms = target.symptoms_of(column)
    if result.crash.get("title") or any(re.search(rx, why) for rx in symptoms for why in reasons):
        return ALSO
    return FALSE_ALARM


def holds(matrix: dict[str, dict[str, str]], plan: SelftestPlan) -> bool:
    """Every planned cell present and none bad; every bug caught by each row meant for it."""
    for row, column in plan.cells:
        cell = matrix.get(row.job, {}).get(column)
        if cell is None or cell in BAD:
            return False
        if column in row.catches and cell != CAUGHT:
            return False
    return True


def build_matrix(
    plan: SelftestPlan, results: list[TestResult]
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """The cells and their reasons, from the run's results (a cell with no result is an
    error: the lab lost it)."""
    by_label: dict[str, list[TestResult]] = {}
    for r in results:
        by_label.setdefault(r.target, []).append(r)
    matrix: dict[str, dict[str, str]] = {r.job: {} for r in plan.rows}
    reasons: dict[str, dict[str, str]] = {r.job: {} for r in plan.rows}
    for row, column in plan.cells:
        result = cell_result(by_label.get(cell_label(row, column, plan.target.name), []))
        matrix[row.job][column] = classify(row, column, result, plan.target)
        reasons[row.job][column] = result.reason if result else "no result (the lab lost it)"
    return matrix, reasons


def write_matrix(
    plan: SelftestPlan,
    matrix: dict[str, dict[str, str]],
    reasons: dict[str, dict[str, str]],
    *,
    complete: bool,
) -> bool:
    """matrix.json, written once, whole: `holds` is false unless the run completed."""
    ok = complete and holds(matrix, plan)
    data = {
        "target": plan.target.name,
        "complete": complete,
        "holds": ok,
        "seed": plan.seed,
        "bug_seed": plan.bug_seed,
        "columns": plan.columns,
        "budgets_s": {r.job: r.budget_s for r in plan.rows},
        "matrix": matrix,
        "reasons": reasons,
    }
    write_atomic(plan.out / MATRIX, json.dumps(data, indent=2) + "\n")
    return ok


class CellWatch:
    """Says each cell as soon as its job is done: `result` and `status` are a run's callbacks
    (the job's results are gathered until its status says "done")."""

    def __init__(
        self, plan: SelftestPlan, show: Callable[[str, str, str, TestResult | None], None]
    ) -> None:
        self.target = plan.target
        self.cells = {
            f"{cell_label(r, c, plan.target.name)}/default": (r, c) for r, c in plan.cells
        }
        self.show = show
        self.results: dict[str, list[TestResult]] = {}

    def result(self, r: TestResult) -> None:
        self.results.setdefault(f"{r.target}/{r.preset}", []).append(r)

    def status(self, key: str, text: str) -> None:
        if text != "done" or key not in self.cells:
            return
        row, column = self.cells[key]
        cell = cell_result(self.results.get(key, []))
        self.show(row.job, column, classify(row, column, cell, self.target), cell)


def format_matrix(
    matrix: dict[str, dict[str, str]], columns: list[str], rows: list[Row] | None = None
) -> str:
    """The matrix as a plain-text table, one job a line (with its budget per cell)."""
    budgets = {r.job: f"{r.budget_s:.0f} s" for r in rows or []}
    width = max([len(j) for j in matrix] + [4])
    cols = [max(len(c), 11) for c in columns]
    lines = [
        "job".ljust(width)
        + "  "
        + "  ".join(c.ljust(w) for c, w in zip(columns, cols, strict=True))
        + ("  budget" if budgets else "")
    ]
    for job, cells in matrix.items():
        lines.append(
            job.ljust(width) + "  "
            + "  ".join(cells.get(c, "").ljust(w) for c, w in zip(columns, cols, strict=True))
            + (f"  {budgets.get(job, '')}" if budgets else "")
        )  # fmt: skip
    return "\n".join(line.rstrip() for line in lines)
