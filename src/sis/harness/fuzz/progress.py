"""Live progress of a fuzz run (rich): exec/s, programs, corpus, coverage, crashes and the
unique titles with their reproducers; a plain line every few seconds when not on a terminal.

Crash titles and errors come from the guest, paths and names from the command line: they are
printed as text, never read as rich markup."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from sis.harness.fuzz.fuzzer import FuzzConfig, FuzzRun

PLAIN_EVERY_S = 10.0


class FuzzProgress:
    def __init__(self, config: FuzzConfig) -> None:
        self.config = config
        self.console = Console(stderr=True)
        self.live: Live | None = None
        self._last_plain = 0.0

    def __enter__(self) -> FuzzProgress:
        if self.console.is_terminal:
            self.live = Live(self._table(None), console=self.console, refresh_per_second=4)
            self.live.__enter__()
        else:
            self.console.print(Text(self._headline()))
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)
            self.live = None

    def _headline(self) -> str:
        c = self.config
        extra = f" append={c.append!r}" if c.append else ""
        cov = "on" if c.cover else "off"
        return (
            f"fuzzing {c.target} for {c.duration:g} s, seed {c.seed}, -j {c.jobs}, "
            f"coverage {cov}{extra} -> {c.out}"
        )

    def update(self, run: FuzzRun) -> None:
        if self.live is not None:
            self.live.update(self._table(run))
        elif time.monotonic() - self._last_plain > PLAIN_EVERY_S:
            self._last_plain = time.monotonic()
            s = run.stats
            print(
                f"[{s.elapsed:6.0f}s] {s.rate():8.0f} calls/s  programs {s.programs}  "
                f"corpus {s.corpus}  signal {s.signal}  cover {s.cover}  "
                f"crashes {s.crashes} ({len(s.titles)} unique)",
                file=sys.stderr,
                flush=True,
            )

    def _table(self, run: FuzzRun | None) -> Table:
        t = Table(title=Text(self._headline()), show_header=False, expand=False)
        t.add_column("what", style="bold")
        t.add_column("value")
        if run is None:
            t.add_row("state", "booting")
            return t
        s = run.stats
        left = max(0.0, self.config.duration - s.elapsed)
        t.add_row("elapsed", f"{s.elapsed:.0f} s ({left:.0f} s left)")
        t.add_row("exec/s", f"{s.rate():,.0f} calls/s, {s.programs / s.elapsed:,.0f} programs/s")
        t.add_row("executed", f"{s.programs:,} programs, {s.calls:,} calls, {s.batches:,} batches")
        t.add_row("corpus", f"{s.corpus:,} programs, signal {s.signal:,}, cover {s.cover:,} edges")
        style = "red" if s.titles else "green"
        t.add_row(
            "crashes",
            Text.assemble(
                (f"{s.crashes} ({len(s.titles)} unique)", style), f", {s.restarts} restarts"
            ),
        )
        for rec in list(run.crashes.values()):
            repro = f"repro: {len(rec.repro)} call(s)" if rec.repro else "minimizing..."
            t.add_row("", Text.assemble((rec.title, "red"), f" x{rec.count} — {repro}"))
        for err in run.errors[-3:]:
            t.add_row("error", Text(err, style="yellow"))
        return t

    def summary(self, run: FuzzRun) -> None:
        s = run.stats
        out = self.console
        out.print(
            f"fuzzed {s.elapsed:.0f} s: {s.calls:,} calls ({s.rate():,.0f}/s), "
            f"{s.programs:,} programs, corpus {s.corpus}, signal {s.signal}, cover {s.cover}"
        )
        if not run.crashes:
            out.print(Text("no crash", style="green"))
        for rec in run.crashes.values():
            where = rec.directory / ("repro.txt" if rec.repro else "log.json")
            calls = f"{len(rec.repro)} call(s)" if rec.repro else "no reproducer"
            out.print(
                Text.assemble(
                    ("CRASH", "red"),
                    f" {rec.title} (x{rec.count}, after {rec.found_after:.0f} s, {calls}): {where}",
                )
            )
            if rec.repro:
                for line in rec.repro.listing().splitlines():
                    out.print(Text(f"    {line}"))
        for err in run.errors:
            out.print(Text.assemble(("error", "yellow"), f" {err}"))
        validation = self.config.out / "validation.txt"
        if validation.exists():
            out.print(Text(f"validation table (sis fuzz validate): {validation}"))
        out.print(
            Text(
                f"stats: {self.config.out / 'stats.prom'}  "
                f"summary: {self.config.out / 'summary.json'}"
            )
        )
