"""config/real.yaml: the full-scale DAG builds with no data on disk, starting from downloads."""

from __future__ import annotations

import re

import pytest

from .test_workflow import copy_project, snakemake

pytestmark = pytest.mark.workflow


def test_real_config_plans_every_download_with_no_data(tmp_path):
    project = copy_project(tmp_path)
    result = snakemake(project, "--configfile", "config/real.yaml", "--dry-run", "--quiet", "rules")
    counts = {
        name: int(count)
        for name, count in re.findall(r"^(\w+)\s+(\d+)$", result.stdout, re.MULTILINE)
    }
    assert counts["download_things_meg"] == 1 and counts["index_things_images"] == 1
    assert counts["preprocess_meg"] == 4  # BIGMEG1-4, 12 sessions × 10 runs each
    assert counts["download_allen_calcium"] == 4
    assert counts["download_god_fmri"] == 1 and counts["decode_god_fmri"] == 5
    assert counts["download_vgg19_weights"] == 1 and counts["download_model_weights"] == 2
    assert "simulate_things_meg" not in counts and "simulate_god_fmri" not in counts
    assert not (project / "results").exists() and not (project / "data").exists()


def test_derivatives_replace_the_raw_runs(tmp_path):
    project = copy_project(tmp_path)
    derivatives = project / "config" / "tests" / "derivatives.yaml"
    derivatives.write_text("things_meg: {data: derivatives}\n")
    result = snakemake(
        project, "--configfile", "config/real.yaml", str(derivatives), "--dry-run", "--quiet",
        "rules",
    )  # fmt: skip
    planned = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, re.MULTILINE))
    assert planned["preprocess_meg_derivatives"] == "4" and "preprocess_meg" not in planned
    derivatives.write_text("things_meg: {data: derivatives, sessions: [1, 2]}\n")
    result = snakemake(
        project, "--configfile", "config/real.yaml", str(derivatives), "--dry-run", check=False
    )
    assert result.returncode != 0
    assert "things_meg.sessions must be 1-12" in result.stdout + result.stderr
