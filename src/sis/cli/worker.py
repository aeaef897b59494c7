"""`sis worker`: a Dask worker for `--executor dask`, Dask's own `dask worker` with what this
machine can run (QEMU emulators, VM slots, memory for guests, KVM) declared as its resources,
every socket on the host it serves from, and TLS credentials from one directory.

A plain `dask worker ADDRESS` works too: the client declares the same resources on it through
the SIS worker plugin. `sis worker --write-certs DIR` makes credentials for a cluster.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from sis.cli.errors import fail

__all__ = ["worker"]


def worker(
    scheduler: Annotated[
        str | None,
        typer.Option(envvar="SIS_DASK_SCHEDULER", help="the scheduler: tls://HOST:PORT"),
    ] = None,
    tls: Annotated[
        Path | None,
        typer.Option(envvar="SIS_DASK_TLS", help="directory with ca.pem, cert.pem, key.pem"),
    ] = None,
    insecure: Annotated[
        bool, typer.Option(help="allow plain TCP to a scheduler that is not on loopback")
    ] = False,
    host: Annotated[
        str | None,
        typer.Option(help="address to serve on [default: 127.0.0.1 for a loopback scheduler]"),
    ] = None,
    nthreads: Annotated[
        int | None, typer.Option(help="jobs at once [default: the VM slots found]")
    ] = None,
    write_certs: Annotated[
        Path | None,
        typer.Option(help="write a new ca.pem, cert.pem, key.pem into this directory and exit"),
    ] = None,
) -> None:
    """Run a Dask worker for `sis ... --executor dask --scheduler ADDRESS`."""
    try:
        from sis.harness.executors.dask import (
            SchedulerError,
            is_loopback,
            security_for,
            write_credentials,
        )
        from sis.harness.executors.dask_worker import VM_SLOTS, detect_resources
    except ImportError:
        fail("worker", "needs Dask distributed: pip install 'sis[dask]'", 2)
    if write_certs is not None:
        try:
            write_credentials(write_certs)
        except OSError as e:
            fail("worker", f"{write_certs}: {e.strerror or e}", 2)
        typer.echo(f"wrote ca.pem, cert.pem, key.pem to {write_certs} (keep key.pem private)")
        return
    if not scheduler:
        fail("worker", "--scheduler ADDRESS (or SIS_DASK_SCHEDULER) is required", 2)
    try:
        security_for(scheduler, tls, insecure)
    except SchedulerError as e:
        fail("worker", str(e), 2)
    if host is None and is_loopback(scheduler):
        host = "127.0.0.1"
    resources = detect_resources()
    argv = [sys.executable, "-m", "distributed.cli.dask_worker", scheduler]
    argv += ["--resources", ",".join(f"{k}={v:g}" for k, v in sorted(resources.items()))]
    argv += ["--nthreads", str(nthreads or int(resources[VM_SLOTS]))]
    # --no-dashboard alone still serves HTTP on every interface: name the address too.
    argv += ["--no-dashboard", "--dashboard-address", f"{host or '0.0.0.0'}:0"]
    if host:
        argv += ["--host", host]
    if tls is not None:
        argv += ["--tls-ca-file", str(tls / "ca.pem")]
        argv += ["--tls-cert", str(tls / "cert.pem"), "--tls-key", str(tls / "key.pem")]
    sys.stdout.flush()
    os.execv(sys.executable, argv)
