"""DAE-NR on synthetic "natural scenes" whose neurons encode what pixels hide.

Each of 118 32×32 images is a Gabor patch drawn from five latent factors:
orientation, spatial frequency, contrast, position and phase. The simulated
neurons are complex cells: tuned to orientation × frequency, scaled by
contrast, invariant to phase and position. Position and phase dominate pixel
distances, so the pixel RDM barely matches the neural RDM, and an autoencoder
trained on pixels alone has no reason to organise its code by orientation; the
neural term (beta > 0) forces it to, which held-out RSA must show.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from brainlatent.metrics_images import pixcorr, rsa, ssim
from brainlatent.models.daenr import (
    DAENR,
    HISTORY_COLUMNS,
    DAENREstimator,
    compare_beta,
    pretrain,
    score_heldout,
    shuffled_pairs,
)

N_IMAGES, N_TRAIN, SIZE, N_NEURONS = 118, 90, 32, 60
# Short training (lr above the default) so four fits take seconds.
FAST = dict(max_epochs=60, lr=3e-3, batch_size=45, progress=False)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # With 2 cores shared by other jobs, 2 torch threads are many times slower than 1.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_problem(seed: int = 0, size: int = SIZE, noise: float = 0.2):
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0, np.pi, N_IMAGES)
    freq = rng.uniform(2.0, 5.0, N_IMAGES)  # cycles per image
    contrast = rng.uniform(0.3, 1.0, N_IMAGES)
    pos = rng.uniform(0.3, 0.7, (N_IMAGES, 2))
    phase = rng.uniform(0, 2 * np.pi, N_IMAGES)
    yy, xx = np.mgrid[0:size, 0:size] / size
    dx = xx[None] - pos[:, 0, None, None]
    dy = yy[None] - pos[:, 1, None, None]
    u = dx * np.cos(theta)[:, None, None] + dy * np.sin(theta)[:, None, None]
    envelope = np.exp(-(dx**2 + dy**2) / (2 * 0.18**2))
    carrier = np.cos(2 * np.pi * freq[:, None, None] * u + phase[:, None, None])
    images = 0.5 + 0.5 * contrast[:, None, None] * envelope * carrier
    images = np.clip(np.round(images * 255), 0, 255).astype(np.uint8)

    pref_theta = rng.uniform(0, np.pi, N_NEURONS)
    pref_freq = rng.uniform(2.0, 5.0, N_NEURONS)
    orientation = np.exp(2.0 * (np.cos(2 * (theta[:, None] - pref_theta[None])) - 1))
    frequency = np.exp(-((freq[:, None] - pref_freq[None]) ** 2) / 2)
    responses = np.sqrt(contrast)[:, None] * orientation * frequency
    responses += noise * responses.std() * rng.standard_normal(responses.shape)
    return images, responses


def split(images, responses):
    return images[:N_TRAIN], responses[:N_TRAIN], images[N_TRAIN:], responses[N_TRAIN:]


@pytest.fixture(scope="module")
def problem():
    return split(*make_problem(0))


@pytest.fixture(scope="module")
def comparison(problem):
    return compare_beta(*problem, betas=(0.0, 1.0), seeds=(0, 1), **FAST)


# ---------------------------------------------------------------------------
# Shapes, history, persistence
# ---------------------------------------------------------------------------


def test_shapes_and_history(problem):
    train_x, train_y, test_x, _ = problem
    est = DAENREstimator(hidden_dim=16, max_epochs=3, progress=False).fit(train_x, train_y)
    assert list(est.history_.columns) == HISTORY_COLUMNS
    assert est.history_["epoch"].tolist() == [1, 2, 3]
    assert np.isfinite(est.history_[["loss", "recon", "neural"]].to_numpy()).all()
    np.testing.assert_allclose(
        est.history_["loss"], est.history_["recon"] + est.history_["neural"], rtol=1e-6
    )
    assert est.encode(test_x).shape == (len(test_x), 16)
    recon = est.reconstruct(test_x)
    assert recon.shape == test_x.shape and recon.dtype == np.float32
    assert recon.min() >= 0 and recon.max() <= 1
    assert est.predict_responses(test_x).shape == (len(test_x), N_NEURONS)


@pytest.mark.parametrize("shape", [(12, 16, 16, 3), (12, 20, 24), (12, 64, 64, 1)])
def test_image_formats_round_trip(shape):
    images = np.random.default_rng(0).uniform(0, 1, shape).astype(np.float32)
    est = DAENREstimator(hidden_dim=8, beta=0.0, max_epochs=1, progress=False).fit(images)
    assert est.reconstruct(images).shape == shape
    assert np.isnan(est.history_["neural"]).all()
    with pytest.raises(ValueError, match="without responses"):
        est.predict_responses(images)


def test_encoder_ends_on_small_map():
    assert DAENR(32, 32, 1, 8, 0).code_shape[1:] == (4, 4)
    assert DAENR(64, 64, 3, 8, 0).code_shape[1:] == (4, 4)


def test_same_seed_same_fit(problem):
    train_x, train_y, _, _ = problem
    runs = [
        DAENREstimator(hidden_dim=8, max_epochs=2, progress=False).fit(train_x, train_y)
        for _ in range(2)
    ]
    pd.testing.assert_frame_equal(runs[0].history_, runs[1].history_)


def test_save_load_round_trip(problem, tmp_path):
    train_x, train_y, test_x, _ = problem
    est = DAENREstimator(hidden_dim=8, max_epochs=2, progress=False).fit(train_x, train_y)
    path = tmp_path / "sub" / "daenr.pt"
    est.save(path)
    loaded = DAENREstimator.load(path)
    assert loaded.get_params() == est.get_params()
    assert loaded.fit_device_ == est.fit_device_ == str(est.device_)
    pd.testing.assert_frame_equal(loaded.history_, est.history_)
    for method in ("encode", "reconstruct", "predict_responses"):
        np.testing.assert_allclose(
            getattr(loaded, method)(test_x), getattr(est, method)(test_x), atol=1e-6
        )


def test_load_refuses_another_format(problem, tmp_path):
    from brainlatent.models.brain_module import BrainModuleDecoder

    train_x, train_y, _, _ = problem
    est = DAENREstimator(hidden_dim=8, max_epochs=1, progress=False).fit(train_x, train_y)
    est.save(tmp_path / "daenr.pt")
    with pytest.raises(ValueError, match=r"daenr\.pt: checkpoint format 'brainlatent\.DAENR"):
        BrainModuleDecoder.load(tmp_path / "daenr.pt")
    state = torch.load(tmp_path / "daenr.pt", weights_only=True)
    state["format"] = "brainlatent.DAENREstimator/1"
    torch.save(state, tmp_path / "old.pt")
    with pytest.raises(ValueError, match="expected 'brainlatent.DAENREstimator/2'"):
        DAENREstimator.load(tmp_path / "old.pt")


# ---------------------------------------------------------------------------
# Science: reconstruction works; the neural term makes the code brain-like
# ---------------------------------------------------------------------------


def test_design_pixels_do_not_give_the_neural_geometry(problem):
    _, _, test_x, test_y = problem
    assert rsa(test_x.reshape(len(test_x), -1).astype(float), test_y) < 0.3


def test_comparison_table(comparison):
    assert list(comparison.columns) == ["beta", "seed", "metric", "value"]
    scores = {"ssim", "pixcorr", "rsa", "rsa_readout"}
    assert len(comparison) == 2 * 2 * 2 * len(scores)
    assert set(comparison["metric"]) == scores | {f"{m}_shuffled" for m in scores}
    assert np.isfinite(comparison["value"]).all()
    wide = comparison.pivot_table(index=["beta", "seed"], columns="metric", values="value")
    # With the code read out directly (readout_layer None) both RSAs are the same number.
    np.testing.assert_allclose(wide["rsa"], wide["rsa_readout"])
    # Each score beats its shuffled pairing.
    for metric in ("ssim", "pixcorr"):
        assert (wide[metric] > wide[f"{metric}_shuffled"] + 0.1).all(), wide


def test_reconstructions_beat_the_mean_image(problem, comparison):
    train_x, _, test_x, _ = problem
    mean = np.broadcast_to(train_x.mean(axis=0) / 255, test_x.shape).astype(np.float32)
    wide = comparison.pivot_table(index=["beta", "seed"], columns="metric", values="value")
    assert (wide["pixcorr"] > 0.3).all(), wide
    assert (wide["ssim"] > ssim(test_x, mean) + 0.05).all(), wide


def test_neural_term_raises_held_out_rsa(comparison):
    rsa_by = comparison[comparison["metric"] == "rsa"].pivot(
        index="seed", columns="beta", values="value"
    )
    # Observed: about 0.75 with beta = 1 vs about 0.0 with beta = 0.
    assert (rsa_by[1.0] > rsa_by[0.0] + 0.3).all(), rsa_by
    assert (rsa_by[1.0] > 0.5).all(), rsa_by


# ---------------------------------------------------------------------------
# Errors and metrics
# ---------------------------------------------------------------------------


def test_mismatched_rows(problem):
    train_x, train_y, _, _ = problem
    with pytest.raises(ValueError, match="responses must have one row per image"):
        DAENREstimator(progress=False).fit(train_x, train_y[:-1])


def test_nan_responses(problem):
    train_x, train_y, _, _ = problem
    bad = train_y.copy()
    bad[5, 3] = np.nan
    with pytest.raises(ValueError, match=r"responses contains NaN .*image 5"):
        DAENREstimator(progress=False).fit(train_x, bad)


def test_beta_needs_responses(problem):
    with pytest.raises(ValueError, match="responses is required when beta > 0"):
        DAENREstimator(beta=0.5, progress=False).fit(problem[0])


def test_bad_images_and_params(problem):
    train_x, train_y, _, _ = problem
    with pytest.raises(ValueError, match=r"images .* outside \[0, 1\]"):
        DAENREstimator(progress=False).fit(train_x.astype(np.float32), train_y)
    with pytest.raises(ValueError, match="beta must be"):
        DAENREstimator(beta=-1.0, progress=False).fit(train_x, train_y)
    est = DAENREstimator(hidden_dim=4, max_epochs=1, progress=False).fit(train_x[:8], train_y[:8])
    with pytest.raises(ValueError, match="as at fit"):
        est.encode(train_x[:4, :16, :16])


def test_metrics_on_known_cases():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 1, (5, 16, 16)).astype(np.float32)
    assert pixcorr(a, a) == pytest.approx(1.0)
    assert pixcorr(a, 1 - a) == pytest.approx(-1.0)
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(np.stack([a] * 3, axis=-1), np.stack([a] * 3, axis=-1)) == pytest.approx(1.0)
    x = rng.standard_normal((10, 6))
    assert rsa(x, x) == pytest.approx(1.0)
    assert rsa(x, np.exp(x), method="pearson") < 1.0
    with pytest.raises(ValueError, match="same shape"):
        pixcorr(a, a[:4])


# ---------------------------------------------------------------------------
# Pretraining, augmentation, read-out layer, shuffled baselines
# ---------------------------------------------------------------------------


def test_init_and_corpus_start_and_feed_the_fit(problem):
    train_x, train_y, test_x, _ = problem
    pre = pretrain(train_x, hidden_dim=8, max_epochs=2, progress=False)
    assert pre.augment and pre.n_neurons_ == 0
    est = DAENREstimator(hidden_dim=8, max_epochs=1, lr=1e-9, progress=False)
    est.fit(train_x, train_y, init=pre, corpus=train_x[:10])
    # With a vanishing learning rate the fit keeps the pretrained encoder and decoder.
    np.testing.assert_allclose(est.encode(test_x), pre.encode(test_x), atol=1e-4)
    np.testing.assert_allclose(est.reconstruct(test_x), pre.reconstruct(test_x), atol=1e-4)


def test_default_fit_is_unchanged_by_the_new_options(problem):
    """augment False, no init, no corpus: the same numbers as the plain fit (the GOD and
    MEG generators use it)."""
    train_x, train_y, _, _ = problem
    a = DAENREstimator(hidden_dim=8, max_epochs=2, progress=False).fit(train_x, train_y)
    b = DAENREstimator(hidden_dim=8, max_epochs=2, progress=False, augment=True).fit(
        train_x, train_y
    )
    c = DAENREstimator(hidden_dim=8, max_epochs=2, progress=False).fit(train_x, train_y)
    np.testing.assert_array_equal(a.encode(train_x), c.encode(train_x))
    assert not np.array_equal(a.encode(train_x), b.encode(train_x))


def test_readout_from_an_encoder_layer(problem):
    train_x, train_y, test_x, test_y = problem
    est = DAENREstimator(hidden_dim=8, max_epochs=2, readout_layer=2, progress=False)
    est.fit(train_x, train_y)
    assert est.features(test_x).shape == (len(test_x), 32 * 8 * 8)  # 32 channels, 8 × 8
    assert est.predict_responses(test_x).shape == test_y.shape
    scores = score_heldout(est, test_x, test_y, n_shuffles=3)
    assert set(scores) == {
        f"{m}{s}" for m in ("ssim", "pixcorr", "rsa", "rsa_readout") for s in ("", "_shuffled")
    }


def test_shuffled_pairs_are_seeded_derangements():
    for seed in range(20):
        perm = shuffled_pairs(5, seed)
        assert sorted(perm) == list(range(5)) and (perm != np.arange(5)).all()
    np.testing.assert_array_equal(shuffled_pairs(7, 3), shuffled_pairs(7, 3))
    with pytest.raises(ValueError, match="at least 2 images"):
        shuffled_pairs(1, 0)


def test_bad_pretraining_inputs(problem):
    train_x, train_y, _, _ = problem
    pre = pretrain(train_x[:8], hidden_dim=8, max_epochs=1, progress=False)
    with pytest.raises(ValueError, match="init was fitted on images .* hidden_dim 8"):
        DAENREstimator(hidden_dim=4, max_epochs=1, progress=False).fit(train_x, train_y, init=pre)
    with pytest.raises(ValueError, match="corpus images must be shaped like images"):
        DAENREstimator(max_epochs=1, progress=False).fit(
            train_x, train_y, corpus=train_x[:, :16, :16]
        )
    with pytest.raises(ValueError, match="readout_layer must be between 1 and 3"):
        DAENREstimator(max_epochs=1, readout_layer=4, progress=False).fit(train_x, train_y)
    with pytest.raises(ValueError, match="readout_layer must be None or a positive integer"):
        DAENREstimator(max_epochs=1, readout_layer=0, progress=False).fit(train_x, train_y)
    with pytest.raises(TypeError, match="augment must be True or False"):
        DAENREstimator(max_epochs=1, augment="yes", progress=False).fit(train_x, train_y)


def test_pixcorr_is_nan_when_one_image_is_constant():
    """A flat reconstruction has no correlation: NaN, not dropped from the mean."""
    ramp = (np.arange(16, dtype=np.float32) / 15).reshape(1, 4, 4)
    truth = np.concatenate([ramp, ramp])
    recon = np.concatenate([ramp, np.full((1, 4, 4), 0.5, np.float32)])
    assert np.isnan(pixcorr(recon, truth))
    assert pixcorr(truth, truth) == pytest.approx(1.0)
