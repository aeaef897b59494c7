"""A fuzz campaign's files: what its jobs (`sis.harness.commands.fuzz`) found, merged. Each job
fuzzes in its own directory; between rounds and at the end their corpora are merged into
OUT/corpus (the next round starts from it) and their crashes into OUT/crashes/<title>/,
deduplicated by title (a bug two workers hit is one crash with two reproducers).

    OUT/jobs/r<round>-w<worker>/   each job's own corpus, crashes, stats and events
    OUT/corpus/ OUT/crashes/       the campaign's, merged
    OUT/summary.json stats.prom fuzz.html   written at the end (and after an interrupt)
"""

from __future__ import annotations

import html
import json
import shutil
import time
from pathlib import Path

from sis.harness.fuzz.fuzzer import CrashRecord, FuzzConfig, FuzzRun
from sis.harness.fuzz.program import Program
from sis.harness.outdir import write_atomic


def job_dir(out: Path, round_: int, worker: int) -> Path:
    return out / "jobs" / f"r{round_}-w{worker}"


def merge(out: Path, *, write: bool = True) -> FuzzRun:
    """Fold every job's corpus and crashes into the campaign's; returns the totals. With
    `write=False` only the totals are read (live progress), nothing is copied."""
    corpus = out / "corpus"
    crashes = out / "crashes"
    if write:
        corpus.mkdir(parents=True, exist_ok=True)
        crashes.mkdir(parents=True, exist_ok=True)
    run = FuzzRun(FuzzConfig(out=out))
    stats = run.stats
    programs: set[str] = {p.name for p in corpus.glob("*.json")} if corpus.is_dir() else set()
    for job in sorted((out / "jobs").glob("r*-w*")):
        for program in (job / "corpus").glob("*.json"):
            if program.name not in programs:
                programs.add(program.name)
                if write:
                    shutil.copyfile(program, corpus / program.name)
        summary = _read_json(job / "summary.json") or _read_json(job / "stats.json") or {}
        for key in ("programs", "calls", "batches", "restarts"):
            setattr(stats, key, getattr(stats, key) + int(summary.get(key, 0)))
        found_here = summary.get("crashes", [])
        stats.crashes += sum(int(c.get("count", 1)) for c in found_here)
        stats.signal = max(stats.signal, int(summary.get("signal", 0)))
        stats.cover = max(stats.cover, int(summary.get("cover_edges", 0)))
        stats.exec_seconds += float(summary.get("seconds", 0.0))
        for found in found_here:
            _merge_crash(run, crashes if write else None, job, found)
    stats.corpus = len(programs)
    for rec in run.crashes.values():
        stats.titles[rec.title] = rec.count
    return run


def _merge_crash(run: FuzzRun, crashes: Path | None, job: Path, found: dict) -> None:
    title = str(found.get("title", "")) or "crash"
    source = Path(str(found.get("directory", "")))
    if not source.is_dir():  # written where the job ran (another machine): its copy here
        source = job / "crashes" / source.name
    if not source.is_dir():
        return
    target = source
    if crashes is not None:
        target = crashes / source.name
        if not target.exists():
            shutil.copytree(source, target)
        reproducers = target / "reproducers"
        reproducers.mkdir(exist_ok=True)
        if (source / "repro.json").exists():
            shutil.copyfile(source / "repro.json", reproducers / f"{job.name}.json")
    rec = run.crashes.get(title)
    if rec is None:
        repro = None
        if (target / "repro.json").exists():
            try:
                repro = Program.from_json((target / "repro.json").read_text())
            except (OSError, ValueError):
                repro = None
        rec = CrashRecord(
            title,
            str(found.get("kind", "")),
            0,
            repro,
            float(found.get("found_after_s", 0)),
            target,
        )
        run.crashes[title] = rec
    rec.count += int(found.get("count", 1))
    rec.found_after = min(rec.found_after, float(found.get("found_after_s", rec.found_after)))


def write_summary(out: Path, run: FuzzRun, config: FuzzConfig) -> None:
    """summary.json, stats.prom and fuzz.html of the campaign."""
    # The jobs' fuzzing time, per worker: the campaign's wall time less boots and merges.
    run.stats.started = time.monotonic() - run.stats.exec_seconds / max(1, config.jobs)
    summary = run.stats.summary() | {
        "target": config.target, "seed": config.seed, "append": config.append,
        "cover": config.cover, "jobs": config.jobs,
        "crashes": [
            {"title": c.title, "kind": c.kind, "count": c.count,
             "found_after_s": round(c.found_after, 2),
             "repro_calls": len(c.repro) if c.repro else None,
             "reproducers": sorted(p.name for p in (c.directory / "reproducers").glob("*.json")),
             "directory": str(c.directory)}
            for c in run.crashes.values()
        ],
        "validation": _validation(out),
    }  # fmt: skip
    write_atomic(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    write_atomic(out / "stats.prom", run.stats.prometheus())
    write_atomic(out / "fuzz.html", _page(summary))


def _page(summary: dict) -> str:
    """A plain page: the totals and each unique crash (everything escaped: titles come from the
    guest)."""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(c['title'])}</td><td>{e(c['kind'])}</td><td>{c['count']}</td>"
        f"<td>{c['repro_calls'] if c['repro_calls'] is not None else 'none'}</td>"
        f"<td>{len(c['reproducers'])}</td></tr>"
        for c in summary["crashes"]
    )
    totals = ", ".join(
        f"{k.replace('_', ' ')} {summary[k]:,}"
        for k in ("programs", "calls", "corpus", "signal", "cover_edges", "restarts")
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta http-equiv=Content-Security-Policy content=\"default-src 'none'\">"
        f"<title>SIS fuzz: {e(summary['target'])}</title></head><body>"
        f"<h1>SIS fuzz: {e(summary['target'])}</h1><p>{e(totals)}</p>"
        "<table border=1><tr><th>crash</th><th>kind</th><th>times</th><th>reproducer calls</th>"
        f"<th>reproducers</th></tr>{rows or '<tr><td colspan=5>no crash</td></tr>'}</table>"
        "<p><a href=report.html>report</a> · <a href=summary.json>summary.json</a> · "
        "<a href=stats.prom>stats.prom</a></p></body></html>\n"
    )


def _validation(out: Path) -> dict | None:
    """What `sis fuzz validate` wrote into the same OUT, per target, with its table."""
    try:
        data = json.loads((out / "validation.json").read_text())
        return {
            "table": str(out / "validation.txt"),
            "targets": {t["target"]: t["counts"] for t in data["targets"]},
            "unexplained": len(data["unexplained"]),
        }
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
