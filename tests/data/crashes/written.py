"""Writes the fixtures tests/data/crashes/linux/<n> for n >= FIRST: Linux reports written from
the kernel's own printing code (lib/dump_stack.c, kernel/panic.c, lib/bug.c, mm/kasan/report.c,
mm/kmemleak.c, mm/slub.c, kernel/locking/lockdep.c, kernel/watchdog.c, kernel/hung_task.c,
kernel/rcu/tree_stall.h, lib/ubsan.c, arch/{x86,arm,arm64,riscv}/kernel/traps.c and
process.c/stacktrace.c), one template per kind of report and era, where no real report of that
kind is at hand in the fixtures taken from public bug reports.

Each template writes its report around a call chain from the CHAINS table and states, itself,
what the report's type, title and guilty function are: the guilty function is the one the
template puts where its kind of report says the bug is (the faulting function of an oops, the
function WARN() was called in, the caller of a lock or wait for a hung task, the interrupted
function of a lockup, the allocation's caller of a leak). The parser never writes these headers.

    python tests/data/crashes/written.py      # rewrites the written fixtures
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

OUT = Path(__file__).resolve().parent / "linux"
FIRST = 300

#: Call chains (innermost first) of the kind real bugs have: (guilty, caller, caller's caller,
#: module or "", source file of the guilty function).
CHAINS = [
    (
        "ext4_xattr_set_entry",
        "ext4_xattr_ibody_set",
        "ext4_xattr_set_handle",
        "",
        "fs/ext4/xattr.c",
    ),
    (
        "tcp_retransmit_timer",
        "tcp_write_timer_handler",
        "tcp_write_timer",
        "",
        "net/ipv4/tcp_timer.c",
    ),
    (
        "nft_set_elem_destroy",
        "nft_set_destroy",
        "nf_tables_abort_release",
        "nf_tables",
        "net/netfilter/nf_tables_api.c",
    ),
    ("usb_hcd_submit_urb", "usb_submit_urb", "usb_start_wait_urb", "", "drivers/usb/core/hcd.c"),
    ("drm_legacy_newctx", "drm_ioctl_kernel", "drm_ioctl", "drm", "drivers/gpu/drm/drm_context.c"),
    (
        "btrfs_del_csums",
        "__btrfs_free_extent",
        "run_delayed_data_ref",
        "btrfs",
        "fs/btrfs/file-item.c",
    ),
    ("xfs_iflush_cluster", "xfs_inode_item_push", "xfsaild", "xfs", "fs/xfs/xfs_inode.c"),
    ("sctp_sf_do_5_1D_ce", "sctp_do_sm", "sctp_assoc_bh_rcv", "sctp", "net/sctp/sm_statefuns.c"),
    (
        "l2cap_chan_close",
        "l2cap_sock_shutdown",
        "l2cap_sock_release",
        "bluetooth",
        "net/bluetooth/l2cap_core.c",
    ),
    (
        "hci_conn_hash_flush",
        "hci_dev_close_sync",
        "hci_dev_do_close",
        "bluetooth",
        "net/bluetooth/hci_conn.c",
    ),
    ("kvm_mmu_page_fault", "vmx_handle_exit", "vcpu_enter_guest", "kvm", "arch/x86/kvm/mmu/mmu.c"),
    (
        "nilfs_segctor_do_construct",
        "nilfs_segctor_construct",
        "nilfs_segctor_thread",
        "nilfs2",
        "fs/nilfs2/segment.c",
    ),
    ("io_poll_remove_entries", "io_poll_task_func", "io_handle_tw_list", "", "io_uring/poll.c"),
    (
        "ieee80211_tx_h_select_key",
        "invoke_tx_handlers_early",
        "ieee80211_tx",
        "mac80211",
        "net/mac80211/tx.c",
    ),
    (
        "f2fs_truncate_data_blocks_range",
        "f2fs_truncate_inode_blocks",
        "f2fs_truncate_blocks",
        "f2fs",
        "fs/f2fs/file.c",
    ),
    (
        "snd_pcm_hw_params",
        "snd_pcm_common_ioctl",
        "snd_pcm_ioctl",
        "snd_pcm",
        "sound/core/pcm_native.c",
    ),
    (
        "v4l2_ctrl_handler_free",
        "vivid_free_controls",
        "vivid_remove",
        "vivid",
        "drivers/media/v4l2-core/v4l2-ctrls-core.c",
    ),
    (
        "hfsplus_bnode_read",
        "hfsplus_brec_find",
        "hfsplus_find_cat",
        "hfsplus",
        "fs/hfsplus/bnode.c",
    ),
    ("tipc_node_timeout", "call_timer_fn", "run_timer_softirq", "tipc", "net/tipc/node.c"),
    (
        "rds_tcp_conn_path_shutdown",
        "rds_conn_shutdown",
        "rds_shutdown_worker",
        "rds_tcp",
        "net/rds/tcp_connect.c",
    ),
    (
        "mlx5e_napi_poll",
        "__napi_poll",
        "net_rx_action",
        "mlx5_core",
        "drivers/net/ethernet/mellanox/mlx5/core/en_txrx.c",
    ),
    ("jbd2_journal_commit_transaction", "kjournald2", "kthread", "jbd2", "fs/jbd2/commit.c"),
    ("nvme_complete_rq", "nvme_pci_complete_batch", "nvme_irq", "nvme", "drivers/nvme/host/core.c"),
    ("gfs2_glock_nq", "gfs2_inode_lookup", "gfs2_lookupi", "gfs2", "fs/gfs2/glock.c"),
    ("ntfs_read_inode_mount", "ntfs_fill_super", "get_tree_bdev", "ntfs3", "fs/ntfs3/inode.c"),
    ("smc_release", "__sock_release", "sock_close", "smc", "net/smc/af_smc.c"),
    ("reiserfs_fill_super", "mount_bdev", "legacy_get_tree", "reiserfs", "fs/reiserfs/super.c"),
    ("virtnet_poll", "__napi_poll", "net_rx_action", "virtio_net", "drivers/net/virtio_net.c"),
]


class Writer:
    """A report's lines with the printk prefix of its era: `[   12.345678] `, none (as pasted
    in a mailing list), or a syslog line."""

    def __init__(self, rng: random.Random, style: str) -> None:
        self.rng = rng
        self.style = style
        self.t = rng.uniform(20, 9000)
        self.lines: list[str] = []

    def __call__(self, *lines: str) -> None:
        for line in lines:
            for part in line.split("\n"):
                self.t += self.rng.uniform(0, 0.0004)
                if self.style == "printk":
                    self.lines.append(f"[{self.t:12.6f}] {part}".rstrip())
                elif self.style == "syslog":
                    self.lines.append(
                        f"Mar  3 10:11:12 node7 kernel: [{self.t:12.6f}] {part}".rstrip()
                    )
                else:
                    self.lines.append(part)

    def addr(self, base: int = 0xFFFFFFFF81000000, span: int = 0x1000000) -> str:
        return f"{base + self.rng.randrange(span):016x}"

    def off(self, f: str) -> str:
        size = self.rng.randrange(0x40, 0x900)
        return f"{f}+0x{self.rng.randrange(4, size):x}/0x{size:x}"

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _mod(m: str) -> str:
    return f" [{m}]" if m else ""


def cpu_line(
    w: Writer, version: str, comm: str = "syz-executor", taint: str = "Not tainted"
) -> str:
    return f"CPU: {w.rng.randrange(4)} PID: {w.rng.randrange(100, 30000)} Comm: {comm} {taint} {version} #1"


def x86_regs(w: Writer, rip: str) -> list[str]:
    r = lambda: w.addr(0xFFFF888000000000, 0x10000000)  # noqa: E731
    return [
        f"RIP: 0010:{rip}",
        "Code: 48 89 df e8 5b 2c 01 00 48 8b 43 08 48 85 c0 74 0c <48> 8b 50 10 48 89 de 48 89 c7",
        f"RSP: 0018:ffffc9000{w.rng.randrange(16**7):07x}fb8 EFLAGS: 00010246",
        f"RAX: 0000000000000000 RBX: {r()} RCX: 0000000000000000",
        f"RDX: 0000000000000001 RSI: {r()} RDI: {r()}",
        f"RBP: {r()} R08: 0000000000000001 R09: 0000000000000000",
        f"R10: 0000000000000000 R11: 0000000000000000 R12: {r()}",
        f"R13: 0000000000000000 R14: {r()} R15: 0000000000000000",
        "FS:  00007f1c2a6b5700(0000) GS:ffff88807ec00000(0000) knlGS:0000000000000000",
        "CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033",
        "CR2: 0000000000000010 CR3: 000000002a1b4000 CR4: 00000000003506f0",
    ]


def x86_regs_4x(w: Writer, func: str) -> list[str]:
    a = w.addr()
    return [
        f"task: {w.addr(0xFFFF880000000000)} task.stack: {w.addr(0xFFFF880000000000)}",
        f"RIP: 0010:[<{a}>]  [<{a}>] {func}",
        "RSP: 0018:ffff88003a1b3c50  EFLAGS: 00010246",
        "RAX: 0000000000000000 RBX: ffff88003b2c1e00 RCX: 0000000000000000",
        "RDX: 0000000000000000 RSI: 0000000000000246 RDI: ffff88003b2c1e00",
        "RBP: ffff88003a1b3c78 R08: 0000000000000000 R09: 0000000000000001",
        "FS:  00007f0e2b3c4700(0000) GS:ffff88003fc00000(0000) knlGS:0000000000000000",
        "CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033",
        "Stack:",
        " ffff88003b2c1e00 ffff88003a1b3cf0 ffffffff81234567 0000000000000000",
    ]


def arm64_regs(w: Writer, pc: str, lr: str) -> list[str]:
    out = [
        "pstate: 60400005 (nZCv daif +PAN -UAO -TCO -DIT -SSBS BTYPE=--)",
        f"pc : {pc}",
        f"lr : {lr}",
    ]
    out.append(f"sp : ffff80000{w.rng.randrange(16**7):07x}")
    for n in range(29, -1, -2):
        a, b = n, n - 1
        if b < 0:
            out.append(f"x0 : {w.addr(0xFFFF000000000000)}")
        else:
            out.append(
                f"x{a}: {w.addr(0xFFFF000000000000)} x{b}{' ' if b < 10 else ''}: 0000000000000000"
            )
    return out


def riscv_regs(w: Writer, epc: str, ra: str, cause: str) -> list[str]:
    return [
        f"epc : {epc}",
        f" ra : {ra}",
        f"epc : {w.addr(0xFFFFFFFF01000000)} ra : {w.addr(0xFFFFFFFF01000000)} sp : ff20000000{w.rng.randrange(16**6):06x}",
        f" gp : ffffffff81a1b2c8 tp : ff600000{w.rng.randrange(16**8):08x} t0 : 0000000000000000",
        " t1 : 0000000000000001 t2 : 0000000000000000 s0 : ff2000000012bd70",
        " s1 : 0000000000000000 a0 : 0000000000000000 a1 : 0000000000000001",
        f"status: 0000000200000120 badaddr: 0000000000000000 cause: {cause}",
    ]


def arm_regs(w: Writer, pc: str, lr: str) -> list[str]:
    return [
        f"PC is at {pc}",
        f"LR is at {lr}",
        f"pc : [<c0{w.rng.randrange(16**6):06x}>]    lr : [<c0{w.rng.randrange(16**6):06x}>]    psr: 60000013",
        "sp : c6c3fe80  ip : 00000000  fp : c6c3fe9c",
        "r10: 00000000  r9 : c6c3e000  r8 : c0108c04",
        "r7 : 00000000  r6 : c0a0b1c4  r5 : 00000000  r4 : 00000000",
        "Flags: nZCv  IRQs on  FIQs on  Mode SVC_32  ISA ARM  Segment none",
        "Control: 10c5387d  Table: 0000406a  DAC: 00000051",
    ]


def syscall_tail_5x(w: Writer) -> list[str]:
    return [
        " do_syscall_64+0x3b/0x90",
        " entry_SYSCALL_64_after_hwframe+0x63/0xcd",
        "RIP: 0033:0x7f1c2a5e2b19",
        "RSP: 002b:00007ffd2c3b1a28 EFLAGS: 00000246 ORIG_RAX: 0000000000000010",
        " </TASK>",
    ]


# -- one template per kind and era ---------------------------------------------------------------
Expect = tuple[str, str, str, str]  # title, type, frame, corrupted
Template = Callable[[Writer, tuple[str, str, str, str, str]], tuple[str, list[Expect]]]
TEMPLATES: list[tuple[str, Template]] = []


def template(name: str) -> Callable[[Template], Template]:
    def deco(fn: Template) -> Template:
        TEMPLATES.append((name, fn))
        return fn

    return deco


@template("x86_64 5.x+ NULL pointer dereference (arch/x86/mm/fault.c), oops kills the task")
def null_5x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "BUG: kernel NULL pointer dereference, address: 0000000000000010",
        "#PF: supervisor read access in kernel mode",
        "#PF: error_code(0x0000) - not-present page",
        "PGD 0 P4D 0",
        "Oops: 0000 [#1] PREEMPT SMP NOPTI",
        cpu_line(w, "5.15.0-91-generic"),
        "Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.15.0-1 04/01/2014",
    )
    w(*x86_regs(w, w.off(g) + _mod(mod)))
    w(
        "Call Trace:",
        " <TASK>",
        f" {w.off(c1)}{_mod(mod)}",
        f" ? {w.off('kmem_cache_free')}",
        f" {w.off(c2)}{_mod(mod)}",
        f" {w.off('__x64_sys_ioctl')}",
        *syscall_tail_5x(w),
        f"Modules linked in: {mod or 'e1000'} ip_tables x_tables",
        "CR2: 0000000000000010",
        "---[ end trace 0000000000000000 ]---",
    )
    return "null-deref", [
        (f"BUG: kernel NULL pointer dereference in {g}", "NULL pointer dereference", g, "no")
    ]


@template(
    "x86_64 4.x NULL pointer dereference, IP: [<addr>] line and 4.x RIP: 0010:[<addr>] [<addr>] form"
)
def null_4x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    f = w.off(g)
    w(
        "BUG: unable to handle kernel NULL pointer dereference at 0000000000000010",
        f"IP: [<{w.addr()}>] {f}{_mod(mod)}",
        "PGD 3a1b4067 PUD 3a1b5067 PMD 0",
        "Oops: 0000 [#1] SMP",
        f"Modules linked in: {mod or 'e1000'} ip_tables",
        cpu_line(w, "4.4.0-116-generic"),
        "Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS Bochs 01/01/2011",
    )
    w(*x86_regs_4x(w, f + _mod(mod)))
    w(
        "Call Trace:",
        f" [<{w.addr()}>] {w.off(c1)}{_mod(mod)}",
        f" [<{w.addr()}>] ? {w.off('__kmalloc')}",
        f" [<{w.addr()}>] {w.off(c2)}{_mod(mod)}",
        f" [<{w.addr()}>] {w.off('do_vfs_ioctl')}",
        f" [<{w.addr()}>] {w.off('SyS_ioctl')}",
        f" [<{w.addr()}>] {w.off('entry_SYSCALL_64_fastpath')}",
        "Code: 48 8b 47 10 48 85 c0 74 0c <48> 8b 40 10 5d c3 0f 1f 40 00 31 c0 5d c3",
        f"RIP  [<{w.addr()}>] {f}{_mod(mod)}",
        " RSP <ffff88003a1b3c50>",
        "CR2: 0000000000000010",
        "---[ end trace 5d0b7a8f4c2e1a3b ]---",
    )
    return "null-deref", [
        (f"BUG: kernel NULL pointer dereference in {g}", "NULL pointer dereference", g, "no")
    ]


@template("x86_64 3.x paging request: IP: [<addr>] and the 3.x `Pid:` line, no CPU: line")
def paging_3x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    f = w.off(g)
    w(
        f"BUG: unable to handle kernel paging request at {w.addr(0xFFFF880000000000)}",
        f"IP: [<{w.addr()}>] {f}{_mod(mod)}",
        "PGD 1a0c067 PUD 0",
        "Oops: 0000 [#1] SMP ",
        f"Modules linked in: {mod or 'e1000'} nfsd lockd",
        "",
        f"Pid: {w.rng.randrange(100, 9000)}, comm: kworker/0:1 Not tainted 3.2.0-4-amd64 #1 Debian 3.2.65-1 Bochs Bochs",
    )
    a = w.addr()
    w(
        f"RIP: 0010:[<{a}>]  [<{a}>] {f}{_mod(mod)}",
        "RSP: 0018:ffff88003c1e1d40  EFLAGS: 00010286",
        "Process kworker/0:1 (pid: 1234, threadinfo ffff88003c1e0000, task ffff88003d8b2040)",
        "Stack:",
        " ffff88003c1e1d80 ffffffff8104e1f3 ffff88003d8b2040 0000000000000000",
        "Call Trace:",
        f" [<{w.addr()}>] ? {w.off(c1)}{_mod(mod)}",
        f" [<{w.addr()}>] {w.off(c1)}{_mod(mod)}",
        f" [<{w.addr()}>] {w.off(c2)}{_mod(mod)}",
        f" [<{w.addr()}>] {w.off('process_one_work')}",
        f" [<{w.addr()}>] {w.off('worker_thread')}",
        f" [<{w.addr()}>] {w.off('kthread')}",
        f" [<{w.addr()}>] {w.off('kernel_thread_helper')}",
        "Code: 8b 43 10 48 85 c0 74 1d 48 8b 50 08 <48> 8b 12 ",
        f"RIP  [<{w.addr()}>] {f}{_mod(mod)}",
        " RSP <ffff88003c1e1d40>",
        f"CR2: {w.addr(0xFFFF880000000000)}",
        "---[ end trace 3a5c1d2e4f6b7a80 ]---",
    )
    return "page-fault", [(f"BUG: unable to handle page fault in {g}", "page fault", g, "no")]


@template("x86_64 5.x+ page fault for a bad address, panic_on_oops: the panic joins the report")
def paging_5x_panic(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        f"BUG: unable to handle page fault for address: {w.addr(0xFFFFC90000000000)}",
        "#PF: supervisor write access in kernel mode",
        "#PF: error_code(0x0002) - not-present page",
        "PGD 100000067 P4D 100000067 PUD 1001a0067 PMD 10a4c1067 PTE 0",
        "Oops: 0002 [#1] PREEMPT SMP PTI",
        cpu_line(w, "6.1.0-18-amd64", "kworker/u8:2"),
        "Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.2-debian-1.16.2-1 04/01/2014",
        "Workqueue: events_unbound async_run_entry_fn",
    )
    w(*x86_regs(w, w.off(g) + _mod(mod)))
    w(
        "Call Trace:",
        " <TASK>",
        f" ? {w.off('__die')}",
        f" ? {w.off('page_fault_oops')}",
        f" ? {w.off('exc_page_fault')}",
        f" ? {w.off('asm_exc_page_fault')}",
        f" ? {w.off(g)}{_mod(mod)}",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        f" {w.off('process_one_work')}",
        f" {w.off('worker_thread')}",
        f" {w.off('kthread')}",
        f" {w.off('ret_from_fork')}",
        " </TASK>",
        f"Modules linked in: {mod or 'virtio_net'}",
        f"CR2: {w.addr(0xFFFFC90000000000)}",
        "---[ end trace 0000000000000000 ]---",
        "Kernel panic - not syncing: Fatal exception",
        "Kernel Offset: 0x1a000000 from 0xffffffff81000000 (relocation range: 0xffffffff80000000-0xffffffffbfffffff)",
        "---[ end Kernel panic - not syncing: Fatal exception ]---",
    )
    return "page-fault", [(f"BUG: unable to handle page fault in {g}", "page fault", g, "no")]


@template("x86_64 5.x+ general protection fault with KASAN's null-ptr-deref range line")
def gpf_5x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "general protection fault, probably for non-canonical address 0xdffffc0000000002: 0000 [#1] PREEMPT SMP KASAN",
        "KASAN: null-ptr-deref in range [0x0000000000000010-0x0000000000000017]",
        cpu_line(w, "5.19.0-rc4-syzkaller-00187-g089866061428"),
        "Hardware name: Google Google Compute Engine/Google Compute Engine, BIOS Google 01/01/2011",
    )
    w(*x86_regs(w, w.off(g) + _mod(mod)))
    w(
        "Call Trace:",
        " <TASK>",
        f" {w.off(c1)}",
        f" {w.off(c2)}",
        f" {w.off('__sys_sendmsg')}",
        *syscall_tail_5x(w),
        "Modules linked in:",
        "---[ end trace 0000000000000000 ]---",
    )
    return "gpf", [(f"general protection fault in {g}", "general protection fault", g, "no")]


@template("x86_64 4.x general protection fault: RIP: 0010:[<addr>]  [<addr>] func+off/size")
def gpf_4x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "general protection fault: 0000 [#1] SMP KASAN",
        f"Modules linked in: {mod}".rstrip(),
        cpu_line(w, "4.9.0-rc5+"),
        "Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS Bochs 01/01/2011",
    )
    w(*x86_regs_4x(w, w.off(g)))
    w(
        "Call Trace:",
        f" [<{w.addr()}>] {w.off(c1)}",
        f" [<{w.addr()}>] ? {w.off('kasan_kmalloc')}",
        f" [<{w.addr()}>] {w.off(c2)}",
        f" [<{w.addr()}>] {w.off('do_vfs_ioctl')}",
        f" [<{w.addr()}>] {w.off('SyS_ioctl')}",
        f" [<{w.addr()}>] {w.off('entry_SYSCALL_64_fastpath')}",
        "Code: 00 00 00 48 89 f8 48 c1 e8 03 80 3c 18 00 0f 85 a1 00 00 00 <48> 8b 43 28",
        f"RIP  [<{w.addr()}>] {w.off(g)}",
        " RSP <ffff88003a1b3c50>",
        "---[ end trace 2f1d3c5b7a9e0c48 ]---",
    )
    return "gpf", [(f"general protection fault in {g}", "general protection fault", g, "no")]


@template("x86_64 6.9+ `Oops: general protection fault` wording")
def gpf_69(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "Oops: general protection fault, probably for non-canonical address 0xdead000000000122: 0000 [#1] PREEMPT SMP NOPTI",
        cpu_line(w, "6.10.0-rc2"),
        "Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.3-debian-1.16.3-2 04/01/2014",
    )
    w(*x86_regs(w, w.off(g) + _mod(mod)))
    w(
        "Call Trace:",
        " <TASK>",
        f" ? {w.off('die_addr')}",
        f" ? {w.off('exc_general_protection')}",
        f" ? {w.off('asm_exc_general_protection')}",
        f" ? {w.off(g)}{_mod(mod)}",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        *syscall_tail_5x(w),
        "---[ end trace 0000000000000000 ]---",
    )
    return "gpf", [(f"general protection fault in {g}", "general protection fault", g, "no")]


@template("x86_64 5.x+ BUG() (lib/bug.c: kernel BUG at, then invalid opcode)")
def bug_5x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, file = c
    w(
        "------------[ cut here ]------------",
        f"kernel BUG at {file}:{w.rng.randrange(50, 3000)}!",
        "invalid opcode: 0000 [#1] PREEMPT SMP KASAN",
        cpu_line(w, "6.2.0-rc1-next-20221226"),
        "Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.0 04/01/2014",
    )
    w(*x86_regs(w, w.off(g) + _mod(mod)))
    w(
        "Call Trace:",
        " <TASK>",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        *syscall_tail_5x(w),
        f"Modules linked in: {mod}".rstrip(),
        "---[ end trace 0000000000000000 ]---",
    )
    return "kernel-bug", [(f"kernel BUG in {g}", "BUG", g, "no")]


@template("x86_64 3.x BUG(): kernel BUG at, invalid opcode, RIP: 0010:[<addr>]  [<addr>]")
def bug_3x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, file = c
    w(
        "------------[ cut here ]------------",
        f"kernel BUG at {file}:{w.rng.randrange(50, 3000)}!",
        "invalid opcode: 0000 [#1] SMP ",
        f"Modules linked in: {mod or 'ext4'} jbd2 mbcache",
        "",
        "Pid: 2231, comm: flush-8:0 Not tainted 3.10.0-123.el7.x86_64 #1 Red Hat KVM",
    )
    a = w.addr()
    w(
        f"RIP: 0010:[<{a}>]  [<{a}>] {w.off(g)}{_mod(mod)}",
        "RSP: 0018:ffff88003b1e3b08  EFLAGS: 00010246",
        "Stack:",
        " ffff88003b1e3b48 ffffffffa01a2c3d 0000000000000000 ffff88003a0c1000",
        "Call Trace:",
        f" [<{w.addr()}>] {w.off(c1)}{_mod(mod)}",
        f" [<{w.addr()}>] {w.off(c2)}{_mod(mod)}",
        f" [<{w.addr()}>] {w.off('kthread')}",
        f" [<{w.addr()}>] ? {w.off('kthread_create_on_node')}",
        f" [<{w.addr()}>] {w.off('ret_from_fork')}",
        "Code: 48 89 df e8 a1 fe ff ff eb c9 0f 0b <0f> 0b 66 90 ",
        f"RIP  [<{w.addr()}>] {w.off(g)}{_mod(mod)}",
        " RSP <ffff88003b1e3b08>",
        "---[ end trace 7a1f2e3d4c5b6a79 ]---",
    )
    return "kernel-bug", [(f"kernel BUG in {g}", "BUG", g, "no")]


@template("x86_64 5.x+ WARN() (kernel/panic.c __warn): the header names the function")
def warn_5x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, file = c
    w(
        "------------[ cut here ]------------",
        f"WARNING: CPU: 1 PID: {w.rng.randrange(100, 9000)} at {file}:{w.rng.randrange(50, 3000)} {w.off(g)}{_mod(mod)}",
        f"Modules linked in: {mod}".rstrip(),
        cpu_line(w, "6.6.0-rc3"),
        "Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.2 04/01/2014",
    )
    w(*x86_regs(w, w.off(g) + _mod(mod)))
    w(
        "Call Trace:",
        " <TASK>",
        f" ? {w.off('__warn')}",
        f" ? {w.off('report_bug')}",
        f" ? {w.off('handle_bug')}",
        f" ? {w.off('exc_invalid_op')}",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        *syscall_tail_5x(w),
        "---[ end trace 0000000000000000 ]---",
    )
    return "warning", [(f"WARNING in {g}", "WARNING", g, "no")]


@template("x86_64 3.x WARN(): `WARNING: at FILE:LINE func+off/size()` and warn_slowpath frames")
def warn_3x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, file = c
    w(
        "------------[ cut here ]------------",
        f"WARNING: at {file}:{w.rng.randrange(50, 3000)} {w.off(g)}(){_mod(mod)}",
        "Hardware name: Bochs",
        f"Modules linked in: {mod or 'e1000'}",
        "Pid: 1, comm: swapper Not tainted 3.0.101-63-default #1",
        "Call Trace:",
        f" [<{w.addr()}>] {w.off('warn_slowpath_common')}",
        f" [<{w.addr()}>] {w.off('warn_slowpath_null')}",
        f" [<{w.addr()}>] {w.off(g)}{_mod(mod)}",
        f" [<{w.addr()}>] {w.off(c1)}{_mod(mod)}",
        f" [<{w.addr()}>] {w.off(c2)}{_mod(mod)}",
        f" [<{w.addr()}>] {w.off('kernel_thread_helper')}",
        "---[ end trace a6c3b1e2d4f5a697 ]---",
    )
    return "warning", [(f"WARNING in {g}", "WARNING", g, "no")]


@template(
    "x86_64 4.x WARN(): `WARNING: CPU: N PID: N at ...` with a stack dump and dump_stack/__warn frames"
)
def warn_4x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, file = c
    w(
        "------------[ cut here ]------------",
        f"WARNING: CPU: 0 PID: 4021 at {file}:{w.rng.randrange(50, 3000)} {w.off(g)}{_mod(mod)}",
        f"Modules linked in: {mod or 'e1000'}",
        cpu_line(w, "4.9.0-8-amd64", taint="Tainted: G        W"),
        "Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.10.2-1 04/01/2014",
        " 0000000000000000 ffffffff81329c14 0000000000000000 0000000000000000",
        "Call Trace:",
        f" [<{w.addr()}>] ? {w.off('dump_stack')}",
        f" [<{w.addr()}>] ? {w.off('__warn')}",
        f" [<{w.addr()}>] ? {w.off(g)}{_mod(mod)}",
        f" [<{w.addr()}>] ? {w.off(c1)}{_mod(mod)}",
        f" [<{w.addr()}>] ? {w.off(c2)}{_mod(mod)}",
        f" [<{w.addr()}>] ? {w.off('SyS_write')}",
        f" [<{w.addr()}>] ? {w.off('system_call_fast_compare_end')}",
        "---[ end trace 3b6ed2c1a0f9e8d7 ]---",
    )
    return "warning", [(f"WARNING in {g}", "WARNING", g, "no")]


@template(
    "x86_64 5.x+ refcount_t underflow (lib/refcount.c): the message, then WARN() in refcount_warn_saturate"
)
def refcount_5x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "------------[ cut here ]------------",
        "refcount_t: underflow; use-after-free.",
        f"WARNING: CPU: 0 PID: 3611 at lib/refcount.c:28 {w.off('refcount_warn_saturate')}",
        "Modules linked in:",
        cpu_line(w, "6.0.0-rc7-syzkaller"),
        "Hardware name: Google Compute Engine",
    )
    w(*x86_regs(w, w.off("refcount_warn_saturate")))
    w(
        "Call Trace:",
        " <TASK>",
        f" {w.off('__refcount_sub_and_test')}",
        f" {w.off(g)}{_mod(mod)}",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        *syscall_tail_5x(w),
    )
    return "refcount", [(f"WARNING: refcount bug in {g}", "WARNING", g, "no")]


@template("x86_64 5.x+ list corruption (lib/list_debug.c): the message, then BUG()")
def list_5x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        f"list_del corruption. prev->next should be {w.addr(0xFFFF888000000000)}, but was dead000000000122. (prev={w.addr(0xFFFF888000000000)})",
        "------------[ cut here ]------------",
        "kernel BUG at lib/list_debug.c:62!",
        "invalid opcode: 0000 [#1] PREEMPT SMP NOPTI",
        cpu_line(w, "6.5.0-1-amd64"),
        "Hardware name: LENOVO 20XW/20XW, BIOS N32ET86W 01/01/2023",
    )
    w(*x86_regs(w, w.off("__list_del_entry_valid_or_report")))
    w(
        "Call Trace:",
        " <TASK>",
        f" ? {w.off('die')}",
        f" ? {w.off('do_trap')}",
        f" {w.off(g)}{_mod(mod)}",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        *syscall_tail_5x(w),
        "---[ end trace 0000000000000000 ]---",
    )
    return "list-corruption", [(f"BUG: corrupted list in {g}", "BUG", g, "no")]


@template("x86_64 4.x list corruption: WARN() first, its message after the WARNING line")
def list_4x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "------------[ cut here ]------------",
        f"WARNING: CPU: 2 PID: 812 at lib/list_debug.c:33 {w.off('__list_add')}",
        f"list_add corruption. prev->next should be next ({w.addr(0xFFFF880000000000)}), but was {w.addr(0xFFFF880000000000)}. (prev={w.addr(0xFFFF880000000000)}).",
        f"Modules linked in: {mod or 'e1000'}",
        cpu_line(w, "4.14.0-rc2"),
        "Hardware name: Dell Inc. PowerEdge R630",
        "Call Trace:",
        f" [<{w.addr()}>] {w.off('dump_stack')}",
        f" [<{w.addr()}>] {w.off('__warn')}",
        f" [<{w.addr()}>] {w.off('warn_slowpath_fmt')}",
        f" [<{w.addr()}>] {w.off('__list_add')}",
        f" [<{w.addr()}>] {w.off(g)}{_mod(mod)}",
        f" [<{w.addr()}>] {w.off(c1)}{_mod(mod)}",
        f" [<{w.addr()}>] {w.off(c2)}{_mod(mod)}",
        "---[ end trace 9c8b7a6f5e4d3c2b ]---",
    )
    return "list-corruption", [(f"BUG: corrupted list in {g}", "BUG", g, "no")]


@template(
    "x86_64 5.x+ hung task (kernel/hung_task.c): the blocked task's stack, scheduler and lock frames first"
)
def hung_5x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "INFO: task syz-executor.3:4821 blocked for more than 143 seconds.",
        "      Not tainted 6.1.0-rc8-syzkaller #0",
        '"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.',
        "task:syz-executor.3 state:D stack:27456 pid:4821  ppid:3622   flags:0x00004004",
        "Call Trace:",
        " <TASK>",
        f" {w.off('__schedule')}",
        f" {w.off('schedule')}",
        f" {w.off('schedule_preempt_disabled')}",
        f" {w.off('__mutex_lock')}",
        f" {w.off(g)}{_mod(mod)}",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        *syscall_tail_5x(w),
        "",
        "Showing all locks held in the system:",
        "1 lock held by khungtaskd/28:",
        f" #0: ffffffff8c791f60 (rcu_read_lock){{....}}-{{1:2}}, at: {w.off('debug_show_all_locks')}",
    )
    return "hung-task", [(f"INFO: task hung in {g}", "hung task", g, "no")]


@template("x86_64 3.x/4.x hung task: [<addr>] frames, wait_for_completion under the guilty one")
def hung_4x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "INFO: task kworker/u16:3:3421 blocked for more than 120 seconds.",
        "      Tainted: G           OE   4.15.0-45-generic #48-Ubuntu",
        '"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.',
        "kworker/u16:3   D    0  3421      2 0x80000000",
        "Call Trace:",
        f" [<{w.addr()}>] {w.off('__schedule')}",
        f" [<{w.addr()}>] {w.off('schedule')}",
        f" [<{w.addr()}>] {w.off('schedule_timeout')}",
        f" [<{w.addr()}>] ? {w.off('ttwu_do_activate')}",
        f" [<{w.addr()}>] {w.off('wait_for_completion')}",
        f" [<{w.addr()}>] {w.off(g)}{_mod(mod)}",
        f" [<{w.addr()}>] {w.off(c1)}{_mod(mod)}",
        f" [<{w.addr()}>] {w.off(c2)}{_mod(mod)}",
        f" [<{w.addr()}>] {w.off('process_one_work')}",
        f" [<{w.addr()}>] {w.off('worker_thread')}",
        f" [<{w.addr()}>] {w.off('kthread')}",
        f" [<{w.addr()}>] {w.off('ret_from_fork')}",
    )
    return "hung-task", [(f"INFO: task hung in {g}", "hung task", g, "no")]


@template(
    "x86_64 5.x+ soft lockup (kernel/watchdog.c): the interrupted registers first, then its stack"
)
def soft_5x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [syz-executor:5012]",
        f"Modules linked in: {mod}".rstrip(),
        "irq event stamp: 18424",
        cpu_line(w, "5.10.0-21-amd64"),
        "Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.14.0-2 04/01/2014",
    )
    w(*x86_regs(w, w.off(g) + _mod(mod)))
    w(
        "Call Trace:",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        f" {w.off('__x64_sys_ioctl')}",
        " do_syscall_64+0x33/0x80",
        " entry_SYSCALL_64_after_hwframe+0x61/0xc6",
    )
    return "soft-lockup", [(f"BUG: soft lockup in {g}", "soft lockup", g, "no")]


@template("x86_64 6.x soft lockup spinning on a lock: the interrupted RIP is the lock's slow path")
def soft_lock_6x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [kworker/0:2:812]",
        "Modules linked in:",
        cpu_line(w, "6.5.0-rc1", "kworker/0:2", "Tainted: G             L"),
        "Hardware name: QEMU Standard PC (Q35 + ICH9, 2009)",
    )
    w(*x86_regs(w, w.off("native_queued_spin_lock_slowpath")))
    w(
        "Call Trace:",
        " <IRQ>",
        f" ? {w.off('watchdog_timer_fn')}",
        f" ? {w.off('__hrtimer_run_queues')}",
        f" ? {w.off('hrtimer_interrupt')}",
        f" ? {w.off('__sysvec_apic_timer_interrupt')}",
        f" ? {w.off('sysvec_apic_timer_interrupt')}",
        " </IRQ>",
        " <TASK>",
        f" ? {w.off('asm_sysvec_apic_timer_interrupt')}",
        f" ? {w.off('native_queued_spin_lock_slowpath')}",
        f" {w.off('_raw_spin_lock')}",
        f" {w.off(g)}{_mod(mod)}",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        f" {w.off('process_one_work')}",
        f" {w.off('worker_thread')}",
        f" {w.off('kthread')}",
        f" {w.off('ret_from_fork')}",
        " </TASK>",
    )
    return "soft-lockup", [(f"BUG: soft lockup in {g}", "soft lockup", g, "no")]


@template("x86_64 4.x soft lockup: `NMI watchdog: BUG: soft lockup` and RIP: 0010:[<addr>]")
def soft_4x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "NMI watchdog: BUG: soft lockup - CPU#3 stuck for 22s! [migration/3:27]",
        f"Modules linked in: {mod or 'e1000'}",
        cpu_line(w, "4.4.0-21-generic", "migration/3", "Tainted: G             L"),
        "Hardware name: Supermicro X9DRi-LN4+/X9DR3-LN4+",
    )
    w(*x86_regs_4x(w, w.off(g) + _mod(mod)))
    w(
        "Call Trace:",
        f" [<{w.addr()}>] {w.off(c1)}{_mod(mod)}",
        f" [<{w.addr()}>] {w.off(c2)}{_mod(mod)}",
        f" [<{w.addr()}>] {w.off('smpboot_thread_fn')}",
        f" [<{w.addr()}>] {w.off('kthread')}",
        f" [<{w.addr()}>] {w.off('ret_from_fork')}",
        "Code: 89 c1 0f 1f 00 f3 90 <8b> 42 18 a8 01 75 f7",
    )
    return "soft-lockup", [(f"BUG: soft lockup in {g}", "soft lockup", g, "no")]


@template(
    "x86_64 5.x+ RCU self-detected stall (kernel/rcu/tree_stall.h): NMI backtrace from the timer interrupt, the interrupted RIP in the middle of the trace"
)
def rcu_self_5x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "rcu: INFO: rcu_preempt self-detected stall on CPU",
        "rcu: \t0-....: (10500 ticks this GP) idle=5e4/1/0x4000000000000000 softirq=11423/11423 fqs=5237",
        "\t(t=10502 jiffies g=14813 q=193 ncpus=2)",
        "NMI backtrace for cpu 0",
        cpu_line(w, "6.1.0-rc5-syzkaller"),
        "Hardware name: Google Compute Engine",
        "Call Trace:",
        " <IRQ>",
        f" {w.off('dump_stack_lvl')}",
        f" {w.off('nmi_cpu_backtrace.cold')}",
        f" {w.off('nmi_trigger_cpumask_backtrace')}",
        f" {w.off('rcu_dump_cpu_stacks')}",
        f" {w.off('rcu_sched_clock_irq.cold')}",
        f" {w.off('update_process_times')}",
        f" {w.off('tick_sched_handle')}",
        f" {w.off('tick_sched_timer')}",
        f" {w.off('__hrtimer_run_queues')}",
        f" {w.off('hrtimer_interrupt')}",
        f" {w.off('__sysvec_apic_timer_interrupt')}",
        f" {w.off('sysvec_apic_timer_interrupt')}",
        " </IRQ>",
        " <TASK>",
        f" {w.off('asm_sysvec_apic_timer_interrupt')}",
    )
    w(*x86_regs(w, w.off(g) + _mod(mod))[:4])
    w(f" {w.off(c1)}{_mod(mod)}", f" {w.off(c2)}{_mod(mod)}", *syscall_tail_5x(w))
    return "rcu-stall", [(f"INFO: rcu detected stall in {g}", "RCU stall", g, "no")]


@template("x86_64 4.x RCU self-detected stall: <IRQ> ... <EOI> markers inline with [<addr>] frames")
def rcu_self_4x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "INFO: rcu_sched self-detected stall on CPU",
        "\t1-...: (20999 ticks this GP) idle=c2b/140000000000001/0 softirq=3521/3521 fqs=6994",
        "\t (t=21000 jiffies g=1442 c=1441 q=411)",
        "Task dump for CPU 1:",
        "syz-executor    R  running task    28240  3140   3139 0x00000008",
        cpu_line(w, "4.13.0-rc7+"),
        "Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS Bochs 01/01/2011",
        "Call Trace:",
        f" <IRQ>  [<{w.addr()}>] {w.off('sched_show_task')}",
        f" [<{w.addr()}>] {w.off('dump_cpu_task')}",
        f" [<{w.addr()}>] {w.off('rcu_dump_cpu_stacks')}",
        f" [<{w.addr()}>] {w.off('rcu_check_callbacks')}",
        f" [<{w.addr()}>] {w.off('update_process_times')}",
        f" [<{w.addr()}>] {w.off('tick_sched_handle')}",
        f" [<{w.addr()}>] {w.off('tick_sched_timer')}",
        f" [<{w.addr()}>] {w.off('__hrtimer_run_queues')}",
        f" [<{w.addr()}>] {w.off('hrtimer_interrupt')}",
        f" [<{w.addr()}>] {w.off('smp_apic_timer_interrupt')}",
        f" [<{w.addr()}>] {w.off('apic_timer_interrupt')}",
        f" <EOI>  [<{w.addr()}>] ? {w.off('_raw_spin_unlock_irqrestore')}",
        f" [<{w.addr()}>] {w.off(g)}{_mod(mod)}",
        f" [<{w.addr()}>] {w.off(c1)}{_mod(mod)}",
        f" [<{w.addr()}>] {w.off(c2)}{_mod(mod)}",
        f" [<{w.addr()}>] {w.off('SyS_sendmsg')}",
        f" [<{w.addr()}>] {w.off('entry_SYSCALL_64_fastpath')}",
    )
    return "rcu-stall", [(f"INFO: rcu detected stall in {g}", "RCU stall", g, "no")]


@template("x86_64 5.x+ RCU stall detected on another CPU: its NMI backtrace with registers first")
def rcu_other_5x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "rcu: INFO: rcu_sched detected stalls on CPUs/tasks:",
        "rcu: \t1-...!: (1 GPs behind) idle=a5c/1/0x4000000000000000 softirq=5421/5422 fqs=2",
        "\t(detected by 0, t=10502 jiffies, g=8821, q=312)",
        "Sending NMI from CPU 0 to CPUs 1:",
        "NMI backtrace for cpu 1",
        cpu_line(w, "5.4.0-150-generic"),
        "Hardware name: Red Hat KVM, BIOS 0.5.1 01/01/2011",
    )
    w(*x86_regs(w, w.off(g) + _mod(mod)))
    w(
        "Call Trace:",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        f" {w.off('__x64_sys_write')}",
        " do_syscall_64+0x57/0x190",
        " entry_SYSCALL_64_after_hwframe+0x44/0xa9",
    )
    return "rcu-stall", [(f"INFO: rcu detected stall in {g}", "RCU stall", g, "no")]


@template("x86_64 5.x+ hard lockup (kernel/watchdog_hld.c): the NMI saw this CPU's registers")
def hard_5x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "watchdog: Watchdog detected hard LOCKUP on cpu 2",
        f"Modules linked in: {mod}".rstrip(),
        cpu_line(w, "5.14.0-70.el9.x86_64"),
        "Hardware name: HPE ProLiant DL380 Gen10",
    )
    w(*x86_regs(w, w.off(g) + _mod(mod)))
    w(
        "Call Trace:",
        " <TASK>",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        f" {w.off('kthread')}",
        f" {w.off('ret_from_fork')}",
        " </TASK>",
        "Kernel panic - not syncing: Hard LOCKUP",
        "---[ end Kernel panic - not syncing: Hard LOCKUP ]---",
    )
    return "hard-lockup", [(f"BUG: hard lockup in {g}", "hard lockup", g, "no")]


@template(
    "x86_64 5.x+ KASAN (mm/kasan/report.c): the access stack, then the allocation and free stacks"
)
def kasan_5x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    kind = w.rng.choice(
        ["use-after-free", "slab-out-of-bounds", "slab-use-after-free", "global-out-of-bounds"]
    )
    rw = w.rng.choice(["Read", "Write"])
    w(
        "==================================================================",
        f"BUG: KASAN: {kind} in {w.off(g)}{_mod(mod)}",
        f"{rw} of size 8 at addr {w.addr(0xFFFF888000000000)} by task syz-executor.1/5123",
        "",
        cpu_line(w, "6.3.0-rc1-syzkaller"),
        "Hardware name: Google Compute Engine",
        "Call Trace:",
        " <TASK>",
        f" {w.off('dump_stack_lvl')}",
        f" {w.off('print_report')}",
        f" {w.off('kasan_report')}",
        f" {w.off(g)}{_mod(mod)}",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        *syscall_tail_5x(w),
        "",
        "Allocated by task 5120:",
        f" {w.off('kasan_save_stack')}",
        f" {w.off('__kasan_kmalloc')}",
        f" {w.off('alloc_context_for_free')}",
        "",
        "Freed by task 5121:",
        f" {w.off('kasan_save_stack')}",
        f" {w.off('kfree')}",
        f" {w.off('release_unused_context')}",
        "",
        f"The buggy address belongs to the object at {w.addr(0xFFFF888000000000)}",
        " which belongs to the cache kmalloc-192 of size 192",
        "==================================================================",
    )
    return "kasan", [(f"KASAN: {kind} {rw} in {g}", "KASAN", g, "no")]


@template("x86_64 5.x+ KASAN whose header names a list checker: the guilty function is its caller")
def kasan_helper_5x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "==================================================================",
        f"BUG: KASAN: use-after-free in {w.off('__list_del_entry_valid')}",
        f"Read of size 8 at addr {w.addr(0xFFFF888000000000)} by task kworker/1:3/3012",
        "",
        cpu_line(w, "5.17.0-rc2-syzkaller"),
        "Hardware name: Google Compute Engine",
        "Workqueue: events rfcomm_work",
        "Call Trace:",
        " <TASK>",
        f" {w.off('__dump_stack')}",
        f" {w.off('dump_stack_lvl')}",
        f" {w.off('print_address_description.constprop.0.cold')}",
        f" {w.off('kasan_report.cold')}",
        f" {w.off('__list_del_entry_valid')}",
        f" {w.off(g)}{_mod(mod)}",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off('process_one_work')}",
        f" {w.off('worker_thread')}",
        f" {w.off('kthread')}",
        f" {w.off('ret_from_fork')}",
        " </TASK>",
        "",
        "Allocated by task 2990:",
        f" {w.off('kasan_save_stack')}",
        "",
        "==================================================================",
    )
    return "kasan", [(f"KASAN: use-after-free Read in {g}", "KASAN", g, "no")]


@template(
    "x86_64 4.x KASAN: ` at addr ADDR` on the header, [<addr>] frames, __asan_report_* frames"
)
def kasan_4x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "==================================================================",
        f"BUG: KASAN: use-after-free in {w.off(g)} at addr {w.addr(0xFFFF880000000000)}",
        "Read of size 4 by task syz-executor/2341",
        cpu_line(w, "4.9.0+"),
        "Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS Bochs 01/01/2011",
        " ffff88006c6b7a10 ffffffff82a0c3d4 ffff88003e80c4c0 ffff88006c6b7a48",
        "Call Trace:",
        f" [<{w.addr()}>] {w.off('dump_stack')}",
        f" [<{w.addr()}>] {w.off('kasan_object_err')}",
        f" [<{w.addr()}>] {w.off('kasan_report_error')}",
        f" [<{w.addr()}>] {w.off('__asan_report_load4_noabort')}",
        f" [<{w.addr()}>] {w.off(g)}",
        f" [<{w.addr()}>] {w.off(c1)}",
        f" [<{w.addr()}>] {w.off(c2)}",
        f" [<{w.addr()}>] {w.off('entry_SYSCALL_64_fastpath')}",
        "Object at ffff88003e80c4c0, in cache kmalloc-64 size: 64",
        "Allocated:",
        "PID = 2339",
        f" [<{w.addr()}>] {w.off('save_stack_trace')}",
        f" [<{w.addr()}>] {w.off('kmem_cache_alloc_trace')}",
        "==================================================================",
    )
    return "kasan", [(f"KASAN: use-after-free Read in {g}", "KASAN", g, "no")]


@template(
    "x86_64 5.8+ UBSAN (lib/ubsan.c): the kind and FILE:LINE, then dump_stack and the __ubsan handler"
)
def ubsan_5x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, file = c
    kind, msg, handler = w.rng.choice(
        [
            (
                "shift-out-of-bounds",
                "shift exponent 64 is too large for 64-bit type 'long unsigned int'",
                "__ubsan_handle_shift_out_of_bounds",
            ),
            (
                "array-index-out-of-bounds",
                "index 8 is out of range for type 'u8 [8]'",
                "__ubsan_handle_out_of_bounds",
            ),
            (
                "signed-integer-overflow",
                "2147483647 + 1 cannot be represented in type 'int'",
                "__ubsan_handle_add_overflow",
            ),
        ]
    )
    w(
        "================================================================================",
        f"UBSAN: {kind} in {file}:{w.rng.randrange(50, 3000)}:{w.rng.randrange(2, 60)}",
        msg,
        cpu_line(w, "6.1.0-rc2-syzkaller"),
        "Hardware name: Google Compute Engine",
        "Call Trace:",
        " <TASK>",
        f" {w.off('dump_stack_lvl')}",
        f" {w.off('ubsan_epilogue')}",
        f" {w.off(handler + '.cold')}",
        f" {w.off(g)}{_mod(mod)}",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        *syscall_tail_5x(w),
        "================================================================================",
    )
    return "ubsan", [(f"UBSAN: {kind} in {g}", "UBSAN", g, "no")]


@template("x86_64 4.x-5.7 UBSAN: `UBSAN: Undefined behaviour in FILE:LINE:COL`")
def ubsan_4x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, file = c
    w(
        "================================================================================",
        f"UBSAN: Undefined behaviour in {file}:{w.rng.randrange(50, 3000)}:{w.rng.randrange(2, 60)}",
        "index 4 is out of range for type 'unsigned int [4]'",
        cpu_line(w, "4.19.0-rc4+"),
        "Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.10.2-1 04/01/2014",
        "Call Trace:",
        f" {w.off('dump_stack')}",
        f" {w.off('ubsan_epilogue')}",
        f" {w.off('__ubsan_handle_out_of_bounds')}",
        f" {w.off(g)}{_mod(mod)}",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        " do_syscall_64+0x4f/0x100",
        " entry_SYSCALL_64_after_hwframe+0x44/0xa9",
        "================================================================================",
    )
    return "ubsan", [(f"UBSAN: Undefined behaviour in {g}", "UBSAN", g, "no")]


@template(
    "kmemleak (mm/kmemleak.c), as /sys/kernel/debug/kmemleak prints it: the allocation's stack"
)
def kmemleak(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    new = w.rng.random() < 0.5
    alloc = "__kmalloc_cache_noprof" if new else "kmem_cache_alloc_trace"
    w(
        f"unreferenced object 0x{w.addr(0xFFFF888000000000)} (size 64):",
        f'  comm "syz-executor.4", pid {w.rng.randrange(100, 9000)}, jiffies 4294{w.rng.randrange(10**6):06d}'
        + (" (age 12.340s)" if not new else ""),
        "  hex dump (first 32 bytes):",
        "    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  ................",
        "    01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  ................",
        "  backtrace (crc 5a1b2c3d):" if new else "  backtrace:",
        f"    [<{w.addr()}>] {w.off(alloc)}",
        f"    [<{w.addr()}>] {w.off(g)}{_mod(mod)}",
        f"    [<{w.addr()}>] {w.off(c1)}{_mod(mod)}",
        f"    [<{w.addr()}>] {w.off(c2)}{_mod(mod)}",
        f"    [<{w.addr()}>] {w.off('do_syscall_64')}",
        f"    [<{w.addr()}>] {w.off('entry_SYSCALL_64_after_hwframe')}",
    )
    return "kmemleak", [(f"memory leak in {g}", "memory leak", g, "no")]


@template(
    "SLUB debug (mm/slub.c): the object check fails in an allocation; the trace shows who allocated"
)
def slub(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    what = w.rng.choice(["Poison overwritten", "Redzone overwritten", "Object padding overwritten"])
    w(
        "=============================================================================",
        f"BUG kmalloc-128 (Tainted: G    B            ): {what}",
        "-----------------------------------------------------------------------------",
        "",
        f"INFO: 0x{w.addr(0xFFFF888000000000)}-0x{w.addr(0xFFFF888000000000)} @offset=1024. First byte 0x0 instead of 0x6b",
        f"INFO: Allocated in {w.off('some_alloc_site')} age=12 cpu=0 pid=1",
        f"INFO: Freed in {w.off('some_free_site')} age=3 cpu=0 pid=1",
        f"INFO: Slab 0x{w.addr(0xFFFFEA0000000000)} objects=21 used=21 fp=0x0000000000000000 flags=0x100000000000200",
        f"INFO: Object 0x{w.addr(0xFFFF888000000000)} @offset=1024 fp=0x0000000000000000",
        "",
        f"Object {w.addr(0xFFFF888000000000)}: 00 00 00 00 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b  ....kkkkkkkkkkkk",
        cpu_line(w, "5.10.0", taint="Tainted: G    B"),
        "Hardware name: QEMU Standard PC (i440FX + PIIX, 1996)",
        "Call Trace:",
        f" {w.off('dump_stack')}",
        f" {w.off('print_trailer')}",
        f" {w.off('check_bytes_and_report.cold')}",
        f" {w.off('check_object')}",
        f" {w.off('alloc_debug_processing')}",
        f" {w.off('___slab_alloc')}",
        f" {w.off('__slab_alloc')}",
        f" {w.off('__kmalloc')}",
        f" {w.off(g)}{_mod(mod)}",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        f"FIX kmalloc-128: Restoring 0x{w.addr(0xFFFF888000000000)}-0x{w.addr(0xFFFF888000000000)}=0x6b",
        "FIX kmalloc-128: Marking all objects used",
    )
    return "slub", [(f"SLUB: {what} in {g}", "BUG", g, "no")]


def _lockdep_tail(
    w: Writer, g: str, c1: str, c2: str, mod: str, checker: list[str], new: bool
) -> None:
    w(
        "",
        "stack backtrace:",
        cpu_line(w, "6.2.0-rc5" if new else "4.9.0-rc8+"),
        "Hardware name: QEMU Standard PC (Q35 + ICH9, 2009)",
    )
    if new:
        w(
            "Call Trace:",
            " <TASK>",
            f" {w.off('dump_stack_lvl')}",
            *(f" {w.off(f)}" for f in checker),
            f" {w.off(g)}{_mod(mod)}",
            f" {w.off(c1)}{_mod(mod)}",
            f" {w.off(c2)}{_mod(mod)}",
            *syscall_tail_5x(w),
        )
    else:
        w(
            " ffff88003a1b3a48 ffffffff81a2b3c4 ffffffff83c1d2e0 ffffffff83c1d2e0",
            "Call Trace:",
            f" [<{w.addr()}>] {w.off('dump_stack')}",
            *(f" [<{w.addr()}>] {w.off(f)}" for f in checker),
            f" [<{w.addr()}>] {w.off(g)}{_mod(mod)}",
            f" [<{w.addr()}>] {w.off(c1)}{_mod(mod)}",
            f" [<{w.addr()}>] {w.off(c2)}{_mod(mod)}",
            f" [<{w.addr()}>] {w.off('entry_SYSCALL_64_fastpath')}",
        )


@template(
    "lockdep circular dependency (kernel/locking/lockdep.c), 5.x+ and 3.x-4.x `[ INFO: ... ]` headers"
)
def lockdep_circular(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    new = w.rng.random() < 0.6
    w(
        "======================================================",
        "WARNING: possible circular locking dependency detected"
        if new
        else "[ INFO: possible circular locking dependency detected ]",
        "6.2.0-rc5 #1 Not tainted" if new else "4.9.0-rc8+ #1 Not tainted",
        "------------------------------------------------------",
        "syz-executor.0/3642 is trying to acquire lock:",
        f"ffff88807a1b2c30 (&dev->mutex){{+.+.}}-{{3:3}}, at: {w.off(g)}",
        "",
        "but task is already holding lock:",
        f"ffff88801d2e3f40 (rtnl_mutex){{+.+.}}-{{3:3}}, at: {w.off(c1)}",
        "",
        "which lock already depends on the new lock.",
        "",
        "",
        "the existing dependency chain (in reverse order) is:",
        "",
        "-> #1 (rtnl_mutex){+.+.}-{3:3}:",
        f"       {w.off('lock_acquire')}",
        f"       {w.off('__mutex_lock')}",
        f"       {w.off('some_other_path')}",
        "",
        "-> #0 (&dev->mutex){+.+.}-{3:3}:",
        f"       {w.off('check_prevs_add')}",
        f"       {w.off('__lock_acquire')}",
        f"       {w.off('lock_acquire')}",
        f"       {w.off('__mutex_lock')}",
        f"       {w.off(g)}",
        "",
        "other info that might help us debug this:",
        "",
        " Possible unsafe locking scenario:",
        "",
        "       CPU0                    CPU1",
        "       ----                    ----",
        "  lock(rtnl_mutex);",
        "                               lock(&dev->mutex);",
        "",
        " *** DEADLOCK ***",
        "",
    )
    _lockdep_tail(
        w,
        g,
        c1,
        c2,
        mod,
        ["check_noncircular", "__lock_acquire", "lock_acquire", "__mutex_lock"],
        new,
    )
    return "lockdep-deadlock", [(f"possible deadlock in {g}", "lockdep", g, "no")]


@template(
    "lockdep's other reports: recursive locking, inconsistent state, RCU usage, unlock balance, held locks, non-static key"
)
def lockdep_other(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    new = w.rng.random() < 0.6
    which = w.rng.randrange(6)
    if which == 0:
        head, title, checker = (
            "possible recursive locking detected",
            f"possible deadlock in {g}",
            ["__lock_acquire", "lock_acquire", "_raw_spin_lock"],
        )
    elif which == 1:
        head, title, checker = (
            "inconsistent lock state",
            f"inconsistent lock state in {g}",
            ["mark_lock", "__lock_acquire", "lock_acquire"],
        )
    elif which == 2:
        head, title, checker = (
            "suspicious RCU usage",
            f"WARNING: suspicious RCU usage in {g}",
            ["lockdep_rcu_suspicious"],
        )
    elif which == 3:
        head, title, checker = (
            "bad unlock balance detected!",
            f"WARNING: bad unlock balance in {g}",
            ["print_unlock_imbalance_bug", "lock_release", "__mutex_unlock_slowpath"],
        )
    elif which == 4:
        head, title, checker = (
            "syz-executor.2/4120 still has locks held!",
            f"BUG: still has locks held in {g}",
            ["debug_check_no_locks_held"],
        )
    else:
        w(
            "INFO: trying to register non-static key.",
            "The code is fine but needs lockdep annotation, or maybe",
            "you didn't initialize this object before use?",
            "turning off the locking correctness validator.",
        )
        w(
            cpu_line(w, "5.15.0-rc1"),
            "Hardware name: QEMU Standard PC (Q35 + ICH9, 2009)",
            "Call Trace:",
            f" {w.off('dump_stack_lvl')}",
            f" {w.off('register_lock_class')}",
            f" {w.off('__lock_acquire')}",
            f" {w.off('lock_acquire')}",
            f" {w.off('_raw_spin_lock_irqsave')}",
            f" {w.off(g)}{_mod(mod)}",
            f" {w.off(c1)}{_mod(mod)}",
            f" {w.off(c2)}{_mod(mod)}",
            " do_syscall_64+0x3b/0x90",
            " entry_SYSCALL_64_after_hwframe+0x44/0xae",
        )
        return "lockdep-key", [
            (f"INFO: trying to register non-static key in {g}", "lockdep", g, "no")
        ]
    if new:
        w(
            "============================================",
            f"WARNING: {head}" if which != 4 else f"WARNING: {head}",
            "6.2.0-rc5 #1 Not tainted",
            "--------------------------------------------",
        )
    else:
        bracket = "INFO" if which in (0, 1, 2) else "BUG"
        w(
            "=============================================",
            f"[ {bracket}: {head} ]",
            "4.9.0-rc8+ #1 Not tainted",
            "---------------------------------------------",
        )
    w(
        "syz-executor.2/4120 is trying to release lock (&sb->s_umount) at:",
        f"[<{w.addr()}>] {w.off(g)}",
        "",
        "other info that might help us debug this:",
        "1 lock held by syz-executor.2/4120:",
        f" #0: ffff8880{w.rng.randrange(16**8):08x} (&sb->s_umount){{++++}}-{{3:3}}, at: {w.off(c1)}",
    )
    _lockdep_tail(w, g, c1, c2, mod, checker, new)
    return "lockdep", [(title, "lockdep", g, "no")]


@template(
    "might_sleep (kernel/sched/core.c): sleeping in atomic context; the frames of the check come first"
)
def sleep_atomic(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "BUG: sleeping function called from invalid context at kernel/locking/mutex.c:580",
        "in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: 3121, name: syz-executor.5",
        "preempt_count: 1, expected: 0",
        "RCU nest depth: 0, expected: 0",
        "1 lock held by syz-executor.5/3121:",
        f" #0: ffff888012345678 (&q->lock){{+.+.}}-{{2:2}}, at: {w.off(c1)}",
        "Preemption disabled at:",
        f"[<{w.addr()}>] {w.off(c1)}",
        cpu_line(w, "6.0.0-rc2-syzkaller"),
        "Hardware name: Google Compute Engine",
        "Call Trace:",
        " <TASK>",
        f" {w.off('dump_stack_lvl')}",
        f" {w.off('__might_resched.cold')}",
        f" {w.off('__mutex_lock')}",
        f" {w.off(g)}{_mod(mod)}",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        *syscall_tail_5x(w),
    )
    return "sleep-atomic", [
        (f"BUG: sleeping function called from invalid context in {g}", "BUG", g, "no")
    ]


@template("scheduling while atomic (kernel/sched/core.c __schedule_bug)")
def sched_atomic(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "BUG: scheduling while atomic: kworker/0:1/42/0x00000002",
        f"Modules linked in: {mod}".rstrip(),
        "Preemption disabled at:",
        f"[<{w.addr()}>] {w.off(c1)}",
        cpu_line(w, "5.10.0-8-amd64", "kworker/0:1", "Tainted: G        W"),
        "Hardware name: QEMU Standard PC (i440FX + PIIX, 1996)",
        "Call Trace:",
        f" {w.off('dump_stack')}",
        f" {w.off('__schedule_bug.cold')}",
        f" {w.off('__schedule')}",
        f" {w.off('schedule')}",
        f" {w.off('schedule_timeout')}",
        f" {w.off('msleep')}",
        f" {w.off(g)}{_mod(mod)}",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        f" {w.off('process_one_work')}",
        f" {w.off('worker_thread')}",
        f" {w.off('kthread')}",
        f" {w.off('ret_from_fork')}",
    )
    return "sched-atomic", [(f"BUG: scheduling while atomic in {g}", "BUG", g, "no")]


@template(
    "a per-CPU access in preemptible code (lib/smp_processor_id.c): the `caller is` line names it"
)
def preemptible(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    op = w.rng.choice(["__this_cpu_read()", "__this_cpu_add()", "smp_processor_id()"])
    caller = g if op != "smp_processor_id()" else "debug_smp_processor_id"
    w(
        f"BUG: using {op} in preemptible [00000000] code: syz-executor.3/5531",
        f"caller is {w.off(caller)}",
        cpu_line(w, "5.16.0-rc5-syzkaller"),
        "Hardware name: Google Compute Engine",
        "Call Trace:",
        " <TASK>",
        f" {w.off('dump_stack_lvl')}",
        f" {w.off('check_preemption_disabled')}",
        *([f" {w.off('debug_smp_processor_id')}"] if caller != g else []),
        f" {w.off(g)}{_mod(mod)}",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        *syscall_tail_5x(w),
    )
    return "preemptible", [(f"BUG: using {op} in preemptible code in {g}", "BUG", g, "no")]


@template("a dentry left at unmount (fs/dcache.c umount_check): the line, then its WARNING")
def dentry(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        f"BUG: Dentry {w.addr(0xFFFF888000000000)}{{i=2f31,n=file0}}  still in use (1) [unmount of ext4 loop0]",
        "------------[ cut here ]------------",
        f"WARNING: CPU: 1 PID: 3610 at fs/dcache.c:1667 {w.off('umount_check')}",
        "Modules linked in:",
        cpu_line(w, "6.1.0-rc1-syzkaller"),
        "Hardware name: Google Compute Engine",
    )
    w(*x86_regs(w, w.off("umount_check")))
    w(
        "Call Trace:",
        " <TASK>",
        f" {w.off('d_walk')}",
        f" {w.off('shrink_dcache_for_umount')}",
        f" {w.off('generic_shutdown_super')}",
        f" {w.off('kill_block_super')}",
        f" {w.off('deactivate_locked_super')}",
        f" {w.off('cleanup_mnt')}",
        f" {w.off('task_work_run')}",
        *syscall_tail_5x(w),
    )
    return "dentry", [
        (
            "BUG: Dentry still in use in shrink_dcache_for_umount",
            "BUG",
            "shrink_dcache_for_umount",
            "no",
        )
    ]


@template("a panic (kernel/panic.c) with its own stack: the function that called panic()")
def panic_plain(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    msg = w.rng.choice(
        [
            "VFS: Unable to mount root fs on unknown-block(0,0)",
            "corrupted stack end detected inside scheduler",
            "Attempted to kill the idle task!",
            "stack-protector: Kernel stack is corrupted in: " + g,
        ]
    )
    w(
        f"Kernel panic - not syncing: {msg}",
        cpu_line(w, "5.4.0-42-generic", "swapper/0"),
        "Hardware name: QEMU Standard PC (i440FX + PIIX, 1996)",
        "Call Trace:",
        f" {w.off('dump_stack')}",
        f" {w.off('panic')}",
        f" {w.off(g)}{_mod(mod)}",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        f" {w.off('kernel_init')}",
        f" {w.off('ret_from_fork')}",
        "Kernel Offset: disabled",
        f"---[ end Kernel panic - not syncing: {msg} ]---",
    )
    norm = msg.replace("unknown-block(0,0)", "unknown-block(0,0)")
    return "panic", [(f"kernel panic: {norm}", "panic", g, "no")]


@template(
    "a panic on OOM (mm/oom_kill.c): the OOM report, then panic(); the allocation's caller is guilty"
)
def panic_oom(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    msg = w.rng.choice(
        [
            "Out of memory and no killable processes...",
            "Out of memory: system-wide panic_on_oom is enabled",
        ]
    )
    w(
        "syz-executor invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
        cpu_line(w, "5.15.0"),
        "Call Trace:",
        f" {w.off('dump_stack_lvl')}",
        f" {w.off('dump_header')}",
        f" {w.off('out_of_memory')}",
        f" {w.off('__alloc_pages_slowpath.constprop.0')}",
        f" {w.off('__alloc_pages')}",
        f" {w.off(g)}",
        "Mem-Info:",
        "active_anon:12 inactive_anon:48291 isolated_anon:0",
        "Tasks state (memory values in pages):",
        "[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name",
        "[    181]     0   181    48391    48120   401408        0             0 syz-executor",
        f"Kernel panic - not syncing: {msg}",
        cpu_line(w, "5.15.0"),
        "Call Trace:",
        f" {w.off('dump_stack_lvl')}",
        f" {w.off('panic')}",
        f" {w.off('out_of_memory.cold')}",
        f" {w.off('__alloc_pages_slowpath.constprop.0')}",
        f" {w.off('__alloc_pages')}",
        f" {w.off(g)}{_mod(mod)}",
        f" {w.off(c1)}{_mod(mod)}",
        f"---[ end Kernel panic - not syncing: {msg} ]---",
    )
    return "panic", [(f"kernel panic: {msg}", "panic", g, "no")]


@template("OOM kills, global and memcg, 3.x to 6.x wording: events, never a crash")
def oom_kill(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    era = w.rng.randrange(3)
    w(
        "stress-ng invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0",
        cpu_line(w, "6.1.0-13-amd64", "stress-ng"),
        "Hardware name: QEMU Standard PC (Q35 + ICH9, 2009)",
        "Call Trace:",
        " <TASK>",
        f" {w.off('dump_stack_lvl')}",
        f" {w.off('dump_header')}",
        f" {w.off('oom_kill_process.cold')}",
        f" {w.off('out_of_memory')}",
        f" {w.off('mem_cgroup_out_of_memory')}",
        f" {w.off('try_charge_memcg')}",
        f" {w.off('charge_memcg')}",
        f" {w.off('handle_mm_fault')}",
        f" {w.off('do_user_addr_fault')}",
        f" {w.off('exc_page_fault')}",
        f" {w.off('asm_exc_page_fault')}",
        "RIP: 0033:0x55d1c2a3b4c5",
        " </TASK>",
        "memory: usage 262144kB, limit 262144kB, failcnt 1031",
        "Memory cgroup stats for /stress:",
        "Tasks state (memory values in pages):",
    )
    if era == 0:
        w(
            "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/stress,task_memcg=/stress,task=stress-ng,pid=4410,uid=0",
            "Memory cgroup out of memory: Killed process 4410 (stress-ng) total-vm:268472kB, anon-rss:261888kB, file-rss:1204kB, shmem-rss:0kB, UID:0 pgtables:568kB oom_score_adj:0",
        )
    elif era == 1:
        w(
            "Task in /stress killed as a result of limit of /stress",
            "Memory cgroup out of memory: Kill process 4410 (stress-ng) score 998 or sacrifice child",
            "Killed process 4410 (stress-ng) total-vm:268472kB, anon-rss:261888kB, file-rss:1204kB, shmem-rss:0kB",
        )
    else:
        w(
            "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/,task=stress-ng,pid=4410,uid=0",
            "Out of memory: Killed process 4410 (stress-ng) total-vm:268472kB, anon-rss:261888kB, file-rss:1204kB, shmem-rss:0kB, UID:0 pgtables:568kB oom_score_adj:0",
            "oom_reaper: reaped process 4410 (stress-ng), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB",
        )
    return "oom-kill", []


@template("an unexpected reboot: a boot banner with no report and no orderly shutdown before it")
def reboot(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    orderly = w.rng.random() < 0.4
    banner = "Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)"
    w(
        banner,
        "Command line: console=ttyS0 root=/dev/vda",
        "x86/fpu: x87 FPU will use FXSAVE",
        "Run /init as init process",
        "EXT4-fs (vda): mounted filesystem with ordered data mode. Quota mode: none.",
        "e1000: eth0 NIC Link is Up 1000 Mbps Full Duplex",
    )
    if orderly:
        w("reboot: Restarting system")
    w.t = 0.0
    w(banner, "Command line: console=ttyS0 root=/dev/vda", "x86/fpu: x87 FPU will use FXSAVE")
    return "reboot", (
        [] if orderly else [("unexpected kernel reboot", "unexpected reboot", "-", "no")]
    )


@template(
    "32-bit arm oops (arch/arm/kernel/traps.c): PC is at, then `[<addr>] (f) from [<addr>] (caller+off/size)` with no trace header"
)
def arm_oops(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    era = w.rng.randrange(3)
    w(
        "8<--- cut here ---" if era == 2 else "",
        "Unable to handle kernel NULL pointer dereference at virtual address 00000004",
        "pgd = c6d04000",
        "[00000004] *pgd=00000000",
        "Internal error: Oops: 5 [#1] SMP ARM",
        f"Modules linked in: {mod}".rstrip(),
        cpu_line(w, ["3.18.7", "4.14.98-v7+", "6.1.0-rpi7-rpi-v7"][era]),
        "Hardware name: BCM2835",
    )
    w(*arm_regs(w, w.off(g) + _mod(mod), w.off(c1) + _mod(mod)))
    w(
        "Process syz-executor (pid: 1234, stack limit = 0xc6c3e210)",
        "Stack: (0xc6c3fe80 to 0xc6c40000)",
        "fe80: 00000000 c6c3fe9c c03f5678 c03f1234 00000000 00000000 c0a0b1c4 00000000",
    )
    chain = [g, c1, c2, "vfs_write", "ksys_write"]
    for a, b in zip(chain, chain[1:], strict=False):
        if era == 0:
            w(
                f"[<c0{w.rng.randrange(16**6):06x}>] ({w.off(a)}) from [<c0{w.rng.randrange(16**6):06x}>] ({w.off(b)})"
            )
        elif era == 1:
            w(
                f"[<c0{w.rng.randrange(16**6):06x}>] ({a}) from [<c0{w.rng.randrange(16**6):06x}>] ({w.off(b)})"
            )
        else:
            w(f" {a} from {w.off(b)}")
    w(
        "Code: e5933000 e3530000 0a000002 e5932004 (e5923004) ",
        "---[ end trace 1b2c3d4e5f6a7b8c ]---",
    )
    return "null-deref", [
        (f"BUG: kernel NULL pointer dereference in {g}", "NULL pointer dereference", g, "no")
    ]


@template(
    "32-bit arm soft lockup: PC is at, then the timer interrupt's frames down to __irq_svc and the interrupted stack"
)
def arm_soft(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "watchdog: BUG: soft lockup - CPU#0 stuck for 23s! [kworker/0:1:29]",
        f"Modules linked in: {mod}".rstrip(),
        cpu_line(w, "4.19.66-v7+", "kworker/0:1"),
        "Hardware name: BCM2835",
    )
    w(*arm_regs(w, w.off(g) + _mod(mod), w.off(c1) + _mod(mod)))
    w(cpu_line(w, "4.19.66-v7+", "kworker/0:1"), "Hardware name: BCM2835")
    chain = [
        "unwind_backtrace",
        "show_stack",
        "dump_stack",
        "watchdog_timer_fn",
        "__hrtimer_run_queues",
        "hrtimer_interrupt",
        "arch_timer_handler_virt",
        "handle_percpu_devid_irq",
        "generic_handle_irq",
        "__handle_domain_irq",
        "bcm2836_arm_irqchip_handle_irq",
        "__irq_svc",
        g,
        c1,
        c2,
        "process_one_work",
        "worker_thread",
        "kthread",
        "ret_from_fork",
    ]
    for a, b in zip(chain, chain[1:], strict=False):
        w(
            f"[<80{w.rng.randrange(16**6):06x}>] ({a}) from [<80{w.rng.randrange(16**6):06x}>] ({w.off(b)})"
        )
        if a == "bcm2836_arm_irqchip_handle_irq":
            w(
                "Exception stack(0xb9c5bd60 to 0xb9c5bda8)",
                "bd60: 00000001 00000000 00000000 00000000 b9c5a000 00000000",
            )
    return "soft-lockup", [(f"BUG: soft lockup in {g}", "soft lockup", g, "no")]


@template(
    "32-bit arm `Unhandled fault:` (arch/arm/mm/fault.c) in kernel mode: `Internal error: : FSR` follows"
)
def arm_unhandled(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "8<--- cut here ---",
        "Unhandled fault: imprecise external abort (0x1406) at 0x00000000",
        "pgd = 8d2c8000",
        "[00000000] *pgd=0d2a4835, *pte=00000000, *ppte=00000000",
        "Internal error: : 1406 [#1] SMP ARM",
        f"Modules linked in: {mod}".rstrip(),
        cpu_line(w, "5.4.83-v7l+"),
        "Hardware name: BCM2711",
    )
    w(*arm_regs(w, w.off(g) + _mod(mod), w.off(c1) + _mod(mod)))
    chain = [g, c1, c2, "ret_fast_syscall"]
    for a, b in zip(chain, chain[1:], strict=False):
        w(
            f"[<c0{w.rng.randrange(16**6):06x}>] ({a}) from [<c0{w.rng.randrange(16**6):06x}>] ({w.off(b)})"
        )
    w(
        "Code: e5933000 e3530000 0a000002 e5932004 (e5923004) ",
        "---[ end trace 9a8b7c6d5e4f3a2b ]---",
    )
    return "unhandled-fault", [
        (f"Unhandled fault: imprecise external abort in {g}", "oops", g, "no")
    ]


@template(
    "32-bit arm `Internal error: Oops - undefined instruction` on its own (a BUG() on old arm)"
)
def arm_undef(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "Internal error: Oops - undefined instruction: 0 [#1] PREEMPT SMP ARM",
        f"Modules linked in: {mod}".rstrip(),
        cpu_line(w, "4.9.59"),
        "Hardware name: Freescale i.MX6 Quad/DualLite (Device Tree)",
    )
    w(*arm_regs(w, w.off(g) + _mod(mod), w.off(c1) + _mod(mod)))
    chain = [g, c1, c2, "platform_drv_probe"]
    for a, b in zip(chain, chain[1:], strict=False):
        w(
            f"[<c0{w.rng.randrange(16**6):06x}>] ({a}) from [<c0{w.rng.randrange(16**6):06x}>] ({w.off(b)})"
        )
    w(
        "Code: e3a00000 e8bd8070 e7f001f2 e3a03000 (e7f001f2) ",
        "---[ end trace 3e4d5c6b7a8f9e0d ]---",
    )
    return "oops", [(f"Oops - undefined instruction in {g}", "oops", g, "no")]


@template(
    "arm64 5.x+ oops (arch/arm64/mm/fault.c, kernel/traps.c): Mem abort info, pc : and Call trace:"
)
def arm64_oops(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    null = w.rng.random() < 0.5
    addr = "0000000000000008" if null else w.addr(0xFFFF000000000000)
    w(
        f"Unable to handle kernel {'NULL pointer dereference' if null else 'paging request'} at virtual address {addr}",
        "Mem abort info:",
        "  ESR = 0x0000000096000006",
        "  EC = 0x25: DABT (current EL), IL = 32 bits",
        "  SET = 0, FnV = 0",
        "  EA = 0, S1PTW = 0",
        "Data abort info:",
        "  ISV = 0, ISS = 0x00000006",
        "user pgtable: 4k pages, 48-bit VAs, pgdp=0000000041b2c000",
        f"[{addr}] pgd=0000000000000000, p4d=0000000000000000",
        "Internal error: Oops: 0000000096000006 [#1] PREEMPT SMP",
        f"Modules linked in: {mod}".rstrip(),
        cpu_line(w, "6.1.0-18-arm64"),
        "Hardware name: linux,dummy-virt (DT)",
    )
    w(*arm64_regs(w, w.off(g) + _mod(mod), w.off(c1) + _mod(mod)))
    w(
        "Call trace:",
        f" {w.off(g)}{_mod(mod)}",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        f" {w.off('vfs_write')}",
        f" {w.off('ksys_write')}",
        f" {w.off('__arm64_sys_write')}",
        f" {w.off('invoke_syscall')}",
        f" {w.off('el0_svc_common.constprop.0')}",
        f" {w.off('do_el0_svc')}",
        f" {w.off('el0_svc')}",
        f" {w.off('el0t_64_sync_handler')}",
        f" {w.off('el0t_64_sync')}",
        "Code: f9400661 b4000041 f9400421 (f9400420) ",
        "---[ end trace 0000000000000000 ]---",
    )
    if null:
        return "null-deref", [
            (f"BUG: kernel NULL pointer dereference in {g}", "NULL pointer dereference", g, "no")
        ]
    return "page-fault", [(f"BUG: unable to handle page fault in {g}", "page fault", g, "no")]


@template(
    "arm64 4.x oops: PC is at / LR is at, [<addr>] frames and Exception stack dumps inside the Call trace:"
)
def arm64_oops_4x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "Unable to handle kernel paging request at virtual address dead000000000108",
        "pgd = ffff80003a2b1000",
        "[dead000000000108] *pgd=0000000000000000",
        "Internal error: Oops: 96000044 [#1] PREEMPT SMP",
        f"Modules linked in: {mod}".rstrip(),
        cpu_line(w, "4.4.194+"),
        "Hardware name: Firefly-RK3399 Board (Linux Opensource) (DT)",
        "task: ffffffc0cdc44380 task.stack: ffffffc00a4fc000",
        f"PC is at {w.off(g)}{_mod(mod)}",
        f"LR is at {w.off(c1)}{_mod(mod)}",
        f"pc : [<{w.addr(0xFFFFFF8000000000)}>] lr : [<{w.addr(0xFFFFFF8000000000)}>] pstate: 80000145",
        "sp : ffffffc00a4ffc40",
        "x29: ffffffc00a4ffc40 x28: ffffff80081376d0",
        "x1 : 0000000019760817 x0 : 0000000000000000",
        "",
        "Process kworker/2:1 (pid: 812, stack limit = 0xffffffc00a4fc020)",
        "Call trace:",
        "Exception stack(0xffffffc00a4ffa70 to 0xffffffc00a4ffba0)",
        "fa60:                                   0000000000000000 0000008000000000",
        f"[<{w.addr(0xFFFFFF8000000000)}>] {w.off(g)}{_mod(mod)}",
        f"[<{w.addr(0xFFFFFF8000000000)}>] {w.off(c1)}{_mod(mod)}",
        f"[<{w.addr(0xFFFFFF8000000000)}>] {w.off(c2)}{_mod(mod)}",
        f"[<{w.addr(0xFFFFFF8000000000)}>] {w.off('process_one_work')}",
        f"[<{w.addr(0xFFFFFF8000000000)}>] {w.off('worker_thread')}",
        f"[<{w.addr(0xFFFFFF8000000000)}>] {w.off('kthread')}",
        f"[<{w.addr(0xFFFFFF8000000000)}>] {w.off('ret_from_fork')}",
        "Code: f9000422 f9400262 f9000440 d2802100 (f9000660) ",
        "---[ end trace 6e2f1a0b9c8d7e6f ]---",
    )
    return "page-fault", [(f"BUG: unable to handle page fault in {g}", "page fault", g, "no")]


@template(
    "arm64 5.x+ WARN() and BUG(): pc : names the function, `Internal error: Oops - BUG` follows kernel BUG at"
)
def arm64_warn_bug(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, file = c
    bug = w.rng.random() < 0.5
    if bug:
        w(
            "------------[ cut here ]------------",
            f"kernel BUG at {file}:{w.rng.randrange(50, 3000)}!",
            "Internal error: Oops - BUG: 00000000f2000800 [#1] PREEMPT SMP",
        )
    else:
        w(
            "------------[ cut here ]------------",
            f"WARNING: CPU: 3 PID: 2210 at {file}:{w.rng.randrange(50, 3000)} {w.off(g)}{_mod(mod)}",
        )
    w(
        f"Modules linked in: {mod}".rstrip(),
        cpu_line(w, "6.6.15-arm64"),
        "Hardware name: Raspberry Pi 4 Model B Rev 1.4 (DT)",
    )
    w(*arm64_regs(w, w.off(g) + _mod(mod), w.off(c1) + _mod(mod)))
    w(
        "Call trace:",
        f" {w.off(g)}{_mod(mod)}",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        f" {w.off('process_one_work')}",
        f" {w.off('worker_thread')}",
        f" {w.off('kthread')}",
        f" {w.off('ret_from_fork')}",
    )
    if bug:
        w(
            "Code: 97fff1e8 f9400a60 b4000040 d4210000 (d4210000) ",
            "---[ end trace 0000000000000000 ]---",
        )
        return "kernel-bug", [(f"kernel BUG in {g}", "BUG", g, "no")]
    w("---[ end trace 0000000000000000 ]---")
    return "warning", [(f"WARNING in {g}", "WARNING", g, "no")]


@template(
    "arm64 RCU self-detected stall: the timer interrupt's frames down to el1h_64_irq, then the interrupted stack"
)
def arm64_rcu(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "rcu: INFO: rcu_sched self-detected stall on CPU",
        "rcu: \t1-....: (5249 ticks this GP) idle=8e2/1/0x4000000000000002 softirq=4412/4412 fqs=2609",
        "\t(t=5250 jiffies g=9109 q=401)",
        "Task dump for CPU 1:",
        "task:kworker/1:2 state:R  running task     stack:    0 pid:  221 ppid:     2 flags:0x0000000a",
        "Call trace:",
        f" {w.off('dump_backtrace')}",
        f" {w.off('show_stack')}",
        f" {w.off('sched_show_task')}",
        f" {w.off('dump_cpu_task')}",
        f" {w.off('rcu_dump_cpu_stacks')}",
        f" {w.off('rcu_sched_clock_irq')}",
        f" {w.off('update_process_times')}",
        f" {w.off('tick_sched_handle')}",
        f" {w.off('tick_sched_timer')}",
        f" {w.off('__hrtimer_run_queues')}",
        f" {w.off('hrtimer_interrupt')}",
        f" {w.off('arch_timer_handler_phys')}",
        f" {w.off('handle_percpu_devid_irq')}",
        f" {w.off('generic_handle_domain_irq')}",
        f" {w.off('gic_handle_irq')}",
        f" {w.off('call_on_irq_stack')}",
        f" {w.off('do_interrupt_handler')}",
        f" {w.off('el1_interrupt')}",
        f" {w.off('el1h_64_irq_handler')}",
        f" {w.off('el1h_64_irq')}",
        f" {w.off(g)}{_mod(mod)}",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        f" {w.off('process_one_work')}",
        f" {w.off('worker_thread')}",
        f" {w.off('kthread')}",
        f" {w.off('ret_from_fork')}",
    )
    return "rcu-stall", [(f"INFO: rcu detected stall in {g}", "RCU stall", g, "no")]


@template("arm64 hung task: __switch_to and the scheduler first, then the waiter")
def arm64_hung(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "INFO: task kworker/u8:1:87 blocked for more than 120 seconds.",
        "      Not tainted 5.10.110 #1",
        '"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.',
        "task:kworker/u8:1    state:D stack:    0 pid:   87 ppid:     2 flags:0x00000028",
        "Call trace:",
        f" {w.off('__switch_to')}",
        f" {w.off('__schedule')}",
        f" {w.off('schedule')}",
        f" {w.off('schedule_timeout')}",
        f" {w.off('wait_for_completion_timeout')}",
        f" {w.off(g)}{_mod(mod)}",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        f" {w.off('process_one_work')}",
        f" {w.off('worker_thread')}",
        f" {w.off('kthread')}",
        f" {w.off('ret_from_fork')}",
    )
    return "hung-task", [(f"INFO: task hung in {g}", "hung task", g, "no")]


@template(
    "riscv64 oops (arch/riscv/kernel/traps.c die(), process.c __show_regs): epc : / ra : and the trace under status:"
)
def riscv_oops(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    null = w.rng.random() < 0.6
    w(
        f"Unable to handle kernel {'NULL pointer dereference' if null else 'paging request'} at virtual address {'0000000000000000' if null else 'dead000000000122'}",
        "Oops [#1]",
        f"Modules linked in: {mod}".rstrip(),
        cpu_line(w, "6.1.0-18-riscv64", "sh"),
        "Hardware name: riscv-virtio,qemu (DT)",
    )
    w(*riscv_regs(w, w.off(g) + _mod(mod), w.off(c1) + _mod(mod), "000000000000000f"))
    for f in (g, c1, c2, "vfs_write", "ksys_write", "sys_write"):
        w(f"[<{w.addr(0xFFFFFFFF80000000)}>] {w.off(f)}{_mod(mod) if f in (g, c1, c2) else ''}")
    w(
        f"[<{w.addr(0xFFFFFFFF80000000)}>] ret_from_syscall+0x0/0x2",
        "Code: 8793 0007 6398 0007 4785 c31c 60a2 6402 (c11c) 0141",
        "---[ end trace 0000000000000000 ]---",
    )
    if null:
        return "null-deref", [
            (f"BUG: kernel NULL pointer dereference in {g}", "NULL pointer dereference", g, "no")
        ]
    return "page-fault", [(f"BUG: unable to handle page fault in {g}", "page fault", g, "no")]


@template(
    "riscv64 WARN() and BUG(): `Kernel BUG [#1]` follows kernel BUG at; the trace under status:"
)
def riscv_warn_bug(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, file = c
    bug = w.rng.random() < 0.5
    w("------------[ cut here ]------------")
    if bug:
        w(f"kernel BUG at {file}:{w.rng.randrange(50, 3000)}!", "Kernel BUG [#1]")
    else:
        w(f"WARNING: CPU: 0 PID: 98 at {file}:{w.rng.randrange(50, 3000)} {w.off(g)}{_mod(mod)}")
    w(
        f"Modules linked in: {mod}".rstrip(),
        cpu_line(w, "6.6.0-rc1", "sh"),
        "Hardware name: riscv-virtio,qemu (DT)",
    )
    w(*riscv_regs(w, w.off(g) + _mod(mod), w.off(c1) + _mod(mod), "0000000000000003"))
    for f in (g, c1, c2, "proc_reg_write", "vfs_write", "ksys_write"):
        w(f"[<{w.addr(0xFFFFFFFF80000000)}>] {w.off(f)}{_mod(mod) if f in (g, c1, c2) else ''}")
    w("---[ end trace 0000000000000000 ]---")
    if bug:
        return "kernel-bug", [(f"kernel BUG in {g}", "BUG", g, "no")]
    return "warning", [(f"WARNING in {g}", "WARNING", g, "no")]


@template(
    "riscv64 soft lockup and hung task: the interrupted epc, or `Call Trace:` from show_stack"
)
def riscv_lockups(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    if w.rng.random() < 0.5:
        w(
            "watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [sh:98]",
            f"Modules linked in: {mod}".rstrip(),
            cpu_line(w, "6.1.0-18-riscv64", "sh"),
            "Hardware name: riscv-virtio,qemu (DT)",
        )
        w(*riscv_regs(w, w.off(g) + _mod(mod), w.off(c1) + _mod(mod), "8000000000000005"))
        for f in (g, c1, c2, "vfs_write", "ksys_write", "sys_write", "ret_from_syscall"):
            w(f"[<{w.addr(0xFFFFFFFF80000000)}>] {w.off(f)}{_mod(mod) if f in (g, c1, c2) else ''}")
        return "soft-lockup", [(f"BUG: soft lockup in {g}", "soft lockup", g, "no")]
    w(
        "INFO: task sh:98 blocked for more than 120 seconds.",
        "      Not tainted 6.1.0-18-riscv64 #1",
        '"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.',
        "task:sh              state:D stack:0     pid:98    ppid:1      flags:0x00000000",
        "Call Trace:",
    )
    for f in (
        "__schedule",
        "schedule",
        "schedule_timeout",
        g,
        c1,
        c2,
        "vfs_write",
        "ksys_write",
        "sys_write",
        "ret_from_syscall",
    ):
        w(f"[<{w.addr(0xFFFFFFFF80000000)}>] {w.off(f)}{_mod(mod) if f in (g, c1, c2) else ''}")
    return "hung-task", [(f"INFO: task hung in {g}", "hung task", g, "no")]


@template(
    "a report cut off by the end of the capture before its trace: corrupted, titled without a frame"
)
def truncated(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, file = c
    w(
        "------------[ cut here ]------------",
        f"kernel BUG at {file}:{w.rng.randrange(50, 3000)}!",
        "invalid opcode: 0000 [#1] PREEMPT SMP NOPTI",
        cpu_line(w, "6.1.0-18-amd64"),
        "Hardware name: QEMU Standard PC (Q35 + ICH9, 2009)",
    )
    return "kernel-bug", [(f"kernel BUG at {file} (corrupted)", "BUG", "-", "yes")]


@template(
    "a normal boot and shell session: words like BUG, WARNING and oom in ordinary messages, no crash"
)
def no_crash(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0) #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1",
        "x86/cpu: SGX disabled by BIOS.",
        "ACPI BIOS Error (bug): Could not resolve symbol [\\_SB.PCI0.GPP0], AE_NOT_FOUND (20220331/dswload2-162)",
        "ACPI Error: AE_NOT_FOUND, During name lookup/catalog (20220331/psobject-220)",
        "usb 1-1: device descriptor read/64, error -71",
        "ata1: SATA link down (SStatus 0 SControl 300)",
        "EXT4-fs (vda): warning: mounting fs with errors, running e2fsck is recommended",
        "systemd[1]: systemd-oomd.service: Deactivated successfully.",
        'audit: type=1400 audit(1700000000.123:42): apparmor="STATUS"',
        f"{mod or 'e1000'}: module verification failed: signature and/or required key missing - tainting kernel",
        "perf: interrupt took too long (2503 > 2500), lowering kernel.perf_event_max_sample_rate to 79750",
        "hrtimer: interrupt took 4120391 ns",
        "clocksource: timekeeping watchdog on CPU1: Marking clocksource 'tsc' as unstable because the skew is too large:",
    )
    return "none", []


@template(
    "KMSAN (mm/kmsan/report.c): the use's stack right under the header, then where the value was created"
)
def kmsan(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "=====================================================",
        f"BUG: KMSAN: uninit-value in {w.off(g)}{_mod(mod)}",
        f" {w.off(g)}{_mod(mod)}",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        f" {w.off('__sys_sendmsg')}",
        " do_syscall_64+0x3d/0xb0",
        " entry_SYSCALL_64_after_hwframe+0x63/0xcd",
        "",
        "Uninit was created at:",
        f" {w.off('slab_post_alloc_hook')}",
        f" {w.off('__kmalloc_node_track_caller')}",
        f" {w.off('__alloc_skb')}",
        "",
        cpu_line(w, "6.2.0-rc3-syzkaller"),
        "Hardware name: Google Compute Engine",
        "=====================================================",
    )
    return "kmsan", [(f"KMSAN: uninit-value in {g}", "KASAN", g, "no")]


@template(
    "KFENCE (mm/kfence/report.c): the stack under `Use-after-free read at ... (in kfence-#N):`"
)
def kfence(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "==================================================================",
        f"BUG: KFENCE: use-after-free read in {w.off(g)}{_mod(mod)}",
        "",
        f"Use-after-free read at 0x{w.addr(0xFFFF888000000000)} (in kfence-#42):",
        f" {w.off(g)}{_mod(mod)}",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        f" {w.off('process_one_work')}",
        f" {w.off('worker_thread')}",
        f" {w.off('kthread')}",
        f" {w.off('ret_from_fork')}",
        "",
        f"kfence-#42: 0x{w.addr(0xFFFF888000000000)}-0x{w.addr(0xFFFF888000000000)}, size=64, cache=kmalloc-64",
        "",
        "allocated by task 1 on cpu 0 at 12.345678s:",
        f" {w.off('__kmalloc')}",
        f" {w.off('alloc_site_helper')}",
        "",
        cpu_line(w, "5.15.0-rc5"),
        "Hardware name: QEMU Standard PC (Q35 + ICH9, 2009)",
        "==================================================================",
    )
    return "kfence", [(f"KFENCE: use-after-free read in {g}", "KASAN", g, "no")]


@template("KCSAN (kernel/kcsan/report.c): a data race names both functions on its header")
def kcsan(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "==================================================================",
        f"BUG: KCSAN: data-race in {g} / {c1}",
        "",
        f"write to 0x{w.addr(0xFFFF888000000000)} of 8 bytes by task 3120 on cpu 1:",
        f" {g}+0x1c/0x90",
        f" {c2}+0x40/0x120",
        "",
        f"read to 0x{w.addr(0xFFFF888000000000)} of 8 bytes by task 3121 on cpu 0:",
        f" {c1}+0x22/0x60",
        "",
        "value changed: 0x0000000000000000 -> 0x0000000000000001",
        "",
        "Reported by Kernel Concurrency Sanitizer on:",
        cpu_line(w, "5.17.0-rc1-syzkaller"),
        "==================================================================",
    )
    return "kcsan", [(f"KCSAN: data-race in {g} / {c1}", "KASAN", g, "no")]


@template(
    "ODEBUG (lib/debugobjects.c): the object-debugging message, then WARN() in debug_print_object"
)
def odebug(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "------------[ cut here ]------------",
        f"ODEBUG: free active (active state 0) object type: timer_list hint: {w.off(c2)}",
        f"WARNING: CPU: 0 PID: 4012 at lib/debugobjects.c:505 {w.off('debug_print_object')}",
        "Modules linked in:",
        cpu_line(w, "5.18.0-rc4-syzkaller"),
        "Hardware name: Google Compute Engine",
    )
    w(*x86_regs(w, w.off("debug_print_object")))
    w(
        "Call Trace:",
        " <TASK>",
        f" {w.off('debug_check_no_obj_freed')}",
        f" {w.off('slab_free_freelist_hook')}",
        f" {w.off('kfree')}",
        f" {w.off(g)}{_mod(mod)}",
        f" {w.off(c1)}{_mod(mod)}",
        *syscall_tail_5x(w),
    )
    return "odebug", [(f"WARNING: ODEBUG bug in {g}", "WARNING", g, "no")]


@template("a workqueue lockup (kernel/workqueue.c): the pools are listed, no call trace is printed")
def wq_lockup(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "BUG: workqueue lockup - pool cpus=0 node=0 flags=0x0 nice=0 stuck for 34s!",
        "Showing busy workqueues and worker pools:",
        "workqueue events: flags=0x0",
        "  pwq 0: cpus=0 node=0 flags=0x0 nice=0 active=2/256 refcnt=3",
        f"    in-flight: 512:{g}",
        f"    pending: {c1}, vmstat_shepherd",
        "pool 0: cpus=0 node=0 flags=0x0 nice=0 hung=34s workers=3 idle: 7 48",
    )
    return "workqueue-lockup", [("BUG: workqueue lockup", "hung task", "-", "no")]


@template(
    "the hung-task detector's `can't die` (a killed task stuck in the kernel) and a netdev that never frees"
)
def cant_die(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    if w.rng.random() < 0.5:
        w("unregister_netdevice: waiting for lo to become free. Usage count = 2")
        w("unregister_netdevice: waiting for lo to become free. Usage count = 2")
        return "netdev-unregister", [
            ("unregister_netdevice: waiting for lo to become free", "hung task", "-", "no")
        ]
    w(
        "INFO: task syz-executor.1:8123 can't die for more than 143 seconds.",
        "task:syz-executor.1 state:D stack:26840 pid: 8123 ppid:  3612 flags:0x00004006",
        "Call Trace:",
        " <TASK>",
        f" {w.off('__schedule')}",
        f" {w.off('schedule')}",
        f" {w.off('schedule_timeout')}",
        f" {w.off('__wait_for_common')}",
        f" {w.off(g)}{_mod(mod)}",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        f" {w.off('do_exit')}",
        f" {w.off('do_group_exit')}",
        f" {w.off('get_signal')}",
        *syscall_tail_5x(w),
    )
    return "hung-task", [(f"INFO: task hung in {g}", "hung task", g, "no")]


@template("refcount_t: increment on 0 (4.x lib/refcount.c), the message after its WARNING line")
def refcount_4x(w: Writer, c: tuple[str, str, str, str, str]) -> tuple[str, list[Expect]]:
    g, c1, c2, mod, _ = c
    w(
        "------------[ cut here ]------------",
        f"WARNING: CPU: 1 PID: 4012 at lib/refcount.c:153 {w.off('refcount_inc')}",
        "refcount_t: increment on 0; use-after-free.",
        "Kernel panic - not syncing: panic_on_warn set ...",
        cpu_line(w, "4.16.0-rc7+"),
        "Hardware name: Google Compute Engine",
        "Call Trace:",
        f" {w.off('dump_stack')}",
        f" {w.off('panic')}",
        f" {w.off('__warn')}",
        f" {w.off('report_bug')}",
        f" {w.off('fixup_bug')}",
        f" {w.off('do_error_trap')}",
        f" {w.off('invalid_op')}",
        f" {w.off('refcount_inc')}",
        f" {w.off(g)}{_mod(mod)}",
        f" {w.off(c1)}{_mod(mod)}",
        f" {w.off(c2)}{_mod(mod)}",
        " entry_SYSCALL_64_after_hwframe+0x42/0xb7",
        "Kernel Offset: disabled",
        "Rebooting in 86400 seconds..",
    )
    return "refcount", [(f"WARNING: refcount bug in {g}", "WARNING", g, "no")]


def write_all() -> int:
    n = FIRST
    for p in OUT.glob("*"):
        if p.name.isdigit() and int(p.name) >= FIRST:
            p.unlink()
    for t_index, (describe, fn) in enumerate(TEMPLATES):
        for variant in range(3):
            rng = random.Random(t_index * 1000 + variant)
            style = (
                ("printk", "none", "syslog")[variant]
                if variant < 2 or t_index % 3 == 0
                else "printk"
            )
            if fn in (reboot,):
                style = "printk"
            chain = CHAINS[(t_index * 7 + variant * 11) % len(CHAINS)]
            w = Writer(rng, style)
            _kind, expected = fn(w, chain)
            head = [f"# written from the kernel's printing code: {describe}", f"# prefix: {style}"]
            for title, type_, frame, corrupted in expected:
                head += [
                    f"TITLE: {title}",
                    f"TYPE: {type_}",
                    f"FRAME: {frame}",
                    f"CORRUPTED: {corrupted}",
                ]
            (OUT / str(n)).write_text("\n".join(head) + "\n\n" + w.text(), encoding="utf-8")
            n += 1
    return n - FIRST


if __name__ == "__main__":
    print(f"{write_all()} fixtures written")
