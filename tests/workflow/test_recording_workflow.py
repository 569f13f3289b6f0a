"""The "your own recording" chain on config/tests/tiny_recording.yaml (simulated place cells)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from brainlatent.decoding.behavior import CONSISTENCY_COLUMNS, METRIC_COLUMNS

from .. import baseline
from .test_workflow import copy_project, planned_rules, snakemake

pytestmark = pytest.mark.workflow
CONFIG = "config/tests/tiny_recording.yaml"
ROOT = "results/recording/place_cells_dense"  # recordings: null names it after the preset
METRICS = f"{ROOT}/metrics/decoding.parquet"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("recording"))
    snakemake(project, "--cores", "2", "--configfile", CONFIG)
    return project


def test_metrics_have_the_documented_schema(project):
    table = pd.read_parquet(project / METRICS)
    assert list(table.columns) == METRIC_COLUMNS
    assert set(table["method"]) == {
        "chance", "cebra_behavior", "cebra_time", "pca", "raw",
        "bayesian", "knn_smoothed", "ridge_smoothed",
    }  # fmt: skip
    assert set(zip(table["label"], table["metric"], strict=True)) == {
        ("position", "median_abs_error"),
        ("position", "r2"),
        ("direction", "accuracy"),
    }
    cebra = table[table["method"].str.startswith("cebra")]
    assert set(cebra["seed"]) == {0, 1}
    assert table.loc[~table["method"].str.startswith("cebra"), "seed"].isna().all()
    # Each row states its input's smoothing (the embeddings': the one chosen on validation)
    # and CEBRA's rows their iterations (chosen too).
    embedded = table["method"].isin(["cebra_behavior", "cebra_time", "pca", "raw"])
    assert set(table.loc[embedded, "smoothing_s"]) <= {0.0, 0.25}
    assert table.loc[table["method"] == "chance", "smoothing_s"].isna().all()
    assert (table.loc[table["method"] == "knn_smoothed", "smoothing_s"] >= 0).all()
    assert set(cebra["iterations"]) <= {100, 200}
    assert table.loc[~table["method"].str.startswith("cebra"), "iterations"].isna().all()


def test_each_embedding_chooses_on_validation_curves_and_the_choice_is_written(project):
    from brainlatent.decoding.selection import SELECTION_COLUMNS

    curves = pd.read_parquet(project / f"{ROOT}/metrics/selection.parquet")
    assert list(curves.columns) == SELECTION_COLUMNS
    assert set(curves["smoothing_s"]) == {0.0, 0.25}
    assert set(curves["method"]) == {"cebra_behavior", "cebra_time", "pca", "raw"}
    cebra = curves["method"].str.startswith("cebra")
    assert set(curves.loc[cebra, "iterations"]) == {100, 200}  # every eval_every, the end
    assert set(curves.loc[cebra, "seed"]) == {0} and curves.loc[~cebra, "iterations"].isna().all()
    table = pd.read_parquet(project / METRICS)
    for method, rows in curves.groupby("method"):
        chosen = rows[rows["chosen"] & rows["criterion"]]
        assert len(chosen) == 1 and chosen["label"].item() == "position"
        best = rows[rows["criterion"] & (rows["iterations"].fillna(1) > 0)]["value"].min()
        assert chosen["value"].item() == best
        decoded = table[table["method"] == method]
        assert (decoded["smoothing_s"] == chosen["smoothing_s"].item()).all()
        if method.startswith("cebra"):
            assert (decoded["iterations"] == chosen["iterations"].item()).all()


def test_standard_decoders_beat_chance(project):
    """The field's decoders on counts, fitted on the training block only."""
    table = pd.read_parquet(project / METRICS)
    error = table[(table["label"] == "position") & (table["metric"] == "median_abs_error")]
    error = error.groupby("method")["value"].mean()
    for method in ("bayesian", "knn_smoothed", "ridge_smoothed"):
        assert error[method] < 0.5 * error["chance"], error
    assert error["bayesian"] < error["raw"], error


def test_metrics_equal_those_from_before_the_refactor(project):
    """The tables of tiny_recording.yaml, bit for bit, as tests/data/baseline holds them."""
    baseline.compare(project / "results", "tiny_recording")


def test_cebra_behavior_decodes_position_better_than_pca_and_chance(project):
    table = pd.read_parquet(project / METRICS)
    error = (
        table[(table["label"] == "position") & (table["metric"] == "median_abs_error")]
        .groupby("method")["value"]
        .mean()
    )
    assert error["cebra_behavior"] < 0.5 * error["pca"], error
    assert error["cebra_behavior"] < 0.25 * error["chance"], error
    accuracy = table[table["metric"] == "accuracy"].groupby("method")["value"].mean()
    assert accuracy["cebra_behavior"] > accuracy["chance"] + 0.2, accuracy


def test_consistency_across_seeds(project):
    table = pd.read_parquet(project / f"{ROOT}/metrics/consistency.parquet")
    assert list(table.columns) == CONSISTENCY_COLUMNS
    assert set(table["method"]) == {"cebra_behavior", "cebra_time"}
    assert len(table) == 2 * 2  # methods × ordered seed pairs
    assert table["value"].between(0, 1).all()


def test_figure_and_embeddings(project):
    for ext in ("pdf", "png"):
        figure = project / f"results/figures/recording_embedding_place_cells_dense.{ext}"
        assert figure.stat().st_size > 1000
    with np.load(project / f"{ROOT}/embeddings/cebra_behavior_seed0.npz") as data:
        assert data["embedding"].shape == (3600, 3)
        assert int(data["split"]) == 2880


def test_second_run_has_nothing_to_do(project):
    result = snakemake(project, "--cores", "1", "--configfile", CONFIG, "--dry-run")
    assert planned_rules(result) == set(), result.stdout


def test_several_recordings_in_one_run_each_in_its_folder(tmp_path):
    """File mode for two sessions at once (.npz, paths relative to the workflow folder), each
    with its own settings, results and figure; a set input smoothing needs no selection."""
    from brainlatent.datasets.simulate_place_cells import (
        PlaceCellSimulation,
        simulate_session,
        write_npz,
    )

    project = copy_project(tmp_path)
    for day, seed in (("day1", 5), ("day2", 6)):
        session = simulate_session(PlaceCellSimulation(n_neurons=40, duration_s=40.0, seed=seed))
        write_npz(session, project / "data" / f"rat_{day}.npz")
    overlay = yaml.safe_load((project / CONFIG).read_text())
    overlay["recording"].update(
        source="file",
        discrete=None,  # from the file
        methods=["cebra_behavior", "pca"],
        seeds=[0],
        input_smoothing_s=0.25,
    )
    overlay["recording"]["cebra"]["max_iterations"] = 100
    overlay["recordings"] = {
        "day1": {"path": "data/rat_day1.npz"},
        "day2": {"path": "data/rat_day2.npz", "methods": ["pca"], "input_smoothing_s": 0.0},
    }
    (project / "config" / "tests" / "file_mode.yaml").write_text(yaml.safe_dump(overlay))
    result = snakemake(project, "--cores", "2", "--configfile", "config/tests/file_mode.yaml")
    assert {"simulate_place_cells", "select_recording_input"}.isdisjoint(planned_rules(result))
    day1 = pd.read_parquet(project / "results/recording/day1/metrics/decoding.parquet")
    day2 = pd.read_parquet(project / "results/recording/day2/metrics/decoding.parquet")
    assert set(day1["method"]) == {"chance", "cebra_behavior", "pca"}
    assert set(day2["method"]) == {"chance", "pca"}
    assert set(day1["dataset"]) == {"day1"} and set(day2["dataset"]) == {"day2"}
    assert set(day1["label"]) == {"position", "direction"}
    assert (day1.loc[day1["method"] != "chance", "smoothing_s"] == 0.25).all()
    assert (day2.loc[day2["method"] == "pca", "smoothing_s"] == 0.0).all()
    for day in ("day1", "day2"):
        assert (project / f"results/figures/recording_embedding_{day}.png").stat().st_size > 1000
        assert pd.read_parquet(project / f"results/recording/{day}/metrics/selection.parquet").empty
    consistency = pd.read_parquet(project / "results/recording/day1/metrics/consistency.parquet")
    assert len(consistency) == 0  # one seed
