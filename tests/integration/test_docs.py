"""The documentation builds with MkDocs in strict mode (a broken link, a page missing from the
nav or a bad anchor fails it), and holds the pages a team needs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MKDOCS = Path(sys.executable).with_name("mkdocs")


def _build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MKDOCS), "build", "--strict", "-f", str(config), "-d", str(site)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def _nav_pages(nav: list) -> list[str]:
    pages = []
    for item in nav:
        (value,) = item.values()
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def test_the_site_builds_strict(tmp_path: Path) -> None:
    proc = _build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "site" / "security" / "index.html").exists()


def test_the_pages_a_team_needs_are_in_the_nav() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    pages = set(_nav_pages(config["nav"]))
    assert {
        "getting-started.md", "targets.md", "suites.md", "contract.md", "guest-contract.md",
        "chaos.md", "forensics.md", "soak.md", "fuzzing.md", "metrics.md",
        "reference-kernel.md", "build.md", "ci.md", "security.md", "architecture.md",
    } <= pages  # fmt: skip
    for page in pages:
        assert (ROOT / "docs" / page).is_file(), page


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs)
    (docs / "ci.md").write_text((docs / "ci.md").read_text() + "\n[gone](no-such-page.md)\n")
    config = tmp_path / "mkdocs.yml"
    text = (
        (ROOT / "mkdocs.yml")
        .read_text()
        .replace("scripts/mkdocs_hooks.py", str(ROOT / "scripts" / "mkdocs_hooks.py"))
    )
    config.write_text(text)
    proc = _build(config, tmp_path / "site")
    assert proc.returncode != 0
    assert "no-such-page.md" in proc.stderr


def test_the_readme_links_to_the_documentation() -> None:
    readme = (ROOT / "README.md").read_text()
    for page in ("docs/getting-started.md", "docs/build.md", "docs/ci.md", "docs/security.md"):
        assert f"]({page})" in readme, page
