"""How Linux prints where it was, as data: the faulting-instruction lines and the call-trace
lines of every era and architecture side by side, and the frames that are never the guilty one.
"""

from __future__ import annotations

import re

from sis.harness.forensics.reporters.base import AnyOf, compile_all

FN = r"[A-Za-z0-9_.$]+"
_SYM = rf"(?P<func>{FN})\+0x(?P<off>[0-9a-f]+)(?:/0x(?P<size>[0-9a-f]+))?"
_MOD = r"(?:\s+\[(?P<mod>[\w-]+)\])?"

#: The faulting instruction (or the interrupted one), one pattern per format.
IP_LINES = AnyOf(
    [
        # x86_64 5.x+: `RIP: 0010:func+0x12/0x34 [mod]`; decoded: `RIP: 0010:func (fs/x.c:12)`
        rf"^RIP: [0-9a-f]{{4}}:{_SYM}{_MOD}",
        rf"^RIP: [0-9a-f]{{4}}:(?P<func>{FN}) \([\w./-]+:\d+",
        # x86_64 4.x: `RIP: 0010:[<ffffffff83408ca0>]  [<ffffffff83408ca0>] func+0x190/0x290`
        rf"^RIP: [0-9a-f]{{4}}:\[<(?P<addr>[0-9a-f]+)>\]\s+\[<[0-9a-f]+>\] {_SYM}{_MOD}",
        # x86 3.x-4.x page faults: `IP: [<ffffffffa01b2c3d>] func+0x3d/0x1f0 [ext4]`; 4.15-4.19
        # `IP: func+0x3d/0x1f0`; 3.x's closing `RIP  [<ffffffff81234567>] func+0x../0x..`
        rf"^(?:IP|RIP|EIP):?\s+(?:\[<(?P<addr>[0-9a-f]+)>\]\s*)?{_SYM}{_MOD}",
        # i386: `EIP is at func+0x12/0x34`
        rf"^EIP is at {_SYM}{_MOD}",
        # arm, arm64 4.x: `PC is at func+0x1c/0x40 [mod]`
        rf"^PC is at {_SYM}{_MOD}",
        # arm64 4.14+: `pc : func+0x1c/0x40 [mod]`
        rf"^pc : {_SYM}{_MOD}",
        # riscv64: `epc : func+0x1a/0x3c [mod]` (then a line of raw `epc : ADDR ra : ADDR`)
        rf"^epc : {_SYM}{_MOD}",
    ]
)
#: The caller, where an architecture prints it: used only when a report has no call trace.
LINK_LINES = AnyOf(
    [
        rf"^LR is at {_SYM}{_MOD}",  # arm, arm64 4.x
        rf"^lr : {_SYM}{_MOD}",  # arm64 4.14+
        rf"^ra : {_SYM}{_MOD}",  # riscv64 (printed as ` ra : `)
    ]
)

#: Lines that open a call trace.
TRACE_START = re.compile(
    r"^(?:Call Trace|Call trace|Backtrace|backtrace(?: \(crc [0-9a-f]+\))?):?\s*$"
    # KFENCE: the stack of the bad access, under its own line
    r"|^(?:Use-after-free|Out-of-bounds|Invalid|Corrupted memory) .* \(in kfence-#\d+\):$"
    # riscv64's oops prints the trace right after the status line, with no header
    r"|^status: [0-9a-f]+ badaddr: [0-9a-f]+ cause: [0-9a-f]+$"
)
#: x86 stack markers: which stack a run of frames was on.
MARKER = re.compile(r"^<(?P<tag>/?(?:TASK|IRQ|NMI|SOFTIRQ|EOI|#DF|DB|MCE|VC))>\s*")
IRQ_END = frozenset({"/IRQ", "/NMI", "EOI", "/SOFTIRQ"})
#: Lines a trace may hold besides frames: registers of an interrupted context, code bytes,
#: arm/arm64 4.x exception stack dumps.
TRACE_FILLER = re.compile(
    r"^(?:RIP|RSP|RAX|RDX|RBP|R1[0-5]|R[89]|FS|CS|CR[0-4]|DR[0-7]|Code|EFLAGS|ORIG_RAX)\s?:"
    r"|^(?:Exception stack|Stack)\(|^[0-9a-f]{3,4}: [0-9a-f ]+$|^\.\.\. \d+ more|^\[ end trace"
)
#: Frame lines, one pattern per format.
FRAME_LINES = AnyOf(
    [
        # x86, arm64, riscv64, every era: `[<ffffffff8108c3a1>] ? func+0x81/0xa0 [mod]`,
        # 4.x+ without the address, syzbot's symbolized `func+0x1/0x2 net/x.c:12`.
        rf"^(?:\[<(?P<addr>[0-9a-f]+)>\]\s*)?(?P<q>\?\s+)?(?:{_SYM}|0x(?P<bare>[0-9a-f]+))"
        rf"{_MOD}(?:\s+[\w./-]+:\d+(?: \[inline\])?)?(?:\s+\([PL]\))?\s*$",
        # syzbot's inlined frames: `__dump_stack lib/dump_stack.c:77 [inline]`
        rf"^(?P<func>{FN}) [\w./-]+:\d+ \[inline\]$",
        # scripts/decode_stacktrace.sh: `? func (fs/x.c:12 (inlined by) fs/x.c:40) [mod]`
        rf"^(?P<q>\?\s+)?(?P<func>{FN}) \((?:\./)?[\w./-]+:\d+",
    ]
)
#: 32-bit arm: `[<c03f1234>] (func+0x1c/0x40) from [<...>] (caller+0x24/0x50)` (3.x),
#: `[<bf00a248>] (func [mod]) from ...` (a module's function, 4.x),
#: `[<c03f1234>] (func) from [<...>] (caller+0x24/0x50)` (4.x), ` func from caller+0x24/0x50`
#: (5.19+). The line names the frame and its caller; the next line names the caller again.
ARM_FROM = AnyOf(
    [
        rf"^\[<(?P<addr>[0-9a-f]+)>\] \((?P<func>{FN})(?:\+0x(?P<off>[0-9a-f]+)/0x(?P<size>[0-9a-f]+))?"
        rf"(?: \[(?P<mod>[\w-]+)\])?\)(?: from \[<[0-9a-f]+>\] \((?P<caller>{FN})?[^)]*\))?$",
        rf"^(?P<func>{FN}) from (?P<caller>{FN})\+0x[0-9a-f]+/0x[0-9a-f]+{_MOD}$",
    ]
)
#: The preemption checks print the function that made the check.
CALLER_LINE = AnyOf([rf"^caller is {_SYM}{_MOD}", rf"^caller is (?P<func>{FN}) \([\w./-]+:\d+"])
#: After these lines of a sanitizer report, frames are the allocation's or the free's stack.
OTHER_STACKS = re.compile(
    r"^(?:Allocated by task|Freed by task|Last potentially related work creation|Second to last"
    r"|The buggy address|Memory state around|Uninit was (?:created|stored)|Local variable"
    r"|Bytes \d+-\d+ of|kfence-#\d+|allocated by task|freed by task|INFO: (?:Allocated|Freed) in)"
)

#: Frames that put the reporter itself on the stack: the stack of interest of an interrupt-time
#: detector starts after the last of them.
REPORTING = compile_all(
    [
        r"_*dump_stack.*|show_stack|show_regs|__show_regs|show_trace_log_lvl|dump_backtrace",
        r"nmi_cpu_backtrace.*|nmi_trigger_cpumask_backtrace|arch_trigger_cpumask_backtrace",
        r"trigger_.*backtrace|rcu_dump_cpu_stacks|print_cpu_stall.*|print_other_cpu_stall.*",
        r"check_cpu_stall|rcu_pending|rcu_sched_clock_irq|rcu_check_callbacks|sched_show_task",
        r"dump_cpu_task|watchdog_timer_fn|watchdog_overflow_callback|watchdog_hardlockup_check",
        r"__perf_event_overflow|perf_event_nmi_handler|nmi_handle|default_do_nmi|do_nmi|exc_nmi",
    ]
)
#: Where an interrupt entered: the interrupted context is below it.
INTERRUPT_ENTRY = compile_all(
    [
        r"apic_timer_interrupt|asm_sysvec_.*|asm_common_interrupt|common_interrupt|ret_from_intr",
        r"el1h?_64_irq|el1_irq|el1_interrupt|__irq_svc|handle_exception|nmi|end_repeat_nmi",
    ]
)

#: Frames that are never the guilty one, whatever the kind of report: they are on the stack of
#: every report of some kind, so they name the machinery, not the bug. One entry per family.
SKIP = compile_all(
    [
        # The report itself: dumping the stack and registers, printk.
        r"_*dump_stack.*|dump_backtrace.*|show_stack.*|show_regs|__show_regs|show_trace.*",
        r"print_ip_sym|print_context_stack.*|dump_trace|walk_stackframe|unwind_.*|__unwind_.*",
        r"arch_stack_walk|stack_trace_save.*|save_stack.*|stack_depot_.*|__stack_depot.*",
        r"_*printk|vprintk.*|_*warn_printk|console_.*|dev_printk|_*dev_(?:err|warn|info)",
        # Warning, BUG, oops and panic plumbing.
        r"panic|vpanic|nmi_panic|__warn|warn_slowpath.*|report_bug|handle_bug|__bug|bug_handler|fixup_bug",
        r"die|__die.*|die_kernel_fault|arm64_notify_die|arm_notify_die|notify_die|oops_.*",
        r"page_fault_oops|kernelmode_fixup_or_oops|no_context|__do_kernel_fault|fixup_exception",
        r"bust_spinlocks|crash_kexec|__crash_kexec|rewind_stack_.*|make_task_dead",
        # Lockup, stall and hung-task detectors and the NMI backtrace that prints for them.
        r"nmi_cpu_backtrace.*|nmi_trigger_cpumask_backtrace|arch_trigger_cpumask_backtrace",
        r"trigger_.*backtrace|sched_show_task|dump_cpu_task|show_state_filter|check_hung_.*",
        r"watchdog.*|hung_task.*|print_cpu_stall.*|print_other_cpu_stall.*|check_cpu_stall",
        r"nmi_handle|default_do_nmi|do_nmi|exc_nmi|asm_exc_nmi|perf_event_nmi_handler",
        r"__perf_event_overflow|perf_event_overflow|x86_pmu_handle_irq|intel_pmu_handle_irq",
        # Sanitizers and their runtime: KASAN, KMSAN, KCSAN, UBSAN, KFENCE, kcov, usercopy.
        r"_*kasan_.*|kasan_.*|check_memory_region.*|__asan_.*|asan_.*|_*kmsan_.*|__msan_.*",
        r"kcsan_.*|__tsan_.*|_*ubsan_.*|ubsan_.*|handle_overflow|handle_null_ptr_deref",
        r"val_to_string|kfence_.*|__kfence_.*|__sanitizer_cov_.*|write_comp_data",
        r"print_address_description.*|describe_object.*|print_report|start_report|end_report",
        r"print_memory_metadata|print_shadow_for_address|set_track.*|print_track|print_trailer",
        r"object_err|slab_err|check_bytes_and_report|check_object|check_slab|on_freelist",
        r"free_debug_processing|alloc_debug_processing|free_consistency_checks",
        r"alloc_consistency_checks|check_stack_object|_*check_object_size|_*check_heap_object",
        r"usercopy_.*|instrument_.*|kmemleak_.*|memcpy_and_pad",
        # Debug checkers: lists, refcounts, object debugging, might_sleep, preemption checks.
        r"__list_(?:add|del)_valid.*|__list_del_entry(?:_valid.*)?|__list_add|__list_del",
        r"list_del(?:_init)?(?:_rcu)?|list_add(?:_tail)?(?:_rcu)?|list_move(?:_tail)?",
        r"hlist_(?:add|del).*|refcount_.*|__refcount_.*|kref_(?:get|put).*",
        r"get_page|put_page|__put_page|page_ref_.*|folio_get|folio_put|get_page_unless_zero",
        r"_*debug_object.*|debug_print_object|_*debug_check_no_obj_freed|.*_is_static_object",
        r"_*might_sleep|__might_resched|_*might_fault|__might_sleep.*|__schedule_bug",
        r"schedule_debug|check_preemption_disabled|debug_smp_processor_id|__this_cpu_preempt_check",
        r"skb_panic|skb_(?:over|under)_panic|skb_put|__skb_put|skb_push|__skb_push",
        # Lockdep and locking: the waiter or the checker is not the bug.
        r"_*lock_acquire.*|_*lock_release.*|lock_(?:acquired|contended|is_held.*|downgrade|sync)",
        r"validate_chain|check_prevs?_add|check_noncircular|check_irq_usage|check_flags",
        r"mark_lock.*|mark_usage|print_.*_bug|lockdep_.*|__lockdep_.*|debug_check_no_locks_.*",
        r"register_lock_class|assign_lock_key|look_up_lock_class|valid_state|check_usage.*",
        r"print_irq_inversion_bug|print_bad_irq_dependency|print_circular_bug.*",
        r"_raw_spin_.*|_raw_read_.*|_raw_write_.*|do_raw_spin.*|do_raw_(?:read|write)_.*",
        r"queued_spin.*|native_queued_spin.*|__pv_queued.*|pv_queued.*|queued_(?:read|write)_.*",
        r"spin_.*|__spin_.*|__mutex_.*|mutex_lock.*|mutex_trylock.*|mutex_unlock.*|rwsem_.*",
        r"down_.*|__down.*|up_(?:read|write)|__up_(?:read|write)|ldsem_.*|percpu_down.*",
        r"percpu_rwsem.*|__percpu_down.*|rt_mutex.*|__rt_mutex.*|rt_spin.*|__rt_spin.*",
        r"bit_spin_lock|__bit_spin_unlock|seqcount_.*|__read_seqcount.*|_local_bh_enable",
        r"local_bh_enable|__local_bh_enable_ip|preempt_count_.*|lock_timer_base",
        # The scheduler and its waits.
        r"schedule|__schedule|schedule_.*|io_schedule.*|preempt_schedule.*|_*cond_resched",
        r"context_switch|__switch_to.*|cpu_switch_to|__switch_to_asm|finish_task_switch.*",
        r"wait_for_completion.*|_*wait_for_common.*|do_wait_for_common|prepare_to_wait.*",
        r"finish_wait|msleep.*|usleep_range.*|wait_woken|bit_wait.*|out_of_line_wait_on_bit.*",
        r"__wait_on_bit.*|wait_on_page_bit.*|folio_wait_bit.*|__folio_lock.*|__lock_page.*",
        r"_*flush_work|_*flush_workqueue|flush_delayed_work|drain_workqueue|_*cancel_work.*",
        r"cancel_delayed_work_sync|__cancel_work_timer|synchronize_srcu|_*synchronize_sched",
        r"do_nanosleep|hrtimer_nanosleep|__wait_rcu_gp|synchronize_rcu.*|wait_rcu_gp",
        r"try_to_wake_up|wake_up_.*|__wake_up.*|autoremove_wake_function|default_wake_function",
        r"_*add_wait_queue.*|_*remove_wait_queue|init_wait_entry|wait_woken|woken_wake_function",
        # Idle.
        r"default_idle.*|arch_cpu_idle.*|cpu_idle.*|do_idle|cpu_startup_entry|cpuidle_.*",
        r"acpi_idle.*|mwait_idle.*|intel_idle.*|native_safe_halt|halt|poll_idle|cpu_do_idle",
        r"start_secondary|secondary_startup_64.*|secondary_start_kernel|rest_init",
        r"arch_call_rest_init|start_kernel|x86_64_start_.*|__primary_switched|wfi",
        # Interrupts, softirqs, timers, RCU callbacks.
        r"_*rcu_.*|__hrtimer_run_queues|hrtimer_.*|__sysvec_.*|sysvec_.*|asm_sysvec_.*",
        r"irq_exit.*|__irq_exit_rcu|__do_softirq|do_softirq.*|handle_softirqs|run_timer_softirq",
        r"call_timer_fn|__run_timers|run_timer_base|tick_.*|update_process_times|gic_handle_irq",
        r"generic_handle_.*|handle_.*_irq|__handle_domain_irq|handle_domain_irq|call_on_irq_stack",
        r"do_interrupt_handler|apic_timer_interrupt|smp_apic_timer_interrupt|do_IRQ|ret_from_intr",
        r"local_apic_timer_interrupt|asm_common_interrupt|common_interrupt|irq_enter.*",
        r"arch_timer_handler_.*|handle_percpu_devid_irq|__irq_svc|__irq_usr|handle_IRQ",
        r"asm_do_IRQ|riscv_intc_irq|handle_riscv_irq|do_irq|sched_clock_tick|scheduler_tick",
        # x86 exception and syscall entry.
        r"do_error_trap|do_trap|exc_.*|asm_exc_.*|__bad_area.*|bad_area.*|do_user_addr_fault",
        r"do_kern_addr_fault|handle_page_fault|_*do_page_fault|do_general_protection",
        r"trace_do_page_fault|do_async_page_fault|async_page_fault|page_fault|general_protection",
        r"invalid_op|do_invalid_op|do_int3|int3|do_divide_error|divide_error|error_entry",
        r"do_syscall_.*|entry_SYSCALL_.*|entry_SYSENTER_.*|entry_INT80_.*|x64_sys_call",
        r"syscall_exit_.*|exit_to_user_mode.*|system_call_fastpath|tracesys|syscall_trace_.*",
        r"do_fast_syscall_32|__do_fast_syscall_32|ia32_sysret|int_signal|retint_.*",
        r"__x64_sys_.*|__ia32_sys_.*|__se_sys_.*|__se_compat_sys_.*|__x32_compat_sys_.*|SyS_.*",
        # arm64 exception and syscall entry.
        r"do_translation_fault|do_mem_abort|do_bad_area|el1_.*|el1h_64_.*|el0_.*|el0t_.*",
        r"invoke_syscall|do_el0_svc|el0_svc_common.*|brk_handler|call_.*break_hook",
        r"do_debug_exception|__arm64_sys_.*|ret_to_user|do_sp_pc_abort|do_el0_.*",
        # 32-bit arm exception and syscall entry.
        r"__dabt_svc|__dabt_usr|__und_svc|__und_usr|__pabt_.*|do_DataAbort|do_PrefetchAbort",
        r"do_undefinstr|__do_user_fault|do_sect_fault|ret_fast_syscall|vector_swi",
        r"local_restart|do_work_pending|ret_to_user_from_irq|__do_kernel_fault|arm_syscall",
        # riscv64 exception and syscall entry.
        r"handle_exception|ret_from_exception|do_trap_.*|do_irq|handle_syscall",
        r"ret_from_syscall.*|__riscv_sys_.*",
        # Kernel threads and work items: the thread, not the work.
        r"ret_from_fork.*|kthread|worker_thread|process_one_work|process_scheduled_works",
        r"smpboot_thread_fn|kernel_init|kernel_init_freeable|do_initcalls|do_initcall_level",
        r"do_basic_setup|rescuer_thread",
        # Memory helpers and string functions: the caller passed the bad pointer.
        r"_*mem(?:cpy|set|move|cmp|chr|scan)(?:_.*)?|memcpy_(?:to|from)io|__memcpy_.*",
        r"str(?:n|l)?(?:cpy|cat|len|cmp|chr)|strnlen|strrchr|strstr|strsep|strscpy.*",
        r"strncpy_from_user|strnlen_user|_*copy_(?:to|from|in)_user.*|_*copy_user.*",
        r"copy_user_.*|_*get_user.*|_*put_user.*|raw_copy_.*|_copy_(?:to|from)_iter",
        r"copy_page.*|clear_page.*|_*clear_user|fault_in_.*|csum_partial_copy.*",
        r"cpumask_.*|_*find_(?:next|first|last)_.*bit.*|_*bitmap_.*",
        r"__read_once_size|__write_once_size|__read_once_size_nocheck",
        # The allocator and the page-fault path (out of memory is the allocator's report).
        r"_*kmalloc.*|kmalloc_trace.*|_*kmem_cache_alloc.*|kmem_cache_zalloc|kzalloc.*|kcalloc.*",
        r"krealloc.*|__krealloc|kvmalloc.*|kvzalloc.*|kvcalloc|kvrealloc|_*vmalloc.*|vzalloc.*",
        r"_*alloc_pages.*|alloc_page_.*|__get_free_pages|get_zeroed_page|_*folio_alloc.*",
        r"vma_alloc_folio|new_slab|allocate_slab|_*slab_.*|_*slub_.*|slab_alloc.*|___slab_alloc",
        r"_*kfree.*|kvfree.*|kfree_sensitive|kzfree|kmem_cache_free.*|_*cache_free.*",
        r"free_pages.*|__free_pages.*|free_unref_page.*|free_pcp_prepare|free_pages_prepare",
        r"__free_one_page|vfree.*|__vfree|bad_page|free_pages_check.*|check_new_page.*",
        r"kstrdup.*|kstrndup|kmemdup.*|get_page_from_freelist|rmqueue.*|prep_new_page",
        r"memdup_user.*|vmemdup_user|strndup_user|kvmemdup",
        r"post_alloc_hook|warn_alloc|out_of_memory|oom_kill_process|dump_header",
        r"mempool_alloc.*|mempool_free|page_frag_alloc.*|__page_frag_alloc.*|kmem_cache_alloc_bulk",
        r"do_anonymous_page|_*handle_mm_fault|handle_pte_fault|__do_fault|do_fault|do_read_fault",
        r"pagefault_out_of_memory|mem_cgroup_out_of_memory|try_charge.*|__memcg_kmem_charge.*",
    ]
)
