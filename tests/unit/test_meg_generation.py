"""Image generation from MEG (THINGS-MEG, Benchetrit et al. 2023 Figs. 4-5) on synthetic data
whose ground truth is known: latents drive both the MEG and, through a fixed generator, the
images, so a decoder that recovers the latents draws the seen image."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from brainlatent import ConfigError
from brainlatent.decoding.meg_generation import (
    CEILING,
    check_generation,
    evaluate_generation,
    feature_correlation,
    generate,
    generation_images,
    generation_scores,
    generation_timecourse,
    high_level_features,
    latent_predictor,
    shuffled_pairings,
)
from brainlatent.errors import DataError
from brainlatent.evaluation import METRIC_COLUMNS, feature_lookup, split_trials
from brainlatent.models.ridge import RidgeDecoder

from ..conftest import REPO, merged

DIMS, SIDE, CHANNELS, TIMES, SFREQ = 6, 16, 20, 24, 40.0
N_TRAIN, N_TEST, REPEATS = 240, 24, 3
ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0, 1e4)
METRICS = ["pixcorr", "ssim", "hog_corr"]


class Generator:
    """A fixed generator: latents (n, DIMS) → smooth RGB images in [0, 1]."""

    def __init__(self, seed=0):
        gen = np.random.default_rng(seed)
        y, x = np.mgrid[0:SIDE, 0:SIDE] / SIDE
        # Each latent dim drives one smooth pattern (a low-frequency grating) in one colour.
        patterns = []
        for _ in range(DIMS):
            fx, fy, phase = gen.uniform(0.5, 2.5), gen.uniform(0.5, 2.5), gen.uniform(0, 6.3)
            wave = np.sin(2 * np.pi * (fx * x + fy * y) + phase)
            colour = gen.uniform(0.2, 1.0, 3)
            patterns.append(wave[..., None] * colour)
        self.basis = np.stack(patterns).reshape(DIMS, -1)

    def decode(self, latents):
        z = np.asarray(latents, dtype=np.float64) @ self.basis
        return (1 / (1 + np.exp(-z))).reshape(len(z), SIDE, SIDE, 3).astype(np.float32)


def dataset(signal_after_onset=False, seed=0):
    """Epochs driven by each trial's image latents, the trials table, the latents' index."""
    gen = np.random.default_rng(seed)
    n_images = N_TRAIN + N_TEST
    images = np.arange(1000, 1000 + n_images)
    latents = gen.normal(size=(n_images, DIMS)).astype(np.float32)
    test = images[N_TRAIN:]
    trial_images = np.concatenate([images[:N_TRAIN], np.repeat(test, REPEATS)])
    split = ["train"] * N_TRAIN + ["test"] * (N_TEST * REPEATS)
    trials = pd.DataFrame({"image": trial_images, "split": split})
    mixing = gen.normal(size=(DIMS, CHANNELS))
    times = (np.arange(TIMES) - TIMES // 2) / SFREQ  # -0.3 s ... 0.275 s
    bump = np.exp(-0.5 * ((times - 0.1) / 0.05) ** 2) * (times >= 0)  # nothing before onset
    course = bump if signal_after_onset else np.ones(TIMES)
    z = latents[trial_images - 1000]
    epochs = (z @ mixing)[:, :, None] * course[None, None, :]
    epochs = epochs + 0.8 * gen.normal(size=epochs.shape)
    index = pd.DataFrame({"image": images, "row": np.arange(n_images)})
    return epochs.astype(np.float32), trials, times, latents, index


def fitted_ridge(epochs, trials, latents, index):
    train, _ = split_trials(trials)
    y = feature_lookup(latents, index, trials["image"][train])
    return RidgeDecoder(alphas=ALPHAS).fit(epochs[train], y)


def seen_images(trials, latents, index, generator):
    """The sorted test images and what the participant saw: the generator's image of each."""
    tested = np.unique(trials.loc[trials["split"] == "test", "image"])
    pixels = generate(generator.decode, feature_lookup(latents, index, tested))
    return tested, pixels


def run(decoders=("ridge",), **overrides):
    epochs, trials, _, latents, index = dataset()
    generator = Generator()
    tested, seen = seen_images(trials, latents, index, generator)
    predictors = {"ridge": (latent_predictor(fitted_ridge(epochs, trials, latents, index)), "cpu")}
    kwargs = {
        "epochs": epochs,
        "trials": trials,
        "latents": latents,
        "index": index,
        "predictors": {name: predictors[name] for name in decoders},
        "decode": generator.decode,
        "seen_images": tested,
        "seen": seen,
        "features": high_level_features("hog"),
        "high_level": "hog",
        "shuffles": 5,
        "seed": 0,
        "generator_device": "cpu",
        "dataset": "things_meg",
        "subject": "S1",
        "image_model": "autoencoder",
        **overrides,
    }
    return evaluate_generation(**kwargs)


# --- the result: generation beats the shuffled pairing -------------------------------------


def test_generation_beats_the_shuffled_baseline_on_every_metric():
    table, _ = run()
    ridge = table[table["decoder"] == "ridge"].set_index("metric")
    assert list(ridge.index) == METRICS
    margin = ridge["value"] - ridge["chance"]
    assert (margin > 0.1).all(), ridge[["value", "chance"]]
    # the generator's own image of the seen latents is the seen image: the ceiling is perfect
    ceiling = table[table["decoder"] == CEILING].set_index("metric")
    np.testing.assert_allclose(ceiling["value"], 1.0, atol=1e-6)
    assert (ceiling["value"] >= ridge["value"]).all()


def test_table_schema_and_arrays():
    table, arrays = run()
    assert list(table.columns) == METRIC_COLUMNS
    assert len(table) == 2 * len(METRICS)  # (ridge, ceiling) × metrics
    assert list(table["decoder"]) == ["ridge"] * 3 + [CEILING] * 3
    assert set(table["dataset"]) == {"things_meg"} and set(table["subject"]) == {"S1"}
    assert set(table["image_model"]) == {"autoencoder"} and set(table["device"]) == {"cpu"}
    assert table["window_start"].isna().all() and table["window_stop"].isna().all()
    assert (table["n_candidates"] == N_TEST).all()
    assert table[["value", "chance"]].apply(np.isfinite).all().all()
    assert set(arrays) == {"image", "seen", "generated_ridge", f"generated_{CEILING}"}
    assert arrays["image"].tolist() == sorted(arrays["image"].tolist())
    for name in ("seen", "generated_ridge", f"generated_{CEILING}"):
        assert arrays[name].shape == (N_TEST, SIDE, SIDE, 3) and arrays[name].dtype == np.uint8


def test_the_same_seed_gives_the_same_table():
    pd.testing.assert_frame_equal(run()[0], run()[0], check_exact=True)


def test_windows_before_onset_sit_on_the_baseline():
    """Leakage check: MEG before onset knows nothing of the image; after onset it does."""
    epochs, trials, times, latents, index = dataset(signal_after_onset=True)
    generator = Generator()
    tested, seen = seen_images(trials, latents, index, generator)
    course = generation_timecourse(
        epochs,
        trials,
        times,
        latents,
        index,
        generator.decode,
        tested,
        seen,
        high_level_features("hog"),
        "hog",
        alphas=ALPHAS,
        length=0.1,
        step=0.1,
        shuffles=20,
        seed=0,
        dataset="things_meg",
        subject="S1",
        image_model="autoencoder",
    )
    assert list(course.columns) == METRIC_COLUMNS
    assert set(course["decoder"]) == {"ridge"} and set(course["metric"]) == set(METRICS)
    margin = course["value"] - course["chance"]
    before = course["window_stop"] <= 0
    after = (course["window_start"] >= 0) & (course["window_start"] < 0.2)
    assert before.any() and after.any()
    assert (margin[before] < 0.05).all() and margin[before].abs().mean() < 0.03, course[before]
    assert (margin[after] > 0.1).all(), course[after]


# --- the pieces -------------------------------------------------------------------------------


def test_shuffled_pairings_are_seeded_derangements():
    pairings = shuffled_pairings(7, 50, seed=3)
    assert pairings.shape == (50, 7)
    for p in pairings:
        assert sorted(p) == list(range(7)) and (p != np.arange(7)).all()
    np.testing.assert_array_equal(pairings, shuffled_pairings(7, 50, seed=3))
    assert not np.array_equal(pairings, shuffled_pairings(7, 50, seed=4))
    assert len({tuple(p) for p in pairings}) > 10  # not one fixed cycle
    np.testing.assert_array_equal(shuffled_pairings(2, 3, 0), [[1, 0]] * 3)
    with pytest.raises(ValueError, match="at least 2"):
        shuffled_pairings(1, 5, 0)


def test_feature_correlation_is_the_mean_pearson_correlation():
    gen = np.random.default_rng(0)
    a, b = gen.normal(size=(5, 9)), gen.normal(size=(5, 9))
    expected = np.mean([np.corrcoef(x, y)[0, 1] for x, y in zip(a, b, strict=True)])
    assert feature_correlation(a, b) == pytest.approx(expected)
    assert np.isnan(feature_correlation(np.ones((2, 3)), b[:2, :3]))


def test_identical_images_score_one_and_the_baseline_less():
    latents = 2 * np.random.default_rng(1).normal(size=(6, DIMS))
    images = generate(Generator().decode, latents)
    features = high_level_features("color_histogram")(images)
    rows = generation_scores(
        images, images, features, features, "color_histogram", [[1, 2, 3, 4, 5, 0]]
    )
    by_metric = {row["metric"]: row for row in rows}
    assert set(by_metric) == {"pixcorr", "ssim", "color_histogram_corr"}
    for row in rows:
        assert (
            row["value"] == pytest.approx(1.0) and row["chance"] < 0.9 and row["n_candidates"] == 6
        )
        assert row["ci_low"] == pytest.approx(1.0) and row["ci_high"] == pytest.approx(1.0)
    # a generation that matches half the images: the value inside a wide interval
    mixed = images.copy()
    mixed[::2] = images[[1, 0, 3, 2, 5, 4]][::2]
    for row in generation_scores(
        mixed,
        images,
        high_level_features("color_histogram")(mixed),
        features,
        "color_histogram",
        [[1, 2, 3, 4, 5, 0]],
    ):
        assert row["ci_low"] < row["value"] < row["ci_high"], row


def test_brain_module_predictions_go_through_the_subject_layer_by_name():
    class Module:
        subject_names_ = ["A", "B"]

        def predict_mse(self, X, subjects):
            return np.full((len(X), 2), float(subjects[0]))

    predict = latent_predictor(Module(), "B")
    np.testing.assert_array_equal(predict(np.zeros((3, 4, 5))), np.ones((3, 2)))
    with pytest.raises(DataError, match="'C' is not in this brain module"):
        latent_predictor(Module(), "C", source="module.pt")


def test_ridge_predictions_are_in_latent_units():
    epochs, trials, _, latents, index = dataset()
    decoder = fitted_ridge(epochs, trials, latents, index)
    train, _ = split_trials(trials)
    predicted = latent_predictor(decoder)(epochs[train])
    truth = feature_lookup(latents, index, trials["image"][train])
    assert abs(predicted.mean() - truth.mean()) < 0.1
    assert np.corrcoef(predicted.ravel(), truth.ravel())[0, 1] > 0.8


# --- bad input ---------------------------------------------------------------------------------


def test_latents_with_nan_are_refused():
    _, _, _, latents, _ = dataset()
    latents = latents.copy()
    latents[3, 2] = np.nan
    with pytest.raises(DataError, match="latents.npy: latents contain NaN"):
        run(latents=latents, source="latents.npy")


def test_mismatched_image_ids_are_refused():
    epochs, trials, _, latents, index = dataset()
    tested, seen = seen_images(trials, latents, index, Generator())
    with pytest.raises(DataError, match="the seen images are not the test images"):
        run(seen_images=tested + 1)
    with pytest.raises(DataError, match="not the test images"):
        run(seen_images=tested[::-1])
    with pytest.raises(DataError, match="seen image ids but"):
        run(seen=seen[:-1])
    missing = index[index["image"] != tested[0]].reset_index(drop=True)
    with pytest.raises(DataError, match="rows"):
        run(index=missing)


def test_generate_refuses_bad_latents():
    with pytest.raises(ValueError, match="finite"):
        generate(Generator().decode, np.full((2, DIMS), np.inf))
    with pytest.raises(ValueError, match="n, dims"):
        generate(Generator().decode, np.zeros(DIMS))


def test_scores_refuse_mismatched_images():
    images = np.zeros((4, SIDE, SIDE, 3), np.uint8)
    with pytest.raises(ValueError, match="differ in shape"):
        generation_scores(
            images, images[:3], np.ones((4, 2)), np.ones((3, 2)), "hog", [[1, 0, 3, 2]]
        )
    with pytest.raises(ValueError, match="pairings"):
        generation_scores(images, images, np.ones((4, 2)), np.ones((4, 2)), "hog", [[1, 0]])


# --- the generator's images: one split per image, across subjects --------------------------


def test_generation_images_are_the_union_with_one_split_each():
    a = pd.DataFrame(
        {"image": [1, 2, 3, 9, 9], "split": ["train", "train", "train", "test", "test"]}
    )
    b = pd.DataFrame({"image": [4, 2, 9, 8], "split": ["train", "train", "test", "test"]})
    images = generation_images([a, b], ["a.parquet", "b.parquet"])
    assert images.to_dict("list") == {
        "image": [8, 9, 1, 2, 3, 4],
        "split": ["test", "test", "train", "train", "train", "train"],
    }


def test_a_test_image_seen_in_training_by_another_subject_is_refused():
    a = pd.DataFrame({"image": [1, 2, 9], "split": ["train", "train", "test"]})
    b = pd.DataFrame({"image": [9, 3, 4], "split": ["train", "train", "test"]})
    with pytest.raises(DataError, match="a.parquet: 1 test image.*image 9"):
        generation_images([a, b], ["a.parquet", "b.parquet"])


def test_the_refused_image_is_one_of_the_named_tables():
    # a tests 50 (b trains on it); b tests 7 (c trains on it): the message names a, so image 50
    a = pd.DataFrame({"image": [1, 50], "split": ["train", "test"]})
    b = pd.DataFrame({"image": [50, 7], "split": ["train", "test"]})
    c = pd.DataFrame({"image": [7, 9], "split": ["train", "test"]})
    with pytest.raises(DataError, match=r"a.parquet: 2 test image.*\(first: image 50\)"):
        generation_images([a, b, c], ["a.parquet", "b.parquet", "c.parquet"])


# --- configuration --------------------------------------------------------------------------


def generation_config(**overrides):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    return merged(overrides, config["things_meg"]["generation"])


def test_default_generation_config_is_accepted():
    check_generation(generation_config())


def test_the_papers_generator_is_refused_with_what_it_needs():
    config = generation_config(generator={"kind": "versatile_diffusion"})
    with pytest.raises(ConfigError, match="Versatile Diffusion weights.*diffusers"):
        check_generation(config)


def test_unknown_decoders_are_refused():
    with pytest.raises(ConfigError, match="things_meg.generation.decoders"):
        check_generation(generation_config(decoders=["lasso"]))


def test_the_plan_builds_the_generation_figure_when_enabled():
    from brainlatent.plan import Plan

    schema = REPO / "workflow" / "schemas" / "config.schema.yaml"
    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    plan = Plan.from_config(default, REPO, schema=schema)
    assert plan.meg.generation and "meg_generation" in plan.built_figures
    assert plan.meg.generation_decoders == ("ridge", "brain_module")
    figure = {f.name: f for f in plan.figures}["meg_generation"]
    assert figure.inputs["images"] == tuple(
        f"results/things_meg/sub-{s}/generation/images.npz" for s in ("BIGMEG1", "BIGMEG2")
    )
    assert "results/figures/meg_generation.pdf" in plan.targets
    off = merged({"things_meg": {"generation": {"enabled": False}}}, default)
    plan = Plan.from_config(off, REPO, schema=schema)
    assert "meg_generation" not in plan.built_figures
    assert "meg_generation" in {f.name for f in plan.figures}  # buildable by name
    refused = merged(
        {"things_meg": {"generation": {"generator": {"kind": "versatile_diffusion"}}}}, off
    )
    with pytest.raises(ConfigError, match="versatile_diffusion"):
        Plan.from_config(refused, REPO, schema=schema)
    # a pretrained high-level model needs its weights, as the embedded image models do
    clip = merged({"things_meg": {"generation": {"high_level": "clip"}}}, default)
    with pytest.raises(ConfigError, match="things_meg.weights.clip.*generation.high_level"):
        Plan.from_config(clip, REPO, schema=schema)
    clip = merged({"things_meg": {"weights": {"clip": "data/clip"}}}, clip)
    assert Plan.from_config(clip, REPO, schema=schema).weights == {"clip": str(REPO / "data/clip")}


# --- figure ----------------------------------------------------------------------------------


def test_figure_is_saved(tmp_path):
    from brainlatent.figures.meg_generation import plot_meg_generation
    from brainlatent.figures.style import save_figure

    table, arrays = run()
    tables = [table, table.assign(subject="S2", value=table["value"] - 0.05)]
    course = table.assign(window_start=0.0, window_stop=0.1)
    figure = plot_meg_generation(
        pd.concat(tables, ignore_index=True), course, {"S1": arrays, "S2": arrays}
    )
    save_figure(figure, tmp_path / "g.pdf", tmp_path / "g.png")
    assert (tmp_path / "g.png").stat().st_size > 1000
    # each subject's interval over the test images, through its dot
    from matplotlib.collections import LineCollection

    (bars,) = [ax for ax in figure.axes if ax.get_title().startswith("Whole epoch")]
    vertical = [
        seg
        for c in bars.collections
        if isinstance(c, LineCollection)
        for seg in c.get_segments()
        if seg[0, 0] == seg[1, 0]
    ]
    assert len(vertical) == 2 * len(table)  # two subjects, every decoder and metric
    first = table.iloc[0]
    assert (first["ci_low"], first["ci_high"]) == pytest.approx(tuple(vertical[0][:, 1]))


def test_figure_puts_two_subjects_a_row():
    """real.yaml's four participants side by side drew each image ~40 px wide."""
    from brainlatent.figures.meg_generation import plot_meg_generation

    table, arrays = run()
    subjects = ["S1", "S2", "S3", "S4"]
    tables = pd.concat([table.assign(subject=s) for s in subjects], ignore_index=True)
    course = tables.assign(window_start=0.0, window_stop=0.1)
    figure = plot_meg_generation(tables, course, dict.fromkeys(subjects, arrays))
    figure.canvas.draw()
    images = [ax for ax in figure.axes if ax.get_images()]
    n, kinds = min(6, len(arrays["image"])), 1 + table["decoder"].nunique()  # seen + decoders
    assert len(images) == 4 * kinds * n
    widths = {round(ax.get_window_extent().width / figure.dpi, 2) for ax in images}
    assert min(widths) > 0.45, widths  # inches: as wide as two subjects' in one row
    rows = {round(ax.get_window_extent().y0) for ax in images}
    assert len(rows) == 2 * kinds  # two rows of subjects


def test_figure_names_missing_arrays():
    from brainlatent.figures.meg_generation import plot_meg_generation

    table, arrays = run()
    del arrays["generated_ridge"]
    course = table.assign(window_start=0.0, window_stop=0.1)
    with pytest.raises(DataError, match="sub-S1 lack arrays \\['generated_ridge'\\]"):
        plot_meg_generation(table, course, {"S1": arrays}, source="m.parquet")
    with pytest.raises(DataError, match="S1.npz: images of sub-S1 lack arrays"):
        plot_meg_generation(
            table, course, {"S1": arrays}, source="m.parquet", image_sources={"S1": "S1.npz"}
        )


def test_figure_draws_each_time_course_on_its_own_scale():
    """SSIM's changes over time are a few hundredths: on PixCorr's shared axis they were flat."""
    from brainlatent.figures.meg_generation import plot_meg_generation

    table, arrays = run()
    ridge = table[table["decoder"] == "ridge"]
    offsets = dict(zip(ridge["metric"].unique(), (0.6, 0.3, -0.2), strict=True))
    course = pd.concat(
        [
            ridge.assign(
                window_start=start,
                window_stop=start + 0.25,
                value=ridge["metric"].map(offsets) + 0.01 * k,
                chance=ridge["metric"].map(offsets) - 0.02,
            )
            for k, start in enumerate((-0.1, 0.0, 0.1))
        ],
        ignore_index=True,
    )
    figure = plot_meg_generation(table, course, {"S1": arrays}, source="m.parquet")
    panels = figure.axes[-3:]
    assert [ax.get_ylim() for ax in panels] != [panels[0].get_ylim()] * 3
    for ax, offset in zip(panels, offsets.values(), strict=True):
        low, high = ax.get_ylim()
        assert low <= offset - 0.02 and offset + 0.02 <= high and high - low < 0.2, ax.get_title()


def test_figure_keeps_a_negative_score_in_view():
    from brainlatent.figures.meg_generation import plot_meg_generation

    table, arrays = run()
    table.loc[table.index[0], "chance"] = -0.14  # natural images: a shuffled PixCorr below 0
    course = table.assign(window_start=0.0, window_stop=0.1)
    figure = plot_meg_generation(table, course, {"S1": arrays}, source="m.parquet")
    bars = [ax for ax in figure.axes if ax.get_ylabel() == "similarity to the seen image"]
    assert bars and bars[0].get_ylim()[0] <= -0.14


def test_only_a_deep_networks_correlation_is_called_high_level():
    """The paper's high-level similarity is CLIP's; the default config's HOG is a hand-made,
    low-level feature, and the figure must not call it high-level."""
    from brainlatent.figures.meg_generation import _metric_label

    assert _metric_label("clip_corr") == "clip corr.\n(high-level)"
    assert _metric_label("hog_corr") == "hog corr."
    assert _metric_label("pixcorr") == "PixCorr"
