// SPDX-License-Identifier: GPL-2.0
/*
 * sis_crash: crashes on demand, for the SIS crash-forensics suite (like the kernel's LKDTM,
 * which Debian does not build). Writing one word to /proc/sis_crash runs its crash in the
 * writing task:
 *
 *   null        NULL pointer dereference (an oops: the task dies, the kernel lives on)
 *   bug         BUG()
 *   warn        WARN(): a warning with a call trace, nothing dies
 *   gpf         access through a non-canonical pointer (a general protection fault on x86)
 *   softlockup  spin with preemption off for SPIN_S seconds (set kernel.watchdog_thresh low)
 *   hungtask    sleep uninterruptibly for HOLD_S seconds (set kernel.hung_task_timeout_secs low)
 *   panic       panic()
 *
 * Each crash has its own function, kept out of line, so the report names it as the guilty
 * frame: sis_crash_null, sis_crash_bug, ...
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/proc_fs.h>
#include <linux/uaccess.h>
#include <linux/string.h>
#include <linux/sched.h>
#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/preempt.h>

#define SPIN_S 4
#define HOLD_S 5

/* Read through a volatile pointer, so the compiler cannot prove it NULL and drop the access. */
static int *volatile sis_crash_target;

static noinline void sis_crash_null(void)
{
	sis_crash_target = NULL;
	pr_info("sis_crash: NULL pointer dereference\n");
	*sis_crash_target = 1;
}

static noinline void sis_crash_bug(void)
{
	pr_info("sis_crash: BUG()\n");
	BUG();
}

static noinline void sis_crash_warn(void)
{
	WARN(1, "sis_crash: WARN() as asked\n");
}

static noinline void sis_crash_gpf(void)
{
	/* Non-canonical on x86_64 (bits 63..47 not all equal); unmapped on arm64. */
	sis_crash_target = (int *)0xdead000000000000UL;
	pr_info("sis_crash: access through a bad pointer\n");
	*sis_crash_target = 1;
}

static noinline void sis_crash_lockup(void)
{
	unsigned long end = jiffies + SPIN_S * HZ;

	pr_info("sis_crash: spinning %d s with preemption off\n", SPIN_S);
	preempt_disable();
	while (time_before(jiffies, end))
		cpu_relax();
	preempt_enable();
}

static noinline void sis_crash_hung(void)
{
	pr_info("sis_crash: sleeping %d s uninterruptibly\n", HOLD_S);
	schedule_timeout_uninterruptible(HOLD_S * HZ);
	/* Not a tail call: this function stays on the sleeping task's stack. */
	pr_info("sis_crash: awake\n");
}

/*
 * Called through a pointer the compiler cannot see through, so it does not know that panic()
 * never returns: the call is then not the function's last instruction, and the return address
 * on the stack still points into sis_crash_panic (not into the next function, as arm64 would
 * symbolize it).
 */
static void (*volatile sis_crash_panic_fn)(const char *fmt, ...) = panic;

static noinline void sis_crash_panic(void)
{
	sis_crash_panic_fn("sis_crash: panic as asked");
	pr_err("sis_crash: panic() returned\n");
}

static const struct {
	const char *word;
	void (*crash)(void);
} sis_crashes[] = {
	{ "null", sis_crash_null },
	{ "bug", sis_crash_bug },
	{ "warn", sis_crash_warn },
	{ "gpf", sis_crash_gpf },
	{ "softlockup", sis_crash_lockup },
	{ "hungtask", sis_crash_hung },
	{ "panic", sis_crash_panic },
};

static ssize_t sis_crash_write(struct file *file, const char __user *ubuf, size_t len,
			       loff_t *off)
{
	char word[16];
	size_t n = min(len, sizeof(word) - 1);
	size_t i;

	if (copy_from_user(word, ubuf, n))
		return -EFAULT;
	word[n] = '\0';
	strim(word);
	for (i = 0; i < ARRAY_SIZE(sis_crashes); i++) {
		if (!strcmp(word, sis_crashes[i].word)) {
			sis_crashes[i].crash();
			return len;
		}
	}
	pr_err("sis_crash: unknown crash '%s'\n", word);
	return -EINVAL;
}

static ssize_t sis_crash_read(struct file *file, char __user *ubuf, size_t len, loff_t *off)
{
	static const char words[] = "null bug warn gpf softlockup hungtask panic\n";

	return simple_read_from_buffer(ubuf, len, off, words, sizeof(words) - 1);
}

static const struct proc_ops sis_crash_ops = {
	.proc_write = sis_crash_write,
	.proc_read = sis_crash_read,
	.proc_lseek = default_llseek,
};

static struct proc_dir_entry *sis_crash_entry;

static int __init sis_crash_init(void)
{
	sis_crash_entry = proc_create("sis_crash", 0600, NULL, &sis_crash_ops);
	return sis_crash_entry ? 0 : -ENOMEM;
}

static void __exit sis_crash_exit(void)
{
	proc_remove(sis_crash_entry);
}

module_init(sis_crash_init);
module_exit(sis_crash_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Crashes on demand through /proc/sis_crash, for SIS crash forensics");
