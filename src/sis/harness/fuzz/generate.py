"""Programs from the descriptions: generated (valid most of the time, hostile on purpose: bad
pointers, huge lengths, wrong descriptors, overlapping buffers) and mutated from the corpus
(an argument changed, a call inserted or removed, two programs spliced)."""

from __future__ import annotations

import random
from collections.abc import Iterable

from sis.contract.syscall_args import (
    DESCRIPTIONS,
    DEVICE_PATHS,
    ArgKind,
    Buf,
    Choice,
    Const,
    Flags,
    Int,
    Len,
    Path,
    Ptr,
    Res,
    Syscall,
    is_a,
)
from sis.harness.fuzz.program import Call, Program, Value, ret_ref

MAX_CALLS = 12
HOSTILE = 0.08  # how often an argument is broken on purpose
PRODUCER_FIRST = 0.8  # how often a call missing its resource is preceded by a producer
SCRATCH = 64 << 10  # the executor's output buffer
KERNEL_ADDR = 0xFFFF_8000_0000_0000
#: Regular files of the executor's working directory: most paths name one of these, so that
#: calls on files meet a file often (as syzkaller's few file names do).
FILES = (b"./fz0", b"./fz1")
#: Other paths: directories, paths that must fail, and the device files the descriptions declare.
PATHS = (
    *FILES, b"./fzd", b"./fzd/a", b"./fzd/b", b".", b"/", b"/nonexistent/x", *DEVICE_PATHS,
)  # fmt: skip
LENGTHS = (0, 1, 8, 16, 64, 100, 4096, 8192)
SECTOR, PAGE = 512, 4096


def special_values() -> tuple[int, ...]:
    """Integers worth trying anywhere, as a general list (the idea of syzkaller's special values,
    made systematic), each with its neighbours -1 and +1:

    * the boundaries of each integer width, 8, 16, 32 and 64 bits, signed and unsigned
      (2^(w-1) - 1, 2^(w-1), 2^w - 1, -2^(w-1));
    * every bit width an offset or a length may be kept in: 2^k for k = 0..63;
    * the sector and page sizes (512, 4096), and minus them (errno-like and aligned negatives).

    No value comes from any particular kernel: a bug at the edge of a k-bit field is found for
    any k, and one at an arbitrary constant is not favoured."""
    centres = {0, -1}
    for width in (8, 16, 32, 64):
        centres |= {(1 << (width - 1)) - 1, 1 << (width - 1), (1 << width) - 1, -(1 << (width - 1))}
    centres |= {1 << k for k in range(64)}
    centres |= {SECTOR, PAGE, -SECTOR, -PAGE}
    out = {c + d for c in centres for d in (-1, 0, 1)}
    # Wider than 64 bits is no register value; -2^63 - 1 wraps to 2^63 - 1, which is there.
    return tuple(sorted(v for v in out if -(1 << 63) <= v < 1 << 64))


SPECIAL = special_values()
BAD_FDS = (-1, 1023, 1024, 100_000, 1 << 31, 0x7FFF_FFFF)
TTY_FDS = (0, 1, 2)


def enabled_calls(names: Iterable[str] | None = None) -> list[Syscall]:
    """The descriptions to generate from: all safe ones, or the named ones with their variants
    (`ioctl` brings `ioctl$blk`...; an unknown or unsafe name is a ValueError that says so)."""
    if names is None:
        return [d for d in DESCRIPTIONS.values() if not d.unsafe]
    out = []
    for n in names:
        d = DESCRIPTIONS.get(n)
        if d is None:
            raise ValueError(f"unknown syscall {n!r} (known: {', '.join(sorted(DESCRIPTIONS))})")
        if d.unsafe:
            raise ValueError(f"syscall {n!r} is never fuzzed: it {d.unsafe}")
        out += [v for v in DESCRIPTIONS.values() if v.name == n or (v.base == n != v.name)]
    return out


class Generator:
    def __init__(self, rng: random.Random, calls: list[Syscall]) -> None:
        self.rng = rng
        self.calls = calls
        self.producers: dict[str, list[Syscall]] = {}
        for d in DESCRIPTIONS.values():
            if d.ret and not d.unsafe:
                for want in ("fd", "file", "dir", "sock", "tty", "blk", "pid"):
                    if is_a(d.ret, want):
                        self.producers.setdefault(want, []).append(d)

    # -- whole programs --------------------------------------------------------------------------
    def generate(self, length: int | None = None) -> Program:
        prog = Program()
        n = length or self.rng.randint(1, 6)
        while len(prog) < n:
            self._append(prog, self.rng.choice(self.calls))
        return prog

    def _append(self, prog: Program, d: Syscall, depth: int = 0) -> None:
        # A call that wants a resource the program lacks is usually preceded by its producer
        # (an openat before a read), as syzkaller does.
        for a in d.args:
            if isinstance(a, Res) and depth < 2 and self.rng.random() < PRODUCER_FIRST:
                if not self._resources(prog, a.resource, len(prog)):
                    makers = self.producers.get(a.resource)
                    if makers:
                        self._append(prog, self.rng.choice(makers), depth + 1)
        prog.calls.append(self.call(d, prog, len(prog)))

    def call(self, d: Syscall, prog: Program, index: int) -> Call:
        """A call of `d` placed at `index` in `prog` (references point before it)."""
        lengths = {i: self._length() for i, a in enumerate(d.args) if isinstance(a, Buf)}
        call = Call(d.name)
        for i, a in enumerate(d.args):
            call.args.append(self.arg(a, i, d, prog, index, call, lengths))
        return call

    # -- single arguments -------------------------------------------------------------------------
    def arg(
        self,
        a: ArgKind,
        i: int,
        d: Syscall,
        prog: Program,
        index: int,
        call: Call,
        lengths: dict[int, int] | None = None,
    ) -> Value:
        rng = self.rng
        hostile = rng.random() < HOSTILE
        if isinstance(a, Res):
            return self._resource(a.resource, prog, index, hostile)
        if isinstance(a, Path):
            call.data = self._path(hostile, a.values)
            return "@data"
        if isinstance(a, Buf):
            if hostile:
                return self._bad_pointer()
            return "@scratch" if rng.random() < 0.9 else f"@scratch+{rng.choice((8, 4000, 60000))}"
        if isinstance(a, Len):
            if hostile:
                return rng.choice((0x7FFF_F000, 0x7FFF_F001, SCRATCH + 1, -1, 1 << 62))
            return (lengths or {}).get(a.buf_arg, self._length())
        if isinstance(a, Ptr):
            if a.optional and rng.random() < 0.3:
                return 0
            if hostile:
                return self._bad_pointer()
            if a.direction == "in" and a.values:
                call.data = rng.choice(a.values)
                return "@data"
            return "@scratch"
        if isinstance(a, Flags):
            if hostile:
                return rng.choice(SPECIAL) | (1 << rng.randrange(64))
            if a.common and rng.random() < 0.6:
                return rng.choice(a.common)
            v = 0
            for bit in rng.sample(a.values, min(len(a.values), rng.choice((0, 1, 1, 2, 2, 3)))):
                v |= bit
            return v
        if isinstance(a, Choice):
            if hostile:
                return self._int(Int())
            return rng.choice(a.values)
        if isinstance(a, Int):
            return self._int(a)
        if isinstance(a, Const):
            return a.value if not hostile else self._int(Int())
        raise AssertionError(a)  # pragma: no cover

    def _resources(self, prog: Program, want: str, before: int) -> list[int]:
        out = []
        for i, c in enumerate(prog.calls[:before]):
            r = DESCRIPTIONS[c.name].ret
            if r is not None and is_a(r, want):
                out.append(i)
        return out

    def _resource(self, want: str, prog: Program, index: int, hostile: bool) -> Value:
        rng = self.rng
        have = self._resources(prog, want, index)
        if have and not hostile and rng.random() < 0.85:
            return f"@ret:{rng.choice(have)}"
        if want == "pid":
            return rng.choice((0, -1, 1, 2, 3, 4096, 1 << 31))
        if want == "tty" or (not hostile and rng.random() < 0.5):
            return rng.choice(TTY_FDS + (3, 4))
        return rng.choice(BAD_FDS)

    def _path(self, hostile: bool, values: tuple[bytes, ...] = ()) -> bytes:
        rng = self.rng
        if values and not hostile:
            return rng.choice(values)
        if not hostile:
            return rng.choice(FILES if rng.random() < 0.5 else PATHS) + b"\0"
        return rng.choice(
            (
                b"\0",  # empty
                b"./" + b"a" * 256 + b"\0",  # a component past NAME_MAX
                b"/" + b"a/" * 2100 + b"\0",  # past PATH_MAX
                b"x" * 4096,  # no terminator before the end of the mapping
                b"./fz0/\0",  # a file used as a directory
            )
        )

    def _bad_pointer(self) -> Value:
        return self.rng.choice(
            (0, 1, 4095, KERNEL_ADDR, (1 << 64) - 1, (1 << 64) - 8, f"@scratch+{SCRATCH - 8}")
        )

    def _length(self) -> int:
        return self.rng.choice(LENGTHS)

    def _int(self, a: Int) -> int:
        rng = self.rng
        r = rng.random()
        if r < 0.5:
            v = rng.choice(SPECIAL)
        elif r < 0.8:
            v = rng.randint(-64, 4096)
        else:
            v = rng.randint(a.lo, a.hi)
        return v

    # -- mutation ----------------------------------------------------------------------------------
    def mutate(self, prog: Program, corpus: list[Program]) -> Program:
        rng = self.rng
        for _ in range(10):
            r = rng.random()
            if r < 0.45 and len(prog):
                out = self._mutate_arg(prog)
            elif r < 0.7 and len(prog) < MAX_CALLS:
                index = rng.randint(0, len(prog))
                d = rng.choice(self.calls)
                out = prog.insert(index, self.call(d, prog, index))
            elif r < 0.85 and len(prog) > 1:
                out = prog.remove(rng.randrange(len(prog)))
            elif corpus:
                other = rng.choice(corpus)
                cut = rng.randint(0, len(prog))
                out = prog.copy()
                out.calls = out.calls[:cut]
                for c in other.calls[: MAX_CALLS - cut]:
                    out.calls.append(_rebase(c, cut))
            else:
                continue
            if len(out):
                return out
        return self.generate()

    def _mutate_arg(self, prog: Program) -> Program:
        rng = self.rng
        out = prog.copy()
        index = rng.randrange(len(out))
        call = out.calls[index]
        d = DESCRIPTIONS[call.name]
        if not d.args:
            return out.insert(index, self.call(rng.choice(self.calls), out, index))
        i = rng.randrange(len(d.args))
        old = call.args[i]
        if isinstance(old, int) and isinstance(d.args[i], Int | Len | Flags) and rng.random() < 0.5:
            call.args[i] = rng.choice(
                (old + rng.randint(-8, 8), old ^ (1 << rng.randrange(64)), -old, old * 2)
            )
        else:
            call.args[i] = self.arg(d.args[i], i, d, out, index, call)
        return out


def _rebase(c: Call, base: int) -> Call:
    """A call spliced from another program, now `base` calls further down."""
    new = c.copy()
    new.args = [f"@ret:{k + base}" if (k := ret_ref(a)) is not None else a for a in c.args]
    return new
