"""Reports built from a run's results.jsonl: JUnit XML for CI systems, HTML for people."""

from sis.harness.report.html import write_html
from sis.harness.report.junit import write_junit

__all__ = ["write_html", "write_junit"]
