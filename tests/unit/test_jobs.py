"""Jobs are plain data, and `sis check` plans them (and refuses bad requests) before any boot."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from sis.harness.commands.check import PlanError, plan
from sis.harness.datafile import DataFileError
from sis.harness.jobs import Job, check_job, label_targets
from sis.harness.phases import check_help, options_for


def test_a_job_round_trips_through_json_and_pickle(tmp_path: Path):
    [job] = plan(["sim"], "lowmem", [], tmp_path, phases=["suites", "metrics"]).jobs
    assert job.key == "sis/lowmem" and job.phases == ("suites", "metrics")
    assert Job.from_dict(json.loads(json.dumps(job.to_dict()))) == job
    assert pickle.loads(pickle.dumps(job)) == job


def test_phases_run_in_their_fixed_order_whatever_the_order_asked(tmp_path: Path):
    [job] = plan(["sim"], "default", [], tmp_path, phases=["log_regression", "suites"]).jobs
    assert job.phases == ("suites", "log_regression")


def test_all_presets_make_one_job_each(tmp_path: Path):
    keys = [j.key for j in plan(["sis"], "all", [], tmp_path).jobs]
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
        text[:start] + "  presets:\n    default: {}\n    tiny: {memory: 64M}\n" + text[end + 1 :]
    )
    assert [j.key for j in plan([str(profile)], "all", [], tmp_path).jobs] == [
        "sis/default",
        "sis/tiny",
    ]


def test_an_unknown_or_mistyped_phase_option_is_one_line_naming_phase_and_key(tmp_path: Path):
    with pytest.raises(PlanError, match=r"^phase soak has no option 'durtion' \(it has: "):
        options_for("soak", {"durtion": 60})
    with pytest.raises(PlanError, match=r"^phase soak option 'duration': 'long' is not a number"):
        options_for("soak", {"duration": "long"})
    with pytest.raises(PlanError, match="phase metrics_collect needs option 'out'"):
        options_for("metrics_collect", {})
    assert options_for("soak", {"duration": 60, "thresholds": ["x < 1"]}).thresholds == ("x < 1",)
    with pytest.raises(PlanError, match="phase chaos has no option 'chaos_experiments'"):
        plan(["sis"], "default", [], tmp_path, phases=["chaos"],
             phase_options={"chaos": {"chaos_experiments": ["disk_full"]}})  # fmt: skip
    job = Job("sis", "default", "sis", ("suites",), str(tmp_path), {"fuzz": {}})
    with pytest.raises(PlanError, match="options given for phase 'fuzz'"):
        check_job(job)


def test_targets_given_twice_are_numbered_per_name():
    assert label_targets(["sis", "linux-busybox", "sis"]) == ["sis-1", "linux-busybox", "sis-2"]


def test_check_help_names_every_phase_check_offers():
    text = check_help()
    for name in ("suites", "metrics", "chaos", "soak", "fuzz", "crash_probe", "log_regression"):
        assert name in text
    assert "suites (default)" in text and "chaos (default)" not in text
