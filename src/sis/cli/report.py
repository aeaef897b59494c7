"""`sis report summary OUT`: a run's verdict as Markdown, for a CI job summary
(`sis report summary sis-out >> "$GITHUB_STEP_SUMMARY"`): the overall verdict, one row per job
(target and preset, counts per verdict, wall time) and every test that did not pass."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

report_app = typer.Typer(no_args_is_help=True, help="Reports of a finished run.")

_MARK = {"PASS": "✅", "FAIL": "❌", "ERROR": "⚠️", "SKIP": "⏭️", "NOT TESTED": "⚠️"}


#: What Markdown (and the HTML it lets through) would read as markup rather than text.
_MARKUP = re.compile(r"([\\`*_\[\]<>#!|~&])")


def _cell(text: str) -> str:
    """Text from a guest or a suite, as text inside a Markdown table cell: one line, no column
    breaks, no markup, links or HTML."""
    one_line = " ".join(text.split())[:200]
    return _MARKUP.sub(r"\\\1", one_line)


def summary_markdown(out: Path) -> tuple[str, int]:
    """The Markdown summary of the run in OUT, and the run's exit status (as `sis check`'s)."""
    from sis.harness.results import (
        VERDICTS,
        exit_code,
        overall_verdict,
        read_jobs,
        read_results,
        summarize,
    )

    results, problems = read_results(out / "results.jsonl")
    jobs, job_problems = read_jobs(out / "jobs.jsonl")
    verdict = overall_verdict(results)
    counts = summarize(results)
    lines = [f"## SIS: {_MARK[verdict]} {verdict}", ""]
    lines.append(", ".join(f"{counts[v]} {v}" for v in VERDICTS) + f" ({len(results)} tests)")
    lines.append("")

    by_job: dict[tuple[str, str], list] = {}
    for r in results:
        by_job.setdefault((r.target, r.preset), []).append(r)
    wall = {(j.target, j.preset): j.wall_s for j in jobs}
    for key in wall:
        by_job.setdefault(key, [])
    if by_job:
        lines.append("| target | preset | verdict | " + " | ".join(VERDICTS) + " | wall |")
        lines.append("|---|---|---|" + "---:|" * len(VERDICTS) + "---:|")
        for (target, preset), rs in sorted(by_job.items()):
            c = summarize(rs)
            v = overall_verdict(rs)
            seconds = f"{wall[(target, preset)]:.1f} s" if (target, preset) in wall else ""
            row = [_cell(target), _cell(preset), f"{_MARK[v]} {v}"]
            row += [str(c[x]) for x in VERDICTS] + [seconds]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")

    not_passed = [r for r in results if r.verdict in ("FAIL", "ERROR")]
    if not_passed:
        lines.append("### Not passed")
        lines.append("")
        lines.append("| verdict | test | reason |")
        lines.append("|---|---|---|")
        for r in not_passed:
            lines.append(f"| {r.verdict} | {_cell(r.key)} | {_cell(r.reason)} |")
        lines.append("")
    for note in problems + job_problems:
        lines.append(f"* {_cell(note)}")
    return "\n".join(lines).rstrip() + "\n", exit_code(results)


@report_app.command()
def summary(
    out: Annotated[Path, typer.Argument(help="the OUT of a finished `sis check` run")],
    exit_status: Annotated[
        bool, typer.Option(help="exit with the run's status (0 PASS, 1 FAIL, 2 ERROR)")
    ] = False,
) -> None:
    """Print the run in OUT as Markdown (verdict, one row per job, what did not pass)."""
    if not (out / "results.jsonl").is_file():
        typer.echo(f"sis report: {out}/results.jsonl: no such file (not a sis check OUT)", err=True)
        raise typer.Exit(2)
    text, status = summary_markdown(out)
    typer.echo(text, nl=False)
    if exit_status:
        raise typer.Exit(status)
