"""Linux reports on x86 (3.x-6.x), 32-bit arm, arm64 and riscv64: the kinds of report are data
(`linux_kinds.KINDS`), so are the frame formats and the frames never guilty (`linux_frames`);
this module is the one pass that cuts a capture into reports and reads each one.

A report starts at a header line (`BUG: kernel NULL pointer dereference`, `WARNING: CPU: ...`,
`Unable to handle kernel ...`, `unreferenced object ...`, `Kernel panic - not syncing: ...`).
Lines that only continue a report already open (`Oops: 0000 [#1]`, `Internal error: Oops`, the
`Kernel panic` that panic_on_oops adds, the WARNING a checker's message announces) join it. A
report ends at `---[ end Kernel panic`, at the next report, at a reboot (the clock going back),
at the end of the text, after a run of lines that are not the kernel's, or after `MAX_LINES`
lines (a report with no end: cut there and marked corrupted unless it had already closed); its
span is cut back to its last closing line (`</TASK>`, `---[ end trace`, `Code:`, ...) so that
the kernel's chatter after it is not part of it.

A new boot banner with no report and no orderly shutdown before it is an unexpected reboot.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from sis.harness.forensics.lines import Line
from sis.harness.forensics.model import Crash, CrashType, Frame
from sis.harness.forensics.reporters.base import (
    clean_function,
    normalize_message,
    span_of,
    without_names,
)
from sis.harness.forensics.reporters.linux_frames import (
    ARM_FROM,
    CALLER_LINE,
    FRAME_LINES,
    INTERRUPT_ENTRY,
    IP_LINES,
    IRQ_END,
    LINK_LINES,
    MARKER,
    OTHER_STACKS,
    REPORTING,
    SKIP,
    TRACE_FILLER,
    TRACE_START,
)
from sis.harness.forensics.reporters.linux_kinds import (
    BOOT_BANNER,
    KINDS,
    ORDERLY_END,
    REBOOT_TITLE,
    Kind,
)

#: First characters of the orderly-shutdown lines (a quick test before the pattern).
_ORDERLY_FIRST = frozenset("rRPSsKA")
#: Kept for readers of the old name: the kinds of report are the formats.
FORMATS = KINDS

_ANY_HEADER = re.compile("|".join(f"(?:{without_names(k.header.pattern)})" for k in KINDS))
_END_PANIC = re.compile(r"^---\[ end Kernel panic")
_CLOSING = re.compile(
    r"^(?:---\[ end trace|</TASK>$|Kernel Offset:|Code: |={20,}$|Rebooting in \d+ seconds"
    r"|FIX [\w-]+: |Disabling lock debugging)"
)
#: Lines that belong before a header: WARN's `cut here` rule (and its message), arm's
#: `8<--- cut here ---`, the `====` rule of sanitizer and lockdep reports, a blank printk line.
_BEFORE = re.compile(r"^(?:-+\[ cut here \]-+|8<-+ cut here -+|={20,}|-{20,})$")
_REG = re.compile(
    r"\b(R[A-Z0-9]{2}|R\d{1,2}|EFLAGS|CR[0234]|x\d{1,2}|sp|pstate|lr|pc|ra|gp|tp|t\d|s\d{1,2}"
    r"|a\d|epc|status|badaddr|cause|psr|ip|fp|r\d{1,2})\s?:\s?(?:[0-9a-f]{4}:)?\[?<?([0-9a-f]{8,16})\b"
)
_CPU = re.compile(
    r"^CPU: \d+ (?:UID: \d+ )?PID: \d+ Comm: .*? (?:Not tainted|Tainted: (?P<taint>[A-Z ]+?))\s+"
    r"(?P<version>\d+\.\d+\S*)"
)
_MODULES = re.compile(r"^Modules linked in:(.*)")
_OFFSET = re.compile(r"^Kernel Offset: 0x([0-9a-f]+) from")
#: The last line of a capture cut inside a printk prefix (`[   9`): the text stopped mid-line.
_CUT_PREFIX = re.compile(r"^\s*\[\s*[\d.]*$")
_ACCESS = re.compile(r"^(Read|Write) of size \d+")
_ACQUIRE_AT = re.compile(
    r"\}, at: (?:\[<(?P<addr>[0-9a-f]+)>\] )?(?P<func>[A-Za-z0-9_.$]+)\+0x(?P<off>[0-9a-f]+)"
)
_X86 = re.compile(r"^(?:RIP: |RAX: |#PF: |<TASK>$|EIP: )")
_ARM64 = re.compile(r"^(?:pc : |x29: |pstate: |Call trace:$|ESR = )")
_ARM = re.compile(r"^(?:pc : \[<[0-9a-f]{8}>\]|r10: |.* from \[<[0-9a-f]{8}>\]|\S+ from \S+\+0x)")
_RISCV = re.compile(r"^(?:epc : |status: [0-9a-f]+ badaddr:)")
_UBSAN_OLD_KIND = (
    (re.compile(r"^shift exponent|^left shift of"), "shift-out-of-bounds"),
    (re.compile(r"^index -?\d+ is out of range"), "array-index-out-of-bounds"),
    (re.compile(r"^signed integer overflow"), "signed-integer-overflow"),
    (re.compile(r"^load of value .* is not a valid value"), "invalid-load"),
    (re.compile(r"^division (?:by zero|of)"), "divide-by-zero"),
)

#: How far after a report's closing line a follow-on (the panic of panic_on_oops) may come.
FOLLOW_WINDOW = 40
#: How many lines after a report's header a header that refines it may come.
REFINE_WINDOW = 4
#: How many lines after a checker's message the WARN()/BUG() it raised may come.
ABSORB_WINDOW = 6
#: This many lines in a row that are not the kernel's end a report.
FOREIGN_RUN = 8
#: The longest report: one with no end is cut here (and marked corrupted if it never closed).
MAX_LINES = 1000


def _match(text: str) -> tuple[Kind, re.Match[str]] | None:
    text = text.lstrip()  # a report pasted indented (a Markdown code block, a quote)
    if not _ANY_HEADER.match(text):
        return None
    for k in KINDS:
        m = k.header.match(text)
        if m:
            return k, m
    return None


@dataclass
class _Report:
    start: int  # index into lines
    header: int
    kind: Kind
    match: re.Match[str]
    stamped: bool
    last: int  # last line that belongs
    closed_at: int | None = None
    fatal: bool = False
    message: str = ""
    extra: list[tuple[Kind, re.Match[str]]] = field(default_factory=list)
    extra_at: list[tuple[int, Kind, re.Match[str]]] = field(default_factory=list)
    traced: bool = False  # a call trace has begun

    def closes(self, text: str) -> bool:
        """A line that may end the report. x86 5.x+ prints `Code:` before the trace, 3.x-4.x
        and arm after it: it closes only a report whose trace has been seen."""
        if TRACE_START.match(text) or ARM_FROM.match(text):
            self.traced = True
        return bool(_CLOSING.match(text)) and (self.traced or not text.startswith("Code: "))


@dataclass
class _Body:
    """What a report's lines say about where the kernel was."""

    ip: Frame | None = None  # the first faulting-instruction line
    ip_before_trace: bool = False  # it came before the trace (the interrupted registers)
    link: Frame | None = None  # the first link-register line
    caller: Frame | None = None  # `caller is ...`
    acquire: Frame | None = None  # lockdep: where the lock was being taken (`, at: func+off`)
    items: list[tuple[str, Frame | str]] = field(default_factory=list)  # the first trace
    in_trace: bool = False  # the text ended inside the trace
    last_caller: str = ""  # 32-bit arm: the caller the last `A from B` line names
    last_tail: Frame = field(default_factory=Frame)  # ... as a frame (one object, kept)


class LinuxReporter:
    os = "linux"

    def parse(self, lines: Sequence[Line]) -> list[Crash]:
        out: list[Crash] = []
        cur: _Report | None = None
        foreign = 0
        last_ts = -1.0
        banners: list[int] = []
        orderly: list[int] = []
        for i, line in enumerate(lines):
            if cur is not None and i - cur.start >= MAX_LINES:
                self._keep(out, self._finish(lines, cur, "too long"))
                cur = None
                foreign = 0
            if line.doubled:
                continue
            text = line.text
            ts = _timestamp(line)
            if cur is not None and ts is not None and ts + 1.0 < last_ts:
                self._keep(out, self._finish(lines, cur, "reboot"))  # the clock went back
                cur = None
            if ts is not None:
                last_ts = ts
            if text.startswith("Linux version ") and BOOT_BANNER.match(text):
                banners.append(i)
            elif text[:1] in _ORDERLY_FIRST and ORDERLY_END.match(text.strip()):
                orderly.append(i)
            hit = _match(text) if (line.stamped or cur is None or not cur.stamped) else None
            if (
                hit is None
                and not line.stamped
                and cur is not None
                and _unstamped_report_begins(lines, i)
            ):
                hit = _match(text)  # a pasted report without timestamps after a stamped one
            if hit is not None:
                kind, m = hit
                if cur is not None and self._joins(cur, kind, i):
                    if self._refines(cur, kind, i):
                        cur.extra.append((cur.kind, cur.match))
                        cur.kind, cur.match = kind, m
                    else:
                        cur.extra.append((kind, m))
                    cur.extra_at.append((i, kind, m))
                    cur.last = i
                    cur.fatal = cur.fatal or kind.fatal
                    if kind.name == "panic" and not cur.message:
                        cur.message = m.group("msg")
                    foreign = 0
                    continue
                if cur is not None:
                    self._keep(out, self._finish(lines, cur, "next report"))
                cur = _Report(
                    start=_back_to(lines, i),
                    header=i,
                    kind=kind,
                    match=m,
                    stamped=line.stamped,
                    last=i,
                    fatal=kind.fatal,
                    message=m.group("msg") if kind.name == "panic" else text,
                )
                if _CLOSING.match(text.strip()):
                    cur.closed_at = i
                foreign = 0
                continue
            if cur is None:
                continue
            belongs = (line.stamped or _continued(line)) if cur.stamped else bool(text.strip())
            if belongs:
                cur.last = i
                foreign = 0
                if _END_PANIC.match(text.strip()):
                    cur.closed_at = i
                    self._keep(out, self._finish(lines, cur, "end marker"))
                    cur = None
                    continue
                if cur.closes(text.strip()):
                    cur.closed_at = i
            else:
                foreign += 1
            if foreign >= FOREIGN_RUN:
                self._keep(out, self._finish(lines, cur, "foreign"))
                cur = None
                foreign = 0
        if cur is not None:
            self._keep(out, self._finish(lines, cur, "end of text"))
        out.extend(self._reboots(lines, banners, orderly, out))
        out.sort(key=lambda c: c.start_line)
        return out

    @staticmethod
    def _keep(out: list[Crash], crash: Crash | None) -> None:
        if crash is not None:
            out.append(crash)

    @staticmethod
    def _joins(cur: _Report, kind: Kind, i: int) -> bool:
        near = cur.closed_at is None or i - cur.closed_at <= FOLLOW_WINDOW
        if kind.follow_on:
            return near
        if kind.name == cur.kind.name and i == cur.last + 1 and kind.header_frame:
            return True  # one header line per inlined frame (syzbot's symbolizer)
        if kind.name in cur.kind.absorbs:
            # The WARN()/BUG() a checker's message announces: once, right after it.
            last = max([cur.header, *(j for j, _k, _m in cur.extra_at)])
            seen = any(k.name == kind.name for k, _m in cur.extra)
            return near and not seen and i - last <= ABSORB_WINDOW
        return LinuxReporter._refines(cur, kind, i)

    @staticmethod
    def _refines(cur: _Report, kind: Kind, i: int) -> bool:
        # A checker's message printed after the WARN()/BUG() it raised (3.x-4.x order).
        return cur.kind.name in kind.refines and i - cur.header <= REFINE_WINDOW and not cur.extra

    def _reboots(
        self, lines: Sequence[Line], banners: list[int], orderly: list[int], found: list[Crash]
    ) -> list[Crash]:
        """A boot banner after kernel output, with no report and no orderly end since the
        previous boot began: the kernel died without a word."""
        out = []
        for n, b in enumerate(banners):
            prev = banners[n - 1] if n else -1
            if not any(ln.stamped or BOOT_BANNER.match(ln.text) for ln in lines[prev + 1 : b]):
                continue  # nothing of an earlier boot before this banner
            if prev < 0 and not any(ln.stamped for ln in lines[:b]):
                continue
            # The same boot's first lines (arm64's `Booting Linux on physical CPU`) come before
            # its banner: output of an earlier boot is stamped later than the new banner.
            if lines[b].ts is not None and not any(
                ln.ts is not None and ln.ts > lines[b].ts for ln in lines[prev + 1 : b]
            ):
                continue
            first, last = lines[prev + 1].number if prev + 1 < b else 0, lines[b].number
            if any(first <= c.start_line < last for c in found):
                continue
            if any(prev < o < b for o in orderly):
                continue
            crash = Crash(
                type=CrashType.REBOOT,
                title=REBOOT_TITLE,
                **span_of([lines[b]]),
                os=self.os,
                message=lines[b].text.strip(),
                fatal=True,
                format="reboot",
            )
            out.append(crash)
        return out

    def _finish(self, lines: Sequence[Line], r: _Report, ended_by: str) -> Crash | None:
        end = r.last
        if r.closed_at is not None and ended_by != "end marker":
            # The span stops at the last closing line, unless a follow-on came after it.
            joined = [j for j in range(r.closed_at + 1, r.last + 1) if self._is_joined(lines[j])]
            end = r.last if joined else r.closed_at
            if joined:
                closing = [
                    j
                    for j in range(joined[-1], r.last + 1)
                    if _CLOSING.match(lines[j].text.strip())
                ]
                end = closing[-1] if closing else r.last
        span = list(lines[r.start : end + 1])
        body = [
            ln for ln in span if not ln.doubled and (ln.stamped or not r.stamped or _continued(ln))
        ]
        kind = r.kind
        crash = Crash(
            type=kind.type,
            title="",
            **span_of(span),
            os=self.os,
            message=r.message,
            fatal=r.fatal,
            format=kind.name,
        )
        read = _read_body(crash, body, kind, lines[r.header].number)
        crash.frames = _all_frames(read)
        args = {k: v or "" for k, v in r.match.groupdict().items()}
        for _kind, m in r.extra:
            for k, v in m.groupdict().items():
                args.setdefault(k, v or "")
        _title_args(kind, args, body)
        args["_stack"] = ",".join(_stack_keys(read, kind, args))
        crash.title_args = args
        reasons = []
        foreign = [
            ln
            for ln in span
            if r.stamped and not ln.stamped and ln.text.strip() and not _continued(ln)
        ]
        if foreign:
            reasons.append(f"interleaved with other output ({len(foreign)} lines)")
        # A trace that reaches where the task entered the kernel is whole, end marker or not.
        trace_whole = _reaches_the_bottom(crash.frames) or read.last_caller in _BOTTOM_FRAMES
        open_end = read.in_trace or (r.closed_at is None and kind.needs_trace)
        if ended_by == "end of text" and not trace_whole and open_end:
            reasons.append("truncated: the report stops before its end")
        elif ended_by == "end of text" and kind.needs_trace and not read.items:
            reasons.append("truncated: the report stops before its call trace")
        elif ended_by == "end of text" and lines and _CUT_PREFIX.match(lines[-1].raw):
            reasons.append("truncated: the text stops in the middle of a line")
        if ended_by == "too long" and r.closed_at is None:
            reasons.append(f"cut at {MAX_LINES} lines: the report has no end")
        if kind.needs_trace and not crash.frames:
            reasons.append("no call trace")
        distinctive = kind.distinctive or any(k.distinctive for k, _m in r.extra)
        if not r.stamped and not crash.frames and not crash.kernel_version and not distinctive:
            # Unstamped text that only looks like a header (a shell printing "BUG: ...") is
            # no report: a real one without timestamps still has a trace or a CPU line.
            return None
        crash.corrupted = bool(reasons)
        crash.corrupted_reason = "; ".join(reasons)
        return self.retitle(crash)

    @staticmethod
    def _is_joined(line: Line) -> bool:
        hit = _match(line.text)
        return hit is not None and hit[0].follow_on

    def retitle(self, crash: Crash) -> Crash:
        if crash.format == "reboot":
            crash.title, crash.frame = REBOOT_TITLE, None
            return crash
        kind = next((k for k in KINDS if k.name == crash.format), None)
        if kind is None:
            return crash
        frame = _guilty(crash, kind)
        args = _Args(crash.title_args, frame=frame or "")
        if kind.name == "kcsan":
            other = crash.title_args.get("other", "")
            args["pair"] = f" / {other}" if other and frame else ""
        crash.frame = frame
        title = (kind.title if frame else kind.bare_title).format_map(args)
        crash.title = f"{title} (corrupted)" if crash.corrupted else title
        return crash


class _Args(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "" if key in _OPTIONAL else "?"


#: Title parts that are simply left out when a report does not give them.
_OPTIONAL = frozenset({"what", "access", "pair"})


# -- reading a report's body ---------------------------------------------------------------------
def _read_body(crash: Crash, body: Sequence[Line], kind: Kind, header_number: int) -> _Body:
    """Fill registers, taint, modules, version and arch from the report's lines; return where
    the kernel was (faulting instruction, caller line, the first call trace)."""
    out = _Body()
    traces = 0
    in_trace = False
    other_stack = False
    arches: set[str] = set()
    for ln in body:
        t = ln.text.strip()
        for name, rx in (("x86_64", _X86), ("arm64", _ARM64), ("arm", _ARM), ("riscv64", _RISCV)):
            if rx.match(t):
                arches.add(name)
        at_header = kind.trace_at_header and ln.number == header_number
        if at_header or TRACE_START.match(t):
            if not at_header and kind.trace_at_header and not out.items:
                traces = 0  # the frames were not under the header: this trace is the one
            traces += 1
            in_trace = traces == 1 and not other_stack
            continue
        if traces and OTHER_STACKS.match(t):
            other_stack = True
            in_trace = False
        if in_trace:
            if not t:
                in_trace = False
            elif _trace_line(out, t):
                in_trace = t != "</TASK>"  # the task's stack is over
                continue
            elif TRACE_FILLER.match(t) or _REG.search(t) or _inside_marker(out):
                pass  # registers, code bytes, or other output printed inside <TASK>...</TASK>
            else:
                in_trace = False
        elif traces == 0 and not other_stack and (m := ARM_FROM.match(t)):
            # 32-bit arm prints its trace after the stack dump, with no header of its own.
            traces = 1
            in_trace = True
            out.items.append(("frame", _frame(m)))
            _arm_caller(out, m)
            continue
        if out.ip is None and (m := IP_LINES.match(t)):
            out.ip = _frame(m)
            out.ip_before_trace = traces == 0
        elif out.link is None and (m := LINK_LINES.match(t)):
            out.link = _frame(m)
        if out.caller is None and (m := CALLER_LINE.match(t)):
            out.caller = _frame(m)
        if kind.type is CrashType.LOCKDEP and out.acquire is None and (m := _ACQUIRE_AT.search(t)):
            out.acquire = _frame(m)
        for name, value in _REG.findall(t):
            crash.registers.setdefault(name, int(value, 16))
        if not crash.kernel_version and (m := _CPU.match(t)):
            crash.kernel_version = m.group("version")
            crash.taint = " ".join((m.group("taint") or "").split())
        if not crash.modules and (m := _MODULES.match(t)):
            mods = re.sub(r"\[last unloaded:[^\]]*\]", "", m.group(1))
            crash.modules = re.findall(r"([\w-]+)(?:\([A-Z+-]+\))?", mods)
        if crash.kernel_offset is None and (m := _OFFSET.match(t)):
            crash.kernel_offset = int(m.group(1), 16)
    out.in_trace = in_trace
    for name in ("riscv64", "arm", "arm64", "x86_64"):
        if name in arches:
            crash.arch = name
            break
    return out


def _trace_line(out: _Body, t: str) -> bool:
    """Record one line of a call trace (markers, frames, an interrupted context's RIP);
    False when the line is none of those."""
    mk = MARKER.match(t)
    if mk:
        out.items.append(("mark", mk.group("tag")))
        t = t[mk.end() :].strip()
        if not t:
            return True
    if m := ARM_FROM.match(t):
        out.items.append(("frame", _frame(m)))
        _arm_caller(out, m)
        return True
    if m := FRAME_LINES.match(t):
        out.items.append(("frame", _frame(m)))
        return True
    if m := IP_LINES.match(t):
        out.items.append(("ip", _frame(m)))
        return True
    return bool(mk)


def _inside_marker(out: _Body) -> bool:
    """The trace is between an opening stack marker (`<TASK>`, `<IRQ>`, ...) and its end."""
    for kind, f in reversed(out.items):
        if kind == "mark":
            return not str(f).startswith("/") and f != "EOI"
    return False


def _arm_caller(out: _Body, m: re.Match[str]) -> None:
    out.last_caller = m.group("caller") or ""
    out.last_tail = Frame(function=out.last_caller)


def _all_frames(b: _Body) -> list[Frame]:
    """The report's frames, innermost first: the faulting instruction, then the trace (or, with
    no trace, the link register)."""
    trace = [f for k, f in b.items if k in ("frame", "ip") and isinstance(f, Frame)]
    if b.last_caller and trace:  # 32-bit arm: the last line's caller is a frame too
        trace.append(b.last_tail)
    out: list[Frame] = []
    if b.ip is not None and not (trace and trace[0].function == b.ip.function):
        out.append(b.ip)
    out.extend(f for f in trace if not (out and f == out[-1]))
    if not trace and b.link is not None:
        out.append(b.link)
    return out


# -- where the guilty stack starts ---------------------------------------------------------------
def _stack_keys(b: _Body, kind: Kind, args: dict[str, str]) -> list[str]:
    """The candidate frames for the guilty one, by the kind's rule, as `index` keys into the
    crash's frames (or `func:NAME` for a name the header or a caller line gives). Kept in the
    title args so that a retitle after symbolizing applies the same rule."""
    frames = _all_frames(b)
    index = {id(f): i for i, f in enumerate(frames)}
    head = [f"func:{args['func']}"] if kind.header_frame and args.get("func") else []
    if kind.stack == "header":
        return head
    if kind.stack == "caller" and b.caller is not None:
        return [f"func:{b.caller.function}", *(str(i) for i in range(len(frames)))]
    if kind.stack == "interrupted":
        picked = _interrupted(b)
        if picked is not None:
            keys = [str(index[id(f)]) for f in picked if id(f) in index]
            return head + keys
    # lockdep names where the lock was being taken: the stack's own frame when the stack is lost.
    tail = [f"func:{b.acquire.function}"] if b.acquire is not None and b.acquire.function else []
    return head + [str(i) for i in range(len(frames))] + tail


def _interrupted(b: _Body) -> list[Frame] | None:
    """The interrupted context of a detector's report: the frames after the detector's own and
    after the interrupt's entry; None when the trace starts in the interrupted context."""
    items = b.items
    last = None
    for n, (k, f) in enumerate(items):
        if (
            k == "frame"
            and isinstance(f, Frame)
            and REPORTING.fullmatch(clean_function(f.function))
        ):
            last = n
    if last is None:
        return None
    rest = items[last + 1 :]
    first = [b.ip] if b.ip is not None and b.ip_before_trace else []
    for n, (k, f) in enumerate(rest):
        entry = (k == "mark" and f in IRQ_END) or (
            k == "frame" and isinstance(f, Frame) and INTERRUPT_ENTRY.fullmatch(f.function)
        )
        if entry:
            rest = rest[n + 1 :]
            break
    return first + [f for k, f in rest if k in ("frame", "ip") and isinstance(f, Frame)]


def _guilty(crash: Crash, kind: Kind) -> str | None:
    keys = crash.title_args.get("_stack", "")
    candidates: list[Frame] = []
    for key in keys.split(",") if keys else []:
        if key.startswith("func:"):
            candidates.append(Frame(function=key[5:]))
        elif key.isdigit() and int(key) < len(crash.frames):
            candidates.append(crash.frames[int(key)])
    if "_stack" not in crash.title_args:  # a crash parsed before the rule was kept with it
        candidates = list(crash.frames)
    # An unwinder that marks every frame `?` (old kernels without frame pointers) leaves only
    # those: then they are all there is. Otherwise `?` frames are stale words, never guilty.
    any_reliable = any(f.reliable for f in crash.frames[1:])
    for n, f in enumerate(candidates):
        if not f.function or (not f.reliable and any_reliable):
            continue
        if n and f.offset == 0:
            # A return address at +0x0 is the end of the function before it, which ended in a
            # call that never returns (riscv64's panic() -> vpanic()): not a running function.
            continue
        name = clean_function(f.function)
        if SKIP.fullmatch(name) or (kind.skip is not None and kind.skip.fullmatch(name)):
            continue
        return name
    return None


def _title_args(kind: Kind, args: dict[str, str], body: Sequence[Line]) -> None:
    if kind.name == "kasan":
        args["kind"] = "-".join(args.get("kind", "").split())  # 4.x `use after free`
        access = next((m.group(1) for ln in body if (m := _ACCESS.match(ln.text.strip()))), "")
        args["access"] = f" {access}" if access else ""
    if "msg" in args:
        # A panic message copied from its end marker keeps the marker's ` ]---`.
        msg = re.sub(r"\s*\]-+\s*$", "", args["msg"])
        args["msg"] = normalize_message(msg) or "(no message)"
    if kind.name == "oops":
        what = normalize_message(args.get("what") or "")
        args["what"] = f" - {what}" if what else ""
    elif "what" in args:
        args["what"] = normalize_message(args["what"] or "")
    if kind.name == "ubsan-old" and "kind" not in args:
        for ln in body[1:6]:
            for rx, name in _UBSAN_OLD_KIND:
                if rx.match(ln.text.strip()):
                    args["kind"] = name


def _frame(m: re.Match[str]) -> Frame:
    g = m.groupdict()
    addr = g.get("addr") or g.get("bare")
    return Frame(
        function=g.get("func") or "",
        offset=int(g["off"], 16) if g.get("off") else None,
        size=int(g["size"], 16) if g.get("size") else None,
        module=g.get("mod") or "",
        address=int(addr, 16) if addr else None,
        reliable=not g.get("q"),
    )


def _unstamped_report_begins(lines: Sequence[Line], i: int) -> bool:
    """An unstamped line inside a stamped report starts a report of its own only when the
    lines after it are unstamped kernel text too (a shell echoing `BUG: ...` is one line)."""
    after = [ln for ln in lines[i + 1 : i + 4] if ln.text.strip()]
    return len(after) >= 2 and not any(ln.stamped for ln in after) and bool(_match(lines[i].text))


def _continued(line: Line) -> bool:
    """A line of a multi-line message as dmesg prints it (no timestamp, indented under the
    text of the stamped line before it), or a call-trace frame that lost its prefix."""
    if line.stamped or not line.text.strip():
        return False
    if line.raw.startswith(" " * 8):
        return True
    t = line.text.strip()
    return t[:1] != "[" and bool(FRAME_LINES.match(t)) and "+0x" in t


def _timestamp(line: Line) -> float | None:
    return line.ts


def _back_to(lines: Sequence[Line], i: int) -> int:
    """A report starts before its header when a `cut here` rule (and WARN's message) or the
    `====` rule of a sanitizer or lockdep report comes just before it."""
    for j in range(i - 1, max(-1, i - 4), -1):
        if _BEFORE.match(lines[j].text.strip()):
            return j
    return i


#: Frames a call trace ends with when it is whole: where a task entered the kernel (arm64 prints
#: no end marker after them; x86 closes with </TASK>, which the formats already know).
_BOTTOM_FRAMES = frozenset(
    {
        "el0t_64_sync", "el0t_64_irq", "el0t_32_sync", "el1h_64_irq", "ret_from_fork",
        "entry_SYSCALL_64_after_hwframe", "__secondary_switched", "secondary_startup_64",
        "secondary_startup_64_no_verify", "__primary_switched", "ret_from_exception",
        "handle_exception", "ret_fast_syscall", "ret_from_fork_asm", "ret_from_syscall",
        "entry_SYSCALL_64_fastpath", "system_call_fastpath", "entry_SYSCALL_64_after_swapgs",
        "kernel_thread_helper", "ret_from_kernel_thread", "el0_svc_naked", "el0_sync", "vector_swi",
        "entry_SYSENTER_32", "entry_INT80_32", "sysenter_do_call", "syscall_call",
    }
)  # fmt: skip


def _reaches_the_bottom(frames: list[Frame]) -> bool:
    return bool(frames) and frames[-1].function in _BOTTOM_FRAMES
