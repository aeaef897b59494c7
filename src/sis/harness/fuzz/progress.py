"""Live progress of a fuzz campaign (rich): exec/s, programs, corpus, coverage, crashes and the
unique titles, read from what the campaign's jobs write as they go (their stats.json), so it
shows the same wherever the jobs run; a plain line every few seconds when not on a terminal.
Titles come from the guest: they are shown as text, never as markup."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from sis.harness.fuzz.campaign import merge
from sis.harness.fuzz.fuzzer import FuzzConfig, FuzzRun

PLAIN_EVERY_S = 10.0
POLL_S = 0.5


class FuzzProgress:
    def __init__(self, config: FuzzConfig) -> None:
        self.config = config
        self.console = Console(stderr=True)
        self.live: Live | None = None
        self.started = time.monotonic()
        self._last_plain = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="fuzz-progress", daemon=True)
        self.errors: list[str] = []

    def __enter__(self) -> FuzzProgress:
        if self.console.is_terminal:
            self.live = Live(self._table(None), console=self.console, refresh_per_second=4)
            self.live.__enter__()
        else:
            self.console.print(self._headline(), markup=False, highlight=False)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._done.set()
        self._thread.join(2)
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

    def _poll(self) -> None:
        while not self._done.wait(POLL_S):
            try:
                self.update(merge_live(self.config))
            except OSError:
                continue

    def update(self, run: FuzzRun) -> None:
        elapsed = time.monotonic() - self.started
        if self.live is not None:
            self.live.update(self._table(run))
        elif time.monotonic() - self._last_plain > PLAIN_EVERY_S:
            self._last_plain = time.monotonic()
            s = run.stats
            print(
                f"[{elapsed:6.0f}s] {s.calls / max(elapsed, 1e-9):8.0f} calls/s  programs "
                f"{s.programs}  corpus {s.corpus}  signal {s.signal}  cover {s.cover}  "
                f"crashes {s.crashes} ({len(run.crashes)} unique)",
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
        elapsed = max(time.monotonic() - self.started, 1e-9)
        left = max(0.0, self.config.duration - elapsed)
        t.add_row("elapsed", f"{elapsed:.0f} s ({left:.0f} s left)")
        t.add_row(
            "exec/s", f"{s.calls / elapsed:,.0f} calls/s, {s.programs / elapsed:,.0f} programs/s"
        )
        t.add_row("executed", f"{s.programs:,} programs, {s.calls:,} calls, {s.batches:,} batches")
        t.add_row("corpus", f"{s.corpus:,} programs, signal {s.signal:,}, cover {s.cover:,} edges")
        style = "red" if run.crashes else "green"
        t.add_row(
            "crashes",
            Text(f"{s.crashes} ({len(run.crashes)} unique), {s.restarts} restarts", style=style),
        )
        for rec in list(run.crashes.values()):
            repro = f"repro: {len(rec.repro)} call(s)" if rec.repro else "no reproducer yet"
            t.add_row("", Text(f"{rec.title} x{rec.count} — {repro}", style="red"))
        for err in (run.errors or self.errors)[-3:]:
            t.add_row("error", Text(err, style="yellow"))
        return t

    def summary(self, run: FuzzRun) -> None:
        s = run.stats
        out = self.console
        elapsed = max(time.monotonic() - self.started, 1e-9)

        def say(text: str, style: str | None = None) -> None:
            out.print(Text(text, style=style or ""), highlight=False)

        say(
            f"fuzzed {elapsed:.0f} s: {s.calls:,} calls ({s.calls / elapsed:,.0f}/s), "
            f"{s.programs:,} programs, corpus {s.corpus}, signal {s.signal}, cover {s.cover}"
        )
        if not run.crashes:
            say("no crash", "green")
        for rec in run.crashes.values():
            where = rec.directory / ("repro.txt" if rec.repro else "log.json")
            calls = f"{len(rec.repro)} call(s)" if rec.repro else "no reproducer"
            say(f"CRASH {rec.title} (x{rec.count}, after {rec.found_after:.0f} s, {calls}): "
                f"{where}", "red")  # fmt: skip
            if rec.repro:
                for line in rec.repro.listing().splitlines():
                    say(f"    {line}")
        for err in run.errors:
            say(f"error {err}", "yellow")
        validation = self.config.out / "validation.txt"
        if validation.exists():
            say(f"validation table (sis fuzz validate): {validation}")
        say(f"report: {self.config.out / 'report.html'}  summary: "
            f"{self.config.out / 'summary.json'}")  # fmt: skip


def merge_live(config: FuzzConfig) -> FuzzRun:
    """What the jobs have found so far (their files, merged in memory)."""
    return merge(config.out, write=False)
