"""The lock file: every dependency of SIS (runtime, test and dask extras) pinned with hashes,
inside pyproject.toml's ranges, and installed here at exactly the locked version (what
`make` does on a fresh clone)."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"


def _locked() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of every entry of the lock."""
    entries: dict[str, tuple[str, list[str]]] = {}
    text = re.sub(r"\\\n\s*", " ", LOCK.read_text())
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)(.*)$", line)
        if m:
            hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", m.group(3))
            entries[canonicalize_name(m.group(1))] = (m.group(2), hashes)
    return entries


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in ("test", "dask"):
        reqs += project["optional-dependencies"][extra]
    return [Requirement(r) for r in reqs]


def test_every_entry_is_pinned_with_hashes() -> None:
    locked = _locked()
    assert len(locked) > 20
    for name, (version, hashes) in locked.items():
        assert hashes, f"{name}=={version} has no hash"


def test_every_declared_dependency_is_locked_within_its_range() -> None:
    locked = _locked()
    for req in _declared():
        name = canonicalize_name(req.name)
        assert name in locked, f"{req} is not in the lock: run `make lock`"
        assert req.specifier.contains(locked[name][0], prereleases=True), (
            f"{name}=={locked[name][0]} is outside {req}"
        )


def test_the_dask_extra_brings_distributed() -> None:
    assert "distributed" in _locked()


def test_this_environment_holds_exactly_the_locked_versions() -> None:
    for name, (version, _) in _locked().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            raise AssertionError(f"{name} is locked but not installed (make install)") from None
        assert installed == version, f"{name}: {installed} installed, {version} locked"


def test_make_installs_from_the_lock_checking_hashes() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet --require-hashes -r $(LOCK)" in makefile
    assert re.search(r"^\$\(STAMP\): pyproject.toml \$\(LOCK\)$", makefile, re.MULTILINE)
    assert re.search(r"^lock:", makefile, re.MULTILINE)
