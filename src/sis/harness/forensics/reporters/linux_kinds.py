"""The kinds of Linux report, as data: the header line that opens each one (old and new wordings
side by side), the title it gets, and where its guilty stack starts.

A title is `KIND in FUNCTION`, in the wording kernel developers search for (the wording of the
public crash dashboards and mailing lists), so that the same bug gets the same title on every
kernel from 3.x to 6.x. When no guilty function can be found the bare title is used.

Where the guilty stack starts (`stack`), one rule per kind of report:

* `top`: the faulting instruction (`RIP:`/`IP:`/`pc :`/`PC is at`/`epc :`), then the first call
  trace, innermost first. Oopses, BUG(), WARN(), sanitizers: the report is raised where the bug is.
* `interrupted`: the context a timer or NMI interrupted. Lockup and stall detectors run from an
  interrupt, so the first frames are the detector's own; the stack of interest starts after the
  interrupt (after `</IRQ>`, `<EOI>`, `</NMI>` or the interrupt entry frame), or at the
  interrupted registers when the detector printed those first.
* `caller`: the `caller is FUNC+off/size` line, then the trace (preemption checks, which print
  the function that made the check).
* `header`: the function the header names is the guilty one and no trace is needed (KCSAN names
  both racing functions on its header line).

Frames that are never guilty are in `linux_frames.SKIP` (shared by every kind) and in a kind's
own `skip` (frames that only that kind's checker puts on the stack).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sis.harness.forensics.model import CrashType

FN = r"[A-Za-z0-9_.$]+"


@dataclass(frozen=True)
class Kind:
    name: str
    type: CrashType
    header: re.Pattern[str]
    title: str  # str.format template: {frame} and the header's named groups
    bare_title: str  # when no guilty frame is found
    stack: str = "top"  # where the guilty stack starts: top, interrupted, caller, header
    skip: re.Pattern[str] | None = None  # frames never guilty in this kind only
    follow_on: bool = False  # joins a report already open rather than starting one
    absorbs: frozenset[str] = frozenset()  # one header of each of these kinds right after it
    refines: frozenset[str] = frozenset()  # a report of these kinds just opened becomes this one
    header_frame: bool = False  # the header names the function first (group `func`)
    fatal: bool = False
    needs_trace: bool = True  # a report of this kind without a call trace is corrupted
    trace_at_header: bool = False  # the frames follow the header with no `Call Trace:` line
    distinctive: bool = False  # no shell prints this header: a report even with no timestamps


def _k(name: str, type_: CrashType, header: str, title: str, bare: str, **kw: object) -> Kind:
    for key in ("absorbs", "refines"):
        if key in kw:
            kw[key] = frozenset(kw[key])  # type: ignore[arg-type]
    if isinstance(kw.get("skip"), str):
        kw["skip"] = re.compile(kw["skip"])  # type: ignore[arg-type]
    return Kind(name, type_, re.compile(header), title, bare, **kw)  # type: ignore[arg-type]


T = CrashType
#: Headers a fault report's own follow-on lines may use (the oops line, the panic it ends in).
_FAULT_FOLLOW = ("oops-bug", "oops", "internal-error", "trap", "panic")
#: What WARN() and BUG() print after a checker's own message line.
_CHECK_FOLLOW = ("warning", "kernel-bug", *_FAULT_FOLLOW)
#: The lockdep headers: 5.x+ `WARNING: ...`, 3.x-4.x `[ INFO: ... ]` / `[ BUG: ... ]`.
_LOCKDEP = r"^(?:WARNING|INFO|BUG|\[ INFO|\[ BUG): "

#: Most specific first: the first header that matches a line decides its kind.
KINDS: tuple[Kind, ...] = (
    # -- faults: a bad address touched by the kernel ------------------------------------------
    # x86 3.x-4.x `BUG: unable to handle kernel NULL pointer dereference at 0000000000000008`,
    # 5.x+ `BUG: kernel NULL pointer dereference, address: 0000000000000008`.
    _k("null-deref", T.NULL_DEREF,
       r"^BUG: (?:kernel NULL pointer dereference, address|unable to handle kernel NULL pointer dereference at)",
       "BUG: kernel NULL pointer dereference in {frame}", "BUG: kernel NULL pointer dereference"),
    # arm, arm64 and riscv64 word it from the MMU's side.
    _k("null-deref", T.NULL_DEREF,
       r"^Unable to handle kernel NULL pointer dereference at virtual address",
       "BUG: kernel NULL pointer dereference in {frame}", "BUG: kernel NULL pointer dereference"),
    # riscv64 says `Unable to handle kernel access to user memory without uaccess routines at
    # virtual address ADDR` for any user address the kernel touches: in the first page, that is
    # a NULL pointer (plus a field offset).
    _k("null-deref", T.NULL_DEREF,
       r"^Unable to handle kernel access to user memory without uaccess routines at virtual address (?:0{13}|0{5})[0-9a-f]{3}$",
       "BUG: kernel NULL pointer dereference in {frame}", "BUG: kernel NULL pointer dereference"),
    # x86 3.x-4.x `... kernel paging request at ADDR`, 5.x+ `... page fault for address: ADDR`.
    _k("page-fault", T.PAGE_FAULT,
       r"^BUG: unable to handle (?:page fault for address|kernel paging request at)",
       "BUG: unable to handle page fault in {frame}", "BUG: unable to handle page fault"),
    # arm/arm64/riscv64: `Unable to handle kernel paging request at virtual address ADDR`, and
    # the access kinds arm64 and riscv64 name (execute from non-executable memory, user memory
    # without uaccess routines, ...).
    _k("page-fault", T.PAGE_FAULT,
       r"^Unable to handle kernel (?:paging request|access to user memory|execute from|read from|write to)",
       "BUG: unable to handle page fault in {frame}", "BUG: unable to handle page fault"),
    # x86 only; 6.9+ prefixes `Oops: `, 5.x+ adds `, probably for non-canonical address ...`.
    _k("gpf", T.GPF, r"^(?:Oops: )?general protection fault(?:,[^:]*)?: [0-9a-f]+(?: \[#\d+\])?",
       "general protection fault in {frame}", "general protection fault",
       absorbs=_FAULT_FOLLOW),
    # 32-bit arm: a data abort no handler took. Kernel mode goes on to `Internal error: : FSR`.
    _k("unhandled-fault", T.OOPS, r"^Unhandled fault: (?P<what>.+?) \((?:0x)?[0-9a-f]+\) at 0x",
       "Unhandled fault: {what} in {frame}", "Unhandled fault: {what}", needs_trace=False),
    # -- memory-safety checkers ------------------------------------------------------------------
    # `BUG: KASAN: use-after-free in func+0x../0x..` (4.x adds ` at addr ADDR`); the access
    # stack is the first trace, the allocation and free stacks come after it.
    _k("kasan", T.KASAN,
       rf"^BUG: KASAN: (?P<kind>[a-z0-9-]+(?: or [a-z0-9-]+)?) in (?P<func>{FN})",
       "KASAN: {kind}{access} in {frame}", "KASAN: {kind}{access}", header_frame=True),
    # 4.0-4.3 spelled it `BUG: KASan: use after free in func+0x../0x.. at addr ADDR`.
    _k("kasan", T.KASAN, rf"^BUG: KASan: (?P<kind>[a-z -]+?) in (?P<func>{FN})",
       "KASAN: {kind}{access} in {frame}", "KASAN: {kind}{access}", header_frame=True),
    # KFENCE prints its stack under `Use-after-free read at 0x... (in kfence-#12):`.
    _k("kfence", T.KASAN, rf"^BUG: KFENCE: (?P<kind>[a-z-]+(?: (?:read|write|free))?) in (?P<func>{FN})",
       "KFENCE: {kind} in {frame}", "KFENCE: {kind}", header_frame=True),
    # KMSAN prints the use's stack right under its header.
    _k("kmsan", T.KASAN, rf"^BUG: KMSAN: (?P<kind>[a-z0-9-]+) in (?P<func>{FN})",
       "KMSAN: {kind} in {frame}", "KMSAN: {kind}", header_frame=True, trace_at_header=True),
    # KCSAN names both racing functions: that pair is the bug.
    _k("kcsan", T.KASAN, rf"^BUG: KCSAN: (?P<kind>[a-z-]+) in (?P<func>{FN})(?: / (?P<other>{FN}))?",
       "KCSAN: {kind} in {frame}{pair}", "KCSAN: {kind}", header_frame=True, stack="header",
       needs_trace=False),
    # 5.8+ `UBSAN: shift-out-of-bounds in FILE:LINE:COL`; before, `UBSAN: Undefined behaviour in`.
    _k("ubsan", T.UBSAN, r"^UBSAN: (?P<kind>(?!Undefined )[a-z][a-z0-9-]*) in (?P<file>[^:\s]+)",
       "UBSAN: {kind} in {frame}", "UBSAN: {kind} in {file}"),
    _k("ubsan-old", T.UBSAN, r"^UBSAN: Undefined behaviour in (?P<file>[^:\s]+)",
       "UBSAN: Undefined behaviour in {frame}", "UBSAN: Undefined behaviour in {file}"),
    # kmemleak, as its debugfs file and its console dump print it; syzkaller-style runners print
    # `BUG: memory leak` first. The stack under `backtrace:` is the allocation's.
    _k("kmemleak-bug", T.LEAK, r"^BUG: memory leak$", "memory leak in {frame}", "memory leak",
       absorbs=("kmemleak",)),
    _k("kmemleak", T.LEAK, r"^unreferenced object 0x[0-9a-f]+ \(size \d+\):",
       "memory leak in {frame}", "memory leak", distinctive=True),
    # SLUB debug: `BUG kmalloc-64 (Not tainted): Poison overwritten` between rules of `=`.
    _k("slub", T.BUG,
       r"^BUG (?P<cache>[\w.:()-]+)(?: \((?:Not tainted|Tainted: [^)]*)\))?: (?P<what>[A-Z][^.]*?)(?:\.|$| \d| 0x)",
       "SLUB: {what} in {frame}", "SLUB: {what}"),
    # -- lockdep ---------------------------------------------------------------------------------
    # Every lockdep report ends in `stack backtrace:` and the stack of the task that broke the
    # rule; past lockdep's and the lock's own frames, its first function is the guilty one
    # (when the stack is lost, the `, at: FUNC` of the lock being taken stands in for it).
    # A lock order that can deadlock: circular, recursive, irq inversion, safe -> unsafe.
    _k("lockdep-deadlock", T.LOCKDEP,
       _LOCKDEP + r"(?:possible (?:circular locking dependency|recursive locking|irq lock inversion dependency) detected"
       r"|(?:HARD|SOFT)IRQ-(?:READ-)?safe -> (?:HARD|SOFT)IRQ-(?:READ-)?unsafe lock order detected)",
       "possible deadlock in {frame}", "possible deadlock"),
    # A lock taken both with and without interrupts (or softirqs) enabled.
    _k("lockdep-inconsistent", T.LOCKDEP, _LOCKDEP + r"inconsistent lock state",
       "inconsistent lock state in {frame}", "inconsistent lock state"),
    # rcu_dereference() outside a read-side section (lockdep_rcu_suspicious).
    _k("lockdep-rcu", T.LOCKDEP, _LOCKDEP + r"suspicious RCU usage",
       "WARNING: suspicious RCU usage in {frame}", "WARNING: suspicious RCU usage"),
    # A lock released that the task does not hold.
    _k("lockdep-unlock", T.LOCKDEP, _LOCKDEP + r"bad unlock balance detected",
       "WARNING: bad unlock balance in {frame}", "WARNING: bad unlock balance"),
    # A task exiting (or freezing) with locks held: 4.14+ `WARNING: comm/pid still has ...`.
    _k("lockdep-held", T.LOCKDEP, _LOCKDEP + r"(?:\S+/\d+ )?still has locks held",
       "BUG: still has locks held in {frame}", "BUG: still has locks held"),
    # Memory freed while a lock inside it is held.
    _k("lockdep-freed", T.LOCKDEP, _LOCKDEP + r"held lock freed",
       "WARNING: held lock freed in {frame}", "WARNING: held lock freed"),
    # A system call returning to user space with a lock held.
    _k("lockdep-user", T.LOCKDEP, _LOCKDEP + r"lock held when returning to user space",
       "WARNING: lock held when returning to user space in {frame}",
       "WARNING: lock held when returning to user space"),
    # A sleeping lock taken where only spinning is allowed (PROVE_RAW_LOCK_NESTING).
    _k("lockdep-wait", T.LOCKDEP, _LOCKDEP + r"Invalid wait context",
       "BUG: Invalid wait context in {frame}", "BUG: Invalid wait context"),
    # A lock used before it was initialized (no static key for its class).
    _k("lockdep-key", T.LOCKDEP, r"^INFO: trying to register non-static key",
       "INFO: trying to register non-static key in {frame}",
       "INFO: trying to register non-static key", distinctive=True),
    # -- lockups and stalls: the detector runs in an interrupt -----------------------------------
    # 3.x `BUG: soft lockup - CPU#0 stuck for 22s!`, 4.x `NMI watchdog: BUG: ...`, 5.x+ `watchdog: BUG: ...`.
    _k("soft-lockup", T.SOFT_LOCKUP, r"^(?:(?:NMI )?watchdog: )?BUG: soft lockup - CPU#\d+ stuck for",
       "BUG: soft lockup in {frame}", "BUG: soft lockup", stack="interrupted"),
    # 3.x printed it as a WARN() message (the WARNING line comes first: it is refined).
    _k("hard-lockup", T.HARD_LOCKUP,
       r"^(?:(?:NMI )?[Ww]atchdog: )?(?:Watchdog )?detected hard LOCKUP on cpu",
       "BUG: hard lockup in {frame}", "BUG: hard lockup", stack="interrupted",
       refines=("warning",)),
    _k("hung-task", T.HUNG_TASK, r"^INFO: task .+:\d+ blocked for more than \d+ seconds",
       "INFO: task hung in {frame}", "INFO: task hung"),
    # A task killed but still in the kernel (the hung-task detector's 4.x+ variant for exits).
    _k("hung-task", T.HUNG_TASK, r"^INFO: task .+:\d+ can'?t die for more than \d+ seconds",
       "INFO: task hung in {frame}", "INFO: task hung"),
    # A network device whose references never drop: unregistering it waits forever.
    _k("netdev-unregister", T.HUNG_TASK,
       r"^unregister_netdevice: waiting for (?P<dev>\S+?) to become free",
       "unregister_netdevice: waiting for {dev} to become free",
       "unregister_netdevice: waiting for {dev} to become free", needs_trace=False,
       distinctive=True),
    _k("rcu-stall", T.RCU_STALL,
       r"^(?:rcu: )?INFO: rcu_(?:preempt|sched|bh|tasks(?:_trace|_rude)?) (?:self-)?detected (?:expedited )?stall",
       "INFO: rcu detected stall in {frame}", "INFO: rcu detected stall", stack="interrupted"),
    # The stuck pools are listed, no stack: the title cannot name a function.
    _k("workqueue-lockup", T.HUNG_TASK, r"^BUG: workqueue lockup - pool",
       "BUG: workqueue lockup", "BUG: workqueue lockup", needs_trace=False, distinctive=True),
    # -- checkers whose message comes before (5.x+) or after (3.x-4.x) their WARN()/BUG() -------
    _k("list-corruption", T.BUG,
       r"^(?:list_(?:add|del) corruption|list_add double add|list_del corruption)",
       "BUG: corrupted list in {frame}", "BUG: corrupted list", absorbs=_CHECK_FOLLOW,
       refines=("warning", "kernel-bug")),
    _k("refcount", T.WARNING,
       r"^refcount_t: (?:underflow|overflow|saturated|addition on 0|increment on 0|decrement hit 0|addition resulted)",
       "WARNING: refcount bug in {frame}", "WARNING: refcount bug", absorbs=_CHECK_FOLLOW,
       refines=("warning",)),
    _k("odebug", T.WARNING, r"^ODEBUG: (?!selftest)\w+",
       "WARNING: ODEBUG bug in {frame}", "WARNING: ODEBUG bug", absorbs=_CHECK_FOLLOW,
       refines=("warning",)),
    # `BUG: Dentry ffff...{i=..,n=..}  still in use (1) [unmount of ext4 sda]` then a WARNING
    # (or, 3.x, a kernel BUG) from the unmount's tree walk.
    _k("dentry", T.BUG, r"^BUG: Dentry .*still in use",
       "BUG: Dentry still in use in {frame}", "BUG: Dentry still in use", absorbs=_CHECK_FOLLOW,
       skip=r"umount_check|d_walk|do_one_tree"),
    # -- context checks: the check names the function that broke the rule -----------------------
    _k("preemptible", T.BUG,
       r"^BUG: using (?P<op>[\w.]+\(\)) in preemptible \[[0-9a-f]+\] code",
       "BUG: using {op} in preemptible code in {frame}", "BUG: using {op} in preemptible code",
       stack="caller", needs_trace=False, distinctive=True),
    _k("sleep-atomic", T.BUG, r"^BUG: sleeping function called from invalid context",
       "BUG: sleeping function called from invalid context in {frame}",
       "BUG: sleeping function called from invalid context"),
    _k("sched-atomic", T.BUG, r"^BUG: scheduling while atomic",
       "BUG: scheduling while atomic in {frame}", "BUG: scheduling while atomic"),
    _k("rss-counter", T.BUG, r"^BUG: Bad rss-counter state",
       "BUG: Bad rss-counter state", "BUG: Bad rss-counter state", needs_trace=False),
    # -- BUG() and WARN() ------------------------------------------------------------------------
    _k("kernel-bug", T.BUG, r"^kernel BUG at (?P<file>[^:\s]+):\d+!",
       "kernel BUG in {frame}", "kernel BUG at {file}", absorbs=_FAULT_FOLLOW),
    # 3.x `WARNING: at FILE:LINE func+0x../0x..()`, 3.x-4.x `WARNING: CPU: 0 PID: 1 at FILE:LINE
    # func+0x../0x..()`, 4.x+ the same without `()`, 6.x may add `, CPU#0: comm/pid`.
    _k("warning", T.WARNING,
       rf"^WARNING: (?:CPU: \d+ PID: \d+ )?at (?P<file>[^:\s]+):\d+ (?P<func>{FN})\+0x",
       "WARNING in {frame}", "WARNING at {file}", header_frame=True),
    # 7.x: `WARNING: FILE:LINE at func+0x../0x.., CPU#N: comm/pid` (the condition on the line before).
    _k("warning", T.WARNING, rf"^WARNING: (?P<file>[^:\s]+):\d+ at (?P<func>{FN})\+0x",
       "WARNING in {frame}", "WARNING at {file}", header_frame=True),
    # A WARNING at an address only (no symbols) still has its file.
    _k("warning", T.WARNING, r"^WARNING: (?:CPU: \d+ PID: \d+ )?at (?P<file>[^:\s]+):\d+",
       "WARNING in {frame}", "WARNING at {file}"),
    _k("warning-msg", T.WARNING, r"^WARNING: (?!CPU: )(?P<what>.+?)(?: \[|$)",
       "WARNING: {what} in {frame}", "WARNING: {what}", needs_trace=False),
    _k("bug", T.BUG, r"^BUG: (?P<what>.+?)(?:,| at | in | on | - |: |!|$)",
       "BUG: {what} in {frame}", "BUG: {what}"),
    # -- the lines that close an oops: on their own a report, after a header part of it ---------
    # arm64 `Internal error: Oops - BUG: 00000000f2000800 [#1]`; riscv64 `Kernel BUG [#1]`.
    _k("oops-bug", T.BUG, r"^(?:Internal error: Oops - BUG: |Kernel BUG \[#\d+\])",
       "kernel BUG in {frame}", "kernel BUG", follow_on=True),
    # x86 `Oops: 0002 [#1] SMP`, arm/arm64 `Internal error: Oops: 96000005 [#1]`, riscv64
    # `Oops [#1]` and `Oops - illegal instruction [#1]`.
    _k("oops", T.OOPS,
       r"^(?:Internal error: )?(?:Oops: )?Oops(?: - (?P<what>[\w ]+?))?(?:: [0-9a-fx]+)? \[#\d+\]",
       "Oops{what} in {frame}", "Oops{what}", follow_on=True),
    # arm `Internal error: : 1406 [#1]` (after Unhandled fault), arm64 4.x `Internal error:
    # Accessing user space memory outside uaccess.h routines: 96000004 [#1]`.
    _k("internal-error", T.OOPS, r"^Internal error: (?P<what>[^:]*): [0-9a-fx]+ \[#\d+\]",
       "Internal error: {what} in {frame}", "Internal error: {what}", follow_on=True),
    _k("trap", T.OOPS,
       r"^(?:Oops: )?(?P<what>divide error|invalid opcode|stack segment|double fault|alignment check|bounds|int3|stack guard page)(?:: [0-9a-f]+)? \[#\d+\]",
       "{what} in {frame}", "{what}", follow_on=True),
    # `Kernel panic - not syncing: MSG`. A panic on OOM (`Out of memory: system-wide
    # panic_on_oom`, `Out of memory and no killable processes...`) is a crash like any other.
    _k("panic", T.PANIC, r"^Kernel panic - not syncing: ?(?P<msg>.*?)\s*$",
       "kernel panic: {msg}", "kernel panic: {msg}", follow_on=True, fatal=True),
)  # fmt: skip

#: A new boot's banner: with no report and no orderly shutdown before it, the kernel died
#: without a word (a triple fault, a watchdog reset, a hypervisor kill).
BOOT_BANNER = re.compile(r"^Linux version \d+\.\d+\S* \(")
#: Lines that say the previous boot ended on purpose.
ORDERLY_END = re.compile(
    r"^(?:reboot: (?:Restarting system|Power down|System halted)|Restarting system\.?"
    r"|Power down\.?|System halted\.?|sysrq: (?:SysRq : )?(?:Resetting|Power Off)"
    r"|kexec_core: Starting new kernel|Starting new kernel|ACPI: PM: Preparing to enter system sleep state S5)"
)
REBOOT_TITLE = "unexpected kernel reboot"


def kind_named(name: str) -> Kind | None:
    return next((k for k in KINDS if k.name == name), None)
