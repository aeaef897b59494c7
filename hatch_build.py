"""Build hook: freeze the git state into the wheel so an installed `sis` reports its origin."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


def _git(root: str, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


class BuildInfoHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel" or version == "editable":
            return  # editable installs read git live (see sis.kernel.buildinfo)
        root = self.root
        epoch = os.environ.get("SOURCE_DATE_EPOCH")
        when = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
        info = {
            "git_commit": _git(root, "rev-parse", "HEAD") or "unknown",
            "git_branch": _git(root, "rev-parse", "--abbrev-ref", "HEAD") or "unknown",
            "git_dirty": bool(_git(root, "status", "--porcelain", "--untracked-files=no")),
            "build_timestamp": when.isoformat(timespec="seconds").replace("+00:00", "Z"),
        }
        out = Path(tempfile.mkdtemp()) / "_buildinfo.json"
        out.write_text(json.dumps(info))
        build_data["force_include"][str(out)] = "sis/kernel/_buildinfo.json"
