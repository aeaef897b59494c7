"""The fuzz loop: programs generated from the descriptions or mutated from the corpus, run in
batches on each target (one worker thread and one Session per `-j`), new signal kept in the
corpus, crashes deduplicated by title and minimized into reproducers.

Everything lands in the output directory as it happens: corpus/*.json, crashes/<title>/
(report.txt, log.json: the batch that crashed, repro.json and repro.txt), stats.prom (the
Prometheus text, rewritten every few seconds), events.jsonl, and summary.json at the end."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sis.contract.syscall_args import Syscall
from sis.harness.fuzz.channel import Channel, QmpChannel
from sis.harness.fuzz.corpus import Corpus
from sis.harness.fuzz.crash import CrashInfo
from sis.harness.fuzz.generate import Generator, enabled_calls
from sis.harness.fuzz.guest_channel import (
    GuestChannel,
    ensure_executor_image,
    guest_overrides,
    has_port,
    socket_dir,
)
from sis.harness.fuzz.minimize import reproduce
from sis.harness.fuzz.program import Program
from sis.harness.fuzz.stats import Stats
from sis.harness.outdir import open_file, write_atomic, write_file
from sis.harness.session import Session
from sis.harness.targets.profile import load_profile

BATCH_PROGRAMS = 128  # programs per executor round trip
STATS_EVERY_S = 5.0


@dataclass
class FuzzConfig:
    target: str = "sis"
    duration: float = 60.0
    seed: int = 0
    out: Path = Path("sis-out/fuzz")
    jobs: int = 1
    syscalls: list[str] | None = None
    cover: bool = False
    append: str = ""  # the target's kernel command line (e.g. sis.bug=pwrite_overflow)
    batch: int = BATCH_PROGRAMS
    stop_on_crash: bool = False  # end the run after the first reproducer (tests, selftest)


@dataclass
class CrashRecord:
    title: str
    kind: str
    count: int
    repro: Program | None
    found_after: float  # seconds into the run
    directory: Path


@dataclass
class FuzzRun:
    config: FuzzConfig
    stats: Stats = field(default_factory=Stats)
    crashes: dict[str, CrashRecord] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)


def fuzz_session_for(target: str, workdir: Path, name: str, append: str = "") -> Session:
    """A Session of `target` ready to be fuzzed: the reference kernel as it is; a QEMU
    target with its executor's virtio-serial port (and the executor built into a
    linux-busybox image)."""
    profile = load_profile(target)
    overrides = {"append": append} if append else {}
    if profile.kind != "sim":
        ensure_executor_image(profile)
        overrides |= guest_overrides(profile, socket_dir())
    return Session(target, workdir=workdir, name=name, overrides=overrides or None)


def make_session(config: FuzzConfig, index: int, workdir: Path) -> Session:
    return fuzz_session_for(config.target, workdir, f"fuzz-{index}", config.append)


def make_channel(session: Session, cover: bool) -> Channel:
    if session.profile.kind == "sim":
        return QmpChannel(session, cover=cover)
    sock = session.target.overrides.get("fuzz_sock")
    if not sock or not has_port(session.profile):
        raise ValueError(
            f"{session.name} was started without the fuzz executor's port: fuzz "
            f"{session.profile.name} with `sis fuzz --target {session.profile.name}`"
        )
    if cover:
        raise ValueError(
            f"coverage feedback needs the reference kernel's x-sis-kcov; "
            f"{session.profile.name} has none (drop --cover)"
        )
    return GuestChannel(session, sock)


def usable_calls(calls: list[Syscall], channel: Channel) -> list[Syscall]:
    """The calls that exist on the channel's architecture (SIS's own calls only on SIS)."""
    out = [c for c in calls if channel.arch in c.numbers]
    if not out:
        raise ValueError(f"none of the chosen syscalls exists on {channel.arch}")
    return out


def _prepare(config: FuzzConfig) -> tuple[FuzzRun, Corpus, list]:
    calls = enabled_calls(config.syscalls)  # a bad --syscalls fails before anything boots
    if config.cover and load_profile(config.target).kind != "sim":
        raise ValueError(
            f"coverage feedback needs the reference kernel's x-sis-kcov; {config.target} has "
            "none (drop --cover)"
        )
    for sub in ("corpus", "crashes", "targets"):
        (config.out / sub).mkdir(parents=True, exist_ok=True)
    run = FuzzRun(config)
    corpus = Corpus(config.out / "corpus")
    run.stats.corpus = len(corpus)
    return run, corpus, calls


def fuzz_session(session: Session, config: FuzzConfig) -> FuzzRun:
    """Fuzz a session the caller started (and powers off), in the calling thread: the fuzz
    phase of `sis check`."""
    run, corpus, calls = _prepare(config)
    _worker(run, corpus, calls, 0, time.monotonic() + config.duration, session)
    _finish(run)
    return run


def run_fuzz(config: FuzzConfig, on_tick: Callable[[FuzzRun], None] | None = None) -> FuzzRun:
    """Fuzz until the duration passes (or `stop` is set); returns what was found."""
    run, corpus, calls = _prepare(config)
    deadline = time.monotonic() + config.duration
    threads = [
        threading.Thread(
            target=_worker, args=(run, corpus, calls, i, deadline), name=f"fuzz-{i}", daemon=True
        )
        for i in range(max(1, config.jobs))
    ]
    for t in threads:
        t.start()
    last_stats = 0.0
    try:
        while any(t.is_alive() for t in threads):
            time.sleep(0.25)
            if on_tick is not None:
                on_tick(run)
            if time.monotonic() - last_stats > STATS_EVERY_S:
                last_stats = time.monotonic()
                write_atomic(config.out / "stats.prom", run.stats.prometheus())
    except KeyboardInterrupt:
        run.stop.set()  # workers finish their batch and power their targets off
        for t in threads:
            t.join(30)
    _finish(run)
    return run


def _finish(run: FuzzRun) -> None:
    config, out = run.config, run.config.out
    write_atomic(out / "stats.prom", run.stats.prometheus())
    summary = run.stats.summary() | {
        "target": config.target,
        "seed": config.seed,
        "append": config.append,
        "cover": config.cover,
        "errors": run.errors,
        "crashes": [
            {
                "title": c.title,
                "kind": c.kind,
                "count": c.count,
                "found_after_s": round(c.found_after, 2),
                "repro_calls": len(c.repro) if c.repro else None,
                "directory": str(c.directory),
            }
            for c in run.crashes.values()
        ],
        "validation": _validation(out),
    }
    write_atomic(out / "summary.json", json.dumps(summary, indent=1) + "\n")


def _validation(out: Path) -> dict | None:
    """What `sis fuzz validate` wrote into the same OUT, per target, with its table."""
    try:
        data = json.loads((out / "validation.json").read_text())
        return {
            "table": str(out / "validation.txt"),
            "targets": {t["target"]: t["counts"] for t in data["targets"]},
            "unexplained": len(data["unexplained"]),
        }
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _event(run: FuzzRun, **data: object) -> None:
    with open_file(run.config.out / "events.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"t": round(run.stats.elapsed, 3), **data}) + "\n")


def _worker(
    run: FuzzRun,
    corpus: Corpus,
    calls: list,
    index: int,
    deadline: float,
    given: Session | None = None,
) -> None:
    config = run.config
    rng = random.Random(config.seed * 1000 + index)
    session: Session | None = given
    try:
        session = session or make_session(config, index, config.out / "targets")
        channel = make_channel(session, config.cover)
        channel.start()
        gen = Generator(rng, usable_calls(calls, channel))

        def next_batch() -> list[Program]:
            pool = corpus.snapshot()
            return [
                gen.mutate(rng.choice(pool), pool)
                if pool and rng.random() < 0.7
                else gen.generate()
                for _ in range(config.batch)
            ]

        # The next batch is generated while the kernel runs this one (the executor round trip
        # waits on a socket, so the two overlap on two CPUs).
        generator = ThreadPoolExecutor(1, thread_name_prefix=f"fuzz-gen-{index}")
        upcoming = generator.submit(next_batch)
        while time.monotonic() < deadline and not run.stop.is_set():
            batch = upcoming.result()
            upcoming = generator.submit(next_batch)
            res = channel.run(batch)
            ran = sum(len(r) for r in res.results)
            run.stats.add_batch(sum(1 for r in res.results if r), ran, res.seconds)
            for prog, results in zip(batch, res.results, strict=False):
                if results and corpus.consider(prog, results):
                    run.stats.corpus = len(corpus)
                    run.stats.signal = len(corpus.signal)
                    run.stats.cover = len(corpus.edges)
            if res.crash is not None:
                _crashed(run, channel, batch, res.crash, res.crash_at)
    except Exception as e:  # the lab could not go on with this target: say so, keep the others
        run.errors.append(f"worker {index}: {type(e).__name__}: {e}")
        _event(run, event="error", worker=index, error=str(e))
    finally:
        if given is None and session is not None:
            try:
                session.poweroff()
            except Exception:  # noqa: S110 - the target may already be gone
                pass


def _crashed(
    run: FuzzRun,
    channel: Channel,
    batch: list[Program],
    crash: CrashInfo,
    at: tuple[int, int] | None,
) -> None:
    stats = run.stats
    first = stats.add_crash(crash.title)
    _event(run, event="crash", title=crash.title, kind=crash.kind, first=first)

    def restarted() -> None:
        stats.restarts += 1

    channel.restart()
    restarted()
    if not first:
        run.crashes[crash.title].count += 1
        return
    directory = run.config.out / "crashes" / crash.slug()
    directory.mkdir(parents=True, exist_ok=True)
    write_file(directory / "title", crash.title + "\n")
    write_file(directory / "report.txt", crash.report + "\n")
    log = {"programs": [json.loads(p.to_json()) for p in batch]}
    write_file(directory / "log.json", json.dumps(log) + "\n")
    record = CrashRecord(crash.title, crash.kind, 1, None, stats.elapsed, directory)
    run.crashes[crash.title] = record
    repro = reproduce(channel, batch, crash, restarted, at)
    record.repro = repro
    if repro is not None:
        write_file(directory / "repro.json", repro.to_json() + "\n")
        write_file(directory / "repro.txt", repro.listing() + "\n")
    _event(
        run,
        event="repro",
        title=crash.title,
        calls=len(repro) if repro else None,
        program=repro.listing() if repro else None,
    )
    if run.config.stop_on_crash and repro is not None:
        run.stop.set()
