"""Build information: which source the running kernel was built from.

In a source checkout (editable install) it is read live from git, so it is never stale; in an
installed wheel it comes from `_buildinfo.json`, frozen by the build hook (hatch_build.py)."""

from __future__ import annotations

import functools
import json
import platform
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import sis

_PACKAGE_DIR = Path(__file__).resolve().parent
_FROZEN = _PACKAGE_DIR / "_buildinfo.json"


@dataclass(frozen=True)
class BuildInfo:
    git_commit: str
    git_branch: str
    git_dirty: bool
    build_timestamp: str  # RFC 3339
    python_version: str
    version: str

    @property
    def short_commit(self) -> str:
        return self.git_commit[:7] if self.git_commit != "unknown" else "unknown"

    def headline(self) -> str:
        dirty = "+" if self.git_dirty else ""
        return f"SIS Kernel {self.short_commit} ({self.git_branch}{dirty}) built {self.build_timestamp[:10]}"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=_PACKAGE_DIR, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _source_mtime() -> str:
    newest = max((p.stat().st_mtime for p in _PACKAGE_DIR.rglob("*.py")), default=0.0)
    return _rfc3339(datetime.fromtimestamp(newest, UTC))


def _rfc3339(when: datetime) -> str:
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


@functools.cache
def build_info() -> BuildInfo:
    python = platform.python_version()
    if _FROZEN.exists():
        data = json.loads(_FROZEN.read_text())
        return BuildInfo(
            data["git_commit"],
            data["git_branch"],
            bool(data["git_dirty"]),
            data["build_timestamp"],
            python,
            sis.__version__,
        )
    commit = _git("rev-parse", "HEAD")
    if commit:
        branch = _git("rev-parse", "--abbrev-ref", "HEAD") or "unknown"
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no", "--", "."))
        # A checkout is "built" when its sources last changed.
        return BuildInfo(commit, branch, dirty, _source_mtime(), python, sis.__version__)
    return BuildInfo("unknown", "unknown", False, _source_mtime(), python, sis.__version__)
