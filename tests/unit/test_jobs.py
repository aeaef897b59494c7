"""Jobs are plain data, and `sis check` plans them (and refuses bad requests) before any boot."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from sis.harness.check import PlanError, plan
from sis.harness.datafile import DataFileError
from sis.harness.jobs import Job


def test_a_job_round_trips_through_json_and_pickle(tmp_path: Path):
    [job] = plan(["sim"], "lowmem", [], tmp_path, phases=["suites", "metrics"]).jobs
    assert job.key == "sis/lowmem" and job.phases == ("suites", "metrics")
    assert Job.from_dict(json.loads(json.dumps(job.to_dict()))) == job
    assert pickle.loads(pickle.dumps(job)) == job


def test_phases_run_in_their_fixed_order_whatever_the_order_asked(tmp_path: Path):
    [job] = plan(["sim"], "default", [], tmp_path, phases=["log_regression", "suites"]).jobs
    assert job.phases == ("suites", "log_regression")


def test_all_presets_make_one_job_each(tmp_path: Path):
    keys = plan(["sim"], "all", [], tmp_path).keys
    assert keys == ["sis/default", "sis/lowmem", "sis/smp-off", "sis/no-network"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"presets": ","}, "names no preset"),
        ({"phases": ["suites", "fuzz-everything"]}, "unknown phase 'fuzz-everything'"),
        ({"phases": []}, "no phase to run"),
        ({"targets": []}, "no target to run"),
    ],
)
def test_bad_requests_are_refused_before_anything_boots(tmp_path: Path, kwargs, message):
    args = {"targets": ["sim"], "presets": "default", "suite_names": [], "out": tmp_path}
    with pytest.raises(PlanError, match=message):
        plan(**(args | kwargs))
    assert not (tmp_path / "targets").exists()


def test_an_unknown_preset_is_a_profile_error(tmp_path: Path):
    with pytest.raises(DataFileError, match="preset"):
        plan(["sim"], "default,huge", [], tmp_path)


def test_all_presets_are_the_profiles_own(tmp_path: Path):
    text = (Path(__file__).parents[2] / "src/sis/harness/profiles/sis.yaml").read_text()
    profile = tmp_path / "two.yaml"
    # A profile with presets of its own: `all` means those, not the four built-in names.
    start = text.index("  presets:")
    end = text.index("\n", text.index("no-network:", start))
    profile.write_text(
        text[:start]
        + "  presets:\n    default: {}\n    tiny: {memory: 64M}\n"
        + text[end + 1 :]
    )
    assert plan([str(profile)], "all", [], tmp_path).keys == ["sis/default", "sis/tiny"]
