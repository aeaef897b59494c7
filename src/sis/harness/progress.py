"""What a run shows while it goes (every command through the one door): one line per job
(target and preset) with a bar, a line per result that is not a pass, and a summary at the end.
Everything that comes from a suite, a profile, a guest or a file is printed as text, never as
rich markup."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from sis.harness.results import TestResult, overall_verdict, summarize

if TYPE_CHECKING:
    from sis.harness.plan import Plan

_STYLE = {
    "PASS": "green",
    "FAIL": "bold red",
    "ERROR": "bold yellow",
    "SKIP": "dim",
    "NOT TESTED": "bold yellow",
}


class RunProgress:
    def __init__(self, plan: Plan) -> None:
        from sis.harness.phases import phase

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
        self.tasks = {}
        for job in plan.jobs:
            known = sum(
                len(phase(name).planned(job, job.phase_options(name)))
                for name in job.phases
                if name == "suites"
            )
            self.tasks[job.key] = self.progress.add_task(
                "", total=known or None, key=job.key, state="waiting"
            )

    def __enter__(self) -> RunProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def stop(self) -> None:
        self.progress.stop()

    def status(self, key: str, text: str) -> None:
        if key not in self.tasks:
            return
        self.progress.update(self.tasks[key], state=text)
        if text == "done":  # what it reported is all there was
            task = next(t for t in self.progress.tasks if t.id == self.tasks[key])
            self.progress.update(self.tasks[key], total=task.completed)

    def result(self, r: TestResult) -> None:
        task_id = self.tasks.get(f"{r.target}/{r.preset}")
        if task_id is not None:
            task = next(t for t in self.progress.tasks if t.id == task_id)
            if task.total is not None and task.completed >= task.total:
                self.progress.update(task_id, total=task.completed + 1)
            self.progress.advance(task_id)
        if r.verdict != "PASS":
            why = f": {r.reason}" if r.reason else ""
            line = Text(r.verdict, style=_STYLE[r.verdict])
            line.append(f" {r.target}/{r.preset} {r.suite} :: {r.test}{why}")
            self.console.print(line, highlight=False)

    def interrupted(self, note: str = "") -> None:
        line = Text("interrupted", style="yellow")
        line.append(
            f": {note + '; ' if note else ''}results so far are in {self.plan.out}/results.jsonl "
            "and the reports were built from them"
        )
        self.console.print(line, highlight=False)

    def summary(self, results: list[TestResult]) -> None:
        c = summarize(results)
        verdict = overall_verdict(results)
        line = Text(verdict, style=_STYLE[verdict])
        line.append(
            f": {c['PASS']} passed, {c['FAIL']} failed, {c['ERROR']} errors, {c['SKIP']} "
            f"skipped  ->  {self.plan.out}/report.html"
        )
        self.console.print(line, highlight=False)
