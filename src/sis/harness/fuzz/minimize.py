"""From a crashing batch to a short reproducer (syzkaller's repro): find the program that
crashes on its own (else the batch as one program), drop every call the crash does not need,
then simplify the arguments that remain (integers to 0, buffers to the plain scratch buffer),
keeping each step only if the same crash (same title) still happens."""

from __future__ import annotations

import time
from collections.abc import Callable

from sis.harness.fuzz.channel import Channel
from sis.harness.fuzz.crash import CrashInfo
from sis.harness.fuzz.program import Program, concat, ret_ref

#: The most executions one minimization may spend.
MAX_TRIES = 200


class Minimizer:
    def __init__(
        self,
        channel: Channel,
        title: str,
        on_restart: Callable[[], None],
        deadline: float | None = None,
    ) -> None:
        self.channel = channel
        self.title = title
        self.on_restart = on_restart
        self.deadline = deadline  # time.monotonic() after which no more tries are made
        self.tries = 0
        self.cut_short = False  # the deadline ended it, not the search

    def crashes(self, prog: Program) -> bool:
        """Run `prog` alone; True if the kernel died with the same title (it is restarted)."""
        if not len(prog) or self.tries >= MAX_TRIES:
            return False
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.cut_short = True
            return False
        self.tries += 1
        res = self.channel.run([prog])
        if res.crash is None:
            return False
        self.channel.restart()
        self.on_restart()
        return _same(res.crash, self.title)

    def culprit(self, batch: list[Program], at: tuple[int, int] | None) -> Program | None:
        """The program that crashes alone (the one that was running first), else the batch
        as one program, cut after the call the kernel died in."""
        if at is not None:
            p, c = at
            alone = Program(batch[p].calls[: c + 1])
            if self.crashes(alone):
                return alone
            whole = concat(batch[:p] + [alone])
            return whole if self.crashes(whole) else None
        for prog in reversed(batch):
            if self.crashes(prog):
                return prog
        whole = concat(batch)
        return whole if self.crashes(whole) else None

    def minimize(self, prog: Program) -> Program:
        # Drop calls in chunks, halving (delta debugging): a long program shrinks in a few
        # tries, since every try that still crashes costs a restart.
        chunk = max(1, len(prog) // 2)
        while chunk >= 1 and len(prog) > 1:
            start = len(prog) - chunk
            while start >= 0 and len(prog) > 1:
                candidate = prog
                for i in reversed(range(start, min(start + chunk, len(prog)))):
                    candidate = candidate.remove(i)
                if len(candidate) and self.crashes(candidate):
                    prog = candidate
                start -= chunk
            chunk //= 2
        # Simplify arguments.
        for ci in range(len(prog)):
            for ai, a in enumerate(list(prog.calls[ci].args)):
                for simpler in _simpler(a):
                    candidate = prog.copy()
                    candidate.calls[ci].args[ai] = simpler
                    if self.crashes(candidate):
                        prog = candidate
                        break
        return prog


def _simpler(a: int | str) -> list[int | str]:
    if ret_ref(a) is not None:
        return []
    if isinstance(a, str):
        return ["@scratch"] if a.startswith("@scratch+") else []
    return [0] if a not in (0, 1, -1) else []


def _same(crash: CrashInfo, title: str) -> bool:
    return crash.title == title


def reproduce(
    channel: Channel,
    batch: list[Program],
    crash: CrashInfo,
    on_restart: Callable[[], None],
    at: tuple[int, int] | None = None,
    deadline: float | None = None,
) -> tuple[Program | None, bool]:
    """The minimized reproducer of `crash` from the batch that caused it (None if no program
    of it crashes again), and whether `deadline` cut the work short (then the reproducer is
    only as small as it got by then, or None if none was confirmed in time)."""
    m = Minimizer(channel, crash.title, on_restart, deadline)
    prog = m.culprit(batch, at)
    if prog is None:
        return None, m.cut_short
    return m.minimize(prog), m.cut_short
