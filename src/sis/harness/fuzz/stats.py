"""Fuzzing statistics, live and in the Prometheus text format (as syzkaller exports
`syz_exec_total`): executions, calls, corpus, coverage, crashes and restarts."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


@dataclass
class Stats:
    started: float = field(default_factory=time.monotonic)
    programs: int = 0
    calls: int = 0
    batches: int = 0
    crashes: int = 0
    restarts: int = 0
    corpus: int = 0
    signal: int = 0
    cover: int = 0
    titles: dict[str, int] = field(default_factory=dict)  # crash title -> times seen
    exec_seconds: float = 0.0  # time inside executor round trips
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_batch(self, programs: int, calls: int, seconds: float) -> None:
        with self._lock:
            self.batches += 1
            self.programs += programs
            self.calls += calls
            self.exec_seconds += seconds

    def add_crash(self, title: str) -> bool:
        """Count a crash; True the first time its title is seen."""
        with self._lock:
            self.crashes += 1
            first = title not in self.titles
            self.titles[title] = self.titles.get(title, 0) + 1
            return first

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    def rate(self) -> float:
        """Calls per second over the whole run."""
        return self.calls / self.elapsed

    def prometheus(self) -> str:
        rows = [
            ("sis_fuzz_exec_total", "counter", "Programs executed (syzkaller: syz_exec_total).", self.programs),
            ("sis_fuzz_calls_total", "counter", "Syscalls executed.", self.calls),
            ("sis_fuzz_batches_total", "counter", "Executor batches (round trips).", self.batches),
            ("sis_fuzz_crashes_total", "counter", "Crashes, duplicates included.", self.crashes),
            ("sis_fuzz_restarts_total", "counter", "Target restarts after a crash.", self.restarts),
            ("sis_fuzz_crash_titles", "gauge", "Unique crashes (by title).", len(self.titles)),
            ("sis_fuzz_corpus_programs", "gauge", "Programs in the corpus.", self.corpus),
            ("sis_fuzz_signal", "gauge", "Signal the corpus covers.", self.signal),
            ("sis_fuzz_cover_edges", "gauge", "Kernel coverage edges reached (x-sis-kcov).", self.cover),
            ("sis_fuzz_run_seconds", "gauge", "Seconds since the run started.", round(self.elapsed, 3)),
            ("sis_fuzz_calls_per_second", "gauge", "Syscalls per second over the run.", round(self.rate(), 1)),
        ]  # fmt: skip
        out = []
        for name, kind, help_, value in rows:
            out += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", f"{name} {value}"]
        return "\n".join(out) + "\n"

    def summary(self) -> dict:
        return {
            "seconds": round(self.elapsed, 2),
            "programs": self.programs,
            "calls": self.calls,
            "calls_per_second": round(self.rate(), 1),
            "batches": self.batches,
            "corpus": self.corpus,
            "signal": self.signal,
            "cover_edges": self.cover,
            "crashes": self.crashes,
            "unique_crashes": len(self.titles),
            "restarts": self.restarts,
            "titles": dict(self.titles),
        }
