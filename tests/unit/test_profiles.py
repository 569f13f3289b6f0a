"""The Snakemake profiles: what they ask of a scheduler, from the user's environment."""

from __future__ import annotations

import os
import re

import pytest
from snakemake.profiles import ProfileConfigFileParser

from ..conftest import REPO

SLURM = REPO / "profiles" / "slurm" / "profile.yaml"
GPU_RULES = {"fit_brain_module", "decode_movie_frames", "embed_calcium", "embed_images"}
RULES = {
    m.group(1)
    for smk in (REPO / "workflow" / "rules").glob("*.smk")
    for m in re.finditer(r"^\s*rule (\w+):", smk.read_text(), re.MULTILINE)
}


def parse(path, monkeypatch, **env):
    for key in [k for k in os.environ if k.startswith("BRAINLATENT_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with open(path) as f:
        return ProfileConfigFileParser().parse(f)


def resources(parsed, rule):
    return dict(
        item.split(":", 1)[1].split("=", 1)
        for item in parsed["set-resources"]
        if item.startswith(f"{rule}:")
    )


def test_profiles_use_the_file_name_snakemake_documents():
    assert SLURM.exists() and (REPO / "profiles" / "laptop" / "profile.yaml").exists()
    assert not list((REPO / "profiles").rglob("config.yaml"))


def test_the_workflow_profile_sets_only_the_scheduler(monkeypatch):
    """profiles/default is read on every run, under any --profile, overriding it key by key:
    it must not carry settings a user's or the SLURM profile would lose silently."""
    assert parse(REPO / "profiles" / "default" / "profile.yaml", monkeypatch) == {
        "scheduler": "greedy"
    }


def test_nothing_about_a_site_is_written_in_the_slurm_profile(monkeypatch):
    parsed = parse(SLURM, monkeypatch)
    assert parsed["executor"] == "slurm"
    text = " ".join(map(str, parsed.values()))
    assert "slurm_account" not in text and "slurm_partition" not in text and "gpu_model" not in text
    for rule in GPU_RULES:
        assert resources(parsed, rule)["gpu"] == "1", rule
    # every rule named in the profile exists (a renamed rule would silently lose its settings)
    named = {item.split(":", 1)[0] for item in parsed["set-resources"]}
    named |= {item.split("=", 1)[0] for item in parsed["set-threads"]}
    named |= set(parsed["slurm-array-jobs"].split(","))
    assert named <= RULES, named - RULES


def test_account_partitions_and_gpu_come_from_the_environment(monkeypatch):
    parsed = parse(
        SLURM, monkeypatch, BRAINLATENT_SLURM_ACCOUNT="lab", BRAINLATENT_SLURM_PARTITION="cpu",
        BRAINLATENT_SLURM_GPU_PARTITION="gpu", BRAINLATENT_GPU_MODEL="a100",
        BRAINLATENT_GPUS="2", BRAINLATENT_SLURM_JOBS="20",
    )  # fmt: skip
    assert {"slurm_account=lab", "slurm_partition=cpu"} <= set(parsed["default-resources"])
    assert resources(parsed, "fit_brain_module") == {
        "runtime": "720 * attempt", "gpu": "2", "gpu_model": "a100", "slurm_partition": "gpu"
    }  # fmt: skip
    assert "slurm_partition" not in resources(parsed, "fit_ridge")  # CPU jobs: the default
    assert parsed["jobs"] == "20"


def test_no_gpu_is_asked_for_on_a_cpu_only_cluster(monkeypatch):
    parsed = parse(SLURM, monkeypatch, BRAINLATENT_GPUS="0", BRAINLATENT_GPU_MODEL="a100")
    assert not any("gpu" in item for item in parsed["set-resources"])


def test_every_rule_that_trains_on_a_device_gets_a_gpu_and_a_runtime(monkeypatch):
    """A rule taking ``resources.device`` fits a model: at the real scale, a GPU and hours."""
    trains = set()
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        for block in re.split(r"^(?=\s*rule \w+:)", smk.read_text(), flags=re.MULTILINE):
            rule = re.match(r"\s*rule (\w+):", block)
            if rule and "device=DEVICE" in block:
                trains.add(rule.group(1))
    assert len(trains) >= 13
    parsed = parse(SLURM, monkeypatch)
    for rule in sorted(trains):
        assert resources(parsed, rule).get("gpu") == "1", rule
        assert int(resources(parsed, rule)["runtime"].split("*")[0]) >= 60, rule


@pytest.mark.parametrize("rule", ["fit_brain_module", "fit_ridge", "preprocess_meg"])
def test_runtimes_grow_with_retries(monkeypatch, rule):
    assert resources(parse(SLURM, monkeypatch), rule)["runtime"].endswith("* attempt")
