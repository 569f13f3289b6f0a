"""Run the real workflow on config/tests/tiny.yaml in a temporary copy of the project."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainlatent.evaluation import METRIC_COLUMNS

from .. import baseline
from ..conftest import REPO, shared_root

pytestmark = pytest.mark.workflow
BIN = Path(sys.executable).parent
CONFIG = "config/tests/tiny.yaml"
FIGURE_CHAIN = {
    "simulate_things_meg",
    "preprocess_meg",
    "embed_images",
    "evaluate_timecourse",
    "collect_metrics",
    "plot_meg_timecourse",
}


def copy_project(root: Path, shared: bool = True) -> Path:
    """The workflow's files in ``root/project``, with ``shared/`` beside it if asked and found."""
    project = root / "project"
    project.mkdir(parents=True)
    names = ("Snakefile", "workflow", "scripts", "src", "config", "envs", "resources", "profiles")
    for name in names:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, project / name)
    if shared and shared_root() is not None:
        (root / "shared").symlink_to(shared_root())
    return project


def snakemake(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [str(BIN / "snakemake"), "--configfile", CONFIG, *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    if check and result.returncode != 0:
        logs = (
            "\n".join(
                f"--- {log}\n{log.read_text()[-3000:]}" for log in (project / "logs").rglob("*.log")
            )
            if (project / "logs").exists()
            else ""
        )
        pytest.fail(f"snakemake {' '.join(args)} failed:\n{result.stderr[-6000:]}\n{logs}")
    return result


def planned_rules(result: subprocess.CompletedProcess) -> set[str]:
    return set(re.findall(r"^(?:local)?rule (\w+):", result.stdout + result.stderr, re.MULTILINE))


@pytest.fixture
def project(tiny_project):
    """The tiny config's run, made once per session (tests/workflow/conftest.py)."""
    return tiny_project


def test_metrics_tables_have_the_documented_schema(project):
    for analysis in ("retrieval", "timecourse"):
        table = pd.read_parquet(project / f"results/things_meg/metrics/{analysis}.parquet")
        assert list(table.columns) == METRIC_COLUMNS
        assert set(table["subject"]) == {"BIGMEG1", "BIGMEG2"}
        assert set(table["image_model"]) == {"color_histogram", "hog"}
        assert set(table["metric"]) == {"top1", "top5", "relative_median_rank"}
        assert table["value"].between(0, 1).all()
    retrieval = pd.read_parquet(project / "results/things_meg/metrics/retrieval.parquet")
    assert set(retrieval["decoder"]) == {"ridge", "brain_module"}
    assert set(retrieval["candidates"]) == {"small", "large"}
    assert len(retrieval) == 2 * 2 * 2 * 3 * 2  # subjects × models × decoders × metrics × sets
    course = pd.read_parquet(project / "results/things_meg/metrics/timecourse.parquet")
    assert set(course["candidates"]) == {"small"}  # the time course ranks among test images


def test_metrics_equal_those_from_before_the_refactor(project):
    """The tables of tiny.yaml, bit for bit, as tests/data/baseline holds them."""
    baseline.compare(project / "results", "tiny")


def test_intermediate_outputs(project):
    root = project / "results/things_meg"
    epochs = np.load(root / "sub-BIGMEG1/preprocess/epochs.npy", mmap_mode="r")
    trials = pd.read_parquet(root / "sub-BIGMEG1/preprocess/trials.parquet")
    assert epochs.shape == (len(trials), 271, 181) and epochs.dtype == np.float32
    index = pd.read_parquet(root / "features/hog.parquet")
    assert list(index.columns[:2]) == ["image", "row"]
    assert np.load(root / "features/hog.npy").shape[0] == len(index)
    history = pd.read_parquet(root / "brain_module/hog/history.parquet")
    assert {"epoch", "train_loss", "val_loss"} <= set(history.columns)
    for figure in ("meg_retrieval", "meg_timecourse"):
        assert (project / f"results/figures/{figure}.pdf").stat().st_size > 1000
        assert (project / f"results/figures/{figure}.png").stat().st_size > 1000
    assert list((project / "logs" / "benchmarks").rglob("*.tsv"))  # per-rule timings
    assert not (project / "benchmarks").exists()  # make bench's folder is not touched
    assert "it/s" in (project / "logs/fit_brain_module/hog.log").read_text()  # tqdm progress


def test_both_decoders_retrieve_above_chance(project):
    retrieval = pd.read_parquet(project / "results/things_meg/metrics/retrieval.parquet")
    top5 = retrieval[(retrieval["metric"] == "top5") & (retrieval["candidates"] == "small")]
    ratio = top5.groupby("decoder")["value"].mean() / top5.groupby("decoder")["chance"].mean()
    assert ratio["ridge"] > 2.5, ratio
    assert ratio["brain_module"] > 1.8, ratio


def test_large_set_retrieval_is_harder_than_small_set(project):
    """Issue 17: among the test images plus 100 never-seen images of the same concepts
    (category-level neighbours), retrieval is harder than among the test images alone: top-5
    lower for every decoder × image model, the median rank itself higher. Chance is each
    set's own. The relative median rank (median rank / candidates) is not worse: 0.13 small
    vs 0.10 large on average here, as expected when the extra images are spread over the
    test concepts in proportion (tests/unit/test_evaluation.py shows both cases)."""
    retrieval = pd.read_parquet(project / "results/things_meg/metrics/retrieval.parquet")
    by = retrieval.pivot_table(
        index=["decoder", "image_model"], columns=["candidates", "metric"], values="value"
    )
    assert (by[("large", "top5")] < by[("small", "top5")] - 0.1).all(), by
    sizes = retrieval.groupby("candidates")["n_candidates"].mean()
    assert sizes["large"] == sizes["small"] + 100, sizes
    chance = retrieval[retrieval["metric"] == "top5"].groupby("candidates")["chance"].mean()
    assert chance["large"] < chance["small"] / 4, chance
    median_rank = by.xs("relative_median_rank", axis=1, level="metric") * sizes
    assert (median_rank["large"] > median_rank["small"]).all(), median_rank
    large = retrieval[(retrieval["candidates"] == "large") & (retrieval["metric"] == "top5")]
    assert large.groupby("decoder")["value"].mean()["ridge"] > 4 * chance["large"]


def test_windows_before_onset_decode_at_chance(project):
    """Leakage check: a window that ends before image onset cannot know the image."""
    course = pd.read_parquet(project / "results/things_meg/metrics/timecourse.parquet")
    top5 = course[course["metric"] == "top5"]
    before = top5[top5["window_stop"] <= 0]
    after = top5[(top5["window_start"] >= 0) & (top5["window_start"] < 0.3)]
    assert len(before) and len(after)
    assert before["value"].mean() < before["chance"].mean() + 0.1
    assert after["value"].mean() > 2 * after["chance"].mean()


def test_generation_beats_the_shuffled_baseline_on_every_metric(project):
    """Issue 17: images generated from each test image's MEG resemble the seen image more
    than another test image does, by a margin, on every metric, decoder and subject; in the
    time course, windows ending before onset sit on that baseline."""
    root = project / "results/things_meg/metrics"
    table = pd.read_parquet(root / "generation.parquet")
    assert list(table.columns) == METRIC_COLUMNS
    assert set(table["subject"]) == {"BIGMEG1", "BIGMEG2"}
    assert set(table["decoder"]) == {"ridge", "brain_module", "generator_ceiling"}
    assert set(table["metric"]) == {"pixcorr", "ssim", "hog_corr"}
    assert len(table) == 2 * 3 * 3  # subjects × (decoders + ceiling) × metrics
    assert ((table["value"] - table["chance"]) > 0.05).all(), table
    course = pd.read_parquet(root / "generation_timecourse.parquet")
    margin = course["value"] - course["chance"]
    assert (margin[course["window_stop"] <= 0].abs() < 0.03).all(), course
    assert (margin[(course["window_start"] >= 0) & (course["window_start"] < 0.3)] > 0.05).all()
    assert (project / "results/figures/meg_generation.png").stat().st_size > 1000


def test_second_run_has_nothing_to_do(project):
    result = snakemake(project, "--dry-run")
    assert "Nothing to be done" in result.stdout + result.stderr, result.stdout


def test_moving_to_another_device_reruns_nothing(project):
    """Where models train is an execution setting (a resource), not a result-changing param."""
    result = snakemake(project, "--dry-run", "--config", "device=cuda")
    assert "Nothing to be done" in result.stdout + result.stderr, result.stdout


def test_a_moved_project_reruns_nothing(project, tmp_path):
    """A finished project copied elsewhere (or its folder renamed, or synced to a cluster's
    scratch) is up to date there: the rules name the checkout's files by relative paths, and
    Snakemake compares the set of input paths it recorded for each job."""
    moved = tmp_path / "moved"
    shutil.copytree(project, moved, symlinks=True)  # copy2: modification times kept
    result = snakemake(moved, "--dry-run")
    assert "Nothing to be done" in result.stdout + result.stderr, result.stdout


def test_reordering_subjects_reruns_nothing(project):
    """The brain module's checkpoint names its subject layers and evaluation looks subjects
    up by name, so the config's order of subjects is not part of any result."""
    reordered = project / "config" / "tests" / "reordered.yaml"
    reordered.write_text("things_meg: {subjects: [BIGMEG2, BIGMEG1]}\n")
    result = snakemake(project, "--dry-run", "--configfile", CONFIG, str(reordered))
    assert "Nothing to be done" in result.stdout + result.stderr, result.stdout


def test_editing_a_figure_script_reruns_only_that_figure(project):
    script = project / "scripts" / "plot_meg_timecourse.py"
    script.write_text(script.read_text() + "\n# edited\n")
    result = snakemake(project, "--dry-run")
    assert planned_rules(result) == {"plot_meg_timecourse", "all"}, result.stdout
    snakemake(project, "--cores", "1")
    assert "Nothing to be done" in snakemake(project, "--dry-run").stdout


def test_editing_a_module_reruns_the_jobs_whose_scripts_import_it(project):
    """The science lives in src/brainlatent, which the rules' shell commands do not name:
    each rule has the newest module its script imports as an input."""
    module = project / "src" / "brainlatent" / "figures" / "meg.py"
    module.write_text(module.read_text() + "\n# edited\n")
    result = snakemake(project, "--dry-run")
    assert planned_rules(result) == {"plot_meg_retrieval", "plot_meg_timecourse", "all"}, (
        result.stdout
    )
    snakemake(project, "--cores", "1")
    assert "Nothing to be done" in snakemake(project, "--dry-run").stdout


def test_report_is_built(project):
    snakemake(project, "--report", "results/report.html")
    html = (project / "results/report.html").read_text(errors="ignore")
    assert "meg_retrieval.png" in html and "meg_timecourse.png" in html


def test_a_run_killed_during_training_resumes_to_the_same_results(project, tmp_path):
    """SIGKILL while the brain module trains, unlock, rerun: no partial file is left and the
    metrics equal the uninterrupted run's bit for bit.

    The copy keeps the finished run's upstream files and Snakemake's records of them, and
    loses one image model's brain module, its log and the tables after it: the run starts at
    that training (simulating and preprocessing again, or the other model's training, would
    test nothing more here; a run from scratch is compared bit for bit with this one in
    test_slurm_profile.py).
    """
    copy = tmp_path / "project"
    shutil.copytree(project, copy, symlinks=True)  # copy2: modification times kept
    if shared_root() is not None:  # as copy_project links it
        (tmp_path / "shared").symlink_to(shared_root())
    # the tables compared below (their chain has the brain module), not the generation chain
    tables = [f"results/things_meg/metrics/{name}.parquet" for name in ("retrieval", "timecourse")]
    shutil.rmtree(copy / "results/things_meg/brain_module/hog")
    (copy / "logs/fit_brain_module/hog.log").unlink()
    for path in [copy / t for t in tables]:
        path.unlink()
    for path in copy.glob("results/things_meg/sub-*/evaluate/retrieval.parquet"):
        path.unlink()
    plan = snakemake(copy, "--dry-run", *tables)
    planned = planned_rules(plan)
    assert "fit_brain_module" in planned and "preprocess_meg" not in planned, planned
    stats = plan.stdout + plan.stderr
    assert re.search(r"^fit_brain_module\s+1$", stats, re.MULTILINE), stats  # hog's only
    run = subprocess.Popen(
        [str(BIN / "snakemake"), "--configfile", CONFIG, "--cores", "2", *tables],
        cwd=copy,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill reaches every job
    )
    log = copy / "logs" / "fit_brain_module" / "hog.log"
    deadline = time.monotonic() + 600
    while not (log.exists() and "it/s" in log.read_text(errors="replace")):  # training began
        assert run.poll() is None, "the run ended before the brain module started training"
        assert time.monotonic() < deadline, "the brain module did not start within 10 min"
        time.sleep(0.1)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    model = copy / "results/things_meg/brain_module/hog/model.pt"
    assert not model.exists(), "the kill came after training had finished"

    snakemake(copy, "--unlock")
    snakemake(copy, "--cores", "2", "--rerun-incomplete", *tables)
    assert model.exists()
    temporaries = [  # atomic_path's: .<name>.<8 random characters>/
        p for p in (copy / "results").rglob(".*") if p.name != ".snakemake_timestamp"
    ]
    assert temporaries == []
    for path in tables:
        pd.testing.assert_frame_equal(
            pd.read_parquet(copy / path), pd.read_parquet(project / path), check_exact=True
        )


def test_one_figure_builds_only_its_chain(tmp_path):
    project = copy_project(tmp_path)
    result = snakemake(project, "--dry-run", "results/figures/meg_timecourse.pdf")
    assert planned_rules(result) == FIGURE_CHAIN, result.stdout


def test_another_working_directory_plans_the_whole_workflow(tmp_path):
    """``snakemake --directory /scratch/run``: the default config and the checkout's scripts
    are found beside the Snakefile, results are planned in the working directory."""
    project = copy_project(tmp_path)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    result = subprocess.run(
        [str(BIN / "snakemake"), "--snakefile", str(project / "Snakefile"), "--directory",
         str(scratch), "--configfile", str(project / CONFIG), "--dry-run"],
        cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "simulate_things_meg" in planned_rules(result)
    assert "../project/scripts/simulate_things_meg.py" in result.stdout


def test_lint_is_clean(tmp_path):
    project = copy_project(tmp_path)
    result = snakemake(project, "--lint", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_misspelt_config_key_is_named(tmp_path):
    project = copy_project(tmp_path)
    bad = project / "config" / "tests" / "typo.yaml"
    bad.write_text((project / CONFIG).read_text().replace("image_models:", "image_model:"))
    result = snakemake(project, "--dry-run", "--configfile", str(bad), check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "unknown config key 'things_meg.image_model'" in output
    assert "did you mean 'things_meg.image_models'" in output


@pytest.mark.slow
def test_default_config_meets_the_paper_level_claims(tmp_path):
    """The numbers of the chains' pages (docs/): ~10.5 minutes on 2 cores, so off by default
    (pytest -m slow)."""
    project = copy_project(tmp_path)
    snakemake(project, "--cores", "all", "--configfile", "config/config.yaml")
    frames = pd.read_parquet(project / "results/allen_calcium/metrics/frame_decoding.parquet")
    accuracy = frames[frames["metric"] == "accuracy"]
    largest = accuracy[
        accuracy["n_neurons"] == accuracy.groupby("subject")["n_neurons"].transform("max")
    ]
    by_method = largest.groupby(["subject", "method"])["value"].mean().unstack()
    assert (by_method["cebra_behavior"] >= by_method["raw"]).all(), by_method
    # 80 cells at the Allen data's noise, half of them untuned, 2 training repeats: 0.49-0.76
    # on this config (the clean simulation of before 2026-12-05 passed 10x chance)
    assert (by_method["cebra_behavior"] >= 5 * accuracy["chance"].max()).all(), by_method
    latents = pd.read_parquet(project / "results/synthetic/metrics/latents.parquet")
    median = latents[latents["metric"] == "r2"].groupby("method")["value"].median()
    assert median["cebra"] >= 0.90 and median["cebra"] > median.drop("cebra").max(), median
    daenr = pd.read_parquet(project / "results/allen_calcium/daenr/metrics.parquet")
    rsa = daenr[daenr["metric"] == "rsa"].groupby("beta")["value"].mean()
    assert rsa[rsa.index > 0].min() > rsa[0.0], rsa
    retrieval = pd.read_parquet(project / "results/things_meg/metrics/retrieval.parquet")
    top5 = retrieval[retrieval["metric"] == "top5"]
    ratio = top5.groupby(["decoder", "image_model"])[["value", "chance"]].mean()
    ratio = ratio["value"] / ratio["chance"]
    # At THINGS-MEG's noise level, what held on each of eight simulated datasets (root seeds
    # 0-7, 2026-12-05; docs/things_meg.md): every decoder x model >= 2.7x chance (mean over both
    # sets and participants), the brain module >= 2.8x (seed 0: 3.04x); its relative median
    # rank below the ridge's for every model, its small-set top-5 ahead on the mean over models
    # (1.11-1.85x). Top-5 per model is not: the ridge leads on colour histograms on seed 0.
    assert (ratio >= 2).all() and (ratio["brain_module"] >= 2.5).all(), ratio
    rank = retrieval[retrieval["metric"] == "relative_median_rank"]
    rank = rank[rank["window_start"].isna()].groupby(["image_model", "decoder"])["value"].mean()
    assert (rank.xs("brain_module", level=1) < rank.xs("ridge", level=1)).all(), rank
    small = top5[top5["window_start"].isna() & (top5["candidates"] == "small")]
    by_decoder = small.groupby("decoder")["value"].mean()
    assert by_decoder["brain_module"] > by_decoder["ridge"], by_decoder
    course = pd.read_parquet(project / "results/things_meg/metrics/timecourse.parquet")
    course = course[course["metric"] == "top5"]
    before = course[course["window_stop"] <= 0]
    assert before["value"].mean() < 1.5 * before["chance"].mean()
    for _, curve in course.groupby("image_model"):
        peak = curve.groupby("window_start")["value"].mean().idxmax()
        assert 0 <= peak <= 0.3, curve
    god = pd.read_parquet(project / "results/god_fmri/sub-01/decode/metrics.parquet")
    god = god.set_index(["space", "metric"])
    assert god.loc[("latent", "two_way"), "value"] >= 0.8, god
    assert god.loc[("latent", "n_way"), "value"] >= 5 * god.loc[("latent", "n_way"), "chance"]
    contrast = pd.read_parquet(project / "results/god_fmri/sub-01/roi_weights.parquet")
    contrast = contrast.set_index("roi")["contrast"]
    assert (contrast[["V1", "V2", "V3"]] > 0).all() and (contrast[["LOC", "FFA", "PPA"]] < 0).all()


@pytest.fixture(scope="module")
def calcium_project(tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("calcium"))
    snakemake(project, "--cores", "2", "--configfile", "config/tests/tiny_calcium.yaml")
    return project


def test_calcium_metrics_equal_those_from_before_the_refactor(calcium_project):
    """The tables of tiny_calcium.yaml, bit for bit, as tests/data/baseline holds them."""
    baseline.compare(calcium_project / "results", "tiny_calcium")


def test_cebra_behavior_decodes_frames_better_than_baselines(calcium_project):
    table = pd.read_parquet(
        calcium_project / "results/allen_calcium/metrics/frame_decoding.parquet"
    )
    assert set(table["subject"]) == {"M1", "M2", "pseudo"}
    accuracy = table[table["metric"] == "accuracy"]
    largest = accuracy[
        accuracy["n_neurons"] == accuracy.groupby("subject")["n_neurons"].transform("max")
    ]
    assert set(largest.groupby("subject")["n_neurons"].first()) == {80, 160}  # pseudo: both mice
    by_method = largest.groupby(["subject", "method"])["value"].mean().unstack()
    assert (by_method["cebra_behavior"] >= by_method["raw"]).all(), by_method
    # 80 cells at the Allen data's noise, half of them untuned, 2 training repeats: 0.49-0.76
    # on this config (the clean simulation of before 2026-12-05 passed 10x chance)
    assert (by_method["cebra_behavior"] >= 5 * accuracy["chance"].max()).all(), by_method


def test_embeddings_and_their_consistency_across_mice(calcium_project):
    root = calcium_project / "results/allen_calcium"
    for mouse in ("M1", "M2"):
        for kind in ("behavior", "time"):
            with np.load(root / f"sub-{mouse}/embed/cebra_{kind}.npz") as data:
                assert data["embedding"].shape == (3 * 900, 8)
                assert np.isfinite(data["embedding"]).all()
    table = pd.read_parquet(root / "metrics/consistency.parquet")
    assert list(table.columns) == [
        "dataset", "kind", "source", "target", "metric", "value", "device",
    ]  # fmt: skip
    assert set(table["device"]) == {"cpu"}
    assert len(table) == 2 * 2  # two kinds × two ordered pairs of mice, no diagonal
    assert (table["source"] != table["target"]).all()
    # The simulated mice see one movie through one latent trajectory: linearly related embeddings.
    assert table["value"].between(0.5, 1.0).all(), table


def test_daenr_scores_beat_their_shuffled_pairings(calcium_project):
    """The tiny config checks the chain; the paper's two claims are tested at the default
    size (tests/unit/test_daenr_claims.py, slow): at 16 × 16 pixels the neural term
    does not raise RSA."""
    table = pd.read_parquet(calcium_project / "results/allen_calcium/daenr/metrics.parquet")
    mean = table.groupby(["metric", "beta"])["value"].mean().unstack("metric")
    for metric in ("pixcorr", "ssim"):
        assert (mean[metric] > mean[f"{metric}_shuffled"] + 0.05).all(), mean
    # RSA on 30 held-out scenes of 160 cells (0.16-0.17 on this config; 0.02-0.05 on the clean
    # simulation) has a shuffled baseline that varies by ~0.03 from draw to draw: above it,
    # not by a fixed margin.
    assert (mean["rsa"] > mean["rsa_shuffled"] + 0.01).all(), mean
    with np.load(calcium_project / "results/allen_calcium/daenr/reconstructions.npz") as data:
        assert data["reconstructions"].shape == (2, *data["test_images"].shape)  # one per beta
        assert data["pretrained"].shape == data["test_images"].shape


def test_every_calcium_figure_is_written(calcium_project):
    for figure in (
        "calcium_frame_decoding",
        "calcium_embedding",
        "calcium_consistency",
        "daenr",
        "synthetic_latents",
    ):
        assert (calcium_project / f"results/figures/{figure}.png").stat().st_size > 1000
        assert (calcium_project / f"results/figures/{figure}.pdf").read_bytes()[:4] == b"%PDF"


def test_cebra_recovers_synthetic_latents_better_than_pca(calcium_project):
    table = pd.read_parquet(calcium_project / "results/synthetic/metrics/latents.parquet")
    median = table[table["metric"] == "r2"].groupby("method")["value"].median()
    assert median["cebra"] > median["pca"], median
    assert median["cebra"] >= 0.90, median  # the paper: .920
