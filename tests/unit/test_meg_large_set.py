"""Retrieval among the test images plus images never seen (issue 17's large set): the
extra candidates' rules (simulate / index), evaluate_retrieval's large rows, the figure and
the config key."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from brainlatent import ConfigError
from brainlatent.datasets import stimuli
from brainlatent.errors import DataError
from brainlatent.evaluation import METRIC_COLUMNS
from brainlatent.figures.meg import plot_retrieval
from brainlatent.figures.style import save_figure
from brainlatent.io import read_table, save_npy, write_table

from .test_meg_scripts import files, fit, one_thread, script  # noqa: F401 (fixtures)
from .test_plan import plan


def test_simulated_extra_images_are_of_the_test_concepts(simulated, tmp_path):
    out = tmp_path / "extra"
    script("simulate_extra_images").main(
        ["--bids", str(simulated / "bids"), "--number", "25", "--seed", "0",
         "--image-size", "16", "--stimuli", str(out)]
    )  # fmt: skip
    index = pd.read_csv(out / "stimuli.tsv", sep="\t")
    shown = pd.read_csv(simulated / "stimuli" / "stimuli.tsv", sep="\t")
    events = pd.concat(pd.read_csv(p, sep="\t") for p in (simulated / "bids").rglob("*_events.tsv"))
    test_concepts = set(
        events.loc[events["trial_type"] == "test", "things_category_nr"].astype(int)
    )
    assert len(index) == 25 and set(index["category"]) <= test_concepts
    assert not set(index["image"]) & set(shown["image"])  # never shown
    assert (out / index["file"].iloc[0]).exists()
    # The same concept prototypes as the simulator's: the seed is the simulation's.
    truth = pd.read_parquet(simulated / "truth" / "latents.parquet")
    extra = pd.read_parquet(out / "latents.parquet")
    hue = truth.groupby("category")["hue"].first()
    gap = np.abs(extra["hue"].to_numpy() - hue.loc[extra["category"]].to_numpy())
    gap = np.minimum(gap, 1 - gap)  # hue is circular
    assert np.median(gap) < 0.05 and gap.max() < 0.15, gap  # image jitter sd: 0.02 each


def test_real_extra_images_are_the_things_images_never_shown(reference_bids, tmp_path):
    """From a THINGS-release-like folder (image_paths.csv + files): of its images, those no
    events.tsv of the dataset shows; too few is an error saying where to point."""
    release = tmp_path / "THINGS"
    numbers = [13, 14, 26107, 1, 2]  # 13, 14, 26107 are never shown in THINGS-MEG
    lines = [f"images/c/img_{n:05d}.jpg" for n in range(1, 26108)]
    (release / "images" / "c").mkdir(parents=True)
    (release / "image_paths.csv").write_text("\n".join(lines) + "\n")
    for n in numbers:
        (release / "images" / "c" / f"img_{n:05d}.jpg").write_bytes(b"jpg")
    stimuli_tsv = tmp_path / "own"
    stimuli_tsv.mkdir()
    pd.DataFrame(
        {
            "image": numbers,
            "file": [str(release / "images" / "c" / f"img_{n:05d}.jpg") for n in numbers],
        }
    ).to_csv(stimuli_tsv / "stimuli.tsv", sep="\t", index=False)
    out = tmp_path / "extra"
    script("index_extra_images").main(
        ["--events", str(reference_bids), "--images", str(stimuli_tsv), "--number", "3",
         "--seed", "0", "--stimuli", str(out)]
    )  # fmt: skip
    assert pd.read_csv(out / "stimuli.tsv", sep="\t")["image"].tolist() == [13, 14, 26107]
    with pytest.raises(DataError, match=r"asks for 4 images never shown.*only 3"):
        script("index_extra_images").main(
            ["--events", str(reference_bids), "--images", str(stimuli_tsv), "--number", "4",
             "--seed", "0", "--stimuli", str(tmp_path / "extra4")]
        )  # fmt: skip
    # The THINGS release itself: every image listed; those not on disk are named.
    with pytest.raises(DataError, match=r"3659 THINGS images never shown \(extra candidates\) are"):
        script("index_extra_images").main(
            ["--events", str(reference_bids), "--images", str(release), "--number", "3659",
             "--seed", "0", "--stimuli", str(tmp_path / "all")]
        )  # fmt: skip


def test_evaluate_retrieval_reports_both_sets(files, tmp_path):  # noqa: F811
    root, paths = files
    model = fit(root, paths, ["A", "B"], "large_set")
    gen = np.random.default_rng(5)
    save_npy(tmp_path / "extra.npy", gen.normal(size=(40, 4)).astype(np.float32))
    write_table(
        tmp_path / "extra.parquet", pd.DataFrame({"image": 1000 + np.arange(40), "row": range(40)})
    )
    out = tmp_path / "metrics.parquet"
    args = [
        "--subject", "A", "--epochs", str(paths["A"][0]), "--trials", str(paths["A"][1]),
        "--image-models", "toy", "--features", str(root / "features.npy"),
        "--index", str(root / "index.parquet"), "--ridge", str(root / "ridge.joblib"),
        "--brain-module", str(model), "--metrics", str(out),
    ]  # fmt: skip
    extra = ["--extra-features", str(tmp_path / "extra.npy"),
             "--extra-index", str(tmp_path / "extra.parquet")]  # fmt: skip
    script("evaluate_retrieval").main([*args, *extra])
    table = read_table(out)
    assert list(table.columns) == METRIC_COLUMNS
    assert len(table) == 2 * 3 * 2  # decoders × metrics × candidate sets
    sizes = table.groupby("candidates")["n_candidates"].unique()
    assert sizes["small"].tolist() == [6] and sizes["large"].tolist() == [46]
    chance = table[table.metric == "top5"].groupby("candidates")["chance"].unique()
    assert chance["small"].tolist() == [5 / 6] and chance["large"].tolist() == [5 / 46]
    # An extra candidate the participant saw in training is refused, naming the file.
    write_table(
        tmp_path / "extra.parquet",
        pd.DataFrame({"image": [3, *range(1001, 1040)], "row": range(40)}),
    )
    with pytest.raises(DataError, match=r"extra\.parquet: images \[3\] are extra candidates"):
        script("evaluate_retrieval").main([*args, *extra])
    with pytest.raises(SystemExit):  # one extra file for one model, or none
        script("evaluate_retrieval").main([*args, "--extra-features", str(tmp_path / "extra.npy")])


def test_figure_shows_both_sets_side_by_side(tmp_path):
    rows = []
    for candidates, n, (value, low, high) in (
        ("small", 20, (0.5, 0.4, 0.6)),
        ("large", 120, (0.2, 0.1, 0.3)),
    ):
        for subject in ("A", "B"):
            for decoder in ("ridge", "brain_module"):
                for model in ("hog", "fft"):
                    rows.append(
                        ["things_meg", subject, decoder, model, np.nan, np.nan, "top5",
                         value, 5 / n, n, "cpu", candidates, low, high]
                    )  # fmt: skip
    top5 = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    fig = plot_retrieval(top5)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(fig.axes) == 2 and "small" in titles[0] and "large" in titles[1]
    assert "chance 25.0%" in titles[0] and "chance 4.2%" in titles[1]
    save_figure(fig, tmp_path / "f.pdf", tmp_path / "f.png")
    only_small = top5.query("candidates == 'small'")
    assert len(plot_retrieval(only_small.drop(columns="candidates")).axes) == 1  # older tables
    # With the relative median rank in the table, a second row draws it for both sets.
    ranks = top5.assign(
        metric="relative_median_rank", value=0.05, chance=0.5, ci_low=0.03, ci_high=0.08
    )
    fig = plot_retrieval(pd.concat([top5, ranks], ignore_index=True))
    assert len(fig.axes) == 4
    assert all("median rank" in ax.get_title() for ax in fig.axes[2:])
    for ax in fig.axes[2:]:  # chance drawn where the title says, as in the row above
        assert [line.get_ydata()[0] for line in ax.lines if line.get_ls() == "--"] == [0.5]
        assert ax.get_ylim()[1] > 0.5
    # top-5 of each set on its own scale (the real large set's 0.13 % chance and bars of a
    # few times it were flat on the small set's), the ranks on one
    small, large = fig.axes[0].get_ylim(), fig.axes[1].get_ylim()
    assert small[1] == pytest.approx(0.66) and large[1] == pytest.approx(0.33)  # 1.1 x ci_high
    # each participant's interval as a vertical line through its dot, labelled once
    lines = fig.axes[1].collections[0]  # the first decoder and model: subjects A and B
    assert [tuple(seg[:, 1]) for seg in lines.get_segments()] == [(0.1, 0.3)] * 2
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels.count("a participant, 95 % interval over test images") == 1
    assert fig.axes[2].get_ylim() == fig.axes[3].get_ylim()
    bars = [p.get_height() for p in fig.axes[3].patches]
    assert np.allclose(bars, 0.05) and len(bars) == 4  # 2 decoders x 2 models, large set
    save_figure(fig, tmp_path / "g.pdf", tmp_path / "g.png")


def test_extra_candidates_config():
    assert plan().meg.extra_candidates == 300
    assert plan({"things_meg": {"evaluate": {"extra_candidates": 0}}}).meg.extra_candidates == 0
    real = {"things_meg": {"source": "download", "stimuli_dir": "data/things"}}
    assert plan(real).meg.extra_candidates == 300
    too_many = {"things_meg": {**real["things_meg"], "evaluate": {"extra_candidates": 4000}}}
    with pytest.raises(ConfigError, match="extra_candidates is 4000, but THINGS has only 3659"):
        plan(too_many)
    assert stimuli.THINGS_UNSEEN == 3659
