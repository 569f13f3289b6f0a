import numpy as np
import pandas as pd
import pytest

from brainlatent.decoding.fmri import (
    decode_subject,
    fit_latent_ridge,
    identification,
    identification_table,
    predict_latents,
    rescale_to_training,
    roi_weight_contrast,
)
from brainlatent.errors import DataError
from brainlatent.metrics_images import pixcorr, ssim

N_TRAIN, N_TEST, DIMS, VOXELS = 300, 50, 8, 400


def latent_problem(signal=True, noise=15.0, seed=0):
    """Voxels = latents @ W + noise; latents with unequal scales and non-zero means."""
    gen = np.random.default_rng(seed)
    n = N_TRAIN + N_TEST
    latents = gen.normal(size=(n, DIMS)) * gen.uniform(0.5, 3, DIMS) + gen.normal(size=DIMS)
    X = noise * gen.normal(size=(n, VOXELS))
    if signal:
        X += latents @ gen.normal(size=(DIMS, VOXELS))
    return X[:N_TRAIN], latents[:N_TRAIN], X[N_TRAIN:], latents[N_TRAIN:]


def decode(signal=True, seed=0):
    X_train, y_train, X_test, y_test = latent_problem(signal=signal, seed=seed)
    model = fit_latent_ridge(X_train, y_train)
    return predict_latents(model, X_test, y_train), y_train, y_test


# --- rescaling -------------------------------------------------------------------------------


def test_rescaled_latents_have_training_mean_and_sd():
    gen = np.random.default_rng(1)
    train = gen.normal(size=(200, 5)) * [1, 2, 3, 4, 5] + [0, -1, 10, 3, 0.5]
    predicted = 0.1 * gen.normal(size=(40, 5)) + 7  # shrunk and shifted, as ridge output is
    out = rescale_to_training(predicted, train)
    assert out.shape == (40, 5) and out.dtype == np.float64
    np.testing.assert_allclose(out.mean(axis=0), train.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(out.std(axis=0), train.std(axis=0), atol=1e-6)
    # per dimension, an increasing affine map: the order of test items is kept
    for j in range(5):
        np.testing.assert_array_equal(np.argsort(out[:, j]), np.argsort(predicted[:, j]))


def test_constant_dimension_maps_to_training_mean():
    gen = np.random.default_rng(2)
    train = gen.normal(size=(100, 3)) + [1.0, 2.0, 3.0]
    predicted = gen.normal(size=(20, 3))
    predicted[:, 1] = 0.1  # float rounding in the mean must not turn into unit-SD noise
    out = rescale_to_training(predicted, train)
    np.testing.assert_array_equal(out[:, 1], np.full(20, train[:, 1].mean()))
    np.testing.assert_allclose(out[:, 0].std(), train[:, 0].std(), atol=1e-6)


def test_rescaling_errors():
    with pytest.raises(ValueError, match="dims"):
        rescale_to_training(np.zeros((4, 3)), np.zeros((10, 2)))
    with pytest.raises(ValueError, match="NaN"):
        rescale_to_training(np.array([[np.nan, 1.0], [0.0, 1.0]]), np.zeros((10, 2)))
    with pytest.raises(ValueError, match="2-D"):
        rescale_to_training(np.zeros(4), np.zeros((10, 4)))


# --- identification --------------------------------------------------------------------------


def test_perfect_predictions_identify_every_item():
    candidates = np.random.default_rng(3).normal(size=(30, 16))
    result = identification(candidates.copy(), candidates)
    assert result["two_way"] == 1.0 and result["n_way"] == 1.0
    np.testing.assert_array_equal(result["ranks"], np.ones(30, dtype=np.int64))
    assert result["ranks"].dtype == np.int64


def test_identification_is_pearson_correlation():
    """Invariant to each item's offset and scale; the two_way score follows from the ranks."""
    gen = np.random.default_rng(4)
    candidates = gen.normal(size=(12, 10))
    predicted = candidates + 1.2 * gen.normal(size=candidates.shape)
    result = identification(predicted, candidates)
    shifted = identification(
        predicted * gen.uniform(0.1, 10, (12, 1)) + gen.normal(size=(12, 1)), candidates + 5.0
    )
    np.testing.assert_array_equal(shifted["ranks"], result["ranks"])
    r = np.corrcoef(predicted, candidates)[:12, 12:]  # r[i, j] = corr(predicted i, candidate j)
    expected = [(r[i] < r[i, i]).sum() / 11 for i in range(12)]
    assert result["two_way"] == pytest.approx(np.mean(expected))
    assert result["n_way"] == pytest.approx(np.mean(r.argmax(axis=1) == np.arange(12)))


def test_random_predictions_are_at_chance():
    """Permutation-style check: over 20 random draws of 50 items, scores average to chance."""
    gen = np.random.default_rng(5)
    candidates = gen.normal(size=(50, 32))
    draws = [identification(gen.normal(size=(50, 32)), candidates) for _ in range(20)]
    two_way = np.mean([d["two_way"] for d in draws])
    n_way = np.mean([d["n_way"] for d in draws])
    assert abs(two_way - 0.5) < 0.05
    assert abs(n_way - 1 / 50) < 0.02


def test_ties_count_against_the_prediction():
    gen = np.random.default_rng(6)
    candidates = gen.normal(size=(5, 8))
    candidates[1] = candidates[0]  # two identical candidates: items 0 and 1 tie with each other
    result = identification(candidates.copy(), candidates)
    np.testing.assert_array_equal(result["ranks"], [2, 2, 1, 1, 1])
    assert result["two_way"] == pytest.approx((3 * 1.0 + 2 * 3 / 4) / 5)
    assert result["n_way"] == pytest.approx(3 / 5)
    constant = identification(np.ones((5, 8)), candidates)  # no correlation with anything
    assert constant["two_way"] == 0.0 and constant["n_way"] == 0.0


def test_identification_on_images_flattens_each_item():
    gen = np.random.default_rng(7)
    images = gen.integers(0, 256, size=(6, 8, 8, 3), dtype=np.uint8)
    noisy = images + gen.normal(scale=20, size=images.shape)
    result = identification(noisy, images)
    assert result["n_way"] == 1.0 and result["ranks"].shape == (6,)


def test_identification_errors():
    with pytest.raises(ValueError, match="n >= 2"):
        identification(np.ones((1, 4)), np.ones((1, 4)))
    with pytest.raises(ValueError, match="same shape"):
        identification(np.ones((3, 4)), np.ones((3, 5)))


# --- end to end ------------------------------------------------------------------------------


def test_ridge_decodes_latents_far_above_chance():
    predicted, y_train, y_test = decode(signal=True)
    result = identification(predicted, y_test)
    assert result["two_way"] >= 0.9
    assert result["n_way"] >= 0.3  # chance 1/50 = 0.02
    # decoded latents carry the generator's expected statistics
    np.testing.assert_allclose(predicted.mean(axis=0), y_train.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(predicted.std(axis=0), y_train.std(axis=0), atol=1e-6)


def test_pure_noise_voxels_decode_at_chance():
    predicted, _, y_test = decode(signal=False)
    assert identification(predicted, y_test)["n_way"] <= 0.12


def test_predict_latents_checks_the_latent_dims():
    X_train, y_train, X_test, _ = latent_problem()
    model = fit_latent_ridge(X_train, y_train)
    with pytest.raises(ValueError, match="dims"):
        predict_latents(model, X_test, y_train[:, :3])
    with pytest.raises(ValueError, match="2-D"):
        fit_latent_ridge(X_train[..., None], y_train)


def test_decode_subject_rescales_to_the_training_latents_only():
    """The decoded latents take the *training* latents' per-dimension mean and SD: the test
    images' latents are what the decoding is scored against, so their statistics must not
    reach the prediction. Rows are found by image, whatever the order of the samples and
    of the generator's latents."""
    X_train, y_train, X_test, y_test = latent_problem()
    X_test, y_test = X_test[:20], y_test[:20] + 50.0  # far from the training latents
    samples = np.vstack([X_test, X_train])  # the trials table, not the order, says the split
    images = 1000 + np.arange(len(samples))
    trials = pd.DataFrame(
        {
            "row": np.arange(len(samples)),
            "split": ["test"] * 20 + ["training"] * N_TRAIN,
            "image": images,
            "stimulus_name": [f"n{i}" for i in images],
        }
    )
    gen = np.random.default_rng(9)
    latents = {  # the generator's file lists its images in another order
        "image": images[::-1],
        "latent": np.vstack([y_test, y_train])[::-1],
        "pixels": gen.integers(0, 256, (len(samples), 8, 8, 3), dtype=np.uint8),
    }
    table, arrays = decode_subject(
        "01", samples, trials, latents, lambda z: gen.uniform(size=(len(z), 8, 8, 3)), device="cpu"
    )
    predicted = arrays["predicted"].astype(np.float64)
    np.testing.assert_allclose(predicted.mean(axis=0), y_train.mean(axis=0), atol=1e-4)
    np.testing.assert_allclose(predicted.std(axis=0), y_train.std(axis=0), rtol=1e-4)
    np.testing.assert_array_equal(arrays["image"], images[:20])
    np.testing.assert_array_equal(arrays["truth"], latents["pixels"][::-1][:20])
    latent = table.set_index(["space", "metric"]).value
    assert latent[("latent", "two_way")] >= 0.9  # the decoded rows meet their own latents


def test_decode_errors_name_the_trials_and_latents_files():
    X_train, y_train, _, _ = latent_problem()
    samples = X_train[:30]
    trials = pd.DataFrame(
        {"row": np.arange(30), "split": ["test"] * 5 + ["training"] * 25, "image": np.arange(30)}
    )
    latents = {"image": np.arange(30), "latent": y_train[:30], "pixels": np.zeros((30, 4, 4, 3))}
    files = dict(trials_source="t.parquet", latents_source="l.npz", device="cpu")
    with pytest.raises(DataError, match="t.parquet: 29 rows but 30 samples"):
        decode_subject("01", samples, trials[:29], latents, None, **files)
    with pytest.raises(DataError, match=r"l.npz: lacks arrays \['pixels'\]"):
        decode_subject(
            "01", samples, trials, {k: latents[k] for k in ("image", "latent")}, None, **files
        )
    short = {key: value[1:] for key, value in latents.items()}
    with pytest.raises(DataError, match=r"l.npz: 1 images have no latent \(first: 0\)"):
        decode_subject("01", samples, trials, short, None, **files)


# --- identification table --------------------------------------------------------------------


def test_identification_table_layout_and_chance():
    gen = np.random.default_rng(8)
    n = 10
    true_latents = gen.normal(size=(n, 6))
    predicted = true_latents + 0.5 * gen.normal(size=true_latents.shape)
    images = gen.integers(0, 256, size=(n, 16, 16, 3), dtype=np.uint8)
    recon = np.clip(images / 255 + 0.1 * gen.normal(size=images.shape), 0, 1)
    table = identification_table("sub-01", predicted, true_latents, recon, images, device="cuda")
    assert list(table.columns) == [
        "subject", "space", "metric", "value", "chance", "n_images", "device", "ci_low", "ci_high",
    ]  # fmt: skip
    assert (table.device == "cuda").all()
    for column in ("subject", "space", "metric", "device"):
        assert pd.api.types.is_string_dtype(table[column]), column
    assert table[["value", "chance", "n_images"]].dtypes.to_dict() == {
        "value": np.dtype("float64"),
        "chance": np.dtype("float64"),
        "n_images": np.dtype("int64"),
    }
    assert list(zip(table.space, table.metric, strict=True)) == [
        ("latent", "two_way"),
        ("latent", "n_way"),
        ("pixel", "two_way"),
        ("pixel", "n_way"),
        ("pixel", "pixcorr"),
        ("pixel", "ssim"),
    ]
    assert (table.subject == "sub-01").all() and (table.n_images == n).all()
    np.testing.assert_array_equal(table.chance.to_numpy()[:4], [0.5, 0.1, 0.5, 0.1])
    values = table.set_index("metric").query("space == 'pixel'").value
    assert values["n_way"] == 1.0 and values["pixcorr"] > 0.8 and 0 < values["ssim"] < 1
    # PixCorr's and SSIM's chance: every reconstruction against every other image, by hand
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    chance = table.set_index("metric").query("space == 'pixel'").chance
    by_hand = np.mean([pixcorr(recon[[i]], images[[j]]) for i, j in pairs])
    assert chance["pixcorr"] == pytest.approx(by_hand) and abs(chance["pixcorr"]) < 0.05
    by_hand = np.mean([ssim(recon[[i]], images[[j]]) for i, j in pairs])
    assert chance["ssim"] == pytest.approx(by_hand) and chance["ssim"] < values["ssim"] - 0.3
    assert not pd.isna(table.value).any()
    # each value inside its bootstrap interval over the 10 test images; the pixel n-way, right
    # for every image, has none to speak of
    assert ((table.ci_low <= table.value) & (table.value <= table.ci_high)).all()
    by = table.set_index(["space", "metric"])
    assert by.loc[("pixel", "n_way"), "ci_low"] == by.loc[("pixel", "n_way"), "ci_high"] == 1.0
    assert by.loc[("latent", "two_way"), "ci_high"] > by.loc[("latent", "two_way"), "ci_low"]


def test_identification_table_needs_one_row_per_image():
    latents = np.zeros((4, 3))
    images = np.zeros((3, 8, 8, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="one row per test image"):
        identification_table("1", latents, latents, images, images, device="cpu")


# --- ROI weight contrast ---------------------------------------------------------------------


def roi_problem(n=300, per_roi=60, dims=4, noise=1.0, seed=0):
    """V1 voxels driven by low-level latents, LOC by high-level ones, V2 by both."""
    gen = np.random.default_rng(seed)
    low, high = gen.normal(size=(n, dims)), gen.normal(size=(n, dims))

    def drive(latents):
        return latents @ gen.normal(size=(dims, per_roi))

    X = np.hstack([drive(low), drive(low) + drive(high), drive(high)])
    X += noise * gen.normal(size=X.shape)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    low_features = np.hstack([low + 0.1 * gen.normal(size=low.shape), np.ones((n, 1))])
    high_features = high + 0.1 * gen.normal(size=high.shape)
    roi = np.repeat(np.arange(3), per_roi)
    masks = {"V1": roi == 0, "V2": roi == 1, "LOC": roi == 2}
    return X, low_features, high_features, masks


def test_roi_contrast_separates_low_and_high_level_regions():
    X, low, high, masks = roi_problem()
    table = roi_weight_contrast(X, low, high, masks)
    assert list(table.columns) == ["roi", "n_voxels", "low", "high", "contrast"]
    assert list(table.roi) == ["V1", "V2", "LOC"]
    assert table.n_voxels.dtype == np.int64 and (table.n_voxels == 60).all()
    assert all(table[c].dtype == np.float64 for c in ("low", "high", "contrast"))
    c = table.set_index("roi").contrast
    assert c["V1"] > 0.3 and c["LOC"] < -0.3 and c["LOC"] < c["V2"] < c["V1"]
    # importances are normalised to mean 1 over all voxels (equal-sized ROIs here)
    assert table.low.mean() == pytest.approx(1.0) and table.high.mean() == pytest.approx(1.0)


def test_roi_importance_is_the_mean_squared_ridge_weight():
    """A voxel's importance, recomputed with scikit-learn: RidgeCV (one leave-one-out
    penalty per target) on the standardised non-constant targets, the mean of the squared
    weights over targets, normalised to mean 1 over voxels, then averaged within each ROI."""
    from sklearn.linear_model import RidgeCV

    X, low, high, masks = roi_problem(n=120, per_roi=8)
    table = roi_weight_contrast(X, low, high, masks).set_index("roi")

    def importance(Y):
        Y = Y[:, np.ptp(Y, axis=0) > 0]
        Y = (Y - Y.mean(axis=0)) / Y.std(axis=0)
        ridge = RidgeCV(alphas=np.logspace(-1, 7, 17), alpha_per_target=True).fit(X, Y)
        weight = (ridge.coef_**2).mean(axis=0)
        return weight / weight.mean()

    low_by_hand, high_by_hand = importance(low), importance(high)
    for roi, mask in masks.items():
        lo, hi = low_by_hand[mask].mean(), high_by_hand[mask].mean()
        assert table.loc[roi, "low"] == pytest.approx(lo, rel=1e-3)
        assert table.loc[roi, "high"] == pytest.approx(hi, rel=1e-3)
        assert table.loc[roi, "contrast"] == pytest.approx((lo - hi) / (lo + hi), abs=1e-3)


def test_roi_mask_errors_name_the_roi():
    X, low, high, masks = roi_problem(n=40, per_roi=10)
    with pytest.raises(ValueError, match="'V4'.*no voxel"):
        roi_weight_contrast(X, low, high, {**masks, "V4": np.zeros(30, dtype=bool)})
    with pytest.raises(ValueError, match="'hV4'.*one entry per voxel"):
        roi_weight_contrast(X, low, high, {"hV4": np.ones(29, dtype=bool)})
    with pytest.raises(ValueError, match="'V1'.*boolean"):
        roi_weight_contrast(X, low, high, {"V1": np.ones(30)})
    with pytest.raises(ValueError, match="no non-constant column"):
        roi_weight_contrast(X, np.ones((40, 2)), high, masks)
