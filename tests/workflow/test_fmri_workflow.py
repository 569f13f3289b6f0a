"""The GOD fMRI chain at the default config's settings (config/tests/god_fmri.yaml)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from brainlatent.decoding.fmri import IDENTIFICATION_COLUMNS

from .. import baseline
from .test_workflow import copy_project, planned_rules, snakemake

pytestmark = pytest.mark.workflow
CONFIG = "config/tests/god_fmri.yaml"
SUBJECT = "results/god_fmri/sub-01"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("god_fmri"))
    snakemake(project, "--cores", "2", "--configfile", CONFIG)
    return project


def test_metrics_equal_those_from_before_the_refactor(project):
    """The tables of god_fmri.yaml, bit for bit, as tests/data/baseline holds them."""
    baseline.compare(project / "results", "god_fmri")


def test_test_images_are_identified_well_above_chance(project):
    table = pd.read_parquet(project / SUBJECT / "decode/metrics.parquet")
    assert list(table.columns) == list(IDENTIFICATION_COLUMNS)
    value = table.set_index(["space", "metric"])["value"]
    chance = table.set_index(["space", "metric"])["chance"]
    assert (table["n_images"] == 50).all()
    assert chance["latent", "n_way"] == pytest.approx(0.02)
    assert value["latent", "two_way"] >= 0.8, table
    assert value["latent", "n_way"] >= 5 * chance["latent", "n_way"], table
    assert value["pixel", "two_way"] >= 0.8, table
    assert value["pixel", "n_way"] >= 5 * chance["pixel", "n_way"], table
    assert value["pixel", "pixcorr"] > 0.3, table


def test_reconstructions_are_the_fifty_test_images(project):
    with np.load(project / SUBJECT / "decode/reconstructions.npz") as data:
        assert data["truth"].shape == data["reconstruction"].shape == (50, 32, 32, 3)
        assert data["reconstruction"].dtype == np.uint8
        assert len(np.unique(data["image"])) == 50
        assert data["predicted"].shape == (50, 32) and np.isfinite(data["predicted"]).all()
    trials = pd.read_parquet(project / SUBJECT / "preprocess/trials.parquet")
    assert (trials["split"] == "training").sum() == 300
    assert (trials.loc[trials["split"] == "test", "n_blocks"] >= 5).all()


def test_roi_weights_follow_the_simulated_hierarchy(project):
    table = pd.read_parquet(project / SUBJECT / "roi_weights.parquet").set_index("roi")
    assert list(table.index) == ["V1", "V2", "V3", "hV4", "LOC", "FFA", "PPA", "HVC"]
    low, high = table.loc[["V1", "V2", "V3"], "contrast"], table.loc[["LOC", "FFA", "PPA"]]
    assert (low > 0.15).all(), table
    assert (high["contrast"] < -0.15).all(), table
    assert low.min() > table.loc["hV4", "contrast"] > high["contrast"].max(), table


def test_figures_are_written_and_registered(project):
    for name in ("fmri_reconstruction", "fmri_roi_weights"):
        for ext in ("pdf", "png"):
            assert (project / "results/figures" / f"{name}.{ext}").stat().st_size > 10_000
    snakemake(project, "--configfile", CONFIG, "--report", "results/report.html")
    html = (project / "results/report.html").read_text(errors="ignore")
    assert "fmri_reconstruction.png" in html and "fmri_roi_weights.png" in html


def test_one_figure_rebuilds_only_its_chain(tmp_path):
    project = copy_project(tmp_path)
    result = snakemake(
        project, "--configfile", CONFIG, "--dry-run", "results/figures/fmri_roi_weights.pdf"
    )
    assert planned_rules(result) == {
        "simulate_god_fmri",
        "preprocess_god_fmri",
        "simulated_features",
        "god_roi_weights",
        "plot_fmri_roi_weights",
    }, result.stdout


def test_image_model_features_are_embedded(tmp_path):
    project = copy_project(tmp_path)
    models = project / "config" / "tests" / "god_models.yaml"
    models.write_text(
        "datasets: [god_fmri]\n"
        "god_fmri:\n  roi_weights: {low_level: [color_histogram, fft], high_level: [hog]}\n"
    )
    result = snakemake(project, "--configfile", str(models), "--dry-run")
    assert "embed_god_images" in planned_rules(result)
    assert "simulated_features" not in planned_rules(result)
    # The config errors (pretrained features without weights, IC-GAN) are unit-tested on
    # the plan: tests/unit/test_plan.py.
