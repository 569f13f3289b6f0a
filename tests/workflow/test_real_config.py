"""config/real.yaml: the full-scale DAG builds with no data on disk, starting from downloads."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from .test_workflow import copy_project, snakemake

pytestmark = pytest.mark.workflow


#: Linux's limit on one argument (MAX_ARG_STRLEN): Snakemake runs a job's shell command as
#: ``bash -c COMMAND``, so a longer command fails with "Argument list too long".
MAX_ARGUMENT = 32 * 4096


def test_real_config_plans_every_download_with_no_data(tmp_path):
    project = copy_project(tmp_path)
    result = snakemake(project, "--configfile", "config/real.yaml", "--dry-run", "-p")
    commands = re.findall(r"^Shell command: (.*)$", result.stdout, re.MULTILINE)
    assert len(commands) > 3800
    longest = max(commands, key=len)
    # with the shell prefix (common.smk) and a margin for longer real paths
    assert len(longest) < MAX_ARGUMENT - 16 * 1024, longest[:200]
    counts = {
        name: int(count)
        for name, count in re.findall(r"^(\w+)\s+(\d+)$", result.stdout, re.MULTILINE)
    }
    assert counts["download_things_meg"] == 1 and counts["index_things_images"] == 1
    assert counts["preprocess_meg"] == 4  # BIGMEG1-4, 12 sessions × 10 runs each
    # Allen: every session file (A, B, C, C2), one pseudo-mouse per area, DAE-NR on StimB
    assert counts["download_allen_calcium"] == counts["preprocess_calcium"] == 1518
    assert counts["preprocess_scenes"] == 506 and counts["fit_daenr"] == 1
    assert counts["pool_pseudo_mouse"] == counts["decode_movie_frames"] == 6
    assert counts["embed_calcium"] == 12  # 6 area pseudo-mice × (behaviour, time)
    assert counts["download_god_fmri"] == 1 and counts["decode_god_fmri"] == 5
    assert counts["download_vgg19_weights"] == 1 and counts["download_model_weights"] == 2
    # DANDI 000688: the center-out sessions of C (53) and M (22), one cohort each, 3 SABLE seeds
    assert counts["download_motor_session"] == counts["bin_motor_trials"] == 75
    assert counts["decode_motor_baselines"] == counts["decode_motor_cebra"] == 2
    assert counts["fit_motor_sable"] == counts["decode_motor_sable"] == 6
    assert "simulate_things_meg" not in counts and "simulate_god_fmri" not in counts
    assert "simulate_motor_sessions" not in counts
    # zero-shot (the paper's split) reaches the joint brain-module fits, told and not guessed
    fits = [c for c in commands if "fit_brain_module.py" in c]
    assert len(fits) == counts["fit_brain_module"] + counts["fit_generation_brain_module"]
    assert all(" --zero-shot " in f" {c} " for c in fits)
    assert not (project / "results").exists() and not (project / "data").exists()
    # The profile's array rules (slurm-array-jobs): SLURM gives every task of an array the
    # first job's request, so each job of a rule (of a monkey) asks for its largest session's.
    memory: dict[str, set[int]] = {}
    for block in re.split(r"^(?=rule \w+:$)", result.stdout, flags=re.MULTILINE):
        rule = re.match(r"rule (\w+):", block)
        if rule and rule[1] in ("preprocess_calcium", "preprocess_scenes", "bin_motor_trials"):
            cohort = re.search(r"^    wildcards: cohort=([^,\n]+)", block, re.MULTILINE)
            mem = re.search(r"^    resources: .*?mem_mb=(\d+)", block, re.MULTILINE)
            assert mem, f"no memory request known before the run:\n{block[:1500]}"
            key = f"{rule[1]}/{cohort[1]}" if cohort else rule[1]
            memory.setdefault(key, set()).add(int(mem[1]))
    allen = pd.read_csv(project / "workflow/manifests/allen-calcium.tsv.gz", sep="\t")
    motor = pd.read_csv(project / "workflow/manifests/motor-cortex.tsv.gz", sep="\t")
    motor = motor[motor["path"].str.contains("_ses-CO-")]

    def request(rows):  # common.smk: 1,000 MB + 3 x the file (MiB), first attempt
        return {int(1000 + 3 * rows["size"].max() / 2**20)}

    assert memory == {
        "preprocess_calcium": request(allen),
        "preprocess_scenes": request(allen[allen["path"].str.contains("-StimB_")]),
        "bin_motor_trials/sub-C": request(motor[motor["path"].str.startswith("sub-C/")]),
        "bin_motor_trials/sub-M": request(motor[motor["path"].str.startswith("sub-M/")]),
    }


def test_real_laptop_config_plans_its_subset_with_no_data(tmp_path):
    """config/real-laptop.yaml: one MEG session, four Allen sessions, one GOD participant,
    eight sessions of one monkey; nothing simulated, nothing written by the dry run."""
    project = copy_project(tmp_path)
    result = snakemake(
        project, "--configfile", "config/real-laptop.yaml", "--dry-run", "--quiet", "rules"
    )
    counts = {
        name: int(count)
        for name, count in re.findall(r"^(\w+)\s+(\d+)$", result.stdout, re.MULTILINE)
    }
    assert counts["download_things_meg"] == counts["preprocess_meg"] == 1  # BIGMEG1, ses 1
    assert counts["fit_ridge"] == counts["fit_brain_module"] == 3  # handcrafted image models
    assert counts["download_allen_calcium"] == counts["preprocess_scenes"] == 4  # StimB
    assert counts["pool_pseudo_mouse"] == 1 and counts["fit_daenr"] == 1
    assert counts["download_god_fmri"] == counts["decode_god_fmri"] == 1
    assert counts["download_motor_session"] == counts["bin_motor_trials"] == 8
    assert counts["fit_motor_sable"] == 3 and counts["decode_motor_cebra"] == 1  # monkey C
    assert not any(name.startswith("simulate_") for name in counts)
    assert "run_synthetic_benchmark" not in counts
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


def test_allen_selection_by_subject_picks_its_sessions(tmp_path):
    project = copy_project(tmp_path)
    extra = project / "config" / "tests" / "allen.yaml"
    extra.write_text(
        "allen_calcium: {sessions: {session_types: [StimA, StimB], subjects: ['491604967']},"
        " decoding: {pseudo_mouse_areas: [VISp]}, embedding: {mice: null}}\n"
    )
    result = snakemake(
        project, "--configfile", "config/real.yaml", str(extra), "--dry-run", "--quiet", "rules"
    )
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, re.MULTILINE))
    # 491604967 (two containers) has two StimA, two StimB and two StimC sessions
    assert counts["download_allen_calcium"] == "4" and counts["preprocess_scenes"] == "2"
    assert counts["pool_pseudo_mouse"] == "1" and counts["decode_movie_frames"] == "1"
    assert counts["embed_calcium"] == "8"  # each of the 4 sessions × (behaviour, time)
