/* sis-executor: runs batches of raw syscalls for the SIS fuzzer inside a Linux guest.
 *
 * It talks to the lab over a virtio-serial port (found by name in sysfs), the guest-side twin
 * of the reference kernel's QMP `x-sis-syscall`: the lab sends a batch of calls whose
 * arguments are integers or references (the call's own input bytes, the 64 KiB scratch
 * buffer, what an earlier call returned), the executor runs them in a fresh child and answers
 * with each call's return value, errno and requested output bytes.
 *
 * The child is the init of a new PID namespace (when the kernel allows it), in its own
 * session, with a pseudo-terminal on fds 0-2: a kill(-1, SIGKILL) or kill(0, ...) from a fuzz
 * program reaches only the child, never this server or the guest's shell. A call blocked for
 * longer than the batch's call timeout is interrupted (EINTR), as syzkaller's executor does;
 * a child that does not finish within the batch timeout is killed and reported as such. The
 * results live in shared memory, so a child that dies mid-batch still reports the calls it
 * finished, and which call it died in.
 *
 * Wire format (little-endian), see sis.harness.fuzz.linux_channel:
 *   request  "SISQ" seq ncalls call_timeout_us batch_timeout_ms 0       (6 x u32)
 *            per call: nr nargs data_len out_len (4 x u32), 6 x {u32 kind, u32 0, i64 value},
 *                      data_len bytes
 *            kind: 0 integer, 1 data+value, 2 scratch+value, 3 result of call `value`
 *   reply    "SISA" seq ndone status info 0                               (6 x u32)
 *            status: 0 done, 1 killed by signal `info`, 2 exited with `info`, 3 timed out
 *            per finished call: i64 ret (-errno on error), u32 flags (1: interrupted),
 *                               u32 out_len, then out_len bytes
 *   ncalls 0 is a hello: the reply's info is the protocol version, followed by 64 bytes of
 *   uname's machine.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define VERSION 1
#define MAX_CALLS 4096
#define MAX_DATA (16u << 20)
#define SCRATCH (64u << 10)
#define PAGE 4096u
#define MAGIC_Q 0x51534953u /* "SISQ" */
#define MAGIC_A 0x41534953u /* "SISA" */

struct arg {
    uint32_t kind, pad;
    int64_t value;
};
struct call {
    uint32_t nr, nargs, data_len, out_len;
    struct arg args[6];
    const unsigned char *data;
};
struct result {
    int64_t ret;
    uint32_t flags, out_len;
};
/* What the child and the server share: progress, results, and output bytes. */
struct shared {
    volatile uint32_t started; /* calls begun: the one running is started - 1 */
    volatile uint32_t done;
    struct result res[MAX_CALLS];
    unsigned char out[]; /* SCRATCH bytes per call at most; packed in call order */
};

static int port = -1;
static struct call calls[MAX_CALLS];
static unsigned char *body;
static volatile sig_atomic_t alarmed;

static void die(const char *what) {
    perror(what);
    exit(1);
}

static int read_full(void *buf, size_t n) {
    unsigned char *p = buf;
    while (n) {
        ssize_t r = read(port, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static void write_full(const void *buf, size_t n) {
    const unsigned char *p = buf;
    while (n) {
        ssize_t r = write(port, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            die("write port");
        p += r;
        n -= (size_t)r;
    }
}

/* The /dev node of the virtio-serial port called `name` (udev's /dev/virtio-ports/NAME
 * symlinks need udev, which the image does not run). */
static int find_port(const char *name, char *dev, size_t size) {
    DIR *d = opendir("/sys/class/virtio-ports");
    struct dirent *e;
    int found = 0;
    if (!d)
        return 0;
    while (!found && (e = readdir(d))) {
        char path[512], got[256] = "";
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(got, sizeof got, f))
            got[strcspn(got, "\n")] = 0;
        fclose(f);
        if (!strcmp(got, name)) {
            snprintf(dev, size, "/dev/%s", e->d_name);
            found = 1;
        }
    }
    closedir(d);
    return found;
}

static void on_alarm(int sig) {
    (void)sig;
    alarmed = 1;
}

static void arm(uint32_t usec) {
    struct itimerval t = {{0, 0}, {usec / 1000000, usec % 1000000}};
    /* Re-fire every call timeout, so a call that blocks again after EINTR-free progress
     * is still interrupted. */
    t.it_interval = t.it_value;
    setitimer(ITIMER_REAL, &t, NULL);
}

static long resolve(const struct arg *a, unsigned char *data, unsigned char *scratch,
                    struct shared *sh) {
    switch (a->kind) {
    case 1:
        return (long)(data + a->value);
    case 2:
        return (long)(scratch + a->value);
    case 3:
        return (long)sh->res[a->value].ret;
    default:
        return (long)a->value;
    }
}

/* The child: run the batch, recording each result before the next call starts. */
static void run_batch(uint32_t n, uint32_t call_timeout_us, struct shared *sh) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART: a blocked call returns EINTR */
    sigaction(SIGALRM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Scratch, then a PROT_NONE guard page: a buffer that runs off the end of the scratch
     * area crosses into memory no access may touch (EFAULT), as on the reference kernel. */
    unsigned char *scratch = mmap(NULL, SCRATCH + PAGE, PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (scratch == MAP_FAILED)
        _exit(3);
    mprotect(scratch + SCRATCH, PAGE, PROT_NONE);
    size_t out_pos = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct call *c = &calls[i];
        unsigned char *data = NULL;
        size_t data_map = 0;
        if (c->data_len) {
            data_map = (c->data_len + PAGE - 1) & ~(size_t)(PAGE - 1);
            data = mmap(NULL, data_map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                        -1, 0);
            if (data == MAP_FAILED)
                _exit(3);
            memcpy(data, c->data, c->data_len);
        }
        long r[6] = {0};
        for (uint32_t j = 0; j < c->nargs && j < 6; j++)
            r[j] = resolve(&c->args[j], data, scratch, sh);
        sh->started = i + 1;
        alarmed = 0;
        if (call_timeout_us)
            arm(call_timeout_us);
        long ret = syscall(c->nr, r[0], r[1], r[2], r[3], r[4], r[5]);
        int err = errno;
        if (call_timeout_us)
            arm(0);
        struct result *res = &sh->res[i];
        res->ret = ret == -1 ? -(int64_t)err : (int64_t)ret;
        res->flags = alarmed && err == EINTR ? 1 : 0;
        res->out_len = c->out_len;
        if (c->out_len) {
            memcpy(sh->out + out_pos, scratch, c->out_len);
            out_pos += c->out_len;
        }
        if (data)
            munmap(data, data_map);
        sh->done = i + 1;
    }
    _exit(0);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static pid_t spawn(uint32_t n, uint32_t call_timeout_us, struct shared *sh, int tty,
                   const char *dir) {
    /* A new PID namespace for each batch's child where the kernel has them, else a plain
     * fork. (unshare(CLONE_NEWPID) works only once per process: clone does it every time.
     * With no stack argument clone behaves as fork; all-zero arguments suit every arch.) */
    pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0);
    if (pid < 0)
        pid = fork();
    if (pid != 0)
        return pid;
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    setsid();
    if (tty >= 0) {
        ioctl(tty, TIOCSCTTY, 0);
        dup2(tty, 0);
        dup2(tty, 1);
        dup2(tty, 2);
        if (tty > 2)
            close(tty);
    }
    close(port);
    if (chdir(dir))
        _exit(3);
    run_batch(n, call_timeout_us, sh);
    return 0;
}

/* A pseudo-terminal for the child's fds 0-2 (ttys for the fuzzer's tty ioctls); the master
 * end is drained after each batch so the child never blocks writing to it. */
static int open_pty(int *master) {
    *master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_NONBLOCK);
    if (*master < 0)
        return -1;
    if (grantpt(*master) || unlockpt(*master))
        return -1;
    char *name = ptsname(*master);
    return name ? open(name, O_RDWR | O_NOCTTY) : -1;
}

static uint64_t now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void hello(uint32_t seq) {
    uint32_t hdr[6] = {MAGIC_A, seq, 0, 0, VERSION, 0};
    char machine[64] = "";
    struct utsname u;
    if (uname(&u) == 0)
        memcpy(machine, u.machine, sizeof machine - 1);
    write_full(hdr, sizeof hdr);
    write_full(machine, sizeof machine);
}

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "org.sis.fuzz";
    char dev[300];
    int tries = 0;
    while (!find_port(name, dev, sizeof dev)) {
        if (++tries > 100)
            return 0; /* no port: this boot is not a fuzzing one */
        usleep(100000);
    }
    port = open(dev, O_RDWR);
    if (port < 0)
        die(dev);
    body = malloc(MAX_DATA + MAX_CALLS * sizeof(struct call));
    size_t shared_size = sizeof(struct shared) + (size_t)SCRATCH * 16;
    struct shared *sh = mmap(NULL, shared_size, PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (!body || sh == MAP_FAILED)
        die("memory");
    signal(SIGPIPE, SIG_IGN);
    /* SIGCHLD stays pending (blocked) for sigtimedwait; children unblock it. */
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    for (;;) {
        uint32_t hdr[6];
        if (read_full(hdr, sizeof hdr))
            return 1;
        if (hdr[0] != MAGIC_Q)
            continue; /* out of step: skip until a header (the lab resends a hello) */
        uint32_t seq = hdr[1], n = hdr[2], call_us = hdr[3], batch_ms = hdr[4];
        if (n == 0) {
            hello(seq);
            continue;
        }
        if (n > MAX_CALLS)
            return 1;
        size_t data_total = 0, out_total = 0;
        int bad = 0;
        for (uint32_t i = 0; i < n; i++) {
            struct call *c = &calls[i];
            uint32_t head[4];
            if (read_full(head, sizeof head) || read_full(c->args, sizeof c->args))
                return 1;
            c->nr = head[0], c->nargs = head[1], c->data_len = head[2], c->out_len = head[3];
            if (data_total + c->data_len > MAX_DATA || c->out_len > SCRATCH)
                return 1;
            c->data = body + data_total;
            if (read_full(body + data_total, c->data_len))
                return 1;
            data_total += c->data_len;
            out_total += c->out_len;
            for (uint32_t j = 0; j < c->nargs && j < 6; j++)
                if (c->args[j].kind == 3 && (uint64_t)c->args[j].value >= i)
                    bad = 1;
        }
        if (bad || out_total > (size_t)SCRATCH * 16)
            return 1;
        memset(sh, 0, sizeof(struct shared));
        /* Every batch runs in a new empty directory, removed afterwards: what earlier
         * batches made does not change what this one does (reproducers replay anywhere). */
        char dir[] = "/tmp/fz-XXXXXX";
        if (!mkdtemp(dir))
            die("mkdtemp");
        int master = -1, tty = open_pty(&master);
        pid_t pid = spawn(n, call_us, sh, tty, dir);
        if (tty >= 0)
            close(tty);
        int status = 0, state = 3, info = 0;
        if (pid < 0)
            state = 2, info = 255; /* no child: nothing ran */
        uint64_t deadline = now_ms() + (batch_ms ? batch_ms : 10000);
        char sink[4096];
        for (;;) {
            pid_t w = pid > 0 ? waitpid(pid, &status, WNOHANG) : -1;
            if (w == pid || w < 0)
                break;
            if (master >= 0)
                while (read(master, sink, sizeof sink) > 0) {
                }
            uint64_t now = now_ms();
            if (now > deadline) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                state = 3, info = (int)sh->started;
                pid = -1;
                break;
            }
            /* Sleep until the child exits (SIGCHLD), at most 20 ms: the pty is drained too. */
            uint64_t left = deadline - now < 20 ? deadline - now : 20;
            struct timespec ts = {0, (long)left * 1000000L};
            sigtimedwait(&chld, NULL, &ts);
        }
        if (pid > 0) {
            if (WIFSIGNALED(status))
                state = 1, info = WTERMSIG(status);
            else
                state = WEXITSTATUS(status) ? 2 : 0, info = WEXITSTATUS(status);
        }
        if (master >= 0)
            close(master);
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        uint32_t done = sh->done;
        uint32_t reply[6] = {MAGIC_A, seq, done, (uint32_t)state, (uint32_t)info, 0};
        write_full(reply, sizeof reply);
        size_t pos = 0;
        for (uint32_t i = 0; i < done; i++) {
            struct result *r = &sh->res[i];
            write_full(r, sizeof *r);
            write_full(sh->out + pos, r->out_len);
            pos += r->out_len;
        }
    }
}
