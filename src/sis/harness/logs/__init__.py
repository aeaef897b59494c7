"""Kernel logs: parsing captures (`parse`), turning records into stable event signatures
(`normalize`), and checking a run's log against a committed baseline (`baseline`); `cli` is
the `sis logs` command."""

from sis.harness.logs.baseline import (
    Baseline,
    BaselineDiff,
    BaselineError,
    baseline_path,
    check_against_baseline,
    compare,
    find_baseline,
    log_regression_result,
    read_baseline,
    record_baseline,
    write_baseline,
)
from sis.harness.logs.normalize import normalize_text, signature, signatures
from sis.harness.logs.parse import Gap, LogRecord, ParseReport, Problem, parse_file, parse_text

__all__ = [
    "Baseline",
    "BaselineDiff",
    "BaselineError",
    "Gap",
    "LogRecord",
    "ParseReport",
    "Problem",
    "baseline_path",
    "check_against_baseline",
    "compare",
    "find_baseline",
    "log_regression_result",
    "normalize_text",
    "parse_file",
    "parse_text",
    "read_baseline",
    "record_baseline",
    "signature",
    "signatures",
    "write_baseline",
]
