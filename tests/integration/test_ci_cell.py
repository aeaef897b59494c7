"""One cell of ci.yml's `sis check` matrix (the reference kernel, preset default), run here as
a workflow runner runs it: each `run:` step in order, in bash with -e and pipefail, with the
job's environment and a job-summary file; the artifacts it uploads must be there after."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from workflowfile import ROOT, Context, environment, load, matrix_cells

# Steps that install Debian packages: on this machine scripts/test-deps has installed them, and
# tests leave the machine's packages alone.
INSTALLS = ("make qemu-deps",)


def _workspace(tmp_path: Path) -> Path:
    """A workspace that is this checkout to the commands (their outputs stay in tmp_path)."""
    ws = tmp_path / "workspace"
    ws.mkdir()
    for name in ("Makefile", "pyproject.toml", "requirements.lock", "scripts", "src", ".venv"):
        (ws / name).symlink_to(ROOT / name)
    return ws


def test_the_sim_default_cell_runs_green(tmp_path: Path) -> None:
    workflow = load(ROOT / ".github/workflows/ci.yml")
    job = workflow["jobs"]["check"]
    (cell,) = [c for c in matrix_cells(job) if c["target"] == "sim" and c["preset"] == "default"]
    ctx = Context(cell)
    ws = _workspace(tmp_path)
    summary = tmp_path / "step-summary.md"
    home = tmp_path / "home"  # ci-bootstrap's git setting lands here, not in this machine's
    home.mkdir()
    ran, uploads = [], []
    for step in job["steps"]:
        if not ctx.condition(step.get("if")):
            continue
        if "uses" in step:
            if step["uses"].startswith("actions/upload-artifact@"):
                uploads.append(step["with"]["path"])
            continue
        script = ctx.substitute(step["run"])
        if script.strip() in INSTALLS:
            continue
        env = {**os.environ, **environment(workflow, job, step, ctx),
               "GITHUB_STEP_SUMMARY": str(summary), "HOME": str(home), "CI": "true"}  # fmt: skip
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                              cwd=ws, env=env, capture_output=True, text=True,
                              timeout=600)  # fmt: skip
        assert proc.returncode == 0, (
            f"{script}: exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
        ran.append(script)

    assert any("sis check" in s for s in ran) and any("report summary" in s for s in ran)
    assert not any("image build" in s for s in ran), "the reference kernel needs no image"
    text = summary.read_text()
    assert text.startswith("## SIS: ✅ PASS")
    assert "| sis | default | ✅ PASS |" in text
    (paths,) = uploads
    for line in paths.split():
        assert (ws / line).exists(), f"the artifact's {line} is missing"
