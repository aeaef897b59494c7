"""Linux oops reports, x86_64 and arm64: the formats are data (`FORMATS`), the parser is one
pass that cuts the capture into reports and reads each one's frames and registers.

A report starts at a header line (`BUG: kernel NULL pointer dereference`, `WARNING: CPU: ...`,
`Unable to handle kernel ...`, `Kernel panic - not syncing: ...`). Lines that only continue a
report already open (`Oops: 0000 [#1]`, `Internal error: Oops`, the `Kernel panic` that
panic_on_oops adds) join it. A report ends at `---[ end Kernel panic`, at the next report,
at a reboot (the clock going back), at the end of the text, or after a run of lines that are
not the kernel's; its span is cut back to its last closing line (`</TASK>`, `---[ end trace`,
`Code:`, ...) so that the kernel's chatter after it is not part of it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from sis.harness.forensics.lines import Line
from sis.harness.forensics.model import Crash, CrashType, Frame
from sis.harness.forensics.reporters.base import compile_all, guilty, normalize_message, span_of

_FN = r"[A-Za-z0-9_.$]+"


@dataclass(frozen=True)
class OopsFormat:
    name: str
    type: CrashType
    header: re.Pattern[str]
    title: str  # str.format template: {frame} and the header's named groups
    bare_title: str  # when no guilty frame is found
    follow_on: bool = False  # joins a report already open rather than starting one
    header_frame: bool = False  # the header names the function first (group `func`)
    fatal: bool = False
    needs_trace: bool = True  # a report of this kind without a call trace is corrupted


def _fmt(name: str, type_: CrashType, header: str, title: str, bare: str, **kw: bool) -> OopsFormat:
    return OopsFormat(name, type_, re.compile(header), title, bare, **kw)


T = CrashType
#: Most specific first: the first header that matches a line decides its format.
FORMATS: tuple[OopsFormat, ...] = (
    _fmt("null-deref", T.NULL_DEREF,
         r"^BUG: (?:kernel NULL pointer dereference, address|unable to handle kernel NULL pointer dereference at)",
         "BUG: kernel NULL pointer dereference in {frame}", "BUG: kernel NULL pointer dereference"),
    _fmt("null-deref", T.NULL_DEREF,
         r"^Unable to handle kernel NULL pointer dereference at virtual address",
         "BUG: kernel NULL pointer dereference in {frame}", "BUG: kernel NULL pointer dereference"),
    # riscv64 says this for any kernel access to a user address, the first page included.
    _fmt("null-deref", T.NULL_DEREF,
         r"^Unable to handle kernel access to user memory without uaccess routines at virtual address (?:0{13}|0{5})[0-9a-f]{3}$",
         "BUG: kernel NULL pointer dereference in {frame}", "BUG: kernel NULL pointer dereference"),
    _fmt("page-fault", T.PAGE_FAULT,
         r"^BUG: unable to handle (?:page fault for address|kernel paging request at)",
         "BUG: unable to handle page fault in {frame}", "BUG: unable to handle page fault"),
    _fmt("page-fault", T.PAGE_FAULT,
         r"^Unable to handle kernel (?:paging request|access to user memory|execute from|read from|write to)",
         "BUG: unable to handle page fault in {frame}", "BUG: unable to handle page fault"),
    _fmt("gpf", T.GPF, r"^general protection fault(?:,[^:]*)?: [0-9a-f]+(?: \[#\d+\])?",
         "general protection fault in {frame}", "general protection fault"),
    _fmt("kasan", T.KASAN, rf"^BUG: KASAN: (?P<kind>[a-z0-9-]+) in (?P<func>{_FN})",
         "KASAN: {kind}{access} in {frame}", "KASAN: {kind}{access}", header_frame=True),
    _fmt("ubsan", T.UBSAN, r"^UBSAN: (?P<kind>[a-z0-9-]+) in (?P<file>[^:\s]+)",
         "UBSAN: {kind} in {frame}", "UBSAN: {kind} in {file}"),
    _fmt("soft-lockup", T.SOFT_LOCKUP, r"^(?:watchdog: )?BUG: soft lockup - CPU#\d+ stuck for",
         "BUG: soft lockup in {frame}", "BUG: soft lockup"),
    _fmt("hard-lockup", T.HARD_LOCKUP, r"^(?:NMI )?[Ww]atchdog: (?:Watchdog )?detected hard LOCKUP on cpu",
         "BUG: hard lockup in {frame}", "BUG: hard lockup"),
    _fmt("hung-task", T.HUNG_TASK, r"^INFO: task .+:\d+ blocked for more than \d+ seconds",
         "INFO: task hung in {frame}", "INFO: task hung"),
    _fmt("rcu-stall", T.RCU_STALL,
         r"^(?:rcu: )?INFO: rcu_(?:preempt|sched|bh) (?:self-)?detected (?:expedited )?stall",
         "INFO: rcu detected stall in {frame}", "INFO: rcu detected stall"),
    _fmt("oom", T.OOM, r"^(?P<comm>.+) invoked oom-killer: ",
         "out of memory: killed process {victim}", "out of memory: killed process {victim}",
         needs_trace=False),
    _fmt("oom", T.OOM, r"^Out of memory: Killed process \d+ \((?P<victim>[^)]*)\)",
         "out of memory: killed process {victim}", "out of memory: killed process {victim}",
         needs_trace=False),
    _fmt("kernel-bug", T.BUG, r"^kernel BUG at (?P<file>[^:\s]+):\d+!",
         "kernel BUG in {frame}", "kernel BUG at {file}"),
    _fmt("warning", T.WARNING,
         rf"^WARNING: (?:CPU: \d+ PID: \d+ )?at (?P<file>[^:\s]+):\d+ (?P<func>{_FN})\+0x",
         "WARNING in {frame}", "WARNING at {file}", header_frame=True),
    _fmt("warning-msg", T.WARNING, r"^WARNING: (?!CPU: )(?P<what>.+?)(?: \[|$)",
         "WARNING: {what}", "WARNING: {what}", needs_trace=False),
    _fmt("bug", T.BUG, r"^BUG: (?P<what>.+?)(?:,| at | in | on | - |: |$)",
         "BUG: {what} in {frame}", "BUG: {what}"),
    # Oops lines: on their own a report of their own, after a header part of that report.
    _fmt("oops-bug", T.BUG, r"^Internal error: Oops - BUG: ",
         "kernel BUG in {frame}", "kernel BUG", follow_on=True),
    _fmt("oops", T.OOPS, r"^(?:Internal error: )?Oops(?: - (?P<what>[\w ]+))?: [0-9a-fx]+ \[#\d+\]",
         "Oops in {frame}", "Oops", follow_on=True),
    _fmt("trap", T.OOPS,
         r"^(?P<what>divide error|invalid opcode|stack segment|double fault|alignment check|bounds|int3)(?:: [0-9a-f]+)? \[#\d+\]",
         "{what} in {frame}", "{what}", follow_on=True),
    _fmt("panic", T.PANIC, r"^Kernel panic - not syncing: ?(?P<msg>.*?)\s*$",
         "kernel panic: {msg}", "kernel panic: {msg}", follow_on=True, fatal=True),
)  # fmt: skip

#: Frames on the stack of every crash of a kind: never the guilty one.
SKIP = compile_all(
    [
        # the report and panic machinery
        r"panic|vpanic|nmi_panic|__warn|warn_slowpath.*|__warn_printk|report_bug|handle_bug|die|__die.*",
        r"oops_end|page_fault_oops|kernelmode_fixup_or_oops|no_context|fixup_exception",
        r"dump_stack.*|dump_backtrace|show_stack.*|show_regs|__show_regs|show_trace.*|print_report|print_address_description.*",
        r"_*kasan_.*|check_memory_region.*|__asan_.*|_*kmsan_.*|_*ubsan_.*|kfence_.*",
        # x86 exception entry
        r"do_error_trap|do_trap|exc_.*|asm_exc_.*|__bad_area.*|bad_area.*|do_user_addr_fault",
        r"do_kern_addr_fault|handle_page_fault|do_page_fault|do_general_protection",
        # arm64 exception entry
        r"__do_kernel_fault|do_translation_fault|do_mem_abort|do_bad_area|el1_.*|el1h_64_.*",
        r"el0_.*|el0t_64_.*|invoke_syscall|do_el0_svc|bug_handler|brk_handler|call_.*break_hook",
        r"do_debug_exception|arm64_notify_die|die_kernel_fault|__die_kernel_fault",
        # locking and scheduling (the waiter is not the bug)
        r"_raw_spin_.*|_raw_read_.*|_raw_write_.*|do_raw_spin.*|queued_spin.*|native_queued_spin.*",
        r"__pv_queued.*|spin_.*|__mutex_.*|mutex_lock.*|rwsem_.*|down_.*|__down.*",
        r"schedule|__schedule|schedule_.*|io_schedule.*|preempt_schedule.*|__cond_resched",
        r"context_switch|__switch_to.*|cpu_switch_to|wait_for_completion.*|__wait_for_common",
        r"wait_for_common.*|do_wait_for_common|prepare_to_wait.*|finish_wait|msleep.*",
        # interrupts, timers, RCU, the watchdog
        r"_*rcu_.*|watchdog.*|__hrtimer_run_queues|hrtimer_.*|__sysvec_.*|sysvec_.*|asm_sysvec_.*",
        r"irq_exit_rcu|__irq_exit_rcu|__do_softirq|do_softirq.*|handle_softirqs|run_timer_softirq",
        r"call_timer_fn|tick_.*|update_process_times|gic_handle_irq|generic_handle_.*",
        # syscall entry and kernel threads
        r"do_syscall_64|entry_SYSCALL_64.*|x64_sys_call|syscall_exit_.*|exit_to_user_mode.*",
        r"ret_from_fork.*|kthread|worker_thread|process_one_work|smpboot_thread_fn",
        # memory helpers and the allocator (out of memory is the allocator's report)
        r"_*memcpy.*|_*memset.*|_*memmove.*|strcpy|strncpy|strlen|strcmp|_*copy_.*user.*",
        r"out_of_memory|oom_kill_process|dump_header|_*alloc_pages.*|__get_free_pages",
        r"_*folio_alloc.*|vma_alloc_folio|_*kmalloc.*|kmem_cache_alloc.*|_*slab_.*|new_slab",
        r"allocate_slab|do_anonymous_page|_*handle_mm_fault|handle_pte_fault",
    ]
)

_END_PANIC = re.compile(r"^---\[ end Kernel panic")
_CLOSING = re.compile(
    r"^(?:---\[ end trace|</TASK>$|Kernel Offset:|Code: |={20,}$|Out of memory: Killed process"
    r"|oom_reaper:|Rebooting in \d+ seconds)"
)
_BEFORE = re.compile(r"^(?:-+\[ cut here \]-+|={20,})$")  # lines that belong before a header
_TRACE_START = re.compile(r"^(?:Call Trace|Call trace|Backtrace):?$")
_MARKER = re.compile(r"^<(?:/?(?:TASK|IRQ|NMI|SOFTIRQ)|EOI)>$")
_FRAME = re.compile(
    rf"^(?:\[<(?P<addr>[0-9a-f]+)>\]\s*)?(?P<q>\?\s+)?"
    rf"(?:(?P<func>{_FN})\+0x(?P<off>[0-9a-f]+)/0x(?P<size>[0-9a-f]+)|0x(?P<bare>[0-9a-f]+))"
    rf"(?:\s+\[(?P<mod>[\w-]+)\])?(?:\s+\([PL]\))?$"
)
_IP = re.compile(
    rf"^(?:RIP|IP|EIP|pc|epc)\s?: (?:[0-9a-f]{{4}}:)?(?:\[<(?P<addr>[0-9a-f]+)>\]\s*)?"
    rf"(?P<func>{_FN})\+0x(?P<off>[0-9a-f]+)/0x(?P<size>[0-9a-f]+)(?:\s+\[(?P<mod>[\w-]+)\])?"
)
_REG = re.compile(
    r"\b(R[A-Z0-9]{2}|R\d{1,2}|EFLAGS|CR[0234]|x\d{1,2}|sp|pstate)\s?:\s?(?:[0-9a-f]{4}:)?([0-9a-f]{8,16})\b"
)
_CPU = re.compile(
    r"^CPU: \d+ (?:UID: \d+ )?PID: \d+ Comm: .*? (?:Not tainted|Tainted: (?P<taint>[A-Z ]+?))\s+"
    r"(?P<version>\d+\.\d+\S*)"
)
_MODULES = re.compile(r"^Modules linked in:(.*)")
_OFFSET = re.compile(r"^Kernel Offset: 0x([0-9a-f]+) from")
_ACCESS = re.compile(r"^(Read|Write) of size \d+")
_X86 = re.compile(r"^(?:RIP: |RAX: |#PF: |<TASK>$)")
_ARM64 = re.compile(r"^(?:pc : |x29: |pstate: |Internal error: |Call trace:$)")

#: How far after a report's closing line a follow-on (the panic of panic_on_oops) may come.
FOLLOW_WINDOW = 40
#: This many lines in a row that are not the kernel's end a report.
FOREIGN_RUN = 8
MAX_LINES = 2000


def _match(text: str) -> tuple[OopsFormat, re.Match[str]] | None:
    for f in FORMATS:
        m = f.header.match(text)
        if m:
            return f, m
    return None


@dataclass
class _Report:
    start: int  # index into lines
    header: int
    fmt: OopsFormat
    match: re.Match[str]
    stamped: bool
    last: int  # last line that belongs
    closed_at: int | None = None
    fatal: bool = False
    message: str = ""
    extra: list[tuple[OopsFormat, re.Match[str]]] = field(default_factory=list)
    ended_by: str = ""


class LinuxReporter:
    os = "linux"

    def parse(self, lines: Sequence[Line]) -> list[Crash]:
        out: list[Crash] = []
        cur: _Report | None = None
        foreign = 0
        last_ts = -1.0
        for i, line in enumerate(lines):
            if line.doubled:
                continue
            ts = _timestamp(line)
            if cur is not None and ts is not None and ts + 1.0 < last_ts:
                self._keep(
                    out, self._finish(lines, cur, "reboot")
                )  # the clock went back: a new boot
                cur = None
            if ts is not None:
                last_ts = ts
            hit = _match(line.text) if (line.stamped or cur is None or not cur.stamped) else None
            if hit is not None:
                fmt, m = hit
                if cur is not None and self._joins(cur, fmt, i):
                    cur.extra.append((fmt, m))
                    cur.last = i
                    cur.fatal = cur.fatal or fmt.fatal
                    if fmt.name == "panic" and not cur.message:
                        cur.message = m.group("msg")
                    foreign = 0
                    continue
                if cur is not None:
                    self._keep(out, self._finish(lines, cur, "next report"))
                cur = _Report(
                    start=_back_to(lines, i),
                    header=i,
                    fmt=fmt,
                    match=m,
                    stamped=line.stamped,
                    last=i,
                    fatal=fmt.fatal,
                    message=m.group("msg") if fmt.name == "panic" else line.text,
                )
                if _CLOSING.match(line.text.strip()):
                    cur.closed_at = i
                foreign = 0
                continue
            if cur is None:
                continue
            belongs = line.stamped if cur.stamped else bool(line.text.strip())
            if belongs:
                cur.last = i
                foreign = 0
                if _END_PANIC.match(line.text.strip()):
                    cur.closed_at = i
                    self._keep(out, self._finish(lines, cur, "end marker"))
                    cur = None
                    continue
                if _CLOSING.match(line.text.strip()):
                    cur.closed_at = i
            else:
                foreign += 1
            if foreign >= FOREIGN_RUN or i - cur.start >= MAX_LINES:
                self._keep(out, self._finish(lines, cur, "foreign"))
                cur = None
                foreign = 0
        if cur is not None:
            self._keep(out, self._finish(lines, cur, "end of text"))
        return out

    @staticmethod
    def _keep(out: list[Crash], crash: Crash | None) -> None:
        if crash is not None:
            out.append(crash)

    @staticmethod
    def _joins(cur: _Report, fmt: OopsFormat, i: int) -> bool:
        if fmt.follow_on:
            return cur.closed_at is None or i - cur.closed_at <= FOLLOW_WINDOW
        # The full out-of-memory report ends with the line naming the killed process.
        return cur.fmt.name == "oom" and fmt.name == "oom" and "victim" in fmt.header.groupindex

    def _finish(self, lines: Sequence[Line], r: _Report, ended_by: str) -> Crash | None:
        end = r.last
        if r.closed_at is not None and ended_by != "end marker":
            # The span stops at the last closing line, unless a follow-on came after it.
            follow = [j for j in range(r.closed_at + 1, r.last + 1) if _header_is_follow(lines[j])]
            end = r.last if follow else r.closed_at
            if follow:
                closing = [
                    j
                    for j in range(follow[-1], r.last + 1)
                    if _CLOSING.match(lines[j].text.strip())
                ]
                end = closing[-1] if closing else r.last
        span = [ln for ln in lines[r.start : end + 1]]
        body = [ln for ln in span if not ln.doubled and (ln.stamped or not r.stamped)]
        crash = Crash(
            type=r.fmt.type,
            title="",
            **span_of(span),
            os=self.os,
            message=r.message,
            fatal=r.fatal,
            format=r.fmt.name,
        )
        in_trace = self._read_body(crash, body)
        args = {k: v or "" for k, v in r.match.groupdict().items()}
        for _fmt, m in r.extra:
            for k, v in m.groupdict().items():
                args.setdefault(k, v or "")
        if r.fmt.name == "kasan":
            access = next((m.group(1) for ln in body if (m := _ACCESS.match(ln.text))), "")
            args["access"] = f" {access}" if access else ""
        if "msg" in args:
            args["msg"] = normalize_message(args["msg"]) or "(no message)"
        if "what" in args:
            args["what"] = normalize_message(args["what"] or "")
        crash.title_args = args
        reasons = []
        foreign = [ln for ln in span if r.stamped and not ln.stamped and ln.text.strip()]
        if foreign:
            reasons.append(f"interleaved with other output ({len(foreign)} lines)")
        # A trace that reaches where the task entered the kernel is whole, end marker or not.
        trace_whole = _reaches_the_bottom(crash.frames)
        if ended_by == "end of text" and not trace_whole and (in_trace or r.closed_at is None):
            reasons.append("truncated: the report stops before its end")
        if r.fmt.needs_trace and not crash.frames:
            reasons.append("no call trace")
        if not r.stamped and not crash.frames and not crash.kernel_version:
            # Unstamped text that only looks like a header (a shell printing "BUG: ...") is
            # no report: a real one without timestamps still has a trace or a CPU line.
            return None
        crash.corrupted = bool(reasons)
        crash.corrupted_reason = "; ".join(reasons)
        return self.retitle(crash)

    @staticmethod
    def _read_body(crash: Crash, body: Sequence[Line]) -> bool:
        """Fill frames, registers, taint, modules, version and arch from the report's lines.
        Returns whether the text ended inside the call trace."""
        ip: Frame | None = None
        trace: list[Frame] = []
        traces = 0
        in_trace = False
        tasked = False
        x86 = arm64 = False
        for ln in body:
            t = ln.text.strip()
            x86 = x86 or bool(_X86.match(t))
            arm64 = arm64 or bool(_ARM64.match(t))
            if _TRACE_START.match(t):
                traces += 1
                in_trace = traces == 1
                tasked = False
                continue
            if not traces and t.startswith("[<") and _FRAME.match(t):
                # riscv64's oops prints its trace right after the registers, with no heading.
                traces, in_trace, tasked = 1, True, False
            if in_trace:
                if _MARKER.match(t):
                    if t == "</TASK>":
                        in_trace = False
                    tasked = tasked or t == "<TASK>"
                    continue
                fm = _FRAME.match(t)
                if fm:
                    trace.append(_frame(fm))
                    continue
                if not tasked and not _REG.search(t) and not t.startswith(("RIP:", "Code:")):
                    in_trace = False
            if ip is None and (m := _IP.match(t)):
                ip = _frame(m)
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
        if ip is not None and not (trace and trace[0].function == ip.function):
            trace.insert(0, ip)
        crash.frames = trace
        crash.arch = "arm64" if arm64 and not x86 else ("x86_64" if x86 else "")
        return in_trace

    def retitle(self, crash: Crash) -> Crash:
        fmt = next((f for f in FORMATS if f.name == crash.format), None)
        if fmt is None:
            return crash
        # A return address at +0x0 is the end of the function before it, which ended in a call
        # that does not return (riscv64's panic() -> vpanic()): never the running function.
        candidates = [f for k, f in enumerate(crash.frames) if k == 0 or f.offset != 0]
        if fmt.header_frame and crash.title_args.get("func"):
            candidates.insert(0, Frame(function=crash.title_args["func"]))
        frame = guilty(candidates, SKIP)
        args = _Args(crash.title_args, frame=frame or "")
        crash.frame = frame
        crash.title = (fmt.title if frame else fmt.bare_title).format_map(args)
        return crash


class _Args(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


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


def _timestamp(line: Line) -> float | None:
    if not line.stamped:
        return None
    m = re.search(r"\[\s*(\d+\.\d+)\]", line.raw)
    return float(m.group(1)) if m else None


def _back_to(lines: Sequence[Line], i: int) -> int:
    """A report starts before its header when a `cut here` rule (and WARN's message) or the
    `====` rule of a sanitizer report comes just before it."""
    for j in range(i - 1, max(-1, i - 4), -1):
        if _BEFORE.match(lines[j].text.strip()):
            return j
    return i


def _header_is_follow(line: Line) -> bool:
    hit = _match(line.text)
    return hit is not None and hit[0].follow_on


#: Frames a call trace ends with when it is whole: where a task entered the kernel (arm64 and
#: riscv64 print no end marker after them; x86 closes with </TASK>, which the formats know).
_BOTTOM_FRAMES = frozenset(
    {
        "el0t_64_sync", "el0t_64_irq", "el0t_32_sync", "el1h_64_irq", "ret_from_fork",
        "entry_SYSCALL_64_after_hwframe", "secondary_start_kernel", "kernel_init",
        "start_kernel", "__primary_switched", "handle_exception",
    }
)  # fmt: skip


def _reaches_the_bottom(frames: list[Frame]) -> bool:
    return bool(frames) and frames[-1].function in _BOTTOM_FRAMES
