"""Fixtures shared by the workflow test modules."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_project(tmp_path_factory):
    """``config/tests/tiny.yaml`` run once (``--cores 2``) in a copy of the project, for every
    module that reads that run: test_workflow's checks and the kill-and-resume test's
    reference, and the SLURM profile test's local run (the same command). Tests that change
    the copy (a figure script's edit, an extra config file, the report) leave its metrics
    tables as they were."""
    from .test_workflow import copy_project, snakemake

    project = copy_project(tmp_path_factory.mktemp("workflow"))
    snakemake(project, "--cores", "2")
    return project
