"""What `sis check` shows while it runs: one line per target and preset, a line per result
that is not a pass, and a summary at the end.

Names, reasons and paths come from suites, profiles, guests and the command line: they are
printed as text, never read as rich markup (a reason holding `[/a-z]` is not a closing tag)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from sis.harness.results import TestResult, overall_verdict, summarize

if TYPE_CHECKING:
    from sis.harness.check import CheckPlan

_STYLE = {
    "PASS": "green",
    "FAIL": "bold red",
    "ERROR": "bold yellow",
    "SKIP": "dim",
    "NOT TESTED": "bold yellow",
}


class CheckProgress:
    def __init__(self, plan: CheckPlan) -> None:
        self.plan = plan
        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.fields[key]:<26}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[state]}", markup=False),
            TimeElapsedColumn(),
            console=self.console,
        )
        # What a job is known to report up front (its suites' tests); the total grows as the
        # other phases report.
        per_suites = sum(len(s.tests) for s in plan.suites)
        self.tasks = {
            job.key: self.progress.add_task(
                "", total=per_suites if "suites" in job.phases else None, key=job.key,
                state="waiting",
            )
            for job in plan.jobs
        }  # fmt: skip

    def __enter__(self) -> CheckProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def stop(self) -> None:
        self.progress.stop()

    def status(self, key: str, text: str) -> None:
        self.progress.update(self.tasks[key], state=text)
        if text == "done":  # what it reported is all there was
            task = next(t for t in self.progress.tasks if t.id == self.tasks[key])
            self.progress.update(self.tasks[key], total=task.completed)

    def result(self, r: TestResult) -> None:
        task_id = self.tasks[f"{r.target}/{r.preset}"]
        task = next(t for t in self.progress.tasks if t.id == task_id)
        if task.total is not None and task.completed >= task.total:
            self.progress.update(task_id, total=task.completed + 1)
        self.progress.advance(task_id)
        if r.verdict != "PASS":
            why = f": {r.reason}" if r.reason else ""
            line = f" {r.target}/{r.preset} {r.suite} :: {r.test}{why}"
            self.console.print(Text.assemble((r.verdict, _STYLE[r.verdict]), line))

    def interrupted(self) -> None:
        self.console.print(
            Text.assemble(
                ("interrupted", "yellow"),
                f": results so far are in {self.plan.out}/results.jsonl "
                "and the reports were built from them",
            )
        )

    def summary(self, results: list[TestResult]) -> None:
        c = summarize(results)
        verdict = overall_verdict(results)
        self.console.print(
            Text.assemble(
                (verdict, _STYLE[verdict]),
                f": {c['PASS']} passed, {c['FAIL']} failed, {c['ERROR']} errors, "
                f"{c['SKIP']} skipped  ->  {self.plan.out}/report.html",
            )
        )
