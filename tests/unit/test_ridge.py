import numpy as np
import pytest
from sklearn.base import clone

from brainlatent.metrics import retrieval_metrics
from brainlatent.models.ridge import RidgeDecoder


def make_problem(n=300, channels=20, times=15, dims=6, noise=1.0, seed=0):
    gen = np.random.default_rng(seed)
    Y = gen.normal(size=(n, dims))
    W = gen.normal(size=(dims, channels * times))
    X = (Y @ W + noise * gen.normal(size=(n, channels * times))).reshape(n, channels, times)
    return X.astype(np.float32), Y


def test_recovers_a_linear_map_and_retrieves_far_above_chance():
    X, Y = make_problem(noise=8.0)
    decoder = RidgeDecoder().fit(X[:250], Y[:250])
    rows = {
        r["metric"]: r
        for r in retrieval_metrics(decoder.predict(X[250:]), decoder.transform_targets(Y[250:]))
    }
    assert rows["top5"]["value"] > 5 * rows["top5"]["chance"]
    assert decoder.alpha_.shape == (6,)
    assert decoder.predict(X[:3]).shape == (3, 6) and decoder.predict(X[:3]).dtype == np.float32


def test_alpha_is_chosen_per_target():
    X, Y = make_problem(n=400, channels=10, times=5, dims=2, noise=1.0)
    Y[:, 1] = np.random.default_rng(5).normal(size=len(Y))  # pure noise target
    decoder = RidgeDecoder(alphas=np.logspace(-2, 8, 11)).fit(X, Y)
    assert decoder.alpha_[1] >= 100 * decoder.alpha_[0]


def test_targets_are_standardised_on_training_data():
    X, Y = make_problem()
    decoder = RidgeDecoder().fit(X, Y * 10 + 3)
    Z = decoder.transform_targets(Y * 10 + 3)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(Z.std(axis=0), 1, atol=1e-4)


def test_clear_errors():
    X, Y = make_problem(n=20)
    with pytest.raises(ValueError, match=r"\(samples, features\) or \(trials, channels, times\)"):
        RidgeDecoder().fit(X[..., None], Y)
    with pytest.raises(ValueError, match="20 rows"):
        RidgeDecoder().fit(X, Y[:10])
    bad = X.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        RidgeDecoder().fit(bad, Y)
    fitted = RidgeDecoder().fit(X, Y)
    with pytest.raises(ValueError, match="must have shape"):
        fitted.predict(X[:, :5])
    assert clone(fitted).get_params() == fitted.get_params()


def test_flat_samples_match_epochs_with_one_time_point():
    X, Y = make_problem(n=120, channels=40, times=1, dims=3)
    flat = X[:, :, 0]
    epochs = RidgeDecoder().fit(X[:100], Y[:100])
    samples = RidgeDecoder().fit(flat[:100], Y[:100])
    np.testing.assert_array_equal(samples.predict(flat[100:]), epochs.predict(X[100:]))
    np.testing.assert_array_equal(samples.alpha_, epochs.alpha_)
    assert samples.input_shape_ == (40,)
    with pytest.raises(ValueError, match="must have shape"):
        samples.predict(X[100:])
    with pytest.raises(ValueError, match=r"\(samples, features\)"):
        RidgeDecoder().fit(flat[:, 0], Y)


@pytest.mark.parametrize(("n", "p"), [(200, 1500), (1500, 200)], ids=["dual", "primal"])
def test_leave_one_out_matches_scikit_learn(n, p):
    from sklearn.linear_model import RidgeCV

    gen = np.random.default_rng(1)
    X = gen.standard_normal((n + 40, p), dtype=np.float32)
    W = gen.standard_normal((p, 8)).astype(np.float32) / np.sqrt(p)
    Y = X @ W * np.linspace(0.1, 3, 8, dtype=np.float32) + gen.standard_normal((n + 40, 8))
    alphas = np.logspace(-1, 7, 17)
    reference = RidgeCV(alphas=alphas, alpha_per_target=True).fit(X[:n], Y[:n])
    before = X.copy()
    decoder = RidgeDecoder(alphas=alphas).fit(X[:n], Y[:n])
    np.testing.assert_array_equal(X, before)  # the caller's array is not centred in place
    np.testing.assert_allclose(decoder.alpha_, reference.alpha_)
    expected = (reference.predict(X[n:]) - decoder.y_mean_) / decoder.y_scale_
    np.testing.assert_allclose(decoder.predict(X[n:]), expected, atol=1e-4)


def test_penalties_must_be_positive():
    X, Y = make_problem(n=30)
    with pytest.raises(ValueError, match="alphas must be positive"):
        RidgeDecoder(alphas=[0.0, 1.0]).fit(X, Y)


def test_leave_one_out_matches_scikit_learn_with_few_samples():
    """At 20 trials the intercept's 1/n share of each leverage changes the chosen penalty
    (the 1,500-trial comparison above cannot see it)."""
    from sklearn.linear_model import RidgeCV

    gen = np.random.default_rng(0)
    X = gen.standard_normal((20, 5)).astype(np.float32)
    Y = (X @ gen.standard_normal((5, 3)) * np.array([0.2, 0.5, 1.0])
         + gen.standard_normal((20, 3))).astype(np.float32)  # fmt: skip
    alphas = np.logspace(-1, 7, 17)
    reference = RidgeCV(alphas=alphas, alpha_per_target=True).fit(X, Y)
    decoder = RidgeDecoder(alphas=alphas).fit(X, Y)
    np.testing.assert_allclose(decoder.alpha_, reference.alpha_)
    np.testing.assert_allclose(decoder.alpha_, [1e7, 10**1.5, 10**0.5])


def test_smallest_penalty_is_chosen_for_noiseless_targets():
    gen = np.random.default_rng(0)
    X = gen.standard_normal((100, 5)).astype(np.float32)
    Y = X[:, :3] @ gen.standard_normal((3, 2))
    decoder = RidgeDecoder(alphas=np.logspace(-1, 7, 17)).fit(X, Y)
    np.testing.assert_allclose(decoder.alpha_, [0.1, 0.1])


def test_default_penalties_are_two_per_decade_from_0_1_to_1e7():
    """The documented default grid: a coarser one changes every default penalty choice."""
    from brainlatent.models.ridge import DEFAULT_ALPHAS

    np.testing.assert_allclose(DEFAULT_ALPHAS, 10 ** np.arange(-1, 7.25, 0.5), rtol=1e-12)


@pytest.mark.parametrize("design", ["repeated trials", "low rank"])
def test_leave_one_out_matches_scikit_learn_on_rank_deficient_data(design):
    """Fewer trials than features and centred data of rank < n - 1 (each trial twice, or
    5 latent dimensions): the Gram matrix's null space then holds more than the constant
    vector, which must still be the one dropped for the intercept (it was not: penalties
    off by up to 4 decades)."""
    from sklearn.linear_model import RidgeCV

    alphas = np.logspace(-1, 7, 17)
    for seed in range(8):
        gen = np.random.default_rng(seed)
        if design == "repeated trials":
            X = np.tile(gen.standard_normal((15, 60)), (2, 1)).astype(np.float32)
        else:
            X = (gen.standard_normal((30, 5)) @ gen.standard_normal((5, 60))).astype(np.float32)
        Y = (X @ gen.standard_normal((60, 4)) / 10 + gen.standard_normal((30, 4))).astype(
            np.float32
        )
        reference = RidgeCV(alphas=alphas, alpha_per_target=True).fit(X, Y)
        decoder = RidgeDecoder(alphas=alphas).fit(X, Y)
        np.testing.assert_allclose(decoder.alpha_, reference.alpha_, err_msg=f"seed {seed}")
        expected = (reference.predict(X[:5]) - decoder.y_mean_) / decoder.y_scale_
        np.testing.assert_allclose(decoder.predict(X[:5]), expected, atol=1e-4)
