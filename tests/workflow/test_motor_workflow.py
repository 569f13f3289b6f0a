"""The motor chain on config/tests/tiny_motor.yaml: simulated sessions and your own ones.

One run builds both cohorts: the `motor` section's simulated monkey and a user's
chronic sessions given as NWB files (`recordings.<name>.sessions`).
"""

from __future__ import annotations

import pandas as pd
import pytest

from brainlatent.decoding.cross_session import METRIC_COLUMNS, SESSION_COLUMNS

from .test_workflow import copy_project, planned_rules, snakemake

pytestmark = pytest.mark.workflow
CONFIG = "config/tests/tiny_motor.yaml"
METHODS = {"within", "fixed", "aligned", "cebra", "sable", "sable_no_reverse", "sable_recalibrated"}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    from brainlatent.datasets.simulate_motor import simulate_motor_sessions

    project = copy_project(tmp_path_factory.mktemp("motor"))
    # Your own chronic sessions: NWB files in the DANDI 000688 layout, another monkey.
    made = simulate_motor_sessions(
        project / "made", subject="P", days=[0, 3, 12, 40], trials_per_session=60,
        units_per_session=30, n_electrodes=32, seed=5,
    )  # fmt: skip
    days = (0, 3, 12, 40)
    own = [p.rename(project / f"p_day{d:02d}.nwb") for p, d in zip(made, days, strict=True)]
    sessions = ", ".join(p.name for p in own)  # named anything, dated by session_start_time
    extra = project / "config" / "tests" / "own.yaml"
    extra.write_text(
        "datasets: [motor, recording]\n"
        f"recordings: {{monkey_p: {{source: file, sessions: [{sessions}]}}}}\n"
    )
    snakemake(project, "--cores", "2", "--configfile", CONFIG, str(extra))
    return project


@pytest.mark.parametrize(
    ("cohort", "n_test"), [("sub-S", 2), ("monkey_p", 2)], ids=["simulated", "own_sessions"]
)
def test_every_method_is_scored_on_every_test_session(project, cohort, n_test):
    table = pd.read_parquet(project / f"results/motor/{cohort}/metrics/cross_session.parquet")
    assert list(table.columns) == METRIC_COLUMNS
    assert set(table["method"]) == METHODS and set(table["metric"]) == {"r2"}
    assert len(table) == len(METHODS) * n_test
    assert table["value"].notna().all()
    assert (table["days_apart"] > 0).all()
    for _, session in table.groupby("session"):  # the same evaluation trials for all
        assert session["n_eval_trials"].nunique() == 1
    labels = table.groupby("method")["test_labels"].first()
    assert labels["within"] == labels["cebra"] == "velocity" and labels["aligned"] == "target"
    assert labels["sable"] == labels["fixed"] == "none"


@pytest.mark.parametrize("cohort", ["sub-S", "monkey_p"], ids=["simulated", "own_sessions"])
def test_the_sessions_table_accounts_for_every_trial(project, cohort):
    sessions = pd.read_parquet(project / f"results/motor/{cohort}/metrics/sessions.parquet")
    metrics = pd.read_parquet(project / f"results/motor/{cohort}/metrics/cross_session.parquet")
    assert list(sessions.columns) == SESSION_COLUMNS and len(sessions) == 4
    assert sessions["role"].tolist() == ["train", "train", "test", "test"]
    test = sessions[sessions["role"] == "test"].set_index("session")
    assert (test["n_calibration"] + test["n_evaluation"] == test["n_trials"]).all()
    evaluated = metrics.groupby("session")["n_eval_trials"].first()
    assert test["n_evaluation"].to_dict() == evaluated.to_dict()
    attempted = 70 if cohort == "sub-S" else 60  # every trial of the file, kept or dropped
    dropped = sessions[["invalid", "artifact", "no_onset", "outside_kinematics"]].sum(axis=1)
    assert (sessions["n_trials"] + dropped == attempted).all()
    assert (sessions["invalid"] > 0).any() and (sessions["artifact"] == 0).all()
    template = sessions.set_index("role")["target_template_r2"]
    assert template["train"].isna().all() and template["test"].between(0.3, 1.0).all()


def test_own_sessions_are_read_from_the_users_files(project):
    trials = sorted(p.name for p in (project / "results/motor/monkey_p/trials").iterdir())
    assert trials == ["p_day00.npz", "p_day03.npz", "p_day12.npz", "p_day40.npz"]
    table = pd.read_parquet(project / "results/motor/monkey_p/metrics/cross_session.parquet")
    assert set(table["days_apart"]) == {9, 37}  # from the files' dates, after day 3
    assert set(table["subject"]) == {"P"}
    assert not (project / "results/motor/monkey_p/nwb").exists()  # read in place


def test_figures_are_drawn(project):
    for name in ("motor_cross_session", "motor_cross_session_monkey_p"):
        for suffix in ("pdf", "png"):
            assert (project / f"results/figures/{name}.{suffix}").stat().st_size > 10_000


def test_sable_is_fitted_once_and_saved(project):
    from brainlatent.models.sable import SABLE

    model = SABLE.load(project / "results/motor/sub-S/models/sable_seed0.pt")
    assert model.max_epochs == 4 and len(model.history_) > 0


def test_the_figure_rebuilds_alone(tmp_path):
    project = copy_project(tmp_path)
    figure = "results/figures/motor_cross_session.pdf"
    result = snakemake(project, "--dry-run", figure, "--configfile", "config/config.yaml")
    assert planned_rules(result) == {
        "simulate_motor_sessions", "bin_motor_trials", "decode_motor_baselines",
        "decode_motor_cebra", "fit_motor_sable", "decode_motor_sable", "collect_motor_metrics",
        "plot_motor_cross_session",
    }  # fmt: skip


def test_dropping_or_reordering_methods_reruns_no_sable_job(project):
    """Each scoring job is given only its own methods, in a fixed order: without CEBRA, or
    with the list reordered, the SABLE fits and decodes (minutes at full scale) stand."""
    extra = project / "config" / "tests" / "fewer.yaml"
    extra.write_text(
        "datasets: [motor]\n"
        "motor: {methods: [sable_recalibrated, sable_no_reverse, sable, aligned, fixed, within]}\n"
    )
    result = snakemake(project, "--dry-run", "--configfile", CONFIG, str(extra))
    collect = {"collect_motor_metrics", "plot_motor_cross_session", "scorecard", "all"}
    assert planned_rules(result) == collect, result.stdout
