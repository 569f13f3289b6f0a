"""The motor chain's plan: cohorts, session files, jobs, and its config errors."""

from __future__ import annotations

import pandas as pd
import pytest

from brainlatent import ConfigError

from ..conftest import REPO
from .test_plan import plan


def test_simulated_cohort_names_sessions_by_date():
    p = plan()
    (cohort,) = p.motor.cohorts.values()
    assert cohort.name == "sub-S" and cohort.simulated
    names = list(cohort.sessions)
    assert names[0] == "sub-S_ses-CO-20240108" and names[-1] == "sub-S_ses-CO-20240308"
    assert len(names) == 8  # days 0 ... 60
    assert cohort.sessions[names[0]] == (
        "results/motor/sub-S/nwb/sub-S_ses-CO-20240108_behavior+ecephys.nwb"
    )
    assert cohort.jobs == ("baselines", "cebra", "sable")
    assert [t.rsplit("/", 1)[1] for t in cohort.tables] == [
        "baselines.parquet", "cebra.parquet",
        "sable_seed0.parquet", "sable_seed1.parquet", "sable_seed2.parquet",
    ]  # fmt: skip
    assert cohort.metrics == "results/motor/sub-S/metrics/cross_session.parquet"
    assert "results/figures/motor_cross_session.pdf" in p.targets


def test_methods_choose_the_jobs_and_baselines_always_run():
    p = plan({"motor": {"methods": ["sable"]}})
    assert p.motor.cohorts["sub-S"].jobs == ("baselines", "sable")  # baselines: the trajectories
    p = plan({"motor": {"methods": ["within", "fixed"]}})
    assert p.motor.cohorts["sub-S"].jobs == ("baselines",)


def test_download_selects_center_out_sessions_per_monkey():
    p = plan({"motor": {"source": "download", "sessions": {"subjects": ["C", "M"]}}})
    assert list(p.motor.cohorts) == ["sub-C", "sub-M"]
    c, m = p.motor.cohorts["sub-C"], p.motor.cohorts["sub-M"]
    assert len(c.sessions) == 53 and len(m.sessions) == 22
    first = next(iter(c.downloads.items()))
    assert first == ("sub-C_ses-CO-20131003", "sub-C/sub-C_ses-CO-20131003_behavior+ecephys.nwb")
    # each cohort's largest file, for its sessions' SLURM array (one memory for every task)
    manifest = pd.read_csv(REPO / "workflow/manifests/motor-cortex.tsv.gz", sep="\t")
    size = dict(zip(manifest["path"], manifest["size"] / 2**20, strict=True))
    for cohort in (c, m):
        expected = max(size[path] for path in cohort.downloads.values())
        assert cohort.largest_mb == pytest.approx(expected)
    assert c.largest_mb != m.largest_mb
    assert plan().motor.cohorts["sub-S"].largest_mb == 0  # simulated: written by the run


def test_download_by_manifest_paths_and_unknown_paths():
    path = "sub-T/sub-T_ses-CO-20130819_behavior+ecephys.nwb"
    with pytest.raises(ConfigError, match="motor.sessions"):
        plan({"motor": {"source": "download", "sessions": [path.replace("T_", "Q_")]}})


def test_too_few_sessions_for_the_training_split():
    with pytest.raises(ConfigError, match="at least 4 are needed"):
        plan({"motor": {"simulate": {"days": [0, 5, 9]}, "n_train_sessions": 3}})


def test_days_must_increase():
    with pytest.raises(ConfigError, match="increasing"):
        plan({"motor": {"simulate": {"days": [0, 9, 5, 20]}, "n_train_sessions": 1}})


def test_window_must_contain_movement_onset():
    with pytest.raises(ConfigError, match="window_s"):
        plan({"motor": {"window_s": [0.1, 0.5]}})


def test_a_go_cue_window_may_start_at_the_cue_but_must_end_after_it():
    p = plan({"motor": {"align": "go_cue", "window_s": [0.0, 0.8]}})
    assert next(iter(p.motor.cohorts.values())).settings["align"] == "go_cue"
    with pytest.raises(ConfigError, match="window_s.*after the go cue"):
        plan({"motor": {"align": "go_cue", "window_s": [-0.5, 0.0]}})


def test_your_chronic_sessions_become_a_cohort_with_its_own_figure():
    sessions = ["data/day01.nwb", "data/day08.nwb", "data/day30.nwb", "data/day60.nwb"]
    p = plan(
        {
            "datasets": ["recording"],
            "recordings": {"monkey_p": {"source": "file", "sessions": sessions}},
        }
    )
    assert "monkey_p" not in p.recordings
    cohort = p.recording_cohorts["monkey_p"]
    assert list(cohort.sessions) == ["day01", "day08", "day30", "day60"]
    assert cohort.sessions["day01"].endswith("data/day01.nwb")
    assert cohort.figure == "motor_cross_session_monkey_p"
    assert p.built_figures == ("motor_cross_session_monkey_p",)
    assert set(p.motor_cohorts) == {"sub-S", "monkey_p"}
    assert cohort.largest_mb == 0  # none of these files exists: their jobs will say so


def test_your_sessions_sizes_are_read_for_the_slurm_array(tmp_path):
    sessions = []
    for day, size in (("day01", 3_000), ("day08", 5_000), ("day30", 4_000), ("day60", 1_000)):
        path = tmp_path / f"{day}.nwb"
        path.write_bytes(bytes(size))
        sessions.append(str(path))
    p = plan(
        {
            "datasets": ["recording"],
            "recordings": {"monkey_p": {"source": "file", "sessions": sessions}},
        }
    )
    assert p.recording_cohorts["monkey_p"].largest_mb == pytest.approx(5_000 / 2**20)


def test_chronic_sessions_need_file_source_and_distinct_names():
    with pytest.raises(ConfigError, match="source to 'file'"):
        plan({"recordings": {"m": {"sessions": ["a.nwb", "b.nwb", "c.nwb", "d.nwb"]}}})
    with pytest.raises(ConfigError, match="repeat"):
        plan(
            {
                "recordings": {
                    "m": {"source": "file", "sessions": ["x/a.nwb", "y/a.nwb", "c.nwb", "d.nwb"]}
                }
            }
        )


def test_each_method_gets_its_settings_from_the_motor_section():
    from brainlatent.decoding.motor_settings import method_settings, sable_params

    motor = dict(plan().motor.cohorts["sub-S"].settings)
    settings = method_settings(motor, seed=3)
    decoder = {"n_lags": 10, "smoothing_s": 0.05, "alphas": settings["within"]["alphas"]}
    assert settings["within"] == settings["fixed"] == decoder
    assert settings["aligned"] == {**decoder, "n_components": 10, "sqrt": True}
    assert settings["cebra"]["labels"] == "velocity" and settings["cebra"]["random_state"] == 3
    assert settings["cebra"]["n_lags"] == 10  # the same decoder reads the embedding
    # null SABLE keys leave SABLE's defaults; seed and device always reach it
    assert sable_params(motor, 3, "cuda") == {"random_state": 3, "device": "cuda"}
    motor["sable"] = {**motor["sable"], "max_epochs": 7}
    assert sable_params(motor)["max_epochs"] == 7
