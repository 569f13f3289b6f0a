"""The fault-tolerance chain end to end on config/tests/tiny_fault_tolerance.yaml (seconds)."""

from __future__ import annotations

import pandas as pd
import pytest

from brainlatent.fault_tolerance.experiment import COLUMNS

from .test_workflow import copy_project, snakemake

pytestmark = pytest.mark.workflow
CONFIG = "config/tests/tiny_fault_tolerance.yaml"
FIGURES = ("fault_tolerance_phase", "fault_tolerance_scaling")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("fault_tolerance"), shared=False)
    snakemake(project, "--cores", "2", "--configfile", CONFIG)
    return project


def test_builds_both_figures_and_the_scorecard(project):
    for name in FIGURES:
        for suffix in ("pdf", "png"):
            assert (project / "results" / "figures" / f"{name}.{suffix}").stat().st_size > 0
    card = pd.read_parquet(project / "results" / "scorecard.parquet")
    rows = card[card["dataset"] == "fault_tolerance"]
    # σ*, the biological noise (lowest and highest, one row each) and the exponent
    assert len(rows) == 4 and (rows["status"] == "ok").all()
    assert (rows["within_spread"] == "n/a: simulated data").all()


def test_metrics_tables_are_long_format(project):
    for name in ("phase", "scaling"):
        table = pd.read_parquet(
            project / "results" / "fault_tolerance" / "metrics" / f"{name}.parquet"
        )
        assert list(table.columns) == COLUMNS and (table["dataset"] == "fault_tolerance").all()


def test_a_figure_rebuilds_alone(project):
    table = project / "results" / "fault_tolerance" / "metrics" / "scaling.parquet"
    before = table.stat().st_mtime_ns
    (project / "results" / "figures" / "fault_tolerance_scaling.pdf").unlink()
    target = "results/figures/fault_tolerance_scaling.pdf"
    snakemake(project, "--configfile", CONFIG, "--cores", "1", target)
    assert (project / target).exists() and table.stat().st_mtime_ns == before
