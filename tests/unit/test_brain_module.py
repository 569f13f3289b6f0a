"""BrainModule / BrainModuleDecoder on a small synthetic MEG problem with known ground truth.

Each "image" has an 8-dim latent; each latent dimension drives a smooth spatial
blob on the sensor layout with its own temporal bump, plus a subject-specific
mixing of the latents and white noise. The image embedding Y is a fixed linear
map of the latent, so a decoder that learns the forward model can retrieve
unseen images.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone

from brainlatent.models.brain_module import (
    HISTORY_COLUMNS,
    BrainModule,
    BrainModuleDecoder,
    SpatialAttention,
    clip_loss,
)

N_CHANNELS, N_TIMES, N_LATENT, N_DIMS = 30, 48, 8, 16
N_IMAGES, N_TRAIN_IMAGES, N_SUBJECTS = 160, 100, 2

# Small and fast; lr is higher than the default so a few epochs suffice.
FAST = dict(
    n_spatial=16, hidden=32, n_blocks=2, lr=3e-3, batch_size=32, progress=False, num_threads=2
)


def make_problem(seed: int = 0, noise: float = 1.0):
    rng = np.random.default_rng(seed)
    positions = rng.uniform(0, 1, (N_CHANNELS, 2))
    centers = rng.uniform(0.2, 0.8, (N_LATENT, 2))
    spatial = np.exp(-((positions[None] - centers[:, None]) ** 2).sum(-1) / (2 * 0.15**2))
    t = np.arange(N_TIMES)
    latencies = rng.uniform(10, 38, N_LATENT)
    temporal = np.exp(-((t[None] - latencies[:, None]) ** 2) / (2 * 4.0**2))
    latent = rng.standard_normal((N_IMAGES, N_LATENT))
    embeddings = (latent @ rng.standard_normal((N_LATENT, N_DIMS))).astype(np.float32)
    X, subjects, images = [], [], []
    for s in range(N_SUBJECTS):
        mixing = np.eye(N_LATENT) + 0.3 * rng.standard_normal((N_LATENT, N_LATENT))
        signal = np.einsum("nl,lc,lt->nct", latent @ mixing.T, spatial, temporal)
        X.append(signal + noise * rng.standard_normal(signal.shape))
        subjects.append(np.full(N_IMAGES, s))
        images.append(np.arange(N_IMAGES))
    X = np.concatenate(X).astype(np.float32)
    subjects = np.concatenate(subjects)
    images = np.concatenate(images)
    return X, embeddings, subjects, images, positions


@pytest.fixture(scope="module")
def problem():
    X, emb, subjects, images, positions = make_problem()
    train = images < N_TRAIN_IMAGES
    return {
        "X_train": X[train],
        "Y_train": emb[images[train]],
        "s_train": subjects[train],
        "X_test": X[~train],
        "s_test": subjects[~train],
        "img_test": images[~train] - N_TRAIN_IMAGES,
        "test_embeddings": emb[N_TRAIN_IMAGES:],
        "positions": positions,
    }


@pytest.fixture(scope="module")
def fitted(problem):
    est = BrainModuleDecoder(max_epochs=6, patience=100, **FAST)
    return est.fit(problem["X_train"], problem["Y_train"], problem["s_train"], problem["positions"])


def top5_accuracy(Z: np.ndarray, candidates: np.ndarray, true: np.ndarray) -> float:
    Z = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    candidates = candidates / np.linalg.norm(candidates, axis=1, keepdims=True)
    sims = Z @ candidates.T
    rank = (sims > sims[np.arange(len(true)), true][:, None]).sum(axis=1)
    return float((rank < 5).mean())


# -- network ------------------------------------------------------------------


def test_forward_shapes():
    positions = np.random.default_rng(0).uniform(0, 1, (N_CHANNELS, 2))
    model = BrainModule(
        positions,
        n_times=N_TIMES,
        n_outputs=N_DIMS,
        n_subjects=3,
        n_spatial=16,
        hidden=32,
        n_blocks=3,
    )
    x = torch.randn(5, N_CHANNELS, N_TIMES)
    subjects = torch.tensor([0, 1, 2, 0, 1])
    for mode in (model.train, model.eval):
        mode()
        clip_out, mse_out = model(x, subjects)
        assert clip_out.shape == (5, N_DIMS)
        assert mse_out.shape == (5, N_DIMS)
    with pytest.raises(ValueError, match="expected input of shape"):
        model(torch.randn(2, N_CHANNELS, N_TIMES + 1), subjects[:2])


def test_composed_front_end_is_the_layers_applied_in_turn():
    """encode() applies attention, spatial conv, subject layer and input conv as one composed
    map: same outputs and same parameter gradients as the layers one after the other."""
    positions = np.random.default_rng(0).uniform(0, 1, (N_CHANNELS, 2))
    model = BrainModule(positions, n_times=N_TIMES, n_outputs=4, n_subjects=3, n_spatial=8)
    with torch.no_grad():  # away from the identity/zero initialisation
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    x = torch.randn(6, N_CHANNELS, N_TIMES)
    subjects = torch.tensor([0, 1, 2, 2, 1, 0])

    def in_turn():
        h = model.spatial_conv(model.attention(x))
        return model.input_conv(model.subject_layer(h, subjects))

    def composed():
        weights, bias = model.front(subjects)
        return torch.bmm(weights, x) + bias[..., None]

    runs = []
    for run in (in_turn, composed):
        model.zero_grad()
        torch.manual_seed(3)  # the same spatial-dropout region in both
        out = run()
        out.square().mean().backward()
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        runs.append((out.detach(), grads))
    (a, grads_a), (b, grads_b) = runs
    torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    # attention projection (weight, bias), spatial conv (2), subject layer, input conv (2)
    assert len(grads_a) == len(grads_b) == 7
    for ga, gb in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(gb, ga, rtol=1e-4, atol=1e-6)


def test_subject_layer_starts_as_identity():
    positions = np.random.default_rng(0).uniform(0, 1, (N_CHANNELS, 2))
    model = BrainModule(positions, n_times=N_TIMES, n_outputs=4, n_subjects=2, n_spatial=8)
    h = torch.randn(3, 8, N_TIMES)
    out = model.subject_layer(h, torch.tensor([0, 1, 1]))
    torch.testing.assert_close(out, h)


def test_spatial_dropout_removes_a_region_only_in_training():
    positions = torch.rand(200, 2, generator=torch.Generator().manual_seed(0))
    attention = SpatialAttention(positions, n_spatial=4, n_freqs=3, dropout_radius=0.3)
    torch.manual_seed(1)
    attention.train()
    weights = attention.weights()
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(4))
    dropped = (weights == 0).all(dim=0)
    assert 0 < int(dropped.sum()) < 200
    # The dropped sensors form a disc: all within 2 * radius of each other.
    far = torch.cdist(positions[dropped], positions[dropped]).max()
    assert float(far) <= 0.6 + 1e-6
    attention.eval()
    assert bool((attention.weights() > 0).all())


def test_clip_loss_prefers_matching_pairs_and_handles_repeats():
    y = torch.randn(6, 5, generator=torch.Generator().manual_seed(0))
    groups = torch.arange(6)
    scale = torch.tensor(np.log(10.0))
    assert clip_loss(y, y, groups, scale) < clip_loss(y.flip(0), y, groups, scale)
    # Two rows of the same image: soft labels, so swapping them changes nothing.
    y_rep = torch.cat([y, y[:1]])
    groups_rep = torch.cat([groups, groups[:1]])
    z = y_rep.clone()
    z_swapped = z[[6, 1, 2, 3, 4, 5, 0]]
    torch.testing.assert_close(
        clip_loss(z, y_rep, groups_rep, scale), clip_loss(z_swapped, y_rep, groups_rep, scale)
    )


# -- estimator ----------------------------------------------------------------


def test_fitted_attributes_and_history_schema(fitted, problem):
    assert list(fitted.history_.columns) == HISTORY_COLUMNS
    assert list(fitted.history_["epoch"]) == list(range(1, 7))
    assert fitted.history_[HISTORY_COLUMNS[1:]].notna().all().all()
    assert fitted.n_features_in_ == N_CHANNELS
    assert fitted.n_subjects_ == N_SUBJECTS
    assert fitted.device_ == torch.device("cpu") and fitted.fit_device_ == "cpu"
    assert fitted.subject_names_ == ["0", "1"]  # no names given: the indices
    assert fitted.y_mean_.shape == fitted.y_scale_.shape == (N_DIMS,)
    np.testing.assert_allclose(fitted.positions_, problem["positions"], rtol=1e-6)
    best = fitted.history_.loc[fitted.history_["val_loss"].idxmin(), "epoch"]
    assert fitted.best_epoch_ == best


def test_predict_shapes(fitted, problem):
    Z = fitted.predict(problem["X_test"], problem["s_test"])
    assert Z.shape == (len(problem["X_test"]), N_DIMS)
    assert Z.dtype == np.float32
    Y_hat = fitted.predict_mse(problem["X_test"][:7], problem["s_test"][:7])
    assert Y_hat.shape == (7, N_DIMS) and Y_hat.dtype == np.float32
    assert fitted.transform_targets(problem["test_embeddings"]).shape == (
        N_IMAGES - N_TRAIN_IMAGES,
        N_DIMS,
    )


def test_retrieval_of_unseen_images_far_above_chance(fitted, problem):
    Z = fitted.predict(problem["X_test"], problem["s_test"])
    candidates = fitted.transform_targets(problem["test_embeddings"])
    acc = top5_accuracy(Z, candidates, problem["img_test"])
    chance = 5 / len(candidates)
    assert acc > 3 * chance, (acc, chance)
    # The MSE head also carries the embedding (in original units).
    assert (
        fitted.score(
            problem["X_test"],
            problem["test_embeddings"][problem["img_test"]],
            subjects=problem["s_test"],
        )
        > 0.0
    )


def test_bfloat16_training_retrieves_like_float32(fitted, problem, tmp_path):
    """bfloat16 autocast trains the same network to about the same place (the default
    config's 'auto' on CPUs with AVX512-BF16); it is recorded and kept through save/load."""
    est = BrainModuleDecoder(max_epochs=6, patience=100, precision="bfloat16", **FAST)
    est.fit(problem["X_train"], problem["Y_train"], problem["s_train"], problem["positions"])
    assert est.fit_precision_ == "bfloat16" and fitted.fit_precision_ == "float32"
    candidates = est.transform_targets(problem["test_embeddings"])
    Z = est.predict(problem["X_test"], problem["s_test"])
    assert Z.dtype == np.float32  # predictions run in float32
    acc = top5_accuracy(Z, candidates, problem["img_test"])
    acc32 = top5_accuracy(
        fitted.predict(problem["X_test"], problem["s_test"]), candidates, problem["img_test"]
    )
    assert acc > 3 * 5 / len(candidates) and abs(acc - acc32) < 0.1, (acc, acc32)
    # the same loss curve to within bfloat16's rounding (the weights and optimiser are float32)
    np.testing.assert_allclose(est.history_["train_loss"], fitted.history_["train_loss"], rtol=0.02)
    est.save(tmp_path / "model.pt")
    assert BrainModuleDecoder.load(tmp_path / "model.pt").fit_precision_ == "bfloat16"


def test_checkpoint_without_precision_was_float32(fitted, tmp_path):
    """Models saved before ``precision`` existed load as what they were: float32 fits."""
    path = tmp_path / "model.pt"
    fitted.save(path)
    state = torch.load(path, weights_only=True)
    del state["fit_precision"], state["params"]["precision"]
    torch.save(state, path)
    loaded = BrainModuleDecoder.load(path)
    assert loaded.fit_precision_ == "float32" and loaded.precision == "float32"


def test_deterministic_for_fixed_seed(problem):
    X, Y, s = problem["X_train"], problem["Y_train"], problem["s_train"]
    a = BrainModuleDecoder(max_epochs=2, random_state=3, **FAST).fit(X, Y, s, problem["positions"])
    b = BrainModuleDecoder(max_epochs=2, random_state=3, **FAST).fit(X, Y, s, problem["positions"])
    np.testing.assert_array_equal(
        a.predict(problem["X_test"], problem["s_test"]),
        b.predict(problem["X_test"], problem["s_test"]),
    )
    pd.testing.assert_frame_equal(a.history_, b.history_)


def test_save_load_round_trip(fitted, problem, tmp_path):
    path = tmp_path / "sub" / "model.pt"
    fitted.save(path)
    assert path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temporaries left
    loaded = BrainModuleDecoder.load(path)
    assert loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(
        loaded.predict(problem["X_test"], problem["s_test"]),
        fitted.predict(problem["X_test"], problem["s_test"]),
    )
    np.testing.assert_array_equal(
        loaded.predict_mse(problem["X_test"], problem["s_test"]),
        fitted.predict_mse(problem["X_test"], problem["s_test"]),
    )
    pd.testing.assert_frame_equal(loaded.history_, fitted.history_)
    assert loaded.best_epoch_ == fitted.best_epoch_
    assert loaded.n_subjects_ == fitted.n_subjects_
    assert loaded.subject_names_ == fitted.subject_names_
    assert loaded.fit_device_ == fitted.fit_device_ == "cpu"


def test_subject_names_are_saved_in_index_order(problem, tmp_path):
    X, Y, s = problem["X_train"], problem["Y_train"], problem["s_train"]
    est = BrainModuleDecoder(max_epochs=1, **FAST)
    est.fit(X, Y, s, problem["positions"], subject_names=["sub-B", "sub-A"])
    assert est.subject_names_ == ["sub-B", "sub-A"]
    est.save(tmp_path / "m.pt")
    assert BrainModuleDecoder.load(tmp_path / "m.pt").subject_names_ == ["sub-B", "sub-A"]
    for names, match in (
        (["A"], "must name every subject index 0..1"),
        (["A", "A"], "must be unique"),
        ("AB", "sequence of strings"),
    ):
        with pytest.raises(ValueError, match=match):
            BrainModuleDecoder(max_epochs=1, **FAST).fit(
                X, Y, s, problem["positions"], subject_names=names
            )


def test_load_checks_the_format_tag(fitted, tmp_path):
    """An old (/1, no subject names) or foreign checkpoint fails at load, naming the tags."""
    path = tmp_path / "model.pt"
    fitted.save(path)
    state = torch.load(path, weights_only=True)
    assert state["format"] == "brainlatent.BrainModuleDecoder/2"
    state["format"] = "brainlatent.BrainModuleDecoder/1"
    del state["subject_names"]
    torch.save(state, tmp_path / "old.pt")
    with pytest.raises(ValueError) as error:
        BrainModuleDecoder.load(tmp_path / "old.pt")
    message = str(error.value)
    assert str(tmp_path / "old.pt") in message
    assert "'brainlatent.BrainModuleDecoder/1'" in message
    assert "expected 'brainlatent.BrainModuleDecoder/2'" in message
    torch.save({"weights": torch.zeros(2)}, tmp_path / "untagged.pt")
    with pytest.raises(ValueError, match=r"untagged\.pt: checkpoint format None, expected"):
        BrainModuleDecoder.load(tmp_path / "untagged.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match=r"text\.pt: not a BrainModuleDecoder checkpoint"):
        BrainModuleDecoder.load(tmp_path / "text.pt")
    state["format"] = "brainlatent.BrainModuleDecoder/2"  # right tag, names missing or wrong
    state["subject_names"] = ["only-one"]
    torch.save(state, tmp_path / "bad_names.pt")
    with pytest.raises(ValueError, match=r"bad_names\.pt: bad subject names"):
        BrainModuleDecoder.load(tmp_path / "bad_names.pt")


def test_early_stopping_on_overfitting_problem():
    # Pure noise with random targets: nothing generalises, validation loss rises fast.
    rng = np.random.default_rng(1)
    X = rng.standard_normal((80, N_CHANNELS, N_TIMES)).astype(np.float32)
    Y = rng.standard_normal((80, N_DIMS)).astype(np.float32)
    positions = rng.uniform(0, 1, (N_CHANNELS, 2))
    params = {**FAST, "lr": 1e-2, "batch_size": 16}
    est = BrainModuleDecoder(max_epochs=50, patience=1, val_fraction=0.25, **params)
    est.fit(X, Y, positions=positions)
    n_epochs = len(est.history_)
    assert n_epochs < 50
    assert est.best_epoch_ == est.history_.loc[est.history_["val_loss"].idxmin(), "epoch"]
    assert n_epochs == est.best_epoch_ + 1  # stopped `patience` epochs after the best


def test_early_stopping_restores_best_weights():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((80, N_CHANNELS, N_TIMES)).astype(np.float32)
    Y = rng.standard_normal((80, N_DIMS)).astype(np.float32)
    positions = rng.uniform(0, 1, (N_CHANNELS, 2))
    params = {**FAST, "lr": 1e-2, "batch_size": 16, "val_fraction": 0.25}
    long = BrainModuleDecoder(max_epochs=20, patience=3, **params).fit(X, Y, positions=positions)
    assert len(long.history_) > long.best_epoch_  # it trained past the best epoch
    short = BrainModuleDecoder(max_epochs=long.best_epoch_, patience=100, **params)
    short.fit(X, Y, positions=positions)
    # Same seed, so the first best_epoch_ epochs are identical: the weights must match.
    np.testing.assert_array_equal(long.predict(X[:10]), short.predict(X[:10]))


@pytest.mark.parametrize("clip_weight", [0.0, 1.0])
def test_pure_clip_and_pure_mse_train(problem, clip_weight):
    # Read-only memmap-like input: batches must be copied, not wrapped.
    X = problem["X_train"].copy()
    X.setflags(write=False)
    est = BrainModuleDecoder(max_epochs=1, clip_weight=clip_weight, **FAST)
    est.fit(X, problem["Y_train"], problem["s_train"], problem["positions"])
    assert np.isfinite(est.history_[HISTORY_COLUMNS[1:]].to_numpy()).all()
    assert np.isfinite(est.predict(problem["X_test"][:5], problem["s_test"][:5])).all()


def test_memmap_input(problem, tmp_path):
    path = tmp_path / "X.npy"
    np.save(path, problem["X_train"])
    X = np.load(path, mmap_mode="r")
    est = BrainModuleDecoder(max_epochs=1, **FAST)
    est.fit(X, problem["Y_train"], problem["s_train"], problem["positions"])
    assert est.predict(X[:3], problem["s_train"][:3]).shape == (3, N_DIMS)


def test_progress_bar_goes_to_stderr(problem, capsys):
    params = {**FAST, "progress": True}
    BrainModuleDecoder(max_epochs=1, **params).fit(
        problem["X_train"], problem["Y_train"], problem["s_train"], problem["positions"]
    )
    captured = capsys.readouterr()
    assert "BrainModule" in captured.err
    assert captured.out == ""


# -- errors -------------------------------------------------------------------


def test_clear_errors(problem, fitted):
    X, Y, s, pos = (problem[k] for k in ("X_train", "Y_train", "s_train", "positions"))
    est = BrainModuleDecoder(max_epochs=1, **FAST)
    with pytest.raises(ValueError, match=r"same number of rows.*X 200, Y 199"):
        est.fit(X, Y[:-1], s, pos)
    X_nan = X.copy()
    X_nan[17, 3, 5] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN.*trial 17"):
        est.fit(X_nan, Y, s, pos)
    with pytest.raises(ValueError, match=r"positions must have shape.*\(30, 2\).*\(30, 3\)"):
        est.fit(X, Y, s, np.zeros((N_CHANNELS, 3)))
    with pytest.raises(ValueError, match=r"positions must lie in \[0, 1\]"):
        est.fit(X, Y, s, pos * 3)
    with pytest.raises(ValueError, match="X must be a 3-D array"):
        est.fit(X[:, :, 0], Y, s, pos)
    with pytest.raises(ValueError, match=r"subjects must have shape \(200,\)"):
        est.fit(X, Y, s[:-1], pos)
    with pytest.raises(ValueError, match="too few trials"):
        est.fit(X[:3], Y[:3], s[:3], pos)
    with pytest.raises(ValueError, match="clip_weight"):
        BrainModuleDecoder(clip_weight=1.5).fit(X, Y, s, pos)
    with pytest.raises(ValueError, match="precision must be one of auto, float32, bfloat16"):
        BrainModuleDecoder(precision="float16").fit(X, Y, s, pos)
    with pytest.raises(ValueError, match=r"subjects \[2, 5\] were not seen"):
        fitted.predict(X[:3], np.array([0, 5, 2]))
    with pytest.raises(ValueError, match=r"X must have shape \(n, 30, 48\)"):
        fitted.predict(X[:, :, :40], s)


def test_predict_before_fit_raises():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        BrainModuleDecoder().predict(np.zeros((1, 2, 3), dtype=np.float32))


def test_missing_positions_warns_and_uses_grid(problem):
    est = BrainModuleDecoder(max_epochs=1, **FAST)
    with pytest.warns(UserWarning, match="positions not given"):
        est.fit(problem["X_train"], problem["Y_train"], problem["s_train"])
    assert est.positions_.shape == (N_CHANNELS, 2)
    assert est.positions_.min() >= 0 and est.positions_.max() <= 1


# -- scikit-learn conventions -------------------------------------------------


def test_clone_and_get_params_round_trip():
    est = BrainModuleDecoder(hidden=17, clip_weight=0.5, random_state=7, progress=False)
    params = est.get_params()
    assert params["hidden"] == 17 and params["clip_weight"] == 0.5
    cloned = clone(est)
    assert cloned is not est
    assert cloned.get_params() == params
    assert BrainModuleDecoder(**params).get_params() == params
    assert est.set_params(hidden=5).hidden == 5
    assert not hasattr(cloned, "model_")


def test_clip_loss_matches_a_hand_written_info_nce():
    """Against numpy: logits = (1/τ) cos(z_i, y_j); each row's soft target spreads evenly over
    the rows of its image; the loss is the mean of the brain→image (rows) and image→brain
    (columns) cross-entropies. Scales above 100 are clamped, as in CLIP."""
    gen = np.random.default_rng(0)
    z, y = gen.standard_normal((7, 5)), gen.standard_normal((7, 5))
    groups = np.array([0, 1, 2, 0, 3, 1, 4])
    y[3], y[5] = y[0], y[1]  # repeats of an image share its embedding

    def info_nce(scale):
        zn = z / np.linalg.norm(z, axis=1, keepdims=True)
        yn = y / np.linalg.norm(y, axis=1, keepdims=True)
        logits = min(scale, 100.0) * zn @ yn.T
        same = (groups[:, None] == groups[None]).astype(float)
        target = same / same.sum(axis=1, keepdims=True)

        def cross_entropy(a):
            log_p = a - a.max(axis=1, keepdims=True)
            log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
            return -(target * log_p).sum(axis=1).mean()

        return 0.5 * (cross_entropy(logits) + cross_entropy(logits.T))

    for scale in (10.0, 250.0):
        got = clip_loss(
            torch.from_numpy(z), torch.from_numpy(y), torch.from_numpy(groups),
            torch.tensor(np.log(scale), dtype=torch.float64),
        )  # fmt: skip
        np.testing.assert_allclose(float(got), info_nce(scale), rtol=1e-10)


def test_logged_losses_are_the_clip_weighted_sum(fitted):
    """loss = clip_weight · CLIP + (1 - clip_weight) · MSE, for training and validation."""
    h, w = fitted.history_, fitted.clip_weight
    for part in ("train", "val"):
        expected = w * h[f"{part}_clip"] + (1 - w) * h[f"{part}_mse"]
        np.testing.assert_allclose(h[f"{part}_loss"], expected, rtol=1e-5)


TINY_PROBLEM = dict(
    n_spatial=4, hidden=4, n_blocks=1, n_freqs=2, batch_size=8, max_epochs=1, patience=5,
    val_fraction=0.3, num_threads=1, random_state=0, progress=False,
)  # fmt: skip


def _tiny_problem(seed=0):
    """24 images seen by 2 subjects each (48 trials), 6 sensors, 10 samples."""
    rng = np.random.default_rng(seed)
    Y = rng.standard_normal((24, 3)).astype(np.float32)
    X = rng.standard_normal((48, 6, 10)).astype(np.float32)
    X[:, :3] += 2 * np.tile(Y, (2, 1))[:, :, None]
    return X, np.tile(Y, (2, 1)), np.repeat([0, 1], 24), rng.uniform(0, 1, (6, 2))


def test_fit_does_not_depend_on_the_units_of_the_targets():
    """Targets are standardised before training: 10 · Y + 3 trains the same network (to
    rounding, which Adam's first steps amplify to ~0.02 here; a wrong standardisation
    moves outputs by ~1), ``predict`` is unchanged and ``predict_mse`` is in the new units."""
    X, Y, subjects, positions = _tiny_problem()
    params = {**TINY_PROBLEM, "lr": 1e-2}
    one = BrainModuleDecoder(**params).fit(X, Y, subjects, positions)
    other = BrainModuleDecoder(**params).fit(X, 10 * Y + 3, subjects, positions)
    np.testing.assert_allclose(other.predict(X, subjects), one.predict(X, subjects), atol=0.05)
    np.testing.assert_allclose(
        other.predict_mse(X, subjects), 10 * one.predict_mse(X, subjects) + 3, atol=0.5
    )


def test_validation_images_are_never_trained_on():
    """Changing the trials of one image changes the training loss when the image is in the
    training split; when it is in the validation split (all its trials, every subject's),
    it changes neither the training loss nor the fitted weights (no leak through the
    split, nor through batch-norm statistics gathered while validating)."""
    X, Y, subjects, positions = _tiny_problem()
    base = BrainModuleDecoder(**TINY_PROBLEM).fit(X, Y, subjects, positions)
    validation = 0
    for image in range(8):
        changed = X.copy()
        changed[[image, image + 24]] += 3.0
        est = BrainModuleDecoder(**TINY_PROBLEM).fit(changed, Y, subjects, positions)
        if est.history_["train_loss"][0] == base.history_["train_loss"][0]:
            validation += 1
            assert est.history_["val_loss"][0] != base.history_["val_loss"][0]
            np.testing.assert_array_equal(est.predict(X, subjects), base.predict(X, subjects))
    assert 0 < validation < 8  # both splits were probed


def test_fourier_features_match_their_formula():
    """cos and sin of 2π(k x + l y) / 1.4 for k, l < n_freqs: both coordinates count."""
    from brainlatent.models.brain_module import fourier_features

    positions = torch.tensor([[0.1, 0.7], [0.9, 0.2], [0.4, 0.4]], dtype=torch.float64)
    got = fourier_features(positions, 3).numpy()
    kx, ky = np.meshgrid(np.arange(3), np.arange(3), indexing="ij")
    p = positions.numpy()
    phase = 2 * np.pi * (kx.ravel() * p[:, :1] + ky.ravel() * p[:, 1:]) / 1.4
    np.testing.assert_allclose(got, np.concatenate([np.cos(phase), np.sin(phase)], axis=1))


def test_random_state_alone_sets_the_fit():
    """The fit draws from torch's RNG seeded by random_state, not from whatever state the
    caller's global RNG is in (which a fit leaves alone)."""
    X, Y, subjects, positions = _tiny_problem()
    predictions = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        est = BrainModuleDecoder(**TINY_PROBLEM).fit(X, Y, subjects, positions)
        predictions.append(est.predict(X, subjects))
        assert torch.initial_seed() == global_seed
    np.testing.assert_array_equal(predictions[0], predictions[1])


def test_weight_average_is_validated_and_kept_not_trained_on(fitted, problem):
    """ema_decay keeps an exponential average of the weights for validation and the
    returned model; SGD's own path is untouched, and a decay near 0 is the plain fit."""
    X, Y, s, pos = (problem[k] for k in ("X_train", "Y_train", "s_train", "positions"))
    fit = {"patience": 100, **FAST}  # `fitted`: the same, plain, for 6 epochs
    averaged = BrainModuleDecoder(ema_decay=0.9, max_epochs=6, **fit).fit(X, Y, s, pos)
    train = ["train_loss", "train_clip", "train_mse"]
    pd.testing.assert_frame_equal(averaged.history_[train], fitted.history_[train])
    assert not np.allclose(averaged.history_["val_loss"], fitted.history_["val_loss"], rtol=1e-3)
    Z = averaged.predict(problem["X_test"], problem["s_test"])
    candidates = averaged.transform_targets(problem["test_embeddings"])
    assert top5_accuracy(Z, candidates, problem["img_test"]) > 3 * 5 / len(candidates)
    near_zero = BrainModuleDecoder(ema_decay=1e-12, max_epochs=2, **fit).fit(X, Y, s, pos)
    np.testing.assert_allclose(
        near_zero.history_["val_loss"], fitted.history_["val_loss"][:2], rtol=1e-5
    )
    with pytest.raises(ValueError, match=r"ema_decay must be in \[0, 1\); got 1.0"):
        BrainModuleDecoder(ema_decay=1.0, **fit).fit(X, Y, s, pos)


# sklearn.utils.estimator_checks is not run: those checks feed 2-D (n_samples,
# n_features) arrays and 1-D targets, whereas this estimator requires 3-D
# epochs (n, channels, times) and 2-D embedding targets with distinct images.
