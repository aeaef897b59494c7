"""The GitHub workflows: valid against the workflow schema check-jsonschema vendors, clean
under zizmor's offline audit, pinned and bounded, and every command they run is one a person
can run here: a make target, a `sis` command with options it accepts, or a script in scripts/."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from workflowfile import (
    ROOT,
    WORKFLOWS,
    Context,
    commands,
    environment,
    load,
    make_targets,
    matrix_cells,
    run_steps,
)

try:  # typer carries its own click from 0.20 on
    from typer import _click as click
except ImportError:  # pragma: no cover
    import click

BIN = Path(sys.executable).parent
NAMES = {p.name for p in WORKFLOWS}
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def test_the_promised_workflows_are_there() -> None:
    assert {"ci.yml", "chaos.yml", "fuzz.yml", "soak.yml", "image.yml"} <= NAMES


def _tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / name), *args], capture_output=True, text=True, timeout=120)


def test_every_workflow_matches_the_github_workflow_schema() -> None:
    proc = _tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows",
                 *map(str, WORKFLOWS))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_schema_check_catches_a_misspelt_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text((ROOT / ".github/workflows/ci.yml").read_text().replace("runs-on:", "run-on:"))
    proc = _tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(bad))
    assert proc.returncode != 0


def test_zizmor_finds_nothing_offline() -> None:
    proc = _tool("zizmor", "--offline", "--no-progress", str(ROOT / ".github/workflows"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_would_catch_an_unpinned_action_or_an_injection(tmp_path: Path) -> None:
    text = (ROOT / ".github/workflows/ci.yml").read_text()
    text = re.sub(r"actions/checkout@[0-9a-f]{40}", "actions/checkout@v4", text)
    text = text.replace("--out sis-out", '--out "${{ github.head_ref }}"', 1)
    (tmp_path / ".github/workflows").mkdir(parents=True)
    (tmp_path / ".github/workflows/ci.yml").write_text(text)
    proc = _tool("zizmor", "--offline", "--no-progress", str(tmp_path / ".github/workflows"))
    assert proc.returncode != 0
    assert "template-injection" in proc.stdout and "unpinned-uses" in proc.stdout


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_jobs_are_bounded_read_only_and_pinned(path: Path) -> None:
    wf = load(path)
    assert wf.get("permissions") == {"contents": "read"}, "read-only unless a job says more"
    for name, job in wf["jobs"].items():
        assert 0 < job["timeout-minutes"] <= 300, f"{name}: hosted runners stop jobs at 6 h"
        perms = job.get("permissions", {"contents": "read"})
        writes = {k for k, v in perms.items() if v == "write"}
        if path.name == "image.yml":
            assert writes <= {"packages"}, name
        else:
            assert not writes, f"{name} asks for {writes}"
        for step in job.get("steps", []):
            if "uses" in step:
                assert SHA_PIN.match(step["uses"]), step["uses"]
    raw = path.read_text()
    for line in raw.splitlines():
        if "uses:" in line:
            assert re.search(r"@[0-9a-f]{40} # v\d", line), f"no version comment: {line}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_jobs_run_in_debian_bookworm_except_the_image_builders(path: Path) -> None:
    for name, job in load(path)["jobs"].items():
        if path.name == "image.yml":
            continue  # they build containers, natively on each architecture's runner
        container = job.get("container")
        image = container if isinstance(container, str) else (container or {}).get("image")
        assert image == "debian:bookworm", name


def test_the_soak_starts_saturday_at_two_and_resumes_its_segments() -> None:
    wf = load(ROOT / ".github/workflows/soak.yml")
    assert {"cron": "0 2 * * 6"} in wf[True]["schedule"]  # `on` reads as True in YAML 1.1
    resumed = [s["run"] for _, _, s in run_steps(wf) if "--resume" in s["run"]]
    assert len(resumed) == len(wf["jobs"]) - 1


def _sis_app() -> click.Command:  # a group: it has get_command()
    from sis.cli import app

    return typer.main.get_command(app)


def _check_sis(words: list[str]) -> None:
    """The words after `sis` name a command and pass its option parser."""
    cmd = _sis_app()
    args = list(words)
    path = ["sis"]
    while hasattr(cmd, "get_command") and args and not args[0].startswith("-"):
        sub = cmd.get_command(click.Context(cmd), args[0])
        assert sub is not None, f"`{' '.join(path)}` has no command {args[0]!r}"
        path.append(args.pop(0))
        cmd = sub
    if hasattr(cmd, "get_command") and not getattr(cmd, "invoke_without_command", False):
        raise AssertionError(f"`{' '.join(path)}` needs a sub-command")
    try:
        cmd.make_context(" ".join(path), args, resilient_parsing=False)
    except click.ClickException as e:
        raise AssertionError(f"`{' '.join(path + args)}`: {e.format_message()}") from None


def _all_commands() -> list[tuple[str, list[str]]]:
    found = []
    for path in WORKFLOWS:
        wf = load(path)
        for name, job, step in run_steps(wf):
            for cell in matrix_cells(job):
                ctx = Context(cell)
                env = environment(wf, job, step, ctx)
                for words in commands(ctx.substitute(step["run"]), env):
                    found.append((f"{path.name}:{name}", words))
    return found


def test_every_workflow_command_exists() -> None:
    targets = make_targets()
    seen = set()
    for where, words in _all_commands():
        key = (where, tuple(words))
        if key in seen:
            continue
        seen.add(key)
        program = words[0]
        if program == "make":
            goals = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
            assert goals, f"{where}: `make` with no target"
            for goal in goals:
                assert goal in targets, f"{where}: no make target {goal!r}"
        elif program in (".venv/bin/sis", "sis"):
            _check_sis(words[1:])
        elif program.startswith("scripts/"):
            script = ROOT / program
            assert script.is_file() and os.access(script, os.X_OK), f"{where}: {program}"
        else:
            raise AssertionError(f"{where}: {' '.join(words)}: not a make target, sis or script")


def test_the_command_check_rejects_what_does_not_exist() -> None:
    with pytest.raises(AssertionError):
        _check_sis(["chek", "--target", "sim"])
    with pytest.raises(AssertionError):
        _check_sis(["check", "--tagret", "sim"])
    with pytest.raises(AssertionError):
        _check_sis(["soak", "--resume", "--duration"])
    _check_sis(["check", "--target", "sim", "--preset", "default", "--out", "x"])
    assert "workflows-check" in make_targets() and "nothing" not in make_targets()


def test_commands_are_read_as_a_shell_would() -> None:
    env = {"TARGET": "linux-busybox", "SOAK": "--target sim --duration 1h"}
    got = commands('A=1 .venv/bin/sis check --target "$TARGET" >> "$OUT" && make lint\n'
                   "sis soak --resume $SOAK", env)  # fmt: skip
    assert got == [
        [".venv/bin/sis", "check", "--target", "linux-busybox"],
        ["make", "lint"],
        ["sis", "soak", "--resume", "--target", "sim", "--duration", "1h"],
    ]


def test_the_check_matrix_covers_every_target_and_preset() -> None:
    job = load(ROOT / ".github/workflows/ci.yml")["jobs"]["check"]
    cells = matrix_cells(job)
    targets = {c["target"] for c in cells}
    presets = {c["preset"] for c in cells}
    assert targets == {"sim", "linux-busybox", "linux-busybox-arm64", "linux-busybox-riscv64"}
    assert presets == {"default", "lowmem", "smp-off", "no-network"}
    assert len(cells) == 16
    arch = {c["target"]: c.get("arch", "") for c in cells}
    assert arch == {"sim": "", "linux-busybox": "amd64", "linux-busybox-arm64": "arm64",
                    "linux-busybox-riscv64": "riscv64"}  # fmt: skip
