"""The fuzz loop on one booted target: programs generated from the descriptions or mutated from
the corpus, run in batches, new signal kept in the corpus, crashes deduplicated by title and
minimized into reproducers. It runs inside a job (the `fuzz` phase); a campaign over several
targets and rounds is `sis.harness.fuzz.campaign`.

Everything lands in the job's directory as it happens: corpus/*.json, crashes/<title>/
(report.txt, log.json: the batch that crashed, repro.json and repro.txt), stats.prom and
stats.json (rewritten every few seconds), events.jsonl, and summary.json at the end."""

from __future__ import annotations

import json
import random
import time
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
    no_port,
    socket_dir,
)
from sis.harness.fuzz.minimize import reproduce
from sis.harness.fuzz.program import Program
from sis.harness.fuzz.stats import Stats
from sis.harness.outdir import open_file, write_atomic, write_file
from sis.harness.session import Session, StopToken
from sis.harness.targets.profile import Profile, load_profile

BATCH_PROGRAMS = 128  # programs per executor round trip
STATS_EVERY_S = 1.0
#: How long past the run's end a reproducer may still be worked on.
MINIMIZE_GRACE_S = 30.0


@dataclass
class FuzzConfig:
    target: str = "sis"
    duration: float = 60.0
    seed: int = 0
    out: Path = Path("sis-out/fuzz")
    jobs: int = 1
    syscalls: list[str] | None = None
    cover: bool = False
    append: str = ""  # the target's kernel command line (e.g. loglevel=debug)
    batch: int = BATCH_PROGRAMS
    stop_on_crash: bool = False  # end the run after the first reproducer (tests, selftest)
    #: A campaign's corpus to start from (read only); the loop's own finds go to out/corpus.
    corpus_from: Path | None = None
    worker: int = 0  # which worker of the campaign: part of the random seed


@dataclass
class CrashRecord:
    title: str
    kind: str
    count: int
    repro: Program | None
    found_after: float  # seconds into the run
    directory: Path
    cut_short: bool = False  # the run's end stopped the reproducer's search or minimization


@dataclass
class FuzzRun:
    config: FuzzConfig
    stats: Stats = field(default_factory=Stats)
    crashes: dict[str, CrashRecord] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    stopped: bool = False
    started_from: int = 0  # programs in the corpus it began with (a campaign's earlier rounds)


def fuzz_overrides(profile: Profile) -> dict[str, str]:
    """The placeholders a target is started with to be fuzzed: none for the reference kernel;
    a QEMU target's executor port (and the executor built into a linux-busybox image)."""
    if profile.kind == "sim":
        return {}
    ensure_executor_image(profile)
    return guest_overrides(profile, socket_dir())


def make_channel(session: Session, cover: bool) -> Channel:
    if session.profile.kind == "sim":
        return QmpChannel(session, cover=cover)
    sock = session.overrides.get("fuzz_sock")
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


def check_config(config: FuzzConfig) -> list[Syscall]:
    """The calls to fuzz; ValueError (one line) for a bad --syscalls, a target without the
    executor's port, or --cover on a target without coverage, before anything boots."""
    calls = enabled_calls(config.syscalls)
    profile = load_profile(config.target)
    if profile.kind != "sim" and not has_port(profile):
        raise ValueError(no_port(profile))
    if config.cover and profile.kind != "sim":
        raise ValueError(
            f"coverage feedback needs the reference kernel's x-sis-kcov; {config.target} has "
            "none (drop --cover)"
        )
    return calls


def fuzz_session(session: Session, config: FuzzConfig) -> FuzzRun:
    """Fuzz a started session for `config.duration` (or until its job is stopped), in the
    calling thread; the session belongs to the caller."""
    calls = check_config(config)
    for sub in ("corpus", "crashes"):
        (config.out / sub).mkdir(parents=True, exist_ok=True)
    run = FuzzRun(config)
    corpus = Corpus(config.out / "corpus", seeds=config.corpus_from)
    run.stats.corpus = run.started_from = len(corpus)
    try:
        _loop(run, corpus, calls, session, time.monotonic() + config.duration)
    finally:
        _finish(run)
    return run


def _finish(run: FuzzRun) -> None:
    _write_stats(run)
    write_atomic(run.config.out / "summary.json", json.dumps(_summary(run), indent=1) + "\n")


def _summary(run: FuzzRun) -> dict:
    config = run.config
    return run.stats.summary() | {
        "target": config.target,
        "seed": config.seed,
        "append": config.append,
        "cover": config.cover,
        "started_from": run.started_from,  # programs of the corpus it was given
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
    }


def _event(run: FuzzRun, **data: object) -> None:
    with open_file(run.config.out / "events.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"t": round(run.stats.elapsed, 3), **data}) + "\n")


def _loop(run: FuzzRun, corpus: Corpus, calls: list, session: Session, deadline: float) -> None:
    config = run.config
    stop: StopToken | None = session.stop
    rng = random.Random(config.seed * 1000 + config.worker)
    channel: Channel | None = None
    generator = ThreadPoolExecutor(1, thread_name_prefix=f"fuzz-gen-{config.worker}")
    try:
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
        upcoming = generator.submit(next_batch)
        last_stats = 0.0
        while time.monotonic() < deadline and not run.stopped:
            if stop is not None and stop.is_set():
                return
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
                _crashed(run, channel, batch, res.crash, res.crash_at, deadline)
            if time.monotonic() - last_stats > STATS_EVERY_S:
                last_stats = time.monotonic()
                _write_stats(run)
    except Exception as e:  # the lab could not go on with this target: say so in the results
        if stop is not None and stop.is_set():
            return
        run.errors.append(f"{type(e).__name__}: {e}" if not str(e) else str(e))
        _event(run, event="error", error=str(e))
    finally:
        generator.shutdown(wait=True, cancel_futures=True)
        if channel is not None:
            channel.stop()


def _write_stats(run: FuzzRun) -> None:
    out = run.config.out
    write_atomic(out / "stats.prom", run.stats.prometheus())
    write_atomic(out / "stats.json", json.dumps(_summary(run)) + "\n")


def _crashed(
    run: FuzzRun,
    channel: Channel,
    batch: list[Program],
    crash: CrashInfo,
    at: tuple[int, int] | None,
    deadline: float,
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
    # A crash found near the end still gets its reproducer, but the run ends not much later
    # than asked: what is left is done by `sis fuzz repro` on the saved log.json.
    repro, cut_short = reproduce(
        channel, batch, crash, restarted, at, max(deadline, time.monotonic()) + MINIMIZE_GRACE_S
    )
    record.repro, record.cut_short = repro, cut_short
    if repro is not None:
        write_file(directory / "repro.json", repro.to_json() + "\n")
        write_file(directory / "repro.txt", repro.listing() + "\n")
    _event(
        run,
        event="repro",
        title=crash.title,
        calls=len(repro) if repro else None,
        program=repro.listing() if repro else None,
        cut_short=cut_short,
    )
    if run.config.stop_on_crash and repro is not None:
        run.stopped = True
