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
