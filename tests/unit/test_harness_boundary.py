"""The lab reaches kernels only through console, QMP and disk images: no harness module imports
the kernel, not even in code it hands to another Python (import-linter sees only real imports).
The reference kernel and its disk tools are run as commands (`sis kernel`, `sis disk`)."""

from __future__ import annotations

import re
from pathlib import Path

HARNESS = Path(__file__).parents[2] / "src" / "sis" / "harness"
KERNEL_IMPORT = re.compile(r"^\s*(?:from\s+sis\.kernel\b|import\s+sis\.kernel\b)", re.MULTILINE)


def test_no_harness_module_imports_the_kernel_even_in_a_string() -> None:
    offenders = [
        str(p.relative_to(HARNESS))
        for p in HARNESS.rglob("*.py")
        if KERNEL_IMPORT.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []
