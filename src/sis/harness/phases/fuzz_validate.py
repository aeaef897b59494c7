"""`sis fuzz validate`: the differential validation suite (syscalls with one bad argument each)
on the job's target, each case's answer put beside Linux's. One result per case (PASS when the
answer is Linux's or a recorded, explained difference; FAIL when it differs; ERROR when the
case could not be judged), and the target's answers in OUT/validate/<target>.json, from which
the command writes the side-by-side table."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sis.harness.outdir import write_atomic
from sis.harness.results import ERROR, FAIL, PASS, TestResult
from sis.harness.session import Session

if TYPE_CHECKING:
    from sis.harness.jobs import Job


@dataclass(frozen=True)
class FuzzValidateOptions:
    cases: tuple[str, ...] = ()  # only these cases (default: all for the target's arch)


class FuzzValidatePhase:
    name = "fuzz_validate"
    requires = frozenset({"shell"})
    after_poweroff = False
    Options = FuzzValidateOptions

    def planned(self, job: Job, options: FuzzValidateOptions) -> list[tuple[str, str]]:
        return []

    def overrides(self, job: Job, options: FuzzValidateOptions) -> dict[str, str]:
        from sis.harness.fuzz.fuzzer import fuzz_overrides
        from sis.harness.targets.profile import load_profile

        return fuzz_overrides(load_profile(job.target))

    def run(self, session: Session, job: Job, options: FuzzValidateOptions) -> Iterator[TestResult]:
        from sis.harness.fuzz import validate
        from sis.harness.fuzz.fuzzer import make_channel

        started = time.monotonic()
        answers: list[validate.Answer] = []
        channel = make_channel(session, cover=False)
        channel.start()
        try:
            run = validate.run_cases(channel, job.name, list(options.cases) or None, answers.append)
        finally:
            channel.stop()
        write_atomic(answers_path(job), json.dumps(
            {"target": run.target, "arch": run.arch, "error": run.error,
             "answers": [asdict(a) for a in run.answers.values()]}) + "\n")  # fmt: skip
        verdicts = {validate.MATCH: PASS, validate.EXPLAINED: PASS, validate.DIFFERS: FAIL,
                    validate.ERROR: ERROR}  # fmt: skip
        for a in answers:
            yield TestResult(
                target=job.name, preset=job.preset, suite="fuzz-validate", test=a.case,
                verdict=verdicts[a.verdict], reason=f"{a.verdict}: {a.answer}"
                + (f" ({a.detail})" if a.detail else ""),
                duration_s=time.monotonic() - started,
            )  # fmt: skip


def answers_path(job: Job) -> Path:
    path = Path(job.workdir).parent / "validate" / f"{job.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def read_runs(out: Path) -> list:
    """The targets' answers as validate.TargetRun, in the order they were written."""
    from sis.harness.fuzz.validate import Answer, TargetRun

    runs = []
    for path in sorted((out / "validate").glob("*.json"), key=lambda p: p.stat().st_mtime):
        try:
            data = json.loads(path.read_text())
            run = TargetRun(data["target"], data["arch"], error=data.get("error", ""))
            for a in data["answers"]:
                run.answers[a["case"]] = Answer(**a)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        runs.append(run)
    return runs
