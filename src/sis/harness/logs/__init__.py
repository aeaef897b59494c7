"""Kernel logs: parsing captures in any of the log dialects (`formats`, `parse`), turning
records into stable event signatures (`normalize`), baseline files (`baseline`), a run's log
as a capture (`capture`), comparing a capture with a baseline (`diff`), and the log regression
check of `sis check` (`regression`). Recording and checking baselines from the command line
is `sis.harness.commands.logs`."""

from sis.harness.logs.baseline import (
    Baseline,
    BaselineError,
    baseline_path,
    find_baseline,
    read_baseline,
    write_baseline,
)
from sis.harness.logs.capture import Capture, capture_from_file
from sis.harness.logs.diff import BaselineDiff, compare
from sis.harness.logs.normalize import normalize_text, signature
from sis.harness.logs.parse import Gap, LogRecord, ParseReport, Problem, parse_file, parse_text
from sis.harness.logs.regression import log_regression_result
from sis.harness.logs.stream import signatures

__all__ = [
    "Baseline",
    "BaselineDiff",
    "BaselineError",
    "Capture",
    "Gap",
    "LogRecord",
    "ParseReport",
    "Problem",
    "baseline_path",
    "capture_from_file",
    "compare",
    "find_baseline",
    "log_regression_result",
    "normalize_text",
    "parse_file",
    "parse_text",
    "read_baseline",
    "signature",
    "signatures",
    "write_baseline",
]
