"""The corpus: programs that reached something no earlier program did (new coverage edges with
`x-sis-kcov`, else a new (syscall, outcome) pair), one JSON file each under DIR/corpus, and the
signal they cover. A later run with the same DIR starts from it."""

from __future__ import annotations

import threading
import zlib
from pathlib import Path

from sis.harness.fuzz.program import Program
from sis.harness.outdir import write_file


def call_signal(name: str, result: dict) -> set[int]:
    """What one call reached: its coverage edges, or (without coverage) its syscall and
    outcome, which is syzkaller's fallback signal."""
    edges = result.get("cover")
    outcome = result.get("errno") or ("ok" if result.get("ret", 0) >= 0 else "err")
    base = {zlib.crc32(f"{name}:{outcome}".encode()) | (1 << 32)}
    return base | set(edges) if edges else base


class Corpus:
    """`directory` holds this corpus (new finds are written there); `seeds`, a campaign's
    merged corpus, is read too but never written."""

    def __init__(self, directory: Path | None, *, seeds: Path | None = None) -> None:
        self.dir = directory
        self.programs: list[Program] = []
        self.signal: set[int] = set()
        self.edges: set[int] = set()  # coverage edges only (not the fallback signal)
        self._lock = threading.Lock()
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        seen: set[str] = set()
        for where in (seeds, directory):
            if where is None or not where.is_dir():
                continue
            for path in sorted(where.glob("*.json")):
                if path.name in seen:
                    continue
                seen.add(path.name)
                try:
                    self.programs.append(Program.from_json(path.read_text()))
                except (OSError, ValueError):
                    continue  # a stray or damaged file is not a program; the run goes on

    def __len__(self) -> int:
        return len(self.programs)

    def consider(self, prog: Program, results: list[dict]) -> bool:
        """Add `prog` if its calls reached new signal; True if it was added."""
        seen: set[int] = set()
        for call, result in zip(prog.calls, results, strict=False):
            seen |= call_signal(call.name, result)
            self.edges.update(result.get("cover") or ())
        with self._lock:
            new = seen - self.signal
            if not new:
                return False
            self.signal |= new
            self.programs.append(prog)
        if self.dir is not None:
            write_file(self.dir / f"{prog.hash()}.json", prog.to_json() + "\n")
        return True

    def snapshot(self) -> list[Program]:
        with self._lock:
            return list(self.programs)
