"""The shell: reads lines from the console, runs builtins and programs of /bin as child
processes (foreground or with `&`), handles `> FILE` / `>> FILE`, `;`, quotes and `$?`.

Builtins: `cd`, `exit` and, as in ash and bash, `echo` — so that `echo` still prints when no
process can be started (memory pressure), which is how the lab reads exit statuses."""

from __future__ import annotations

from dataclasses import dataclass, field

from sis.contract.console import BANNER, PROMPT, UNKNOWN_COMMAND_STATUS, unknown_command
from sis.contract.syscalls import O_APPEND, O_CREAT, O_TRUNC, O_WRONLY
from sis.kernel.errno import Errno
from sis.kernel.proc.task import SIGINT
from sis.kernel.shell.libc import Libc, SysError
from sis.kernel.shell.programs import PROGRAMS, program
from sis.kernel.shell.sysutils import echo_main


class ParseError(ValueError):
    pass


@dataclass
class Command:
    argv: list[str]
    background: bool = False
    redirect: tuple[str, str] | None = None  # (">" or ">>", path)


@dataclass
class Job:
    number: int
    pid: int
    text: str


@dataclass
class ShellState:
    status: int = 0
    last_background: int = 0
    jobs: list[Job] = field(default_factory=list)
    next_job: int = 1


def tokenize(line: str, status: int, pid: int, last_bg: int = 0) -> list[list[str | tuple[str]]]:
    """Split a line into commands (on `;`) of words; operators come back as 1-tuples.
    `$?`, `$$` and `$!` expand to the last status, the shell's pid, the last background pid."""
    specials = {"?": status, "$": pid, "!": last_bg}
    commands: list[list[str | tuple[str]]] = [[]]
    word: list[str] = []
    have_word = False
    quote = ""
    i = 0

    def flush() -> None:
        nonlocal word, have_word
        if have_word:
            commands[-1].append("".join(word))
        word, have_word = [], False

    while i < len(line):
        c = line[i]
        if quote:
            if c == quote:
                quote = ""
            elif c == "\\" and quote == '"' and i + 1 < len(line) and line[i + 1] in '"\\$':
                i += 1
                word.append(line[i])
            elif c == "$" and quote == '"' and line[i + 1 : i + 2] in specials:
                i += 1
                word.append(str(specials[line[i]]))
            else:
                word.append(c)
        elif c in "'\"":
            quote, have_word = c, True
        elif c == "\\" and i + 1 < len(line):
            i += 1
            word.append(line[i])
            have_word = True
        elif c == "$" and line[i + 1 : i + 2] in specials:
            i += 1
            word.append(str(specials[line[i]]))
            have_word = True
        elif c in " \t":
            flush()
        elif c == ";":
            flush()
            commands.append([])
        elif c == "&":
            flush()
            commands[-1].append(("&",))
        elif c == ">":
            flush()
            if line[i + 1 : i + 2] == ">":
                i += 1
                commands[-1].append((">>",))
            else:
                commands[-1].append((">",))
        elif c == "#" and not have_word:
            break
        else:
            word.append(c)
            have_word = True
        i += 1
    if quote:
        raise ParseError(f"unterminated {quote} quote")
    flush()
    return [c for c in commands if c]


def split_commands(line: str) -> list[str]:
    """Split a line into commands at the `;` and `&` that are outside quotes."""
    parts, start, quote, i = [], 0, "", 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == quote:
                quote = ""
            elif c == "\\" and quote == '"':
                i += 1
        elif c in "'\"":
            quote = c
        elif c == "\\":
            i += 1
        elif c == "#" and (i == 0 or line[i - 1] in " \t;"):
            break
        elif c == ";":
            parts.append(line[start:i])
            start = i + 1
        elif c == "&":
            if line[i + 1 : i + 2] == "&":
                raise ParseError("'&&' is not supported; use ';'")
            parts.append(line[start : i + 1])  # `&` ends a command and stays with it
            start = i + 1
        i += 1
    parts.append(line[start:i])
    return [p for p in parts if p.strip()]


def parse(tokens: list[str | tuple[str]]) -> Command:
    cmd = Command(argv=[])
    it = iter(range(len(tokens)))
    for i in it:
        tok = tokens[i]
        if isinstance(tok, tuple):
            op = tok[0]
            if op == "&":
                if i != len(tokens) - 1:
                    raise ParseError("'&' must end the command")
                cmd.background = True
            else:
                nxt = tokens[i + 1] if i + 1 < len(tokens) else None
                if not isinstance(nxt, str):
                    raise ParseError(f"'{op}' needs a file name")
                cmd.redirect = (op, nxt)
                next(it)
        else:
            cmd.argv.append(tok)
    if not cmd.argv:
        raise ParseError("missing command")
    return cmd


@program("sh", "the shell")
async def sh_main(libc: Libc, argv: list[str]) -> int:
    state = ShellState()
    me = await libc.getpid()
    await libc.ignore_signal(SIGINT)
    await libc.setpgid(0, 0)
    await libc.tcsetpgrp(0, me)
    await libc.write(1, BANNER + "\n")
    pending = b""
    while True:
        await _reap_jobs(libc, state)
        await libc.write(1, PROMPT)
        while b"\n" not in pending:
            data = await libc.read(0, 4096)
            if not data:  # ^D: a console shell does not log out
                pending += b"\n"
                break
            pending += data
        raw, _, pending = pending.partition(b"\n")
        line = raw.decode("utf-8", "replace").strip()
        if not line:
            continue
        try:
            segments = split_commands(line)
            for segment in segments:
                tokenize(segment, 0, me)  # check the syntax of the whole line first
        except ParseError as e:
            await libc.write(2, f"sh: syntax error: {e}\n")
            state.status = 2
            continue
        for segment in segments:
            # `$?` is expanded when its command runs: `false; echo $?` prints 1.
            try:
                (tokens,) = tokenize(segment, state.status, me, state.last_background) or [[]]
                if not tokens:
                    continue
                cmd = parse(tokens)
            except ParseError as e:
                await libc.write(2, f"sh: syntax error: {e}\n")
                state.status = 2
                break
            state.status = await _run(libc, state, cmd, segment, me)


async def _run(libc: Libc, state: ShellState, cmd: Command, line: str, me: int) -> int:
    name = cmd.argv[0]
    if name == "cd":
        try:
            await libc.chdir(cmd.argv[1] if len(cmd.argv) > 1 else "/")
            return 0
        except SysError as e:
            await libc.write(2, e.line("cd") + "\n")
            return 1
    if name == "exit":
        await libc.exit(state.status)  # init starts a fresh shell
    if name.removeprefix("/bin/") not in PROGRAMS:
        await libc.write(2, unknown_command(_printable(name)) + "\n")
        return UNKNOWN_COMMAND_STATUS
    saved = None
    if cmd.redirect is not None:
        op, path = cmd.redirect
        flags = O_WRONLY | O_CREAT | (O_APPEND if op == ">>" else O_TRUNC)
        try:
            fd = await libc.open(path, flags, 0o644)
        except SysError as e:
            await libc.write(2, e.line("sh") + "\n")
            return 1
        saved = await libc.dup(1)
        await libc.dup2(fd, 1)
        await libc.close(fd)
    try:
        if name == "echo" and not cmd.background:
            return await echo_main(libc, cmd.argv)  # the builtin: no process to start
        pid = await libc.spawn(name, cmd.argv, new_group=True)
    except SysError as e:
        if e.errno == Errno.ENOENT:  # in /bin but not in this kernel (a missing feature)
            await libc.write(2, unknown_command(_printable(name)) + "\n")
            return UNKNOWN_COMMAND_STATUS
        # The program is the operand of the failed spawn: name it once.
        await libc.write(2, f"{_printable(name)}: {e}\n")
        return 126
    finally:
        if saved is not None:
            await libc.dup2(saved, 1)
            await libc.close(saved)
    if cmd.background:
        job = Job(state.next_job, pid, line.rstrip("&").strip())
        state.next_job += 1
        state.jobs.append(job)
        state.last_background = pid
        await libc.write(1, f"[{job.number}] {pid}\n")
        return 0
    await libc.tcsetpgrp(0, pid)
    try:
        while True:
            try:
                _, status = await libc.wait(pid)
                return status
            except SysError as e:
                if e.errno != 4:  # EINTR: wait again
                    return 1
    finally:
        await libc.tcsetpgrp(0, me)


async def _reap_jobs(libc: Libc, state: ShellState) -> None:
    for job in list(state.jobs):
        try:
            pid, status = await libc.wait(job.pid, nohang=True)
        except SysError:
            pid, status = job.pid, 0
        if pid:
            state.jobs.remove(job)
            word = "Done" if status == 0 else f"Exit {status}"
            await libc.write(1, f"[{job.number}]+ {word}  {job.text}\n")
    if not state.jobs:
        state.next_job = 1


def _printable(s: str) -> str:
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in s)[:200]
