"""The standard population decoders (Bayesian, smoothed kNN / ridge) on simulated place cells.

Two simulated sessions (120 s at 40 Hz, the last 20 % held out): a dense one
(40 cells, default 10 Hz peaks, ~1.3 spikes/s per cell) and a sparse one in the
regime of real sorted units (30 cells, 3 Hz peaks, ~0.43 spikes/s per cell),
where a kNN on raw 25 ms counts is barely better than chance.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy.stats import poisson
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import r2_score
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from brainlatent.datasets.recording import read_recording
from brainlatent.datasets.simulate_place_cells import PlaceCellSimulation, simulate_session
from brainlatent.decoding.behavior import (
    chance_rows,
    decode_behavior,
    knn_decode,
    split_index,
    validation_curve_of,
)
from brainlatent.decoding.population import (
    DEFAULT_SIGMAS,
    DEFAULT_WINDOWS_S,
    STANDARD_COLUMNS,
    BayesianPositionDecoder,
    LogisticOrOnlyClass,
    choose_sigma,
    choose_window,
    decode_standard,
    smooth_blocks,
    smooth_rates,
)

NAMES, DISCRETE = ["position", "direction"], [False, True]
RATE = 40.0
DENSE = PlaceCellSimulation(n_neurons=40, duration_s=120, seed=0)
SPARSE = PlaceCellSimulation(
    n_neurons=30, duration_s=120, peak_rate_hz=3.0, baseline_rate_hz=0.1, latent_rate_hz=0.5
)


class Case:
    """A simulated session split into training and held-out blocks, and its baselines."""

    def __init__(self, params: PlaceCellSimulation):
        self.session = session = simulate_session(params)
        X, B = session.counts, session.behavior
        self.split = i = split_index(len(X))
        self.X_train, self.X_test, self.B_train, self.B_test = X[:i], X[i:], B[:i], B[i:]
        self.pos_train, self.pos_test = session.position[:i], session.position[i:]
        self.chance = _value(chance_rows(B[:i], B[i:], NAMES, DISCRETE))
        X32 = X.astype(np.float32)
        raw = knn_decode(X32[:i], B[:i], X32[i:], B[i:], NAMES, DISCRETE)
        self.raw = _value(raw)

    def error(self, predicted) -> float:
        return float(np.median(np.abs(predicted - self.pos_test)))


def _value(rows, method=None, label="position", metric="median_abs_error") -> float:
    (row,) = [
        r
        for r in rows
        if r["label"] == label and r["metric"] == metric and r.get("method") == method
    ]
    return row["value"]


def _smoothing(rows) -> dict:
    return {(r["method"], r["label"]): r["smoothing_s"] for r in rows}


@pytest.fixture(scope="module")
def dense() -> Case:
    return Case(DENSE)


@pytest.fixture(scope="module")
def sparse() -> Case:
    return Case(SPARSE)


@pytest.fixture(scope="module")
def dense_rows(dense):
    return decode_standard(
        dense.X_train, dense.B_train, dense.X_test, dense.B_test, NAMES, DISCRETE, RATE
    )


@pytest.fixture(scope="module")
def sparse_rows(sparse):
    return decode_standard(
        sparse.X_train, sparse.B_train, sparse.X_test, sparse.B_test, NAMES, DISCRETE, RATE,
        methods=("bayesian", "knn_smoothed"),
    )  # fmt: skip


# --------------------------------------------------------------------------- smoothing


def test_smooth_rates_units_and_sigma_zero():
    counts = np.zeros((200, 2), dtype=np.int64)
    counts[100, 0] = 1
    raw = smooth_rates(counts, RATE, 0)
    assert raw.dtype == np.float32
    np.testing.assert_array_equal(raw, counts * RATE)  # unsmoothed, in spikes/s
    smoothed = smooth_rates(counts, RATE, 0.25)  # 10 samples s.d.
    assert smoothed.dtype == np.float32 and smoothed.shape == counts.shape
    # One spike spreads into a Gaussian of unit area in spike·s: peak 1 / (√(2π) σ_s).
    assert smoothed[100, 0] == pytest.approx(1 / (np.sqrt(2 * np.pi) * 0.25), rel=1e-3)
    assert smoothed[:, 0].sum() / RATE == pytest.approx(1.0, rel=1e-5)
    assert np.argmax(smoothed[:, 0]) == 100 and not smoothed[:, 1].any()


def test_smoothing_does_not_cross_the_split():
    gen = np.random.default_rng(0)
    counts = gen.poisson(0.5, (300, 3))
    split = 240
    counts[split - 1] = 50  # a burst in the last training bin
    train, test = smooth_blocks(counts, RATE, 0.25, split)
    assert train.shape == (split, 3) and test.shape == (60, 3)
    np.testing.assert_array_equal(train, smooth_rates(counts[:split], RATE, 0.25))
    np.testing.assert_array_equal(test, smooth_rates(counts[split:], RATE, 0.25))
    # Smoothing the recording as one would push the burst into the held-out block.
    leaky = smooth_rates(counts, RATE, 0.25)[split:]
    assert (leaky[0] - test[0]).min() > 10
    # The held-out block's content never reaches the training rows.
    garbage = counts.copy()
    garbage[split:] = gen.poisson(20, (60, 3))
    np.testing.assert_array_equal(smooth_blocks(garbage, RATE, 0.25, split)[0], train)
    # Several boundaries: three blocks, each smoothed alone.
    blocks = smooth_blocks(counts, RATE, 0.1, [100, 240])
    assert [len(b) for b in blocks] == [100, 140, 60]
    np.testing.assert_array_equal(blocks[1], smooth_rates(counts[100:240], RATE, 0.1))
    for bad in (0, 300, [200, 100], 2.5):
        with pytest.raises(ValueError, match="split"):
            smooth_blocks(counts, RATE, 0.1, bad)


# --------------------------------------------------------------------------- Bayesian decoder


def test_bayesian_far_below_chance_and_raw_knn(dense):
    decoder = BayesianPositionDecoder(window=8, bin_s=1 / RATE)
    error = dense.error(decoder.fit(dense.X_train, dense.pos_train).predict(dense.X_test))
    track = DENSE.track_length_m
    # Measured: Bayesian 0.019 of the track, raw-count kNN 0.270, training median 0.423.
    assert error < 0.1 * dense.chance
    assert error < 0.25 * dense.raw
    assert error < 0.05 * track
    # One 25 ms bin per step still beats raw-count kNN (measured 0.122 of the track).
    single = BayesianPositionDecoder(window=1, bin_s=1 / RATE).fit(dense.X_train, dense.pos_train)
    assert dense.error(single.predict(dense.X_test)) < 0.6 * dense.raw


@pytest.mark.parametrize("prior", ["uniform", "occupancy"])
@pytest.mark.parametrize("estimate", ["map", "mean"])
def test_priors_estimates_and_posterior(dense, prior, estimate):
    decoder = BayesianPositionDecoder(n_bins=40, prior=prior, estimate=estimate, window=8)
    decoder.fit(dense.X_train, dense.pos_train)
    proba = decoder.predict_proba(dense.X_test)
    assert proba.shape == (len(dense.X_test), 40)
    assert (proba >= 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    predicted = decoder.predict(dense.X_test)
    lo, hi = dense.pos_train.min(), dense.pos_train.max()
    assert predicted.shape == (len(dense.X_test),)
    assert ((predicted >= lo) & (predicted <= hi)).all()
    if estimate == "map":
        assert np.isin(predicted, decoder.bin_centers_).all()
        np.testing.assert_array_equal(predicted, decoder.bin_centers_[proba.argmax(axis=1)])
    else:
        np.testing.assert_allclose(predicted, proba @ decoder.bin_centers_)
    # Measured (fraction of the track): uniform 0.019 / 0.033, occupancy 0.019 / 0.022.
    assert dense.error(predicted) < 0.1 * dense.chance
    log_prior = decoder.log_prior_
    assert np.exp(log_prior).sum() == pytest.approx(1.0)
    if prior == "uniform":
        assert np.ptp(log_prior[np.isfinite(log_prior)]) == 0
    else:
        np.testing.assert_allclose(np.exp(log_prior), decoder.occupancy_ / decoder.occupancy_.sum())


def test_posterior_is_the_poisson_formula():
    """Against an explicit Poisson likelihood, window sums cut at the block's ends."""
    gen = np.random.default_rng(1)
    position = np.tile(np.linspace(0, 1, 50), 6)
    counts = gen.poisson(np.outer(position, [0.5, 0.1]) + [0.02, 0.3])
    decoder = BayesianPositionDecoder(n_bins=10, prior="occupancy", bin_s=0.1, window=3)
    decoder.fit(counts, position)
    test = gen.poisson(0.3, (7, 2))
    tuning = decoder.rate_maps_.T + decoder.min_rate_hz  # (bins, neurons), spikes/s
    expected = []
    for t in range(len(test)):
        lo, hi = max(0, t - 1), min(len(test), t + 2)  # centred window of 3
        n = test[lo:hi].sum(axis=0)
        log_like = poisson.logpmf(n, tuning * decoder.bin_s * (hi - lo)).sum(axis=1)
        log_post = log_like + decoder.log_prior_
        expected.append(np.exp(log_post - np.logaddexp.reduce(log_post)))
    np.testing.assert_allclose(decoder.predict_proba(test), expected, rtol=1e-9, atol=1e-12)
    # Chunked decoding gives the same answer as one chunk.
    chunked = clone(decoder).set_params(chunk_rows=2).fit(counts, position)
    np.testing.assert_allclose(chunked.predict_proba(test), expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("causal", "rows"), [(False, [4, 5, 6]), (True, [5, 6, 7])])
def test_window_centred_or_causal(causal, rows):
    # Cell 0 fires on the right half of the track, cell 1 on the left.
    position = np.tile(np.linspace(0, 1, 100), 4)
    counts = np.column_stack([position > 0.5, position <= 0.5]).astype(np.int64) * 4
    decoder = BayesianPositionDecoder(
        n_bins=10, tuning_sigma_bins=0, window=3, causal=causal, bin_s=0.1
    )
    decoder.fit(counts, position)
    test = np.zeros((12, 2), dtype=np.int64)
    test[:, 1] = 1  # one left-cell spike per bin ...
    test[5] = [3, 0]  # ... and a burst of the right cell at step 5
    right = decoder.predict(test) > 0.5
    assert np.flatnonzero(right).tolist() == rows


def test_rate_maps_recover_the_simulated_fields(dense):
    session = dense.session
    decoder = BayesianPositionDecoder(bin_s=1 / RATE).fit(
        session.counts, session.position, session.direction
    )
    assert decoder.rate_maps_.shape == (2, DENSE.n_neurons, 50)
    assert decoder.occupancy_.sum() == pytest.approx(DENSE.duration_s)
    x = decoder.bin_centers_
    for d in (0, 1):
        centers, widths, peaks = (
            a[:, d, None] for a in (session.centers, session.widths, session.peaks)
        )
        truth = DENSE.baseline_rate_hz + peaks * np.exp(-0.5 * ((x - centers) / widths) ** 2)
        strong = session.place_cell & (session.peaks[:, d] > 5)
        estimate = decoder.rate_maps_[d][strong]
        correlation = [
            np.corrcoef(a, b)[0, 1] for a, b in zip(estimate, truth[strong], strict=True)
        ]
        # Measured: median correlation 0.98, median peak ratio 0.88 and 1.08 (spikes/s).
        assert np.median(correlation) > 0.9
        assert 0.7 < np.median(estimate.max(axis=1) / truth[strong].max(axis=1)) < 1.4


def test_joint_direction_decoding(dense):
    direction_train = dense.session.direction[: dense.split]
    direction_test = dense.session.direction[dense.split :]
    decoder = BayesianPositionDecoder(window=8).fit(dense.X_train, dense.pos_train, direction_train)
    np.testing.assert_array_equal(decoder.classes_, [0, 1])
    joint = decoder.predict_joint_proba(dense.X_test)
    assert joint.shape == (len(dense.X_test), 2, 50)
    np.testing.assert_allclose(joint.sum(axis=(1, 2)), 1.0, atol=1e-9)
    np.testing.assert_allclose(decoder.predict_proba(dense.X_test), joint.sum(axis=1))
    label = decoder.predict_label(dense.X_test)
    np.testing.assert_array_equal(label, joint.sum(axis=2).argmax(axis=1))
    # Measured: direction accuracy 0.98, position error 0.026 of the track.
    assert np.mean(label == direction_test) > 0.9
    assert dense.error(decoder.predict(dense.X_test)) < 0.1 * dense.chance
    with pytest.raises(ValueError, match="labels"):
        BayesianPositionDecoder().fit(dense.X_train, dense.pos_train).predict_label(dense.X_test)


# --------------------------------------------------------------------------- choices and the set


def test_decode_standard_dense(dense, dense_rows):
    assert all(list(row) == STANDARD_COLUMNS for row in dense_rows)
    methods = {(r["method"], r["label"], r["metric"]) for r in dense_rows}
    for method in ("bayesian", "knn_smoothed", "ridge_smoothed"):
        assert {(method, "position", "median_abs_error"), (method, "position", "r2")} <= methods
        assert (method, "direction", "accuracy") in methods
    smoothing = _smoothing(dense_rows)
    bins = {max(1, round(w * RATE)) / RATE for w in DEFAULT_WINDOWS_S}
    assert smoothing[("bayesian", "position")] in bins
    assert smoothing[("knn_smoothed", "position")] in DEFAULT_SIGMAS
    # Measured (fraction of the track): Bayesian 0.017 (window 0.4 s), kNN on smoothed rates
    # 0.014 (σ 0.25 s), ridge 0.118, kNN on raw counts 0.270, training median 0.423.
    bayesian = _value(dense_rows, "bayesian")
    assert bayesian < 0.1 * dense.chance and bayesian < 0.25 * dense.raw
    assert _value(dense_rows, "knn_smoothed") < 0.25 * dense.raw
    assert _value(dense_rows, "ridge_smoothed") < 0.6 * dense.raw
    # Direction (chance 0.475, raw kNN 0.62): measured 0.98 Bayesian (joint), 0.98 kNN, 0.96 ridge.
    for method in ("bayesian", "knn_smoothed", "ridge_smoothed"):
        assert _value(dense_rows, method, "direction", "accuracy") > 0.85


def test_smoothed_knn_beats_raw_knn_when_sparse(sparse, sparse_rows):
    mean_rate = sparse.session.counts.mean() * RATE
    assert mean_rate < 0.6  # spikes/s per cell, like real sorted units
    # Measured (fraction of the track): raw-count kNN 0.363, training median 0.423,
    # kNN on smoothed rates 0.038 (σ 0.5 s), Bayesian 0.050 (window 0.8 s).
    knn = _value(sparse_rows, "knn_smoothed")
    assert knn < 0.3 * sparse.raw
    assert _smoothing(sparse_rows)[("knn_smoothed", "position")] > 0
    assert _value(sparse_rows, "bayesian") < 0.3 * sparse.raw
    assert _smoothing(sparse_rows)[("bayesian", "position")] > 1 / RATE


def test_choices_ignore_the_held_out_block(dense, dense_rows):
    gen = np.random.default_rng(5)
    garbage_counts = gen.poisson(7.0, dense.X_test.shape)
    garbage_behavior = np.column_stack(
        [gen.uniform(-5, 5, len(dense.B_test)), gen.integers(0, 2, len(dense.B_test))]
    )
    rows = decode_standard(
        dense.X_train, dense.B_train, garbage_counts, garbage_behavior, NAMES, DISCRETE, RATE,
        methods=("bayesian", "knn_smoothed"),
    )  # fmt: skip
    chosen = _smoothing(dense_rows)
    assert _smoothing(rows) == {key: chosen[key] for key in _smoothing(rows)}


def test_choose_sigma_sees_only_the_training_block(dense):
    seen = []

    class Spy(KNeighborsRegressor):
        def fit(self, X, y):
            seen.append(("fit", X.copy(), np.asarray(y).copy()))
            return super().fit(X, y)

        def predict(self, X):
            seen.append(("predict", X.copy(), None))
            return super().predict(X)

    counts, position = dense.X_train[:1000], dense.pos_train[:1000]
    sigmas = (0.0, 0.1, 0.25)
    best, table = choose_sigma(counts, position, RATE, sigmas, lambda: Spy(n_neighbors=10))
    assert best in sigmas
    assert table["smoothing_s"].tolist() == list(sigmas)
    assert table["metric"].unique().tolist() == ["median_abs_error"]
    assert best == table["smoothing_s"][table["value"].idxmin()]
    cut = split_index(1000, 0.2)
    assert len(seen) == 2 * len(sigmas)
    for (kind, X, y), sigma in zip(seen[::2], sigmas, strict=True):
        assert kind == "fit"
        np.testing.assert_array_equal(X, smooth_rates(counts[:cut], RATE, sigma))
        np.testing.assert_array_equal(y, position[:cut])
    for (kind, X, _), sigma in zip(seen[1::2], sigmas, strict=True):
        assert kind == "predict"
        np.testing.assert_array_equal(X, smooth_rates(counts[cut:], RATE, sigma))


def test_choose_window(dense):
    best, table = choose_window(dense.X_train, dense.pos_train, (1, 8), bin_s=1 / RATE)
    assert table["window"].tolist() == [1, 8] and best == 8
    assert table["value"].iloc[1] < table["value"].iloc[0]


# --------------------------------------------------------------------------- contract and errors


def test_estimator_contract(dense):
    decoder = BayesianPositionDecoder(n_bins=30, prior="occupancy", window=4, min_rate_hz=0.05)
    params = decoder.get_params()
    assert clone(decoder).get_params() == params
    assert BayesianPositionDecoder(**params).get_params() == params
    assert decoder.set_params(window=2) is decoder and decoder.window == 2
    decoder.set_params(window=4)
    with pytest.raises(NotFittedError):
        decoder.predict(dense.X_test)
    with pytest.raises(NotFittedError):
        decoder.predict_proba(dense.X_test)
    X, y = dense.X_train[:1500], dense.pos_train[:1500]
    assert decoder.fit(X, y) is decoder
    assert decoder.get_params() == params  # fit changes no parameter
    first = decoder.predict(dense.X_test)
    np.testing.assert_array_equal(decoder.fit(X, y).predict(dense.X_test), first)  # idempotent
    assert not hasattr(clone(decoder), "rate_maps_")
    restored = pickle.loads(pickle.dumps(decoder))
    np.testing.assert_array_equal(restored.predict(dense.X_test), first)
    assert decoder.n_features_in_ == DENSE.n_neurons
    assert -1 <= decoder.score(dense.X_test, dense.pos_test) <= 1


def test_bad_input(dense):
    X, y = dense.X_train[:200].astype(np.float64), dense.pos_train[:200]
    decoder = BayesianPositionDecoder()
    nan = X.copy()
    nan[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        decoder.fit(nan, y)
    inf = X.copy()
    inf[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        decoder.fit(inf, y)
    negative = X.copy()
    negative[5, 2] = -1
    with pytest.raises(ValueError, match="non-negative"):
        decoder.fit(negative, y)
    with pytest.raises(ValueError, match="position must be"):
        decoder.fit(X, y[:-1])
    with pytest.raises(ValueError, match="constant"):
        decoder.fit(X, np.full(len(X), 0.8))
    bad_y = y.copy()
    bad_y[0] = np.nan
    with pytest.raises(ValueError, match="position contains NaN"):
        decoder.fit(X, bad_y)
    with pytest.raises(ValueError, match="labels must be"):
        decoder.fit(X, y, labels=np.zeros(len(X) + 1))
    decoder.fit(X, y)
    with pytest.raises(ValueError, match="neurons"):
        decoder.predict(X[:, :-1])
    with pytest.raises(ValueError, match="non-negative"):
        decoder.predict(negative)
    with pytest.raises(ValueError, match="NaN"):
        decoder.predict_proba(nan)
    for params, match in [
        ({"prior": "flat"}, "prior"),
        ({"n_bins": 1}, "n_bins"),
        ({"window": 0}, "window"),
        ({"min_rate_hz": 0}, "min_rate_hz"),
        ({"bin_s": -0.025}, "bin_s"),
        ({"estimate": "median"}, "estimate"),
        ({"tuning_sigma_bins": -1}, "tuning_sigma_bins"),
    ]:
        with pytest.raises(ValueError, match=match):
            BayesianPositionDecoder(**params).fit(X, y)
    with pytest.raises(ValueError, match="sigma_s"):
        smooth_rates(X, RATE, -0.1)
    with pytest.raises(ValueError, match="rate_hz"):
        smooth_rates(X, 0, 0.1)
    with pytest.raises(ValueError, match="NaN"):
        smooth_rates(nan, RATE, 0.1)
    with pytest.raises(ValueError, match="unknown methods"):
        decode_standard(X, y[:, None], X, y[:, None], ["position"], [False], RATE, methods=["x"])


def _open_field(seed=0, n=16_000, cells=60, rate=RATE):
    """A rat foraging in a 1 m box (a smooth random walk, reflecting walls) and 60 cells with
    2-D Gaussian place fields, Poisson counts in 25 ms bins."""
    gen = np.random.default_rng(seed)
    kicks = gen.normal(0, 0.02, (n, 2))
    position, velocity, x = np.empty((n, 2)), np.zeros(2), np.full(2, 0.5)
    for t in range(n):
        velocity = 0.95 * velocity + kicks[t]
        x = x + velocity / rate
        over = (x < 0) | (x > 1)
        x = np.where(x < 0, -x, np.where(x > 1, 2 - x, x))
        velocity = np.where(over, -velocity, velocity)
        position[t] = x
    centers, widths = gen.uniform(0, 1, (cells, 2)), gen.uniform(0.08, 0.15, cells)
    peaks = gen.uniform(2, 15, cells)
    distance2 = ((position[:, None, :] - centers[None]) ** 2).sum(-1)
    rates = 0.2 + peaks * np.exp(-distance2 / (2 * widths**2))
    return gen.poisson(rates / rate), position


def test_a_2d_position_is_decoded_on_its_grid_better_than_axis_by_axis():
    """An open field: one decoder over the x × y grid uses the cells' 2-D fields; two 1-D
    decoders see each field smeared along the other axis. Both far below chance."""
    counts, position = _open_field()
    cut = split_index(len(counts), 0.2)
    joint = BayesianPositionDecoder(n_bins=25, window=8).fit(counts[:cut], position[:cut])
    assert joint.n_dims_ == 2 and joint.bin_centers_.shape == (625, 2)
    assert joint.rate_maps_.shape == (60, 625) and len(joint.bin_edges_) == 2
    decoded = joint.predict(counts[cut:])
    assert decoded.shape == (len(counts) - cut, 2)
    np.testing.assert_allclose(joint.predict_proba(counts[cut:]).sum(axis=1), 1.0)
    per_axis = np.column_stack(
        [
            BayesianPositionDecoder(n_bins=25, window=8)
            .fit(counts[:cut], position[:cut, k])
            .predict(counts[cut:])
            for k in range(2)
        ]
    )
    error = np.median(np.linalg.norm(decoded - position[cut:], axis=1))
    error_per_axis = np.median(np.linalg.norm(per_axis - position[cut:], axis=1))
    chance = np.median(np.linalg.norm(position[cut:] - np.median(position[:cut], axis=0), axis=1))
    assert error < 0.92 * error_per_axis and error < 0.4 * chance  # 0.074 m against 0.085
    rows = decode_standard(
        counts[:cut], position[:cut], counts[cut:], position[cut:], ["x", "y"], [False, False],
        RATE, methods=["bayesian"], windows_s=[0.2], position_groups=[[0, 1]],
        bayesian_params={"n_bins": 25},
    )  # fmt: skip
    errors = {r["label"]: r["value"] for r in rows if r["metric"] == "median_abs_error"}
    np.testing.assert_allclose(
        [errors["x"], errors["y"]], np.median(np.abs(decoded - position[cut:]), axis=0)
    )  # decode_standard's bayesian: the same decoder, each column scored from it
    with pytest.raises(ValueError, match=r"position_groups \[\[0\]\] must hold each continuous"):
        decode_standard(
            counts[:cut], position[:cut], counts[cut:], position[cut:], ["x", "y"],
            [False, False], RATE, methods=["bayesian"], position_groups=[[0]],
        )  # fmt: skip


def test_an_open_field_is_also_scored_by_its_distance_by_every_method(tmp_path):
    """An npz's ``position_x``/``position_y`` are one position: every method and chance get a
    ``median_distance_error`` row, the distance of the same predictions the per-axis errors
    score, and the input width is chosen on it."""
    counts, position = _open_field(n=8000)
    path = tmp_path / "open_field.npz"
    names = np.array(["position_x", "position_y"])
    np.savez(path, neural=counts, behavior=position, behavior_names=names, rate=RATE)
    recording = read_recording(path)
    assert recording.series == ("npz/position", "npz/position")
    assert recording.position_groups == [[0, 1]] and recording.distance_groups == {
        "position": [0, 1]
    }
    methods = ["pca", "raw", "bayesian", "knn_smoothed", "ridge_smoothed"]
    bayesian = {"n_bins": 25}
    result = decode_behavior(
        recording, methods, input_smoothing_s=0.25, log=lambda message: None,
        standard_params={"windows_s": [0.1, 0.2], "bayesian_params": bayesian},
    )  # fmt: skip
    table = result.metrics
    distance = table[table["metric"] == "median_distance_error"].set_index("method")
    assert sorted(distance.index) == sorted(["chance", *methods])
    assert (distance["label"] == "position").all()
    axes = table[table["metric"] == "median_abs_error"].groupby("method")["value"].max()
    # a point's distance is at least its error on either axis, so the medians are ordered
    assert (distance["value"] >= axes[distance.index].to_numpy() - 1e-12).all()
    cut = result.split
    chance = np.median(np.linalg.norm(position[cut:] - np.median(position[:cut], axis=0), axis=1))
    assert distance.loc["chance", "value"] == pytest.approx(chance, rel=1e-12)
    decoders = distance.drop(index="chance")["value"]
    assert (decoders < 0.5 * chance).all(), decoders  # 0.06-0.10 m against 0.32 m
    # a distance row states its columns' width when they share one, else none
    widths = table[table["metric"] == "median_abs_error"].groupby("method")["smoothing_s"]
    for method, axis_widths in widths:
        if method == "chance":
            continue
        shared = axis_widths.nunique() == 1
        stated = distance.loc[method, "smoothing_s"]
        assert stated == axis_widths.iloc[0] if shared else np.isnan(stated), method
    assert widths.get_group("ridge_smoothed").nunique() == 2  # x 0.5 s, y 0.25 s: none stated
    # the Bayesian row is the distance of the joint x × y decode, with the chosen window
    window = int(round(distance.loc["bayesian", "smoothing_s"] * RATE))
    joint = BayesianPositionDecoder(window=window, bin_s=1 / RATE, **bayesian)
    decoded = joint.fit(counts[:cut], position[:cut]).predict(counts[cut:])
    expected = np.median(np.linalg.norm(decoded - position[cut:], axis=1))
    assert distance.loc["bayesian", "value"] == pytest.approx(expected, rel=1e-12)
    # kNN on the raw counts: the multi-output regressor's distance (the same neighbours)
    knn = KNeighborsRegressor(n_neighbors=36, metric="cosine")
    rows = knn_decode(
        counts[:cut].astype(float), position[:cut], counts[cut:].astype(float), position[cut:],
        ["position_x", "position_y"], [False, False], groups={"position": [0, 1]},
    )  # fmt: skip
    joint_knn = knn.fit(counts[:cut], position[:cut]).predict(counts[cut:])
    assert rows[-1] == {
        "label": "position",
        "metric": "median_distance_error",
        "value": pytest.approx(np.median(np.linalg.norm(joint_knn - position[cut:], axis=1))),
    }
    # the width chosen for the embeddings' input is chosen on the distance
    curve = validation_curve_of(recording, "raw", 0.1, split=cut)
    criterion = curve[curve["criterion"]]
    assert list(criterion["metric"]) == ["median_distance_error"]
    assert list(criterion["label"]) == ["position"]


def test_distance_groups_must_name_continuous_columns():
    counts, position = _open_field(n=2000)
    behavior = np.column_stack([position, position[:, 0] > 0.5])
    names, discrete = ["x", "y", "east"], [False, False, True]
    for groups in ({"xy": [0]}, {"xe": [0, 2]}, {"xz": [0, 5]}):
        with pytest.raises(ValueError, match="must name two or more continuous columns"):
            decode_standard(
                counts, behavior, counts, behavior, names, discrete, RATE,
                methods=["ridge_smoothed"], distance_groups=groups,
            )  # fmt: skip


def test_decode_recording_passes_the_bayesian_grid_to_the_decoder(tmp_path):
    """``recording.bayesian`` reaches the decoder: the script's Bayesian distance is that of a
    decoder on a 3 × 3 grid, with its smoothing and prior, and the window it chose."""
    import importlib.util
    from pathlib import Path

    import pandas as pd

    script = Path(__file__).parents[2] / "scripts" / "decode_recording.py"
    spec = importlib.util.spec_from_file_location("decode_recording", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    counts, position = _open_field(n=4000)
    path = tmp_path / "arena.npz"
    names = np.array(["position_x", "position_y"])
    np.savez(path, neural=counts, behavior=position, behavior_names=names, rate=RATE)
    out = {k: tmp_path / f"{k}.parquet" for k in ("metrics", "consistency", "selection")}
    module.main(
        ["--recording", str(path), "--name", "arena", "--methods", "bayesian", "--seeds", "0",
         "--bayesian", '{"n_bins": 3, "tuning_sigma_bins": 0.5, "prior": "occupancy"}',
         *(f"--{k}={v}" for k, v in out.items())]
    )  # fmt: skip
    table = pd.read_parquet(out["metrics"])
    row = table[(table["method"] == "bayesian") & (table["metric"] == "median_distance_error")]
    cut = split_index(len(counts), 0.2)
    decoder = BayesianPositionDecoder(
        n_bins=3, tuning_sigma_bins=0.5, prior="occupancy", bin_s=1 / RATE,
        window=int(round(row["smoothing_s"].item() * RATE)),
    ).fit(counts[:cut], position[:cut])  # fmt: skip
    decoded = decoder.predict(counts[cut:])
    assert len(np.unique(decoded[:, 0])) <= 3  # bin centres of the 3 × 3 grid
    expected = np.median(np.linalg.norm(decoded - position[cut:], axis=1))
    assert row["value"].item() == pytest.approx(expected, rel=1e-12)


def test_predict_with_labels_reads_the_position_posterior_summed_over_labels(dense):
    """Decoded jointly with the running direction, the position estimate (mean or mode) is that
    of the posterior marginalised over directions, not of each position's likelier direction."""
    direction = dense.session.direction[: dense.split]
    test = dense.X_test[:400]
    decoder = BayesianPositionDecoder(window=2, estimate="mean")
    decoder.fit(dense.X_train, dense.pos_train, direction)
    marginal = decoder.predict_joint_proba(test).sum(axis=1)
    np.testing.assert_allclose(decoder.predict(test), marginal @ decoder.bin_centers_)
    decoder.set_params(estimate="map")
    np.testing.assert_array_equal(
        decoder.predict(test), decoder.bin_centers_[np.argmax(marginal, axis=1)]
    )


def test_rate_maps_count_nothing_beyond_the_track_ends():
    """Spikes and time are smoothed over the position bins with nothing beyond the track's
    ends (no time was spent there), then divided: against an explicit Gaussian kernel sum."""
    occupancy, spikes = np.array([4, 1, 2, 1, 3]), np.array([8, 0, 1, 0, 6])
    position = np.repeat((np.arange(5) + 0.5) / 5, occupancy)  # bin centres of [0.1, 0.9]
    counts = np.zeros((len(position), 1))
    counts[np.cumsum(occupancy) - occupancy, 0] = spikes  # a bin's spikes on its first sample
    decoder = BayesianPositionDecoder(n_bins=5, tuning_sigma_bins=1.0, bin_s=0.1)
    decoder.fit(counts, position)
    kernel = np.exp(-0.5 * np.subtract.outer(np.arange(5), np.arange(5)) ** 2)  # within 4 s.d.
    expected = (kernel @ spikes) / (kernel @ (occupancy * 0.1))
    np.testing.assert_allclose(decoder.rate_maps_[0], expected, rtol=1e-6)


def test_choose_window_scores_the_median_distance_of_a_decoder_fitted_on_the_fit_part():
    """Each window is scored by a decoder fitted on the training block's first 80 % only, by the
    median Euclidean error of a 2-D position on the last 20 %: recomputed here."""
    counts, position = _open_field(n=4000)
    windows = (1, 4, 8)
    best, table = choose_window(counts, position, windows, n_bins=10, bin_s=1 / RATE)
    cut = split_index(len(counts), 0.2)
    expected = []
    for window in windows:
        decoder = BayesianPositionDecoder(n_bins=10, bin_s=1 / RATE, window=window)
        decoded = decoder.fit(counts[:cut], position[:cut]).predict(counts[cut:])
        expected.append(np.median(np.linalg.norm(decoded - position[cut:], axis=1)))
    np.testing.assert_allclose(table["value"], expected)
    assert best == windows[int(np.argmin(expected))]


def test_ridge_smoothed_is_ridge_on_standardised_rates_smoothed_block_by_block(dense):
    """``ridge_smoothed`` against sklearn: RidgeCV on z-scored rates, the training and the
    held-out block each smoothed alone (σ 0.25 s, the only one offered)."""
    train, test = dense.X_train[:2000], dense.X_test[:600]
    y_train, y_test = dense.pos_train[:2000], dense.pos_test[:600]
    rows = decode_standard(
        train, y_train, test, y_test, ["position"], [False], RATE,
        methods=("ridge_smoothed",), sigmas=(0.25,),
    )  # fmt: skip
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 5, 15)))
    model.fit(smooth_rates(train, RATE, 0.25), y_train)
    predicted = model.predict(smooth_rates(test, RATE, 0.25))
    assert _value(rows, "ridge_smoothed") == pytest.approx(np.median(np.abs(predicted - y_test)))
    assert _value(rows, "ridge_smoothed", metric="r2") == pytest.approx(r2_score(y_test, predicted))


def test_joint_label_accuracy_comes_once_from_the_first_position_group():
    """With two position groups and a discrete column, the discrete column's accuracy is one
    row, from the joint decode of the first group (x), as documented."""
    counts, position = _open_field(n=4000)
    side = (position[:, 0] > 0.5).astype(float)
    behavior = np.column_stack([position, side])
    cut = split_index(len(counts), 0.2)
    rows = decode_standard(
        counts[:cut], behavior[:cut], counts[cut:], behavior[cut:], ["x", "y", "side"],
        [False, False, True], RATE, methods=("bayesian",), windows_s=(0.2,),
        position_groups=[[0], [1]], bayesian_params={"n_bins": 10},
    )  # fmt: skip
    (accuracy,) = [r["value"] for r in rows if r["label"] == "side"]
    decoder = BayesianPositionDecoder(n_bins=10, bin_s=1 / RATE, window=8)
    decoder.fit(counts[:cut], position[:cut, 0], side[:cut].astype(np.int64))
    assert accuracy == pytest.approx(np.mean(decoder.predict_label(counts[cut:]) == side[cut:]))


def test_a_discrete_column_of_one_class_in_the_fit_part_is_decoded(dense):
    """A task phase set late (its last 30 %): the fit part of the training block's validation
    split holds one class, the training block two. The logistic decoder predicts the one class
    it saw there (every width ties: the first is taken, and the log says so) and is fitted on
    both classes at the end; the other decoders of the column are untouched by it."""
    X, position = dense.session.counts, dense.session.position
    phase = (np.arange(len(X)) >= 0.7 * len(X)).astype(float)
    behavior = np.column_stack([position, phase])
    i, names, sigmas = dense.split, ["position", "phase"], (0.1, 0.25)
    args = (X[:i], behavior[:i], X[i:], behavior[i:], names, [False, True], RATE)
    messages = []
    rows = decode_standard(*args, sigmas=sigmas, windows_s=(0.2,), log=messages.append)
    assert _smoothing(rows)[("ridge_smoothed", "phase")] == 0.1
    assert any(m.startswith("phase: one class in the fit part") for m in messages), messages
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(smooth_rates(X[:i], RATE, 0.1), phase[:i].astype(np.int64))
    expected = np.mean(model.predict(smooth_rates(X[i:], RATE, 0.1)) == phase[i:])
    assert _value(rows, "ridge_smoothed", "phase", "accuracy") == pytest.approx(expected)
    for method in ("bayesian", "knn_smoothed"):
        alone = decode_standard(*args, methods=(method,), sigmas=sigmas, windows_s=(0.2,))
        assert [r for r in rows if r["method"] == method] == alone


def test_the_logistic_decoder_of_one_class_predicts_it():
    """Fitted on one class it predicts that class; on two it is sklearn's logistic regression."""
    X = np.random.default_rng(0).normal(size=(60, 3))
    model = LogisticOrOnlyClass().fit(X, np.full(60, 2))
    np.testing.assert_array_equal(model.predict(X[:5]), np.full(5, 2))
    assert model.classes_.tolist() == [2]
    y = (X[:, 0] > 0).astype(int)
    expected = LogisticRegression(max_iter=1000).fit(X, y).predict(X)
    np.testing.assert_array_equal(LogisticOrOnlyClass().fit(X, y).predict(X), expected)
    with pytest.raises(NotFittedError):
        LogisticOrOnlyClass().predict(X)
