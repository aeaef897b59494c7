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
    str, typer.Option("--target", "-t", help="sim, linux-busybox or a profile file")
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
    target: TargetOpt = "sim",
    preset: PresetOpt = "default",
    interval: Annotated[float, typer.Option(help="seconds between samples")] = 1.0,
    duration: Annotated[
        float, typer.Option(help="seconds to collect for (0 = until Ctrl-C)")
    ] = 10.0,
    out: Annotated[Path, typer.Option(help="JSONL file the samples are appended to")] = Path(
        "sis-out/metrics.jsonl"
    ),
    source: SourceOpt = "auto",
    workdir: WorkdirOpt = Path("sis-out/targets"),
) -> None:
    """Boot a target and sample its metrics into a JSONL time series (one object a line,
    appended as it goes: Ctrl-C keeps what was collected)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from sis.harness.datafile import DataFileError
    from sis.harness.metrics.collect import SampleError, Sampler, collect_series
    from sis.harness.session import start_sessions
    from sis.harness.targets import TargetError

    if interval <= 0 or duration < 0:
        fail("metrics", "--interval must be positive and --duration not negative")
    console = Console(stderr=True, markup=False)  # names are text
    with _sigterm_as_interrupt():
        try:
            [(label, t)] = start_sessions([target], preset=preset, workdir=workdir)
        except (TargetError, DataFileError, OSError) as e:
            fail("metrics", str(e))
        try:
            sampler = Sampler(t, source, label=label)
            console.print(f"Sampling {label}/{preset} via {sampler.source} into {out}")
            progress = Progress(
                TextColumn("{task.fields[what]}", markup=False),
                BarColumn(),
                TextColumn("{task.completed:.0f} samples"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            with progress:
                task = progress.add_task("", total=None, what=f"{label}/{preset}")
                summary = collect_series(
                    sampler,
                    out,
                    interval=interval,
                    duration=duration,
                    on_sample=lambda rec: progress.advance(task),
                    recover=t.ensure_shell,
                )
        except SampleError as e:
            fail("metrics", str(e))
        except KeyboardInterrupt:
            from sis.harness.metrics.collect import read_series

            records, _ = read_series(out)
            console.print(f"Interrupted: {len(records)} samples in {out}")
            raise typer.Exit(130) from None
        finally:
            t.poweroff()
    note = f", {summary.errors} failed (last: {summary.last_error})" if summary.errors else ""
    if summary.restarts:
        note += f", target restarted {summary.restarts} time(s)"
    console.print(f"{summary.samples} samples in {out}{note}")
    raise typer.Exit(1 if summary.stopped == "target down" else 0)


@metrics_app.command()
def serve(
    target: Annotated[
        list[str], typer.Option("--target", "-t", help="sim, linux-busybox or a profile file")
    ] = ["sim"],  # noqa: B006
    preset: PresetOpt = "default",
    listen: Annotated[str, typer.Option(help="HOST:PORT to serve /metrics on")] = "127.0.0.1:9464",
    cache: Annotated[float, typer.Option(help="seconds a sample is reused across scrapes")] = 0.5,
    timeout: Annotated[float, typer.Option(help="seconds to wait for a target's sample")] = 5.0,
    source: SourceOpt = "auto",
    workdir: WorkdirOpt = Path("sis-out/targets"),
) -> None:
    """Boot the targets and serve their live metrics for Prometheus until Ctrl-C."""
    from rich.console import Console

    from sis.harness.datafile import DataFileError
    from sis.harness.metrics.collect import SampleError
    from sis.harness.metrics.export import MetricsExporter
    from sis.harness.session import start_sessions
    from sis.harness.targets import TargetError

    console = Console(stderr=True, markup=False)  # names are text
    try:
        host, port = parse_listen(listen)
    except ValueError as e:
        fail("metrics", str(e))
    with _sigterm_as_interrupt():
        try:
            console.print(f"Booting {len(target)} target(s) ({preset})...")
            booted = start_sessions(target, preset=preset, workdir=workdir)
        except (TargetError, DataFileError, OSError) as e:
            fail("metrics", str(e))
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        exporter = None
        try:
            from sis.harness.metrics.collect import Sampler

            sources = [Sampler(t, source, label=label, timeout=timeout) for label, t in booted]
            exporter = MetricsExporter(sources, cache_seconds=cache, timeout=timeout)
            exporter.start(host, port)
            names = ", ".join(f"{s.name} ({s.source})" for s in sources)
            console.print(f"Serving {names} on {exporter.url} (Ctrl-C to stop)")
            given_up: set[str] = set()
            while True:
                time.sleep(1.0)
                # Restarted from this thread, which started them (see sis.harness.session).
                for s, (_, session) in zip(sources, booted, strict=True):
                    if s.name in given_up or s.alive():
                        continue
                    console.print(f"{s.name} is down; sis_target_up 0 until it is restarted")
                    try:
                        session.ensure_shell()
                        console.print(f"{s.name} restarted")
                    except TargetError as e:
                        given_up.add(s.name)
                        console.print(f"{s.name} could not be restarted ({e}); serving up 0")
        except (OSError, SampleError, ValueError) as e:
            fail("metrics", str(e))
        except KeyboardInterrupt:
            console.print("Stopping")
        finally:
            if exporter is not None:
                exporter.stop()
            for _, t in booted:
                t.poweroff()
