"""CEBRA embeddings and movie-frame decoding on a synthetic movie with known latents."""

import numpy as np
import pandas as pd
import pytest
import torch

from brainlatent.decoding import frames as frames_module
from brainlatent.decoding.frames import (
    cebra_embedding,
    consistency_matrix,
    frame_chance,
    knn_frame_decoding,
    median_error_chance,
    neuron_count_sweep,
    pca_embedding,
    raw_embedding,
    window_accuracy,
)
from brainlatent.models.cebra_models import (
    KINDS,
    fit_embedding,
    fit_model,
    frame_labels,
    make_cebra,
    seeded_cebra,
)

from ..conftest import assert_pinned

# cebra 0.6's own deprecation, raised inside its sklearn interface for hybrid fits.
pytestmark = pytest.mark.filterwarnings("ignore:MultiobjectiveSolver is deprecated")

N_FRAMES = 900
# Short fits: CEBRA's layers are tiny, so one torch thread is fastest on a shared CPU.
FAST = {"batch_size": 256, "device": "cpu", "threads": 1}


def make_movie(n_neurons=60, n_repeats=3, peak=0.5, width=0.4, seed=0):
    """Neurons with Gaussian tuning to a helix traced once per 900-frame repeat, Poisson counts.

    Returns activity (samples × neurons), frame, repeat and 16-D per-frame
    features (a linear image of the latent, standing in for DINO features).
    """
    gen = np.random.default_rng(seed)
    f = np.arange(N_FRAMES)
    phase = 2 * np.pi * f / N_FRAMES
    latent = np.stack([np.cos(2 * phase), np.sin(2 * phase), 2 * f / N_FRAMES - 1], axis=1)
    centres = latent[gen.integers(0, N_FRAMES, n_neurons)] + 0.1 * gen.normal(size=(n_neurons, 3))
    distance2 = ((latent[:, None, :] - centres[None]) ** 2).sum(-1)
    rate = peak * np.exp(-distance2 / (2 * width**2))
    frame = np.tile(f, n_repeats)
    repeat = np.repeat(np.arange(n_repeats), N_FRAMES)
    neural = gen.poisson(rate[frame]).astype(np.float32)
    features = (latent @ gen.normal(size=(3, 16))).astype(np.float32)
    return neural, frame, repeat, features


@pytest.fixture(scope="module")
def movie():
    return make_movie()


@pytest.fixture(scope="module")
def behavior_fit(movie):
    """CEBRA-Behavior trained on repeats 0-1, as the paper trains on all but the last repeat."""
    neural, frame, repeat, features = movie
    train = repeat < 2
    labels = frame_labels(features, frame[train])
    model = fit_embedding(
        "behavior", neural[train], labels, max_iterations=200, output_dimension=8, **FAST
    )
    return model, train


def test_cebra_behavior_decodes_held_out_repeat_far_above_chance_and_beats_pca(movie, behavior_fit):
    neural, frame, repeat, _ = movie
    model, train = behavior_fit
    test = ~train
    cebra_result = knn_frame_decoding(
        model.transform(neural[train]), frame[train], model.transform(neural[test]), frame[test]
    )
    pca_train, pca_test = pca_embedding(8)(neural[train], frame[train], neural[test], 0)
    pca_result = knn_frame_decoding(pca_train, frame[train], pca_test, frame[test])

    assert cebra_result["n_test"] == N_FRAMES
    assert cebra_result["accuracy"] > 10 * cebra_result["chance"]
    assert cebra_result["accuracy"] > 0.8
    assert cebra_result["accuracy"] >= pca_result["accuracy"]
    assert cebra_result["median_abs_error_frames"] <= pca_result["median_abs_error_frames"]
    assert cebra_result["n_neighbors"] in (1, 9, 25, 49, 100)


@pytest.mark.parametrize("kind", ["time", "hybrid"])
def test_other_kinds_fit_reproducibly_and_return_the_right_shape(movie, kind):
    neural, frame, _, features = movie
    X = neural[:1200]
    labels = None if kind == "time" else frame_labels(features, frame[:1200])
    params = dict(max_iterations=15, output_dimension=3, random_state=4, **FAST)
    first = fit_embedding(kind, X, labels, **params).transform(X)
    again = fit_embedding(kind, X, labels, **params).transform(X)
    assert first.shape == (1200, 3) and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    # Reproducible without disturbing the caller's random stream.
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    fit_embedding(kind, X, labels, **params)
    assert torch.rand(1) == expected


def test_make_cebra_configures_the_three_kinds_like_the_paper():
    time_model = make_cebra("time")
    assert (time_model.conditional, time_model.hybrid) == ("time", False)
    behavior = make_cebra("behavior", output_dimension=16, random_state=3)
    assert (behavior.conditional, behavior.hybrid) == ("time_delta", False)
    assert behavior.output_dimension == 16 and behavior.random_state == 3
    hybrid = make_cebra("hybrid")
    assert (hybrid.conditional, hybrid.hybrid) == ("time_delta", True)
    for model in (time_model, behavior, hybrid):
        assert model.model_architecture == "offset10-model"
        assert (model.time_offsets, model.temperature, model.distance) == (10, 1.0, "cosine")
        assert (model.batch_size, model.learning_rate, model.max_iterations) == (512, 3e-4, 5000)
        assert model.device == ("cuda" if torch.cuda.is_available() else "cpu")
    assert KINDS == ("time", "behavior", "hybrid")


def test_bad_kinds_and_labels_are_rejected(movie):
    neural, frame, _, features = movie
    with pytest.raises(ValueError, match="time, behavior, hybrid"):
        make_cebra("pivae")
    with pytest.raises(ValueError, match="time, behavior, hybrid"):
        fit_embedding("Behaviour", neural)
    for kind in ("behavior", "hybrid"):
        with pytest.raises(ValueError, match="needs continuous labels"):
            fit_embedding(kind, neural)
    with pytest.raises(ValueError, match="self-supervised"):
        fit_embedding("time", neural, frame_labels(features, frame))
    with pytest.raises(ValueError, match="labels must be"):
        fit_embedding("behavior", neural, features)  # per-frame, not per-sample
    with pytest.raises(ValueError, match="set by kind"):
        make_cebra("time", conditional="time_delta")
    with pytest.raises(ValueError, match="frame indices"):
        frame_labels(features, np.array([0, N_FRAMES]))


def test_frame_labels_index_per_frame_features():
    features = np.arange(12, dtype=np.float32).reshape(4, 3)
    labels = frame_labels(features, np.array([3, 0, 3]))
    np.testing.assert_array_equal(labels, features[[3, 0, 3]])


def test_perfect_predictor_scores_one_and_window_is_strict():
    frames = np.arange(N_FRAMES)
    angle = np.pi * frames / N_FRAMES  # a half circle: every frame has its own direction
    code = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    result = knn_frame_decoding(code, frames, code, frames, n_neighbors=1, return_predictions=True)
    assert result["accuracy"] == 1.0 and result["median_abs_error_frames"] == 0.0
    np.testing.assert_array_equal(result["predicted_frames"], frames)
    # |error| < 30 frames counts (1 s at 30 Hz), 30 does not, and there is no wrap-around.
    assert window_accuracy([29, 30, 899], [0, 0, 0], window=30) == pytest.approx(1 / 3)


def test_chance_is_exact_at_the_movie_edges_and_matches_monte_carlo():
    assert frame_chance([450]) == pytest.approx(59 / N_FRAMES)
    assert frame_chance([0]) == frame_chance([899]) == pytest.approx(30 / N_FRAMES)
    assert frame_chance([28]) == pytest.approx(58 / N_FRAMES)
    assert frame_chance([29]) == pytest.approx(59 / N_FRAMES)

    gen = np.random.default_rng(0)
    true = np.arange(N_FRAMES)
    guesses = gen.integers(0, N_FRAMES, size=(400, N_FRAMES))
    monte_carlo = np.mean(np.abs(guesses - true) < 30)
    assert frame_chance(true) == pytest.approx(monte_carlo, abs=0.003)

    pooled = np.abs(np.arange(N_FRAMES)[:, None] - true[None, :]).ravel()
    assert median_error_chance(true) == np.median(pooled)
    assert median_error_chance([0, 5]) == np.median(np.abs(np.arange(N_FRAMES)[:, None] - [0, 5]))


def test_neighbour_count_is_chosen_on_the_last_training_rows():
    # Ten repeats as in the paper: each frame has nine training samples to vote.
    gen = np.random.default_rng(1)
    frames = np.tile(np.arange(N_FRAMES), 10)
    angle = np.pi * frames / N_FRAMES
    code = np.stack([np.cos(angle), np.sin(angle)], axis=1) + 0.05 * gen.normal(size=(9000, 2))
    split = (code[:8100], frames[:8100], code[8100:], frames[8100:])
    chosen = knn_frame_decoding(*split)
    nearest = knn_frame_decoding(*split, n_neighbors=1)
    assert chosen["n_neighbors"] > 1  # noisy codes: voting over neighbours helps
    assert chosen["accuracy"] > nearest["accuracy"]


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_one_neighbour_search_votes_as_scikit_learns_classifier(metric):
    """The k selection votes for every candidate k from one search of the largest; each
    vote must be KNeighborsClassifier's (uniform weights, ties to the lowest frame),
    here with many tied votes (few neighbours, frames drawn from a small range)."""
    from sklearn.neighbors import KNeighborsClassifier

    gen = np.random.default_rng(3)
    train, test = gen.normal(size=(600, 5)), gen.normal(size=(150, 5))
    frames = gen.integers(0, 40, 600)
    ks = [1, 2, 4, 9, 25]
    votes = frames_module._knn_votes(train, frames, test, ks, metric)
    for k in ks:
        expected = KNeighborsClassifier(n_neighbors=k, metric=metric).fit(train, frames)
        np.testing.assert_array_equal(votes[k], expected.predict(test))


def test_neuron_count_sweep_returns_long_rows_with_chance(movie):
    neural, frame, repeat, _ = movie
    sweep = neuron_count_sweep(
        neural, frame, repeat, counts=[5, 60], seeds=[0, 1], embed_fn=raw_embedding
    )
    assert list(sweep.columns[:5]) == ["n_neurons", "seed", "metric", "value", "chance"]
    assert len(sweep) == 2 * 2 * 2
    accuracy = sweep[sweep.metric == "accuracy"]
    np.testing.assert_allclose(accuracy.chance, frame_chance(np.arange(N_FRAMES)))
    by_count = accuracy.groupby("n_neurons").value.mean()
    assert by_count[60] > by_count[5] > accuracy.chance.iloc[0]
    # All 60 neurons: the draw cannot matter.
    assert accuracy[accuracy.n_neurons == 60].value.nunique() == 1
    again = neuron_count_sweep(neural, frame, repeat, [5, 60], [0, 1], raw_embedding)
    pd.testing.assert_frame_equal(sweep, again)
    with pytest.raises(ValueError, match="neuron counts"):
        neuron_count_sweep(neural, frame, repeat, [61], [0], raw_embedding)


def test_neuron_count_sweep_with_cebra_and_pca_embeddings(movie):
    neural, frame, repeat, features = movie
    embed = cebra_embedding("behavior", features, max_iterations=10, output_dimension=4, **FAST)
    sweep = neuron_count_sweep(neural, frame, repeat, [20], [0], embed)
    assert set(sweep.metric) == {"accuracy", "median_abs_error_frames"}
    # PCA keeps every dimension when there are fewer neurons than components.
    E_train, E_test = pca_embedding(32)(neural[:900, :10], frame[:900], neural[900:, :10], 0)
    assert E_train.shape == (900, 10) and E_test.shape == (1800, 10)
    with pytest.raises(ValueError, match="needs frame_features"):
        cebra_embedding("behavior")


def test_consistency_is_one_for_a_rotation_and_zero_for_noise():
    gen = np.random.default_rng(2)
    frames_a = np.tile(np.arange(N_FRAMES), 3)
    frames_b = np.tile(np.arange(N_FRAMES), 2)  # another mouse, fewer repeats
    angle = 2 * np.pi * np.arange(N_FRAMES) / N_FRAMES
    latent = np.stack([np.cos(angle), np.sin(angle), np.cos(2 * angle), np.sin(3 * angle)], 1)
    rotation, _ = np.linalg.qr(gen.normal(size=(4, 4)))
    embeddings = {
        "a": latent[frames_a] + 0.05 * gen.normal(size=(len(frames_a), 4)),
        "b": latent[frames_b] @ rotation + 0.05 * gen.normal(size=(len(frames_b), 4)),
        "noise": gen.normal(size=(len(frames_a), 4)),
    }
    frames = {"a": frames_a, "b": frames_b, "noise": frames_a}
    matrix = consistency_matrix(embeddings, frames)

    assert list(matrix.index) == list(matrix.columns) == ["a", "b", "noise"]
    assert np.isnan(np.diag(matrix.to_numpy())).all()
    assert matrix.loc["a", "b"] > 0.99 and matrix.loc["b", "a"] > 0.99
    assert abs(matrix.loc["a", "noise"]) < 0.05 and abs(matrix.loc["noise", "b"]) < 0.05

    by_sample = consistency_matrix(
        {"a": embeddings["a"], "noise": embeddings["noise"]},
        {"a": frames_a, "noise": frames_a},
        align="sample",
    )
    assert abs(by_sample.loc["a", "noise"]) < 0.05
    with pytest.raises(ValueError, match="identical frames"):
        consistency_matrix(embeddings, frames, align="sample")


def test_discrete_labels_fit_reproducibly_beside_continuous_ones(movie):
    """cebra's discrete sampler draws from NumPy's global RNG: fit_model seeds and restores it."""
    neural, frame, repeat, features = movie
    direction = (frame >= N_FRAMES // 2).astype(np.int64)  # a two-class label
    state = np.random.get_state()  # noqa: NPY002

    def fit(continuous, seed):
        model = make_cebra(
            "behavior",
            random_state=seed,
            max_iterations=20,
            output_dimension=3,
            batch_size=128,
            device="cpu",
        )
        return fit_model(model, neural, continuous, discrete=direction, threads=1)

    for continuous in (frame_labels(features, frame), None):
        first, again = fit(continuous, 1).transform(neural), fit(continuous, 1).transform(neural)
        np.testing.assert_array_equal(first, again)
    assert np.array_equal(np.random.get_state()[1], state[1])  # noqa: NPY002
    with pytest.raises(ValueError, match="integer class codes"):
        fit_model(make_cebra("behavior"), neural, discrete=direction.astype(float))
    with pytest.raises(ValueError, match="self-supervised"):
        fit_model(make_cebra("time"), neural, discrete=direction)


# Recorded before the seeding moved into cebra_models.seeded_cebra (CPU, cebra 0.6.1).
PINNED_FIT = {
    "behavior": [
        [-0.3761090636253357, -0.8667054176330566, 0.32766395807266235],
        [-0.4219305217266083, -0.827305018901825, 0.3708651661872864],
    ],
    "time": [
        [-0.5106027126312256, -0.7983062267303467, 0.31936195492744446],
        [-0.4623291790485382, -0.8123016953468323, 0.355552613735199],
    ],
}


@pytest.mark.parametrize("kind", ["behavior", "time"])
def test_seeded_fit_is_pinned(kind):
    rng = np.random.default_rng(11)
    neural = rng.standard_normal((200, 10)).astype(np.float32)
    labels = rng.standard_normal((200, 2)).astype(np.float32) if kind == "behavior" else None
    model = fit_embedding(
        kind,
        neural,
        labels,
        max_iterations=5,
        output_dimension=3,
        batch_size=32,
        device="cpu",
        random_state=2,
        threads=1,
    )
    assert_pinned(model.transform(neural)[:2], PINNED_FIT[kind])  # up to another CPU's rounding


def test_seeded_cebra_restores_rng_states_and_patches_samplers_in_the_block():
    import cebra.distributions.base as base

    original = base.HasGenerator.__init__
    torch_state, numpy_state = torch.random.get_rng_state(), np.random.get_state()  # noqa: NPY002
    with seeded_cebra(3, weights_key="cebra"):
        assert base.HasGenerator.__init__ is not original  # the synthetic benchmark's key
        synthetic = torch.rand(3)
    with seeded_cebra(3):
        assert base.HasGenerator.__init__ is not original
        full, draw = torch.rand(3), np.random.rand()  # noqa: NPY002
    with seeded_cebra(3):
        assert torch.equal(torch.rand(3), full) and np.random.rand() == draw  # noqa: NPY002
    assert not torch.equal(synthetic, full)  # another key, other weights
    assert base.HasGenerator.__init__ is original
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state[1])  # noqa: NPY002


def test_movie_frame_table_records_the_device(movie):
    from brainlatent.decoding import movie as mv

    neural, frame, repeat, features = movie
    table = mv.decode_movie_frames(
        neural, frame, repeat, features, ["raw", "pca"], [5], [0], {"device": "cuda:7"}
    )
    assert list(table.columns) == mv.COLUMNS and mv.COLUMNS[-1] == "device"
    assert set(table.device) == {"cpu"}  # raw and PCA never leave the CPU
    assert mv.method_device("cebra_time", {"device": "cpu"}) == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert mv.method_device("cebra_behavior", {}) == expected  # auto, resolved


def test_median_abs_error_is_a_median():
    """Errors of 0, 10 and 100 frames: median 10 (the mean would be 36.7)."""
    frames = np.arange(frames_module.N_FRAMES)
    angle = np.pi * frames / frames_module.N_FRAMES
    code = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    result = knn_frame_decoding(
        code, frames, code[[0, 0, 0]], np.array([0, 10, 100]), n_neighbors=1
    )
    assert result["median_abs_error_frames"] == 10.0
    assert result["accuracy"] == pytest.approx(2 / 3)


def test_consistency_is_from_row_to_column():
    """Row a, column b: how much of b a explains. b's second dimension is uncorrelated with
    a (R² 0, first 1: mean 0.5), while b explains all of a."""
    a = np.array([[0.0], [1.0], [2.0], [3.0]])
    b = np.array([[0.0, 1.0], [1.0, -1.0], [2.0, -1.0], [3.0, 1.0]])
    frames = np.arange(4)
    matrix = consistency_matrix({"a": a, "b": b}, {"a": frames, "b": frames})
    assert matrix.loc["a", "b"] == pytest.approx(0.5)
    assert matrix.loc["b", "a"] == pytest.approx(1.0)


def test_consistency_aligns_the_frames_both_mice_saw():
    """Two mice with overlapping frame sets are compared on the shared frames, matched."""
    fa, fb = np.arange(0, 12), np.arange(6, 18)

    def latent(f):
        return np.stack([np.cos(f), np.sin(0.7 * f)], axis=1)

    matrix = consistency_matrix({"a": latent(fa), "b": latent(fb)[:, ::-1] * 3}, {"a": fa, "b": fb})
    assert matrix.loc["a", "b"] == pytest.approx(1.0)
    assert matrix.loc["b", "a"] == pytest.approx(1.0)


def test_consistency_averages_the_repeats_of_each_frame():
    """Frames repeated 1-4 times: per-frame means match the other mouse exactly, sums do not."""
    fa = np.array([0, 1, 1, 2, 2, 2, 3, 3, 3, 3])
    fb = np.array([0, 1, 2, 3])
    latent = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, -1.0], [-1.0, 0.5]])
    matrix = consistency_matrix({"a": latent[fa], "b": latent[fb]}, {"a": fa, "b": fb})
    assert matrix.loc["a", "b"] == pytest.approx(1.0)
    assert matrix.loc["b", "a"] == pytest.approx(1.0)
