"""JUnit XML: one testsuite per target/preset/suite; FAIL is a <failure>, ERROR an <error>."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from sis.harness.console import strip_ansi
from sis.harness.outdir import write_atomic
from sis.harness.results import ERROR, FAIL, SKIP, TestResult, summarize

# What XML 1.0 cannot carry: most C0 controls, lone surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    """`text` as XML can hold it: a crashing console prints colours, NULs and worse, and one
    such character would make the whole file unparseable for the CI system."""
    return _NOT_XML.sub("\ufffd", strip_ansi(str(text)))


def write_junit(results: list[TestResult], path: Path) -> None:
    groups: dict[str, list[TestResult]] = defaultdict(list)
    for r in results:
        groups[f"{r.target}.{r.preset}.{r.suite}"].append(r)
    counts = summarize(results)
    root = ET.Element(
        "testsuites",
        name="sis check",
        tests=str(len(results)),
        failures=str(counts[FAIL]),
        errors=str(counts[ERROR]),
        skipped=str(counts[SKIP]),
        time=f"{sum(r.duration_s for r in results):.3f}",
    )
    for name, items in groups.items():
        c = summarize(items)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=_clean(name),
            tests=str(len(items)),
            failures=str(c[FAIL]),
            errors=str(c[ERROR]),
            skipped=str(c[SKIP]),
            time=f"{sum(r.duration_s for r in items):.3f}",
        )
        for r in items:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=_clean(name),
                name=_clean(r.test),
                time=f"{r.duration_s:.3f}",
            )
            transcript = "\n".join(
                f"$ {s.command}\n{s.output}"
                + (f"\n[exit {s.status}]" if s.status else "")
                + (f"\n!! {s.why}" if s.why else "")
                for s in r.steps
            )
            if r.verdict == FAIL:
                ET.SubElement(case, "failure", message=_clean(r.reason)).text = _clean(transcript)
            elif r.verdict == ERROR:
                ET.SubElement(case, "error", message=_clean(r.reason)).text = _clean(transcript)
            elif r.verdict == SKIP:
                ET.SubElement(case, "skipped", message=_clean(r.reason))
            if transcript and r.verdict not in (FAIL, ERROR):
                ET.SubElement(case, "system-out").text = _clean(transcript)
    ET.indent(root)
    write_atomic(path, ET.tostring(root, encoding="utf-8", xml_declaration=True))
