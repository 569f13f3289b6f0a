"""The standard population decoders of binned spike counts: Bayesian, smoothed kNN and ridge.

:mod:`brainlatent.decoding.behavior` decodes behaviour with a kNN on embeddings
and on raw counts, as the CEBRA paper does. On sparse recordings (25 ms bins,
cells firing ~0.5 spikes/s) raw counts are mostly zeros and a kNN on them is a
weak baseline; the field decodes position with

* the memoryless Bayesian population decoder (Zhang, Ginzburg, McNaughton &
  Sejnowski 1998, *J Neurophysiol* 79:1017; the "Bayesian 1-step" method): each
  cell's rate map f_i(x) is estimated from the training block, spike counts are
  taken as independent Poisson given position, and the posterior over position
  bins after observing counts n_i summed over a window of duration τ is
  ``P(x | n) ∝ P(x) · Π_i f_i(x)^{n_i} · exp(-τ Σ_i f_i(x))``
  (:class:`BayesianPositionDecoder`);
* a kNN or a linear (ridge / logistic) decoder on firing rates smoothed with a
  Gaussian kernel of a few hundred milliseconds (:func:`smooth_rates`), the
  kernel width chosen on the training block (:func:`choose_sigma`).

:func:`decode_standard` runs all three on a train/held-out split and returns
rows in the spirit of :data:`brainlatent.decoding.behavior.METRIC_COLUMNS`
(``method, label, metric, value`` plus the ``smoothing_s`` that was chosen),
with the metrics of :func:`brainlatent.decoding.behavior.knn_decode`: median
absolute error and R² for continuous columns, accuracy for discrete ones.

No temporal smoothing ever crosses the boundary between the training and the
held-out block (nor, inside the training block, between the part a decoder is
fitted on and the validation tail that chooses its smoothing): a centred
Gaussian is non-causal, so smoothing the whole recording at once would put
held-out activity into the last training rows and training activity into the
first held-out rows, and the decoder would be scored on data it has partly
seen. Each block is smoothed on its own (:func:`smooth_blocks`); at a block's
edges the filter mirrors the block's own samples.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.ndimage import gaussian_filter1d
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_array, check_is_fitted

from brainlatent.decoding.behavior import (
    DEFAULT_NEIGHBORS,
    _accuracy,
    _continuous_rows,
    distance_rows,
    split_index,
)

#: Methods of :func:`decode_standard`.
STANDARD_METHODS = ("bayesian", "knn_smoothed", "ridge_smoothed")
#: Columns of :func:`decode_standard`'s rows.
STANDARD_COLUMNS = ["method", "label", "metric", "value", "smoothing_s"]
#: Gaussian kernel widths (s.d., seconds) tried by default; 0 is no smoothing.
DEFAULT_SIGMAS = (0.0, 0.05, 0.1, 0.25, 0.5)
#: Bayesian decoding windows (seconds of counts summed per step) tried by default: 1 to 32 bins
#: of 25 ms; sparse recordings need the longer ones.
DEFAULT_WINDOWS_S = (0.025, 0.05, 0.1, 0.2, 0.4, 0.8)
#: Ridge penalties of the ``ridge_smoothed`` regressor (on standardised rates).
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-2, 5, 15))


# --------------------------------------------------------------------------- smoothing


def smooth_rates(counts, rate_hz: float, sigma_s: float) -> np.ndarray:
    """Firing rates (spikes/s, float32) from counts per bin, Gaussian-smoothed along time (axis 0).

    ``sigma_s`` is the kernel's standard deviation in seconds (``sigma_s × rate_hz``
    samples; the kernel is truncated at 4 s.d.); 0 leaves the counts unsmoothed
    and only converts them to spikes/s. The filter is centred (non-causal) and
    mirrors the array at its ends: smooth every contiguous block on its own
    (:func:`smooth_blocks`), never a recording whose blocks are scored apart.
    """
    rate_hz, sigma_s = _positive(rate_hz, "rate_hz"), float(sigma_s)
    if not np.isfinite(sigma_s) or sigma_s < 0:
        raise ValueError(f"sigma_s must be finite and >= 0; got {sigma_s}")
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim not in (1, 2) or len(counts) == 0:
        raise ValueError(
            f"counts must be (time,) or (time, neurons), non-empty; got {counts.shape}"
        )
    if not np.isfinite(counts).all():
        raise ValueError("counts contain NaN or infinite values")
    rates = counts * rate_hz
    if sigma_s > 0:
        rates = gaussian_filter1d(rates, sigma_s * rate_hz, axis=0, mode="reflect")
    return rates.astype(np.float32)


def smooth_blocks(counts, rate_hz: float, sigma_s: float, split) -> tuple[np.ndarray, ...]:
    """:func:`smooth_rates` of each contiguous block of ``counts``, separately.

    ``split`` is the first sample of the second block (``train = counts[:split]``,
    ``test = counts[split:]``, as :func:`brainlatent.decoding.behavior.split_index`
    gives it) or an increasing sequence of block boundaries. Returns one array
    per block. Smoothing the blocks apart is what keeps a held-out block's
    activity out of the training rows (and vice versa): the kernel is centred.
    """
    counts = np.asarray(counts)
    bounds = np.atleast_1d(np.asarray(split))
    if bounds.ndim != 1 or not np.issubdtype(bounds.dtype, np.integer):
        raise ValueError(f"split must be an int or a sequence of ints; got {split!r}")
    if bounds.size and (bounds[0] < 1 or bounds[-1] >= len(counts) or np.any(np.diff(bounds) < 1)):
        raise ValueError(
            f"split {bounds.tolist()} must be increasing, inside (0, {len(counts)}), "
            "and leave no block empty"
        )
    return tuple(smooth_rates(block, rate_hz, sigma_s) for block in np.split(counts, bounds))


# --------------------------------------------------------------------------- Bayesian decoder


class BayesianPositionDecoder(RegressorMixin, BaseEstimator):
    """Memoryless Bayesian population decoder of a position (Zhang et al. 1998).

    ``fit(counts, position)`` bins the training position range into ``n_bins``
    equal bins (per axis: a (time, 2) position of an open field gets an
    ``n_bins × n_bins`` grid, and the rate maps, smoothing and posterior are over
    that grid) and estimates, per cell, the rate map ``f_i(x)`` (spikes/s):
    spikes fired in each bin over the time spent there, both smoothed over
    position with a Gaussian of ``tuning_sigma_bins`` bins before dividing (a
    kernel-weighted rate; bins beyond the track ends count as empty). The map is
    floored by *adding* ``min_rate_hz`` so that a spike where a cell never fired
    costs a finite log-likelihood.

    Decoding step ``t`` sums the counts of ``window`` consecutive bins — centred
    on ``t`` (bins ``t - window//2 … t - window//2 + window - 1``; the offline
    convention, which uses spikes just after ``t``) or, with ``causal=True``,
    ending at ``t`` (usable online). Windows are cut at the ends of the array
    passed to :meth:`predict`, and the likelihood uses the duration actually
    summed, so no step reaches outside the block being decoded. The posterior
    is computed in log space, ``chunk_rows`` steps at a time (memory
    ``chunk_rows × n_bins``), over the position bins visited during training:
    ``prior="uniform"`` is flat over them, ``prior="occupancy"`` proportional to
    the time spent in each. :meth:`predict` returns the posterior's maximum
    (``estimate="map"``: a bin centre) or mean (``estimate="mean"``).

    With ``fit(..., labels=...)`` a discrete variable (e.g. running direction)
    is decoded jointly: each cell has one rate map per label value, the state
    space is label × position, :meth:`predict` and :meth:`predict_proba` use the
    posterior marginalised over labels, and :meth:`predict_label` returns the
    label with the largest marginal posterior.

    Fitted attributes: ``bin_edges_`` (n_bins + 1), ``bin_centers_`` (n_bins),
    ``occupancy_`` (seconds per bin), ``rate_maps_`` (neurons × bins, spikes/s,
    before the floor), ``log_prior_`` (bins; ``-inf`` where never visited),
    ``classes_`` (None without labels), ``n_dims_`` and ``n_features_in_``. With
    labels, ``occupancy_``, ``log_prior_`` and ``rate_maps_`` gain a leading label
    axis. For a d-column position the bins are the grid's ``n_bins ** d`` cells in
    C order: ``bin_edges_`` is a tuple of d edge arrays, ``bin_centers_``
    (cells × d), and :meth:`predict` returns (time × d).
    """

    def __init__(
        self,
        n_bins: int = 50,
        tuning_sigma_bins: float = 1.5,
        prior: str = "uniform",
        bin_s: float = 0.025,
        window: int = 1,
        causal: bool = False,
        min_rate_hz: float = 0.01,
        estimate: str = "map",
        chunk_rows: int = 8192,
    ):
        self.n_bins = n_bins
        self.tuning_sigma_bins = tuning_sigma_bins
        self.prior = prior
        self.bin_s = bin_s
        self.window = window
        self.causal = causal
        self.min_rate_hz = min_rate_hz
        self.estimate = estimate
        self.chunk_rows = chunk_rows

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True  # spike counts
        return tags

    # ----------------------------------------------------------------- fitting

    def fit(self, counts, position, labels=None):
        """Estimate occupancy and rate maps from counts (time, neurons) and position (time,)
        or (time, d)."""
        self._check_params()
        counts = self._check_counts(counts, reset=True)
        position = _positions(position, len(counts))
        if not (np.ptp(position, axis=0) > 0).all():
            raise ValueError("position is constant: there is nothing to decode")
        n_axis, n_dims = int(self.n_bins), position.shape[1]
        edges = [np.linspace(x.min(), x.max(), n_axis + 1) for x in position.T]
        cell = [
            np.clip(np.searchsorted(e, x, side="right") - 1, 0, n_axis - 1)
            for e, x in zip(edges, position.T, strict=True)
        ]
        pos_bin = np.ravel_multi_index(cell, (n_axis,) * n_dims)
        n_bins = n_axis**n_dims
        if labels is None:
            classes, code = None, np.zeros(len(position), dtype=np.int64)
        else:
            labels = np.asarray(labels)
            if labels.ndim != 1 or len(labels) != len(counts):
                raise ValueError(
                    f"labels must be (time,) with {len(counts)} samples; got shape {labels.shape}"
                )
            if labels.dtype.kind in "fc" and not np.isfinite(labels).all():
                raise ValueError("labels contain NaN or infinite values")
            classes, code = np.unique(labels, return_inverse=True)
            code = code.reshape(-1)
        n_labels = 1 if classes is None else len(classes)
        state = code * n_bins + pos_bin
        # One-hot (states × time) @ counts: spikes per state without a Python loop.
        onehot = sparse.csr_matrix(
            (np.ones(len(state)), (state, np.arange(len(state)))),
            shape=(n_labels * n_bins, len(state)),
        )
        spikes = np.asarray(onehot @ counts).reshape(n_labels, n_bins, -1).transpose(0, 2, 1)
        occupancy = np.bincount(state, minlength=n_labels * n_bins).reshape(n_labels, n_bins)
        occupancy = occupancy * float(self.bin_s)
        occ_s, spikes_s = occupancy, spikes
        if self.tuning_sigma_bins > 0:
            grid = (n_axis,) * n_dims
            occ_s = _smooth_grid(occupancy, grid, float(self.tuning_sigma_bins))
            spikes_s = _smooth_grid(spikes, grid, float(self.tuning_sigma_bins))
        with np.errstate(invalid="ignore", divide="ignore"):
            rate_maps = np.where(occ_s[:, None, :] > 0, spikes_s / occ_s[:, None, :], 0.0)
        visited = occupancy > 0
        if self.prior == "uniform":
            weights = visited.astype(np.float64)
        else:
            weights = occupancy
        with np.errstate(divide="ignore"):
            log_prior = np.log(weights / weights.sum())

        squeeze = (lambda a: a[0]) if classes is None else (lambda a: a)
        centers = [(e[:-1] + e[1:]) / 2 for e in edges]
        self.n_dims_ = n_dims
        self.bin_edges_ = edges[0] if n_dims == 1 else tuple(edges)
        self.bin_centers_ = (
            centers[0]
            if n_dims == 1
            else np.stack([g.ravel() for g in np.meshgrid(*centers, indexing="ij")], axis=1)
        )
        self.classes_ = classes
        self.occupancy_ = squeeze(occupancy)
        self.rate_maps_ = squeeze(rate_maps)
        self.log_prior_ = squeeze(log_prior)
        return self

    # ----------------------------------------------------------------- decoding

    def predict_joint_proba(self, counts) -> np.ndarray:
        """Posterior (time, labels, bins) over label × position (one label without labels)."""
        check_is_fitted(self, "rate_maps_")
        counts = self._check_counts(counts)
        return np.concatenate([np.exp(lp) for _, lp in self._log_posterior_chunks(counts)])

    def predict_proba(self, counts) -> np.ndarray:
        """Posterior over position bins (time, n_bins), marginalised over labels; rows sum to 1."""
        check_is_fitted(self, "rate_maps_")
        counts = self._check_counts(counts)
        out = np.empty((len(counts), len(self.bin_centers_)))
        for rows, log_post in self._log_posterior_chunks(counts):
            out[rows] = np.exp(log_post).sum(axis=1)
        return out

    def predict(self, counts) -> np.ndarray:
        """Decoded position per time bin: posterior MAP (a bin centre) or mean; (time,) or,
        for a position fitted with d columns, (time, d)."""
        check_is_fitted(self, "rate_maps_")
        counts = self._check_counts(counts)
        out = np.empty((len(counts), *self.bin_centers_.shape[1:]))
        for rows, log_post in self._log_posterior_chunks(counts):
            p = np.exp(log_post).sum(axis=1)
            if self.estimate == "map":
                out[rows] = self.bin_centers_[np.argmax(p, axis=1)]
            else:
                out[rows] = p @ self.bin_centers_
        return out

    def predict_label(self, counts) -> np.ndarray:
        """Decoded label per time bin (largest posterior marginalised over position)."""
        check_is_fitted(self, "rate_maps_")
        if self.classes_ is None:
            raise ValueError("predict_label needs a decoder fitted with labels")
        counts = self._check_counts(counts)
        out = np.empty(len(counts), dtype=np.int64)
        for rows, log_post in self._log_posterior_chunks(counts):
            out[rows] = np.argmax(logsumexp(log_post, axis=2), axis=1)
        return self.classes_[out]

    def _log_posterior_chunks(self, counts: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
        """(rows, normalised log posterior (rows, labels, bins)) chunk by chunk."""
        self._check_params()
        rate_maps = self.rate_maps_ if self.classes_ is not None else self.rate_maps_[None]
        log_prior = self.log_prior_ if self.classes_ is not None else self.log_prior_[None]
        n_labels, n_neurons, n_bins = rate_maps.shape
        tuning = rate_maps.transpose(1, 0, 2).reshape(n_neurons, -1) + float(self.min_rate_hz)
        log_tuning, total_rate = np.log(tuning), tuning.sum(axis=0)  # (neurons, states), (states,)
        log_prior = log_prior.reshape(-1)
        n, w = len(counts), int(self.window)
        cumulative = np.zeros((n + 1, n_neurons))
        np.cumsum(counts, axis=0, out=cumulative[1:])
        # Rows at a time: chunk_rows, fewer when the states are many (a 2-D grid) so that a
        # chunk's posterior stays within MAX_CHUNK_VALUES.
        step = max(1, min(int(self.chunk_rows), MAX_CHUNK_VALUES // (n_labels * n_bins)))
        for start in range(0, n, step):
            t = np.arange(start, min(n, start + step))
            lo = t - (w - 1 if self.causal else w // 2)
            lo, hi = np.clip(lo, 0, n), np.clip(lo + w, 0, n)
            summed = cumulative[hi] - cumulative[lo]
            duration = (hi - lo) * float(self.bin_s)
            # Poisson log likelihood up to terms constant over states.
            log_post = summed @ log_tuning - duration[:, None] * total_rate + log_prior
            log_post -= logsumexp(log_post, axis=1, keepdims=True)
            yield slice(start, t[-1] + 1), log_post.reshape(len(t), n_labels, n_bins)

    # ----------------------------------------------------------------- checks

    def _check_params(self) -> None:
        if not (isinstance(self.n_bins, int | np.integer) and self.n_bins >= 2):
            raise ValueError(f"n_bins must be an integer >= 2; got {self.n_bins!r}")
        if not (np.isfinite(self.tuning_sigma_bins) and self.tuning_sigma_bins >= 0):
            raise ValueError(f"tuning_sigma_bins must be >= 0; got {self.tuning_sigma_bins!r}")
        if self.prior not in ("uniform", "occupancy"):
            raise ValueError(f"prior must be 'uniform' or 'occupancy'; got {self.prior!r}")
        _positive(self.bin_s, "bin_s")
        _positive(self.min_rate_hz, "min_rate_hz")
        if not (isinstance(self.window, int | np.integer) and self.window >= 1):
            raise ValueError(f"window must be an integer >= 1; got {self.window!r}")
        if self.estimate not in ("map", "mean"):
            raise ValueError(f"estimate must be 'map' or 'mean'; got {self.estimate!r}")

    def _check_counts(self, counts, reset: bool = False) -> np.ndarray:
        counts = check_array(counts, dtype=np.float64, ensure_min_samples=2 if reset else 1)
        if (counts < 0).any():
            raise ValueError("counts must be non-negative spike counts")
        if reset:
            self.n_features_in_ = counts.shape[1]
        elif counts.shape[1] != self.n_features_in_:
            raise ValueError(
                f"counts have {counts.shape[1]} neurons, but the decoder was fitted on "
                f"{self.n_features_in_}"
            )
        return counts


def _positive(value, name: str) -> float:
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive and finite; got {value}")
    return value


#: The most posterior values (rows × states) one chunk of the Bayesian decoder holds: 64 MB.
MAX_CHUNK_VALUES = 2**23


def _smooth_grid(values: np.ndarray, grid: tuple[int, ...], sigma: float) -> np.ndarray:
    """A Gaussian of ``sigma`` bins along each axis of the position grid that ``values``'
    last axis flattens (C order); beyond the grid's edges is empty (zeros)."""
    shaped = values.reshape(*values.shape[:-1], *grid)
    for axis in range(values.ndim - 1, shaped.ndim):
        shaped = gaussian_filter1d(shaped, sigma=sigma, axis=axis, mode="constant", cval=0.0)
    return shaped.reshape(values.shape)


def _positions(values, n: int) -> np.ndarray:
    """A position as (n, d): a 1-D one as one column; finite."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or len(values) != n or values.shape[1] == 0:
        raise ValueError(
            f"position must be ({n},) or ({n}, d) like the counts; got shape {values.shape}"
        )
    if not np.isfinite(values).all():
        raise ValueError("position contains NaN or infinite values")
    return values


def _vector(values, name: str, n: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or len(values) != n:
        raise ValueError(f"{name} must be ({n},) like the counts; got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return values


# ------------------------------------------------------------------ logistic decoder


class LogisticOrOnlyClass(ClassifierMixin, BaseEstimator):
    """Logistic regression (``max_iter``) of a discrete column, or its only class.

    A fit on one class predicts that class instead of sklearn's error: a column set late
    in the session (a task phase) can hold one class in the fit part of the validation
    split while the training block holds both, and the error would end every decoder of
    the recording; the kNN and Bayesian decoders of the column (and the majority-class
    baseline) predict the only class they saw, so the rows stay comparable.
    """

    def __init__(self, max_iter: int = 1000):
        self.max_iter = max_iter

    def fit(self, X, y):
        X = check_array(X)
        y = np.asarray(y).reshape(-1)
        self.classes_ = np.unique(y)
        self.n_features_in_ = X.shape[1]
        self.logistic_ = (
            LogisticRegression(max_iter=self.max_iter).fit(X, y) if len(self.classes_) > 1 else None
        )
        return self

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "classes_")
        X = check_array(X)
        if self.logistic_ is None:
            return np.full(len(X), self.classes_[0])
        return self.logistic_.predict(X)


# ------------------------------------------------------------------ choices on training data


def _validation_scores(
    candidates: Sequence,
    n_samples: int,
    validation_fraction: float,
    fit_predict: Callable[[object, int], tuple[np.ndarray, np.ndarray]],
    discrete: bool,
) -> tuple[object, pd.DataFrame]:
    """Score every candidate on the validation tail; the first with the lowest error wins."""
    if len(candidates) == 0:
        raise ValueError("no candidates to choose from")
    cut = split_index(n_samples, validation_fraction)
    metric = "error_rate" if discrete else "median_abs_error"
    scores = []
    for candidate in candidates:
        predicted, true = fit_predict(candidate, cut)
        if discrete:
            scores.append(1.0 - _accuracy(predicted, true))
        else:
            error = np.asarray(predicted) - true
            if error.ndim == 2:  # a position of d columns: the distance
                error = np.linalg.norm(error, axis=1)
            scores.append(float(np.median(np.abs(error))))
    best = candidates[int(np.argmin(scores))]
    table = pd.DataFrame({"candidate": list(candidates), "metric": metric, "value": scores})
    return best, table


def choose_sigma(
    counts,
    behavior_col,
    rate_hz: float,
    sigmas: Sequence[float],
    make_decoder: Callable[[], object],
    validation_fraction: float = 0.2,
    *,
    discrete: bool = False,
) -> tuple[float, pd.DataFrame]:
    """The Gaussian smoothing (s.d., seconds) that decodes ``behavior_col`` best, on training data.

    ``counts`` and ``behavior_col`` are the *training block* only. It is cut into
    a contiguous fit part and a contiguous validation tail (the last
    ``validation_fraction``), each part smoothed on its own; for every sigma a
    fresh ``make_decoder()`` (an sklearn estimator) is fitted on the fit part and
    scored on the tail — median absolute error, or the error rate (1 − accuracy)
    when ``discrete``. Returns the best sigma (ties: the earliest in ``sigmas``)
    and the table of scores (``smoothing_s, metric, value``).
    """
    counts = np.asarray(counts)
    y = _vector(behavior_col, "behavior_col", len(counts))
    if discrete:
        y = y.astype(np.int64)

    def fit_predict(sigma, cut):
        fit_part, validation = smooth_blocks(counts, rate_hz, sigma, cut)
        model = make_decoder().fit(fit_part, y[:cut])
        return model.predict(validation), y[cut:]

    best, table = _validation_scores(
        [float(s) for s in sigmas], len(counts), validation_fraction, fit_predict, discrete
    )
    return best, table.rename(columns={"candidate": "smoothing_s"})


def choose_window(
    counts,
    position,
    windows: Sequence[int],
    validation_fraction: float = 0.2,
    *,
    labels=None,
    **decoder_params,
) -> tuple[int, pd.DataFrame]:
    """The :class:`BayesianPositionDecoder` window (bins summed) decoding best on training data.

    Like :func:`choose_sigma`: fitted on the training block's contiguous fit part,
    scored (median absolute position error) on its validation tail; the counts
    are not smoothed, each part is decoded on its own. Returns the best window
    and the table (``window, metric, value``).
    """
    counts = np.asarray(counts)
    position = _positions(position, len(counts))
    position = position[:, 0] if position.shape[1] == 1 else position

    def fit_predict(window, cut):
        decoder = BayesianPositionDecoder(window=int(window), **decoder_params)
        decoder.fit(counts[:cut], position[:cut], None if labels is None else labels[:cut])
        return decoder.predict(counts[cut:]), position[cut:]

    best, table = _validation_scores(
        [int(w) for w in windows], len(counts), validation_fraction, fit_predict, False
    )
    return best, table.rename(columns={"candidate": "window"})


# --------------------------------------------------------------------------- the standard set


def _position_groups(groups, is_discrete: np.ndarray) -> list[list[int]]:
    """The continuous columns as the Bayesian decoder takes them: ``groups`` (each a list of
    continuous column indices), or each column alone; every continuous column once."""
    continuous = [int(j) for j in np.flatnonzero(~is_discrete)]
    if groups is None:
        return [[j] for j in continuous]
    groups = [[int(j) for j in g] for g in groups]
    if sorted(j for g in groups for j in g) != continuous or not all(groups):
        raise ValueError(
            f"position_groups {groups} must hold each continuous column ({continuous}) once"
        )
    return groups


def _distance_groups(groups, is_discrete: np.ndarray) -> dict[str, list[int]]:
    """``groups`` (label → columns) checked: two or more continuous columns each."""
    groups = {str(label): [int(j) for j in columns] for label, columns in (groups or {}).items()}
    for label, columns in groups.items():
        if (
            len(columns) < 2
            or not all(0 <= j < len(is_discrete) for j in columns)
            or any(is_discrete[columns])
        ):
            raise ValueError(
                f"distance group {label!r} {columns} must name two or more continuous columns"
            )
    return groups


def decode_standard(
    train_counts,
    train_behavior,
    test_counts,
    test_behavior,
    names: Sequence[str],
    is_discrete,
    rate_hz: float,
    *,
    methods: Sequence[str] = STANDARD_METHODS,
    sigmas: Sequence[float] = DEFAULT_SIGMAS,
    windows_s: Sequence[float] = DEFAULT_WINDOWS_S,
    neighbors: int = DEFAULT_NEIGHBORS,
    metric: str = "cosine",
    validation_fraction: float = 0.2,
    joint: bool = True,
    bayesian_params: dict | None = None,
    position_groups: Sequence[Sequence[int]] | None = None,
    distance_groups: Mapping[str, Sequence[int]] | None = None,
    log=None,
) -> list[dict]:
    """The field's standard decoders of each behaviour column, fitted on the training block.

    Returns ``{method, label, metric, value, smoothing_s}`` rows
    (:data:`STANDARD_COLUMNS`), the metrics of
    :func:`brainlatent.decoding.behavior.knn_decode` on the held-out block:

    * ``bayesian`` — :class:`BayesianPositionDecoder` on the raw counts of every
      continuous column, its summing window (``windows_s``, rounded to whole
      bins) chosen by :func:`choose_window` on the training block;
      ``smoothing_s`` is that window's length in seconds (a boxcar, not a s.d.).
      With ``joint`` and discrete columns, position is decoded jointly with
      their combined code (as :func:`brainlatent.decoding.behavior.cebra_labels`
      combines them), and the discrete columns' accuracy is reported from the
      joint decode of the *first* continuous column. ``position_groups`` (lists of
      continuous column indices; None: each column alone) are decoded together,
      one decoder over their grid: a 2-D position's x and y (its window chosen by
      the median distance), each column scored from the joint estimate.
      ``distance_groups`` (label → continuous columns) are also scored as one
      position, by the median distance (:func:`~brainlatent.decoding.behavior.distance_rows`),
      for every method; a group's ``smoothing_s`` is its columns' when they share one
      (else missing).
    * ``knn_smoothed`` — kNN (``neighbors``, ``metric``, as ``knn_decode``) on
      Gaussian-smoothed rates, every column.
    * ``ridge_smoothed`` — ridge regression (continuous) or logistic regression
      (discrete; :class:`LogisticOrOnlyClass`) on standardised smoothed rates, every column.

    For the smoothed methods ``smoothing_s`` is the Gaussian's s.d., chosen per
    column by :func:`choose_sigma` on the training block; the training and the
    held-out block are smoothed separately. ``test_counts`` and
    ``test_behavior`` are used for nothing but the final predictions and scores.
    """
    unknown = [m for m in methods if m not in STANDARD_METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; expected some of {list(STANDARD_METHODS)}")
    rate_hz = _positive(rate_hz, "rate_hz")
    train_counts, test_counts = np.asarray(train_counts), np.asarray(test_counts)
    train_behavior = np.asarray(train_behavior, np.float64).reshape(len(train_counts), -1)
    test_behavior = np.asarray(test_behavior, np.float64).reshape(len(test_counts), -1)
    is_discrete = np.asarray(is_discrete, dtype=bool)
    distance_groups = _distance_groups(distance_groups, is_discrete)
    log = log or (lambda message: None)
    # k can be at most the fit part of the validation split; the final fit uses the same k.
    k = max(1, min(int(neighbors), split_index(len(train_counts), validation_fraction)))
    rows: list[dict] = []

    def add(method, decoded, smoothing_s):
        rows.extend({"method": method, **row, "smoothing_s": smoothing_s} for row in decoded)
        log(
            f"{method}: "
            + ", ".join(f"{r['label']} {r['metric']}={r['value']:.3f}" for r in decoded)
            + f" (smoothing {smoothing_s:g} s)"
        )

    def add_distances(method, predictions, widths):
        """Each distance group's row, from the method's predictions of every column."""
        for label, columns in distance_groups.items():
            width = np.unique(widths[columns])
            decoded = distance_rows({label: columns}, predictions, test_behavior)
            add(method, decoded, float(width[0]) if len(width) == 1 else float("nan"))

    if "bayesian" in methods:
        params = {"bin_s": 1.0 / rate_hz, **(bayesian_params or {})}
        windows = sorted({max(1, int(round(float(w) * rate_hz))) for w in windows_s})
        combos = labels_train = None
        if joint and is_discrete.any():
            combos, labels_train = np.unique(
                train_behavior[:, is_discrete], axis=0, return_inverse=True
            )
            labels_train = labels_train.reshape(-1)
        groups = _position_groups(position_groups, is_discrete)
        first = True
        predictions, widths = np.full(test_behavior.shape, np.nan), np.full(len(names), np.nan)
        for group in groups:
            window, _ = choose_window(
                train_counts,
                train_behavior[:, group],
                windows,
                validation_fraction,
                labels=labels_train,
                **params,
            )
            decoder = BayesianPositionDecoder(window=window, **params)
            decoder.fit(train_counts, train_behavior[:, group], labels_train)
            predicted = decoder.predict(test_counts).reshape(len(test_counts), len(group))
            predictions[:, group], widths[group] = predicted, window / rate_hz
            decoded = [
                row
                for c, j in enumerate(group)
                for row in _continuous_rows(names[j], predicted[:, c], test_behavior[:, j])
            ]
            if first and combos is not None:
                predicted = combos[decoder.predict_label(test_counts)]
                for c, d in enumerate(np.flatnonzero(is_discrete)):
                    accuracy = _accuracy(predicted[:, c], test_behavior[:, d])
                    decoded.append({"label": names[d], "metric": "accuracy", "value": accuracy})
            first = False
            add("bayesian", decoded, window / rate_hz)
        add_distances("bayesian", predictions, widths)

    factories = {
        "knn_smoothed": lambda discrete: (
            KNeighborsClassifier(n_neighbors=k, metric=metric)
            if discrete
            else KNeighborsRegressor(n_neighbors=k, metric=metric)
        ),
        "ridge_smoothed": lambda discrete: make_pipeline(
            StandardScaler(),
            LogisticOrOnlyClass(max_iter=1000) if discrete else RidgeCV(alphas=RIDGE_ALPHAS),
        ),
    }
    smoothed = [m for m in STANDARD_METHODS if m in methods and m in factories]
    cut = split_index(len(train_counts), validation_fraction)
    for j in np.flatnonzero(is_discrete) if smoothed else ():
        if len(np.unique(train_behavior[:cut, j])) == 1:  # every width predicts that class
            log(
                f"{names[j]}: one class in the fit part of the training block, predicted "
                f"there at every smoothing: {' and '.join(smoothed)} take the first, "
                f"{float(sigmas[0]):g} s"
            )
    for method in smoothed:
        predictions, widths = np.full(test_behavior.shape, np.nan), np.full(len(names), np.nan)
        for j, (name, discrete) in enumerate(zip(names, is_discrete, strict=True)):
            make = functools.partial(factories[method], bool(discrete))
            sigma, _ = choose_sigma(
                train_counts,
                train_behavior[:, j],
                rate_hz,
                sigmas,
                make,
                validation_fraction,
                discrete=bool(discrete),
            )
            X_train = smooth_rates(train_counts, rate_hz, sigma)
            X_test = smooth_rates(test_counts, rate_hz, sigma)
            y_train, y_test = train_behavior[:, j], test_behavior[:, j]
            if discrete:
                model = make().fit(X_train, y_train.astype(np.int64))
                predicted = model.predict(X_test)
                decoded = [
                    {"label": name, "metric": "accuracy", "value": _accuracy(predicted, y_test)}
                ]
            else:
                predictions[:, j], widths[j] = make().fit(X_train, y_train).predict(X_test), sigma
                decoded = _continuous_rows(name, predictions[:, j], y_test)
            add(method, decoded, sigma)
        add_distances(method, predictions, widths)
    return rows
