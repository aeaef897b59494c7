"""Console round trip: `Console.run("echo hi")` against a raw socket loop, same target, same run.

Prints one JSON object. By default the target is a small fake SIS shell (echoes input, CRLF,
`sis> ` prompt, `echo $?`) served on a unix socket from a thread of this process; `--unix PATH`
or `--tcp HOST:PORT` point it at a running target instead (say, the reference kernel started
with `-serial unix:PATH`), `--fake-in-subprocess` serves the fake from another process so it
does not share the interpreter lock with the code being measured.

The baseline does the least a client can: send the line, `recv` until a compiled regex finds
the prompt. `sendline_wait_prompt` does the same work through the engine; `run_inline` adds the
begin and status markers (one round trip); `run_separate`, the default `run`, sends the begin
marker, the command and the status marker as three command lines (three round trips).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sis.harness.console import Console, connect_tcp, connect_unix

Connect = Callable[[], socket.socket]
COMMAND = "echo hi"


# ------------------------------------------------------------------------- fake target


def _serve_connection(conn: socket.socket, prompt: bytes) -> None:
    status = 0
    conn.sendall(b"=== SIS Kernel Shell ===\r\n" + prompt)
    pending = b""
    while data := conn.recv(4096):
        pending += data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        while b"\n" in pending:
            raw, pending = pending.split(b"\n", 1)
            out = [raw, b"\r\n"]  # the echo
            for cmd in raw.decode(errors="replace").split("; "):
                name, _, arg = cmd.strip().partition(" ")
                if name == "echo":
                    text = arg.replace('"', "").replace("$?", str(status))
                    out += [text.encode(), b"\r\n"]
                    status = 0
                elif name:
                    out.append(f"Unknown command: {name}\r\n".encode())
                    status = 127
            out.append(prompt)
            conn.sendall(b"".join(out))
    conn.close()


def _serve(path: str, prompt: bytes, ready: threading.Event | None = None) -> None:
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    if ready is not None:
        ready.set()
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=_serve_connection, args=(conn, prompt), daemon=True).start()


def start_fake_shell(path: str, prompt: str = "sis> ", *, subprocess: bool = False) -> None:
    """Serve the fake shell on a unix socket, from a daemon thread or a child process."""
    if subprocess:
        proc = multiprocessing.get_context("fork").Process(
            target=_serve, args=(path, prompt.encode()), daemon=True
        )
        proc.start()
    else:
        ready = threading.Event()
        threading.Thread(target=_serve, args=(path, prompt.encode(), ready), daemon=True).start()
        ready.wait(5)


# --------------------------------------------------------------------------- measuring


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {
        "median_us": round(statistics.median(ordered) * 1e6, 1),
        "p99_us": round(p99 * 1e6, 1),
        "mean_us": round(statistics.fmean(ordered) * 1e6, 1),
    }


def _time(n: int, warmup: int, once: Callable[[], None]) -> list[float]:
    for _ in range(warmup):
        once()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        once()
        samples.append(time.perf_counter() - t0)
    return samples


def baseline(
    connect: Connect, *, prompt: str, newline: str, iterations: int, warmup: int
) -> list[float]:
    """Raw socket: send the line, recv until the prompt regex matches what came back."""
    sock = connect()
    rx = re.compile(rb"(?m)^(?:" + prompt.encode() + rb")")
    buf = b""
    while not rx.search(buf):  # the banner's prompt
        buf += sock.recv(65536)
    line = (COMMAND + newline).encode()

    def once() -> None:
        sock.sendall(line)
        got = b""
        while True:
            got += sock.recv(65536)
            if rx.search(got):
                return

    try:
        return _time(iterations, warmup, once)
    finally:
        sock.close()


def engine(
    connect: Connect,
    mode: str,
    *,
    prompt: str,
    newline: str,
    iterations: int,
    warmup: int,
) -> list[float]:
    """Through `Console`: `run` with a marker style, or a bare `sendline` + `wait_prompt`."""
    with Console(connect(), prompt=prompt, name=f"bench-{mode}") as con:
        con.newline = newline
        con.wait_prompt(timeout=30)
        if mode == "sendline_wait_prompt":

            def once() -> None:
                con.sendline(COMMAND)
                con.wait_prompt(timeout=10)

        else:
            con.marker_style = "inline" if mode == "run_inline" else "separate"

            def once() -> None:
                r = con.run(COMMAND, timeout=10)
                if r.output != "hi" or r.status != 0:
                    raise RuntimeError(f"unexpected result from the target: {r}")

        return _time(iterations, warmup, once)


def measure(
    connect: Connect,
    *,
    prompt: str = "sis> ",
    newline: str = "\n",
    iterations: int = 1000,
    warmup: int = 50,
    modes: tuple[str, ...] = ("run_separate", "run_inline", "sendline_wait_prompt"),
) -> dict[str, object]:
    """Time each engine mode and the raw-socket baseline on the target `connect` reaches."""
    kw = {"prompt": prompt, "newline": newline, "iterations": iterations, "warmup": warmup}
    results = {"baseline_raw_socket": _summary(baseline(connect, **kw))}
    for mode in modes:
        results[mode] = _summary(engine(connect, mode, **kw))
    base = results["baseline_raw_socket"]["median_us"]
    ratios = {mode: round(results[mode]["median_us"] / base, 2) for mode in modes}
    return {"results": results, "overhead_ratio_median": ratios}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--unix", metavar="PATH", help="a running target's console socket")
    where.add_argument("--tcp", metavar="HOST:PORT", help="a running target's console")
    ap.add_argument("--fake-in-subprocess", action="store_true")
    ap.add_argument("--prompt", default="sis> ", help="prompt regex (default: %(default)r)")
    ap.add_argument("--newline", default="\n")
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument(
        "--modes",
        default="run_separate,run_inline,sendline_wait_prompt",
        help="run_inline needs a shell that understands ';'",
    )
    args = ap.parse_args(argv)

    tmp = None
    if args.unix:
        path = args.unix
        connect: Connect = lambda: connect_unix(path, timeout=30)  # noqa: E731
        target = f"unix:{path}"
    elif args.tcp:
        host, port = args.tcp.rsplit(":", 1)
        connect = lambda: connect_tcp(host, int(port), timeout=30)  # noqa: E731
        target = f"tcp:{args.tcp}"
    else:
        tmp = tempfile.TemporaryDirectory(prefix="sis-bench-")
        path = str(Path(tmp.name) / "console.sock")
        start_fake_shell(path, args.prompt, subprocess=args.fake_in_subprocess)
        connect = lambda: connect_unix(path, timeout=30)  # noqa: E731
        where_ = "a child process" if args.fake_in_subprocess else "a thread of this process"
        target = f"fake SIS shell (echo, CRLF, prompt) on a unix socket, served from {where_}"

    figures = measure(
        connect,
        prompt=args.prompt,
        newline=args.newline,
        iterations=args.iterations,
        warmup=args.warmup,
        modes=tuple(m for m in args.modes.split(",") if m),
    )
    out = {
        "benchmark": "console_roundtrip",
        "command": COMMAND,
        "target": target,
        "iterations": args.iterations,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        **figures,
    }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
