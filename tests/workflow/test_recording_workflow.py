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
METRICS = "results/recording/metrics/decoding.parquet"


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
    # Each row states its input's smoothing: none for the embeddings, chosen for the others.
    embedded = table["method"].isin(["cebra_behavior", "cebra_time", "pca", "raw"])
    assert (table.loc[embedded, "smoothing_s"] == 0).all()
    assert table.loc[table["method"] == "chance", "smoothing_s"].isna().all()
    assert (table.loc[table["method"] == "knn_smoothed", "smoothing_s"] >= 0).all()


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
    table = pd.read_parquet(project / "results/recording/metrics/consistency.parquet")
    assert list(table.columns) == CONSISTENCY_COLUMNS
    assert set(table["method"]) == {"cebra_behavior", "cebra_time"}
    assert len(table) == 2 * 2  # methods × ordered seed pairs
    assert table["value"].between(0, 1).all()


def test_figure_and_embeddings(project):
    for ext in ("pdf", "png"):
        assert (project / f"results/figures/recording_embedding.{ext}").stat().st_size > 1000
    with np.load(project / "results/recording/embeddings/cebra_behavior_seed0.npz") as data:
        assert data["embedding"].shape == (3600, 3)
        assert int(data["split"]) == 2880


def test_second_run_has_nothing_to_do(project):
    result = snakemake(project, "--cores", "1", "--configfile", CONFIG, "--dry-run")
    assert planned_rules(result) == set(), result.stdout


def test_a_users_npz_file_goes_through_the_same_chain(tmp_path):
    """File mode: an .npz at a path relative to the workflow folder, no simulation."""
    from brainlatent.datasets.simulate_place_cells import (
        PlaceCellSimulation,
        simulate_session,
        write_npz,
    )

    project = copy_project(tmp_path)
    session = simulate_session(PlaceCellSimulation(n_neurons=40, duration_s=40.0, seed=5))
    write_npz(session, project / "data" / "my_recording.npz")
    overlay = yaml.safe_load((project / CONFIG).read_text())
    overlay["recording"].update(
        source="file",
        path="data/my_recording.npz",
        discrete=None,  # from the file
        methods=["cebra_behavior", "pca"],
        seeds=[0],
    )
    overlay["recording"]["cebra"]["max_iterations"] = 100
    (project / "config" / "tests" / "file_mode.yaml").write_text(yaml.safe_dump(overlay))
    result = snakemake(project, "--cores", "2", "--configfile", "config/tests/file_mode.yaml")
    assert "simulate_place_cells" not in planned_rules(result)
    table = pd.read_parquet(project / METRICS)
    assert set(table["method"]) == {"chance", "cebra_behavior", "pca"}
    assert set(table["label"]) == {"position", "direction"}
    assert (project / "results/figures/recording_embedding.png").stat().st_size > 1000
    assert len(pd.read_parquet(project / "results/recording/metrics/consistency.parquet")) == 0
