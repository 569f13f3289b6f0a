"""A plain clone runs the default workflow: no input lives outside the repository."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ..conftest import REPO
from .test_workflow import BIN

pytestmark = pytest.mark.workflow


def repository_files() -> list[str]:
    """What a clone would hold: tracked files plus new ones git does not ignore."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO, capture_output=True, check=True,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    names = listed.stdout.decode().split("\0")
    return [name for name in names if name and (REPO / name).is_file()]


def test_default_config_plans_without_shared(tmp_path):
    clone = tmp_path / "clone"
    for name in repository_files():
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, clone / name)
    assert not (tmp_path / "shared").exists()
    result = subprocess.run(
        [str(BIN / "snakemake"), "--dry-run", "--quiet", "rules", "--cores", "1"],
        cwd=clone, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "simulate_things_meg" in result.stdout and "simulate_god_fmri" in result.stdout
    assert not (clone / "results").exists()


def test_reference_bids_are_inside_the_repository():
    configs = [REPO / "config" / "config.yaml", REPO / "config" / "real.yaml"]
    configs += sorted((REPO / "config" / "tests").glob("*.yaml"))
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    paths = [
        section["properties"]["reference_bids"]["default"]
        for section in schema["properties"].values()
        if "reference_bids" in section.get("properties", {})
    ]
    for config in configs:
        for section in yaml.safe_load(config.read_text()).values():
            if isinstance(section, dict) and "reference_bids" in section:
                paths.append(section["reference_bids"])
    assert len(paths) >= 4  # both schema defaults, both sections of config.yaml
    for path in paths:
        folder = (REPO / path).resolve()
        assert folder.is_relative_to(REPO) and not Path(path).is_absolute(), path
        assert (folder / "dataset_description.json").is_file(), path
