"""`sis metrics collect` and `sis metrics serve`. Exit 0 when done (or stopped with Ctrl-C
for `serve`), 1 when the target went down during `collect`, 2 when a target cannot be booted
or sampled, 130 when `collect` is interrupted."""

from __future__ import annotations

import contextlib
import signal
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from sis.cli.errors import fail

__all__ = ["metrics_app", "parse_listen"]

metrics_app = typer.Typer(
    no_args_is_help=True,
    help="Collect kernel metrics into a JSONL time series, or export them to Prometheus.",
)

TargetOpt = Annotated[
    str, typer.Option("--target", "-t", help="sis, linux-busybox or a profile file")
]
PresetOpt = Annotated[str, typer.Option(help="preset of the target (default, lowmem, ...)")]
SourceOpt = Annotated[
    str, typer.Option(help="auto (from the profile's capabilities), qmp, console or proc")
]
WorkdirOpt = Annotated[
    Path, typer.Option(help="where target artefacts (console captures, disk images) go")
]


def parse_listen(text: str) -> tuple[str, int]:
    """HOST:PORT, [V6]:PORT or :PORT (loopback) -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:9464")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Any:
    """SIGTERM ends the command as Ctrl-C does, so targets are powered off, not orphaned."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@metrics_app.command()
def collect(
    target: TargetOpt = "sis",
    preset: PresetOpt = "default",
    interval: Annotated[float, typer.Option(help="seconds between samples")] = 1.0,
    duration: Annotated[
        float, typer.Option(help="seconds to collect for (0 = until Ctrl-C)")
    ] = 10.0,
    out: Annotated[Path, typer.Option(help="JSONL file the samples are appended to")] = Path(
        "sis-out/metrics.jsonl"
    ),
    source: SourceOpt = "auto",
    workdir: WorkdirOpt = Path("sis-out/metrics"),
) -> None:
    """Boot a target and sample its metrics into a JSONL time series (one object a line,
    appended as it goes: Ctrl-C keeps what was collected)."""
    from rich.console import Console
    from rich.text import Text

    from sis.harness.datafile import DataFileError
    from sis.harness.jobs import target_jobs
    from sis.harness.metrics.collect import read_series
    from sis.harness.outdir import OutputError
    from sis.harness.phases import PlanError
    from sis.harness.plan import Interrupted, Plan, run_plan
    from sis.harness.results import ERROR, FAIL

    if interval <= 0 or duration < 0:
        fail("metrics", "--interval must be positive and --duration not negative")
    console = Console(stderr=True, markup=False)  # names are text
    options = {"metrics_collect": {"out": str(out.resolve()), "interval": interval,
                                   "duration": duration, "source": source}}  # fmt: skip
    try:
        jobs, _ = target_jobs([target], preset, ("metrics_collect",), options, workdir / "targets")
        plan = Plan("SIS metrics collect", [jobs], workdir)
    except (DataFileError, PlanError, ValueError) as e:
        fail("metrics", str(e))
    console.print(Text(f"Sampling {jobs[0].key} into {out}"))
    try:
        with console.status(Text(f"sampling {jobs[0].key}")):
            results = run_plan(plan)
    except OutputError as e:
        fail("metrics", str(e))
    except Interrupted as e:
        records, _ = read_series(out)
        console.print(Text(f"Interrupted: {len(records)} samples in {out}"))
        raise typer.Exit(e.exit_status) from None
    collected = next((r for r in results if r.test == "collect"), None)
    if collected is None or collected.verdict == ERROR:
        fail("metrics", collected.reason if collected else results[0].reason if results else
             "nothing was collected")  # fmt: skip
    console.print(Text(collected.reason))
    raise typer.Exit(1 if collected.verdict == FAIL else 0)


@metrics_app.command()
def serve(
    target: Annotated[
        list[str], typer.Option("--target", "-t", help="sis, linux-busybox or a profile file")
    ] = ["sis"],  # noqa: B006
    preset: PresetOpt = "default",
    listen: Annotated[str, typer.Option(help="HOST:PORT to serve /metrics on")] = "127.0.0.1:9464",
    cache: Annotated[float, typer.Option(help="seconds a sample is reused across scrapes")] = 0.5,
    timeout: Annotated[float, typer.Option(help="seconds to wait for a target's sample")] = 5.0,
    source: SourceOpt = "auto",
    workdir: WorkdirOpt = Path("sis-out/targets"),
) -> None:
    """Boot the targets and serve their live metrics for Prometheus until Ctrl-C."""
    from rich.console import Console
    from rich.text import Text

    from sis.harness.datafile import DataFileError
    from sis.harness.jobs import label_targets
    from sis.harness.metrics.collect import SampleError, Sampler
    from sis.harness.metrics.export import MetricsExporter
    from sis.harness.session import open_session
    from sis.harness.targets import TargetError
    from sis.harness.targets.profile import load_profile

    console = Console(stderr=True, markup=False)  # names are text
    try:
        host, port = parse_listen(listen)
        labels = label_targets([load_profile(t).name for t in target])
    except (ValueError, DataFileError) as e:
        fail("metrics", str(e))
    with _sigterm_as_interrupt(), contextlib.ExitStack() as stack:
        try:
            console.print(f"Booting {len(target)} target(s) ({preset})...", markup=False)
            booted = [
                (label, stack.enter_context(open_session(
                    spec, preset=preset, workdir=workdir, name=f"{label}-{preset}")))
                for spec, label in zip(target, labels, strict=True)
            ]  # fmt: skip
        except (TargetError, DataFileError, OSError) as e:
            fail("metrics", str(e))
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        exporter = None
        try:
            sources = [
                Sampler(session, source, label=label, timeout=timeout) for label, session in booted
            ]
            exporter = MetricsExporter(sources, cache_seconds=cache, timeout=timeout)
            exporter.start(host, port)
            names = ", ".join(f"{s.name} ({s.source})" for s in sources)
            console.print(Text(f"Serving {names} on {exporter.url} (Ctrl-C to stop)"))
            given_up: set[str] = set()
            while True:
                time.sleep(1.0)
                # Restarted from this thread, which started them (see sis.harness.session).
                for s, (_, session) in zip(sources, booted, strict=True):
                    if s.name in given_up or s.alive():
                        continue
                    console.print(Text(f"{s.name} is down; sis_target_up 0 until it is restarted"))
                    try:
                        session.ensure_shell()
                        console.print(Text(f"{s.name} restarted"))
                    except TargetError as e:
                        given_up.add(s.name)
                        console.print(Text(f"{s.name} could not be restarted ({e}); serving up 0"))
        except (OSError, SampleError, ValueError) as e:
            fail("metrics", str(e))
        except KeyboardInterrupt:
            console.print("Stopping")
        finally:
            if exporter is not None:
                exporter.stop()
