"""Decoding hand velocity on sessions the decoder never saw (Jude et al. 2022, SABLE).

A chronic array's units turn over within weeks, so a decoder fitted on one
day degrades on later days. The protocol: sessions sorted by date; the first
``n_train_sessions`` are training sessions (their velocity is used); each later
session is a test session, split in time order into a **calibration** block
(the first ``calibration_fraction``) and an **evaluation** block (the rest).
Every method predicts the evaluation trials' velocity and is scored the same
way (:func:`score`: R² over all bins, x and y averaged). Methods:

* ``within`` — a Wiener filter on 50 ms-smoothed counts fitted on the calibration
  block *with* its velocity: the within-session ceiling (a sequential model reading whole
  trials, as SABLE does, can pass it).
* ``fixed`` — the same filter fitted on the training sessions (channels matched
  by name, absent ones zero) and applied unchanged: the floor.
* ``aligned`` — Gallego et al. 2020 (Nat Neurosci, "Long-term stability of
  cortical population dynamics underlying consistent behavior"): counts
  square-rooted and smoothed by a Gaussian (s.d. 50 ms) within each trial, PCA per session
  (10 components; a test session's PCA is fitted on its calibration block),
  and CCA between the test session's calibration latents and the reference
  session's (the last training session) with rows matched by target and time
  bin (the same number of trials per target from both, in trial order). The
  test latents are mapped into the reference latent space through the
  canonical axes, and one Wiener filter fitted on all reference trials' latents
  decodes them. Only the calibration trials' targets are used, never their velocity.
* ``cebra`` — CEBRA multi-session (Schneider, Lee & Mathis 2023): one encoder
  per session into a shared embedding, positives drawn across sessions from
  bins of the same velocity class (direction × speed band; the calibration
  blocks labelled with their own velocity) or, with ``labels="target"``, of the
  same target and time from movement onset (discrete labels: see :func:`_cebra`
  for why not continuous ones), fitted on the training sessions and every test
  session's calibration block; one Wiener filter from the training sessions'
  embeddings to velocity decodes the test embeddings.
* ``sable`` / ``sable_no_reverse`` — :class:`brainlatent.models.sable.SABLE`
  fitted on the training sessions and adapted to each test session's
  calibration block without labels, with and without its reverse step.
* ``sable_recalibrated`` — the same SABLE recalibrated on each calibration
  block *with* its velocity (new read-in/out, shared networks frozen): SABLE's
  own within-session ceiling, the bound its unsupervised alignment aims at.

The decoder is one class for every method (:class:`WienerFilter`): ridge
regression from ``n_lags`` bins of history (current bin included; the neural
activity leads the hand), lags padded within each trial by its first bin so
history never crosses a trial boundary, features standardised, and one penalty
chosen by grouped K-fold cross-validation over trials of the training data only.
The counts it reads are smoothed by a centred Gaussian (:func:`smooth`), so each
bin also carries spikes of the next ~100 ms: an offline decoder, not a causal one
(with a causal half-Gaussian of the same s.d., ``within`` scores 0.78 instead of
0.83 far from training on the default sessions).

Each method function takes ``(train, test, **settings)`` and returns the
predicted velocity of the evaluation trials, (trials, bins, 2); ``test`` may
also be a sequence of test sessions, which returns one array per session
and lets ``cebra`` and ``sable`` fit their shared model once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter1d
from sklearn.metrics import r2_score

from brainlatent.preprocessing.motor import DROP_REASONS, TrialSet

#: Every method, the ceiling first, the floor second.
METHODS = ("within", "fixed", "aligned", "cebra", "sable", "sable_no_reverse", "sable_recalibrated")
#: Methods whose result depends on a seed (the others are deterministic: ``seed`` is null).
SEEDED = ("cebra", "sable", "sable_no_reverse", "sable_recalibrated")
#: The methods that share one fitted SABLE.
SABLE_METHODS = ("sable", "sable_no_reverse", "sable_recalibrated")
#: The deterministic baselines, computed together in one job.
BASELINE_METHODS = ("within", "fixed", "aligned")
#: Columns of the metrics table, one row per (session, method, metric).
METRIC_COLUMNS = [
    "dataset", "subject", "session", "date", "days_apart", "method", "seed", "metric", "value",
    "test_labels", "n_train_trials", "n_eval_trials",
]  # fmt: skip
#: Columns of the sessions table (:func:`session_table`), one row per session.
SESSION_COLUMNS = [
    "dataset", "subject", "session", "date", "days_apart", "role", "n_trials",
    "n_calibration", "n_evaluation", "n_channels", "n_active_channels", *DROP_REASONS,
    "target_template_r2",
]  # fmt: skip
#: Bins of history the Wiener filter sees (200 ms at 20 ms bins; 100 ms decoded worse).
N_LAGS = 10
#: Gaussian s.d. (s) of the counts every decoder reads (within, fixed, aligned's PCA, CEBRA).
SMOOTHING_S = 0.05
#: Penalties the Wiener filter chooses from (features are standardised).
DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-1, 6, 15))


# --- the protocol -------------------------------------------------------------------------


def sort_sessions(sessions: Sequence[TrialSet]) -> list[TrialSet]:
    """Sessions by date, then start time (two recordings of one day), then name."""
    return sorted(
        sessions,
        key=lambda s: (s.date, s.start.timestamp() if s.start else -math.inf, s.session),
    )


def split_sessions(
    sessions: Sequence[TrialSet], n_train_sessions: int
) -> tuple[list[TrialSet], list[TrialSet]]:
    """(training sessions, test sessions): the first ``n_train_sessions`` by date, the rest."""
    ordered = sort_sessions(sessions)
    if not 1 <= n_train_sessions < len(ordered):
        raise ValueError(
            f"n_train_sessions must leave at least one training and one test session out of "
            f"{len(ordered)}; got {n_train_sessions}"
        )
    return ordered[:n_train_sessions], ordered[n_train_sessions:]


def split_test(test: TrialSet, calibration_fraction: float = 0.5) -> tuple[TrialSet, TrialSet]:
    """(calibration block, evaluation block) of a test session, in time order."""
    if not 0 < calibration_fraction < 1:
        raise ValueError(f"calibration_fraction must be in (0, 1); got {calibration_fraction}")
    order = np.argsort(test.trial_id, kind="stable")
    n_cal = int(round(calibration_fraction * len(order)))
    if n_cal < 1 or n_cal >= len(order):
        raise ValueError(
            f"calibration_fraction={calibration_fraction} leaves no calibration or no "
            f"evaluation trials out of {len(order)} in {test.session}"
        )
    return test.subset(order[:n_cal]), test.subset(order[n_cal:])


def score(velocity: np.ndarray, predicted: np.ndarray) -> float:
    """R² of velocity over all bins of all trials, x and y averaged."""
    velocity = np.asarray(velocity).reshape(-1, 2)
    predicted = np.asarray(predicted).reshape(-1, 2)
    if velocity.shape != predicted.shape:
        raise ValueError(f"predicted shape {predicted.shape} != velocity shape {velocity.shape}")
    return float(r2_score(velocity, predicted, multioutput="uniform_average"))


def days_apart(train: Sequence[TrialSet], test: TrialSet) -> int:
    """Days from the last training session to ``test``."""
    return int((test.date - max(t.date for t in train)).days)


def target_template(train: Sequence[TrialSet], test: TrialSet) -> np.ndarray:
    """(trials, bins, 2): the training sessions' mean velocity per target and bin, for each
    trial of ``test`` by its target (the mean over every target where one was never trained).

    Not a decoder (it reads the test trials' targets and no spikes): a yardstick of how
    stereotyped the reaches are, i.e. how much of the velocity the target and the window's
    placement alone explain.
    """
    velocity = np.concatenate([t.velocity for t in train]).astype(np.float64)
    target = np.concatenate([t.target for t in train])
    overall = velocity.mean(axis=0)
    means = {k: velocity[target == k].mean(axis=0) for k in np.unique(target)}
    return np.stack([means.get(k, overall) for k in test.target])


def session_table(
    sessions: Sequence[TrialSet], n_train_sessions: int, calibration_fraction: float = 0.5
) -> pd.DataFrame:
    """What each session brings (:data:`SESSION_COLUMNS`): its role, the trials kept and each
    block's share, the channels with any spike, the trials dropped by reason, and for a test
    session how stereotyped its reaches are (``target_template_r2``: the R² of
    :func:`target_template` on its evaluation block).

    ``days_apart`` counts from the last training session (≤ 0 for the training sessions);
    the dropped counts are those of the binning (:attr:`TrialSet.dropped`), so a real
    session that lost many trials to artifacts or unclear onsets shows here.
    """
    train, tests = split_sessions(sessions, n_train_sessions)
    rows = []
    for role, group in (("train", train), ("test", tests)):
        for trials in group:
            blocks = split_test(trials, calibration_fraction) if role == "test" else None
            rows.append(
                {
                    "dataset": "motor",
                    "subject": trials.subject,
                    "session": trials.session,
                    "date": trials.date.isoformat(),
                    "days_apart": days_apart(train, trials),
                    "role": role,
                    "n_trials": trials.n_trials,
                    "n_calibration": blocks[0].n_trials if blocks else 0,
                    "n_evaluation": blocks[1].n_trials if blocks else 0,
                    "n_channels": len(trials.channels),
                    "n_active_channels": int((trials.counts.sum(axis=(0, 1)) > 0).sum()),
                    **{reason: int(trials.dropped.get(reason, 0)) for reason in DROP_REASONS},
                    "target_template_r2": (
                        score(blocks[1].velocity, target_template(train, blocks[1]))
                        if blocks
                        else np.nan
                    ),
                }
            )
    return pd.DataFrame(rows, columns=SESSION_COLUMNS)


# --- the decoder --------------------------------------------------------------------------


def lagged(x: np.ndarray, n_lags: int) -> np.ndarray:
    """(trials, bins, features × n_lags): bins t, t-1, …, t-n_lags+1, padded by the first bin."""
    if n_lags < 1:
        raise ValueError(f"n_lags must be a positive number of bins; got {n_lags}")
    x = np.asarray(x)
    padded = np.concatenate([np.repeat(x[:, :1], n_lags - 1, axis=1), x], axis=1)
    n_bins = x.shape[1]
    return np.concatenate(
        [padded[:, n_lags - 1 - lag : n_lags - 1 - lag + n_bins] for lag in range(n_lags)], axis=2
    )


class WienerFilter:
    """Ridge regression from lagged features (trials, bins, f) to velocity (trials, bins, d).

    The penalty is chosen among ``alphas`` by ``n_folds``-fold cross-validation
    with whole trials held out (contiguous blocks, so neighbouring bins never
    straddle training and validation), on sufficient statistics, so each fold
    costs one eigendecomposition of a (features × lags)² matrix.
    """

    def __init__(self, n_lags: int = N_LAGS, alphas=DEFAULT_ALPHAS, n_folds: int = 5):
        self.n_lags = n_lags
        self.alphas = alphas
        self.n_folds = n_folds

    def _design(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 3:
            raise ValueError(f"features must be (trials, bins, features); got shape {x.shape}")
        return lagged(x, self.n_lags).reshape(-1, x.shape[2] * self.n_lags)

    def fit(self, x, y) -> WienerFilter:
        y = np.asarray(y, dtype=np.float64)
        x = np.asarray(x)
        if y.shape[:2] != x.shape[:2]:
            raise ValueError(f"velocity shape {y.shape} does not match features {x.shape}")
        n_trials, n_bins = x.shape[:2]
        X = self._design(x)
        Y = y.reshape(len(X), -1)
        self.x_mean_ = X.mean(0)
        scale = X.std(0)
        self.x_scale_ = np.where(scale > 0, scale, 1.0)
        X = (X - self.x_mean_) / self.x_scale_
        alphas = np.asarray(self.alphas, dtype=np.float64).ravel()
        if alphas.size == 0 or not (alphas > 0).all():
            raise ValueError(f"alphas must be positive; got {alphas.tolist()}")
        folds = np.array_split(np.arange(n_trials), min(self.n_folds, n_trials))
        fold_of_row = np.repeat(
            np.concatenate([np.full(len(f), k) for k, f in enumerate(folds)]), n_bins
        )
        stats = [_moments(X[fold_of_row == k], Y[fold_of_row == k]) for k in range(len(folds))]
        total = _sum_moments(stats)
        if len(folds) > 1 and len(alphas) > 1:
            error = np.zeros(len(alphas))
            for k in range(len(folds)):
                train = _subtract_moments(total, stats[k])
                held = fold_of_row == k
                for i, (w, b) in enumerate(_ridge_path(train, alphas)):
                    error[i] += ((X[held] @ w + b - Y[held]) ** 2).sum()
            self.alpha_ = float(alphas[int(np.argmin(error))])
        else:
            self.alpha_ = float(alphas[0])
        ((self.coef_, self.intercept_),) = _ridge_path(total, [self.alpha_])
        self.output_shape_ = y.shape[2:]
        return self

    def predict(self, x) -> np.ndarray:
        x = np.asarray(x)
        X = (self._design(x) - self.x_mean_) / self.x_scale_
        return (X @ self.coef_ + self.intercept_).reshape(*x.shape[:2], *self.output_shape_)


def _moments(X: np.ndarray, Y: np.ndarray) -> tuple:
    return len(X), X.sum(0), Y.sum(0), X.T @ X, X.T @ Y


def _sum_moments(stats) -> tuple:
    return tuple(sum(s[i] for s in stats) for i in range(5))


def _subtract_moments(total, part) -> tuple:
    return tuple(t - p for t, p in zip(total, part, strict=True))


def _ridge_path(moments, alphas):
    """(coef, intercept) per penalty, from (n, Σx, Σy, XᵀX, XᵀY) with centring."""
    n, sx, sy, xx, xy = moments
    mx, my = sx / n, sy / n
    cxx = xx - n * np.outer(mx, mx)
    cxy = xy - n * np.outer(mx, my)
    s, V = np.linalg.eigh(cxx)
    s = np.clip(s, 0, None)
    vxy = V.T @ cxy
    for a in alphas:
        w = V @ (vxy / (s + a)[:, None])
        yield w, my - mx @ w


# --- shared helpers -----------------------------------------------------------------------


def channel_union(sessions: Sequence[TrialSet]) -> tuple[str, ...]:
    """Every channel name of ``sessions``, in first-seen order."""
    return tuple(dict.fromkeys(c for s in sessions for c in s.channels))


def match_channels(trials: TrialSet, channels: Sequence[str]) -> np.ndarray:
    """``trials.counts`` with columns ``channels``; channels the session lacks are zeros."""
    where = {c: i for i, c in enumerate(trials.channels)}
    out = np.zeros((*trials.counts.shape[:2], len(channels)), dtype=np.float32)
    for j, c in enumerate(channels):
        if c in where:
            out[:, :, j] = trials.counts[:, :, where[c]]
    return out


def smooth(counts: np.ndarray, bin_s: float, sd_s: float) -> np.ndarray:
    """Counts smoothed in time within each trial by a centred Gaussian of s.d. ``sd_s``.

    Centred, so a bin also sees later spikes (up to 4 s.d. ahead): offline smoothing.
    """
    if sd_s <= 0:
        return np.asarray(counts, dtype=np.float64)
    return gaussian_filter1d(
        np.asarray(counts, dtype=np.float64), sd_s / bin_s, axis=1, mode="nearest"
    )


def _one_or_many(per_session: Callable[..., list[np.ndarray]]):
    """Let a method that handles a list of test sessions also take a single one."""

    def method(train, test, **settings):
        if isinstance(test, TrialSet):
            return per_session(list(train), [test], **settings)[0]
        return per_session(list(train), list(test), **settings)

    method.__name__ = per_session.__name__.lstrip("_")
    method.__doc__ = per_session.__doc__
    return method


# --- within and fixed ---------------------------------------------------------------------


def _within(
    train,
    tests,
    *,
    calibration_fraction: float = 0.5,
    n_lags: int = N_LAGS,
    alphas=DEFAULT_ALPHAS,
    smoothing_s: float = SMOOTHING_S,
) -> list[np.ndarray]:
    """Ceiling: a Wiener filter fitted on each test session's calibration block (with velocity)."""
    out = []
    for test in tests:
        calibration, evaluation = split_test(test, calibration_fraction)
        model = WienerFilter(n_lags, alphas).fit(
            smooth(calibration.counts, test.bin_s, smoothing_s), calibration.velocity
        )
        x = smooth(evaluation.counts, test.bin_s, smoothing_s)
        out.append(model.predict(x).astype(np.float32))
    return out


def _fixed(
    train,
    tests,
    *,
    calibration_fraction: float = 0.5,
    n_lags: int = N_LAGS,
    alphas=DEFAULT_ALPHAS,
    smoothing_s: float = SMOOTHING_S,
) -> list[np.ndarray]:
    """Floor: a Wiener filter fitted on the training sessions, applied unchanged."""
    channels = channel_union(train)
    bin_s = train[0].bin_s
    x = np.concatenate([match_channels(t, channels) for t in train])
    y = np.concatenate([t.velocity for t in train])
    model = WienerFilter(n_lags, alphas).fit(smooth(x, bin_s, smoothing_s), y)
    out = []
    for test in tests:
        evaluation = match_channels(split_test(test, calibration_fraction)[1], channels)
        out.append(model.predict(smooth(evaluation, bin_s, smoothing_s)).astype(np.float32))
    return out


within = _one_or_many(_within)
fixed = _one_or_many(_fixed)


# --- aligned (Gallego et al. 2020) ---------------------------------------------------------


def fit_pca(x: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean (f,), components (f, k)) of (trials, bins, f) activity, bins as samples."""
    flat = np.asarray(x, dtype=np.float64).reshape(-1, x.shape[-1])
    if not 1 <= n_components <= min(flat.shape):
        raise ValueError(
            f"n_components must be in 1..{min(flat.shape)} for activity of shape {x.shape}; "
            f"got {n_components}"
        )
    mean = flat.mean(0)
    _, _, vt = np.linalg.svd(flat - mean, full_matrices=False)
    return mean, vt[:n_components].T


def project(x: np.ndarray, pca: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    mean, components = pca
    return (np.asarray(x, dtype=np.float64) - mean) @ components


def cca(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canonical correlation of row-matched (n, k) ``a`` and ``b``: (Wa, Wb, correlations).

    ``(a - mean) @ Wa`` and ``(b - mean) @ Wb`` are the canonical variables
    (unit variance, sorted by correlation): QR of each centred block, SVD of
    ``Qaᵀ Qb`` (Björck & Golub 1973).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape[0] != b.shape[0] or a.shape[0] <= max(a.shape[1], b.shape[1]):
        raise ValueError(
            f"cca needs row-matched arrays with more rows than columns; got {a.shape} and {b.shape}"
        )
    qa, ra = np.linalg.qr(a - a.mean(0))
    qb, rb = np.linalg.qr(b - b.mean(0))
    u, s, vt = np.linalg.svd(qa.T @ qb)
    k = min(a.shape[1], b.shape[1])
    scale = np.sqrt(len(a) - 1)
    wa = np.linalg.solve(ra, u[:, :k]) * scale
    wb = np.linalg.solve(rb, vt.T[:, :k]) * scale
    return wa, wb, np.clip(s[:k], 0, 1)


def matched_trials(target_a: np.ndarray, target_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Trial indices pairing ``a`` with ``b``: per target, the first min(n_a, n_b) of each."""
    ia, ib = [], []
    for target in np.intersect1d(target_a, target_b):
        wa = np.flatnonzero(target_a == target)
        wb = np.flatnonzero(target_b == target)
        k = min(len(wa), len(wb))
        ia.append(wa[:k])
        ib.append(wb[:k])
    if not ia:
        raise ValueError("the two sessions share no target: nothing to align")
    return np.concatenate(ia), np.concatenate(ib)


class Alignment:
    """Maps one session's PCA latents into a reference session's (Gallego et al. 2020)."""

    def __init__(self, reference_latents, reference_target, latents, target):
        i_ref, i = matched_trials(reference_target, target)
        a = np.asarray(latents)[i].reshape(-1, np.shape(latents)[-1])
        b = np.asarray(reference_latents)[i_ref].reshape(-1, np.shape(reference_latents)[-1])
        self.wa_, self.wb_, self.correlations_ = cca(a, b)
        self.mean_, self.reference_mean_ = a.mean(0), b.mean(0)
        self.n_matched_trials_ = len(i)

    def canonical(self, latents) -> np.ndarray:
        """Canonical variables of this session's latents."""
        return (np.asarray(latents) - self.mean_) @ self.wa_

    def __call__(self, latents) -> np.ndarray:
        """This session's latents in the reference session's latent space."""
        return self.canonical(latents) @ np.linalg.pinv(self.wb_) + self.reference_mean_


def latent_input(trials: TrialSet, smoothing_s: float, sqrt: bool = True) -> np.ndarray:
    """What aligned PCA/CCA reads: the counts' square roots (Gallego et al.'s variance
    stabilisation of Poisson counts, from the authors' code), smoothed within each trial."""
    counts = np.sqrt(trials.counts) if sqrt else trials.counts
    return smooth(counts, trials.bin_s, smoothing_s)


def session_latents(
    trials: TrialSet, n_components: int, smoothing_s: float, sqrt: bool = True
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """(latents (trials, bins, k) of ``trials``, the PCA fitted on them)."""
    smoothed = latent_input(trials, smoothing_s, sqrt)
    pca = fit_pca(smoothed, n_components)
    return project(smoothed, pca), pca


def _aligned(
    train,
    tests,
    *,
    calibration_fraction: float = 0.5,
    n_lags: int = N_LAGS,
    alphas=DEFAULT_ALPHAS,
    n_components: int = 10,
    smoothing_s: float = SMOOTHING_S,
    sqrt: bool = True,
) -> list[np.ndarray]:
    """Gallego et al. 2020: PCA per session, CCA onto the last training session, one decoder.

    ``sqrt``: PCA of the counts' square roots, as the authors' pipeline (limblab/proc-juan,
    stability_over_time); far from training on the default sessions 0.833 with it, 0.794
    without (2026-12-03).
    """
    reference = sort_sessions(train)[-1]
    reference_latents, _ = session_latents(reference, n_components, smoothing_s, sqrt)
    model = WienerFilter(n_lags, alphas).fit(reference_latents, reference.velocity)
    out = []
    for test in tests:
        calibration, evaluation = split_test(test, calibration_fraction)
        latents, pca = session_latents(calibration, n_components, smoothing_s, sqrt)
        align = Alignment(reference_latents, reference.target, latents, calibration.target)
        latents = project(latent_input(evaluation, smoothing_s, sqrt), pca)
        out.append(model.predict(align(latents)).astype(np.float32))
    return out


aligned = _one_or_many(_aligned)


def trajectories_before_after(
    reference: TrialSet,
    test: TrialSet,
    *,
    n_components: int = 10,
    smoothing_s: float = SMOOTHING_S,
    sqrt: bool = True,
    keep: int = 3,
) -> dict:
    """Per-target mean latent trajectories for the figure, as arrays (targets, bins, keep).

    ``reference`` and ``test_before``: each session in its own PCA space;
    ``test_after``: ``test`` mapped by CCA into the reference's space (all its
    trials used for its PCA and the CCA); plus ``targets``, ``time`` (bin centres,
    s from onset), ``reference_session``, ``test_session`` and ``days_apart``.
    Targets are those both sessions have.
    """
    ref_latents, _ = session_latents(reference, n_components, smoothing_s, sqrt)
    latents, _ = session_latents(test, n_components, smoothing_s, sqrt)
    after = Alignment(ref_latents, reference.target, latents, test.target)(latents)
    targets = np.intersect1d(reference.target, test.target)

    def means(z, trials):
        return np.stack([z[trials.target == k].mean(0)[:, :keep] for k in targets])

    return {
        "reference": means(ref_latents, reference),
        "test_before": means(latents, test),
        "test_after": means(after, test),
        "targets": targets,
        "time": reference.bin_times,
        "reference_session": reference.session,
        "test_session": test.session,
        "days_apart": int((test.date - reference.date).days),
    }


# --- cebra (multi-session) -----------------------------------------------------------------


def target_classes(trials: TrialSet, time_group_s: float = 0.06) -> np.ndarray:
    """(trials × bins,) int64 class of each bin: its trial's target and time from onset.

    The class is ``target × 1000 + bin // group`` with ``group`` the bins in
    ``time_group_s``: bins of the same target at about the same time from onset are
    one class, whichever session they come from.
    """
    n_bins = trials.counts.shape[1]
    group = max(1, int(round(time_group_s / trials.bin_s)))
    return (
        np.repeat(trials.target, n_bins) * 1000
        + np.tile(np.arange(n_bins) // group, trials.n_trials)
    ).astype(np.int64)


def velocity_classes(velocity: np.ndarray, edges: np.ndarray, n_directions: int = 8) -> np.ndarray:
    """(trials × bins,) int64 class of each bin's hand velocity: direction sector × speed band.

    ``edges`` are the speed thresholds (increasing; below the first the hand is
    still, one class whatever its direction); the bands above it are split into
    ``n_directions`` sectors, so a class is "moving this way at about this speed".
    """
    v = np.asarray(velocity, dtype=np.float64).reshape(-1, 2)
    speed = np.hypot(v[:, 0], v[:, 1])
    band = np.searchsorted(edges, speed, side="right")  # 0: still
    sector = (
        np.floor(
            (np.arctan2(v[:, 1], v[:, 0]) % (2 * np.pi)) / (2 * np.pi / n_directions) + 0.5
        ).astype(np.int64)
        % n_directions
    )
    return np.where(band == 0, 0, 1 + (band - 1) * n_directions + sector).astype(np.int64)


def speed_edges(train: Sequence[TrialSet], n_speeds: int = 3) -> np.ndarray:
    """Speed thresholds from the training sessions: still below 10 % of the 95th percentile,
    then ``n_speeds`` bands of equal counts of the moving bins."""
    speed = np.concatenate([np.hypot(*t.velocity.reshape(-1, 2).T) for t in train])
    still = 0.1 * np.percentile(speed, 95)
    moving = speed[speed >= still]
    return np.concatenate([[still], np.quantile(moving, np.arange(1, n_speeds) / n_speeds)])


def _flat(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape(-1, x.shape[-1]))


def _cebra(
    train,
    tests,
    *,
    calibration_fraction: float = 0.5,
    n_lags: int = N_LAGS,
    alphas=DEFAULT_ALPHAS,
    output_dimension: int = 8,
    max_iterations: int = 600,
    batch_size: int = 128,
    model_architecture: str = "offset1-model",
    learning_rate: float = 3e-3,
    temperature: float = 1.0,
    num_hidden_units: int = 32,
    smoothing_s: float = SMOOTHING_S,
    time_group_s: float = 0.06,
    labels: str = "velocity",
    n_speeds: int = 3,
    random_state: int = 0,
    threads: int | None = 1,
    device: str = "cpu",
) -> list[np.ndarray]:
    """CEBRA multi-session on the training sessions and every calibration block, one decoder.

    Positive pairs share a label class across sessions, which cebra 0.6's
    multi-session sampler for a discrete label draws uniformly: ``labels``
    ``"velocity"`` (:func:`velocity_classes`: direction sector × speed band of each
    bin's hand velocity; the calibration blocks contribute their own velocity, the
    data ``within`` recalibrates on) or ``"target"`` (:func:`target_classes`: same
    target, same 60 ms from onset; no velocity of a test session). Continuous labels
    would keep more, but cebra 0.6's multi-session continuous sampler searches all
    samples by brute force at every step (≈0.4 s a step here) and, with labels that
    repeat exactly from trial to trial (target, time), always returns the first
    trial with the nearest label. The input is Gaussian-smoothed
    counts (as ``aligned``) through the one-sample ``offset1-model``, so no
    receptive field crosses a trial boundary. A batch is ``batch_size`` bins per
    session, and the loss compares all sessions' bins with one another, so a step
    costs (sessions × batch_size)²: keep the batch small.
    """
    import cebra as cebra_package

    from brainlatent.device import resolve_device
    from brainlatent.models.cebra_models import seeded_cebra, torch_threads

    blocks = [split_test(t, calibration_fraction) for t in tests]
    fitted = list(train) + [calibration for calibration, _ in blocks]
    model = cebra_package.CEBRA(
        model_architecture=model_architecture,
        distance="cosine",
        temperature=temperature,
        max_iterations=max_iterations,
        batch_size=batch_size,
        learning_rate=learning_rate,
        output_dimension=output_dimension,
        num_hidden_units=num_hidden_units,
        device=resolve_device(device).type,
        verbose=False,
    )

    def inputs(trials: TrialSet) -> np.ndarray:
        return smooth(trials.counts, trials.bin_s, smoothing_s).astype(np.float32)

    if labels == "velocity":
        edges = speed_edges(train, n_speeds)
        classes = [velocity_classes(t.velocity, edges) for t in fitted]
    elif labels == "target":
        classes = [target_classes(t, time_group_s) for t in fitted]
    else:
        raise ValueError(f"labels must be 'velocity' or 'target'; got {labels!r}")
    with torch_threads(threads), seeded_cebra(random_state):
        model.fit([_flat(inputs(t)) for t in fitted], classes)

    def embed(trials: TrialSet, session_id: int) -> np.ndarray:
        x = inputs(trials)
        with torch_threads(threads):
            if len(model.offset_) == 1:  # one bin in, one out: the whole block at once
                z = model.transform(_flat(x), session_id=session_id)
                return z.reshape(*x.shape[:2], -1)
            return np.stack([model.transform(trial, session_id=session_id) for trial in x])

    decoder = WienerFilter(n_lags, alphas).fit(
        np.concatenate([embed(t, i) for i, t in enumerate(train)]),
        np.concatenate([t.velocity for t in train]),
    )
    return [
        decoder.predict(embed(evaluation, len(train) + j)).astype(np.float32)
        for j, (_, evaluation) in enumerate(blocks)
    ]


cebra = _one_or_many(_cebra)


# --- sable ----------------------------------------------------------------------------------


def fit_sable(train: Sequence[TrialSet], channels: Sequence[str] | None = None, **params):
    """A :class:`~brainlatent.models.sable.SABLE` fitted on the training sessions."""
    from brainlatent.models.sable import SABLE

    channels = channel_union(train) if channels is None else channels
    return SABLE(**params).fit(
        [match_channels(t, channels) for t in train], [t.velocity for t in train]
    )


#: What each of the :data:`SABLE_METHODS` changes in the adaptation (see :func:`sable_together`).
SABLE_VARIANTS: Mapping[str, Mapping] = {
    "sable": {"reverse": True},
    "sable_no_reverse": {"reverse": False},
    "sable_recalibrated": {"recalibrate": True},
}


def sable_together(
    train: Sequence[TrialSet],
    tests: Sequence[TrialSet],
    variants: Mapping[str, Mapping],
    *,
    calibration_fraction: float = 0.5,
    model=None,
    chain: bool = True,
    **params,
) -> dict[str, list[np.ndarray]]:
    """SABLE fitted on the training sessions (or ``model``), adapted to each calibration block
    once per variant: name -> predictions on each test session's evaluation block.

    A variant sets ``reverse`` (default True: with the reverse step) and ``recalibrate``
    (default False: no labels; True: each block's velocity supervises its read-in/out).
    Test sessions are adapted in time order; with ``chain`` each may start from the
    same variant's previous adaptation when that explains its spikes better than the
    training sessions' read-ins do (a deployed decoder sees sessions in this order). The
    variants adapt together (:meth:`~brainlatent.models.sable.SABLE.adapt_together`):
    the same results as one at a time, for about half the CPU time.
    """
    channels = channel_union(train)
    model = fit_sable(train, channels, **params) if model is None else model
    out = {name: {} for name in variants}
    previous = dict.fromkeys(variants)
    for i in sorted(range(len(tests)), key=lambda i: tests[i].date):  # in time, as they come
        calibration, evaluation = split_test(tests[i], calibration_fraction)
        adapted = model.adapt_together(
            match_channels(calibration, channels),
            [
                {
                    "reverse": variant.get("reverse", True),
                    "start": previous[name] if chain else None,
                    "velocity": calibration.velocity if variant.get("recalibrate") else None,
                }
                for name, variant in variants.items()
            ],
        )
        counts = match_channels(evaluation, channels)
        for name, estimator in zip(variants, adapted, strict=True):
            previous[name] = estimator
            out[name][i] = np.asarray(estimator.predict(counts), np.float32)
    return {name: [out[name][i] for i in range(len(tests))] for name in variants}


def _sable(
    train, tests, *, reverse: bool = True, recalibrate: bool = False, **settings
) -> list[np.ndarray]:
    """SABLE adapted to each calibration block (:func:`sable_together` with one variant)."""
    variant = {"reverse": reverse, "recalibrate": recalibrate}
    return sable_together(train, tests, {"sable": variant}, **settings)["sable"]


sable = _one_or_many(_sable)


def sable_no_reverse(train, test, **settings):
    """SABLE adapted without its reverse step (the paper's ablation)."""
    return sable(train, test, **{**settings, **SABLE_VARIANTS["sable_no_reverse"]})


def sable_recalibrated(train, test, **settings):
    """SABLE recalibrated with each calibration block's velocity: its within-session ceiling."""
    return sable(train, test, **{**settings, **SABLE_VARIANTS["sable_recalibrated"]})


METHOD_FUNCTIONS: Mapping[str, Callable] = {
    "within": within,
    "fixed": fixed,
    "aligned": aligned,
    "cebra": cebra,
    "sable": sable,
    "sable_no_reverse": sable_no_reverse,
    "sable_recalibrated": sable_recalibrated,
}


# --- the table ------------------------------------------------------------------------------


def test_labels(method: str, settings: Mapping | None = None) -> str:
    """What ``method`` uses of a test session's calibration block besides its spikes:
    ``velocity`` (within, sable_recalibrated; CEBRA with velocity labels), ``target``
    (aligned; CEBRA with target labels) or ``none`` (fixed, sable, sable_no_reverse)."""
    if method in ("within", "sable_recalibrated"):
        return "velocity"
    if method == "aligned":
        return "target"
    if method == "cebra":
        return "velocity" if (settings or {}).get("labels", "velocity") == "velocity" else "target"
    return "none"


def n_train_trials(
    method: str, train: Sequence[TrialSet], calibration: TrialSet, settings: Mapping | None = None
) -> int:
    """Trials whose velocity trained ``method`` (its decoder, or CEBRA's velocity labels)."""
    if method == "within":
        return calibration.n_trials
    if method == "aligned":
        return sort_sessions(train)[-1].n_trials
    extra = calibration.n_trials if test_labels(method, settings) == "velocity" else 0
    return sum(t.n_trials for t in train) + extra


def evaluate(
    sessions: Sequence[TrialSet],
    *,
    n_train_sessions: int,
    methods: Sequence[str] = METHODS,
    calibration_fraction: float = 0.5,
    settings: Mapping[str, Mapping] | None = None,
    timings: dict | None = None,
    seed: int | None = None,
) -> pd.DataFrame:
    """The metrics table (:data:`METRIC_COLUMNS`) of ``methods`` on every test session.

    ``settings`` maps a method to its keyword settings (``sable`` settings are
    SABLE's parameters, or ``model``: a fitted SABLE; one SABLE is fitted and shared
    by the :data:`SABLE_METHODS`, which adapt together). ``timings``, when given, receives
    seconds per method (the SABLE methods': one entry for all of them).
    """
    unknown = sorted(set(methods) - set(METHOD_FUNCTIONS))
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; expected some of {', '.join(METHODS)}")
    settings = dict(settings or {})
    train, tests = split_sessions(sessions, n_train_sessions)
    blocks = [split_test(t, calibration_fraction) for t in tests]
    sable_methods = [m for m in methods if m in SABLE_METHODS]
    sable_predictions = {}
    rows = []
    for method in methods:
        start = time.perf_counter()
        if method in SABLE_METHODS:
            if not sable_predictions:  # one fitted SABLE; its variants adapt together
                params = dict(settings.get("sable", {}))  # SABLE's parameters, or a `model`
                model = params.pop("model", None) or fit_sable(train, **params)
                sable_predictions = sable_together(
                    train,
                    tests,
                    {m: SABLE_VARIANTS[m] for m in sable_methods},
                    calibration_fraction=calibration_fraction,
                    model=model,
                )
                if timings is not None:
                    timings[" + ".join(sable_methods)] = time.perf_counter() - start
            predictions = sable_predictions[method]
        else:
            predictions = METHOD_FUNCTIONS[method](
                train,
                tests,
                calibration_fraction=calibration_fraction,
                **settings.get(method, {}),
            )
            if timings is not None:
                timings[method] = time.perf_counter() - start
        for test, (calibration, evaluation), predicted in zip(
            tests, blocks, predictions, strict=True
        ):
            rows.append(
                {
                    "dataset": "motor",
                    "subject": test.subject,
                    "session": test.session,
                    "date": test.date.isoformat(),
                    "days_apart": days_apart(train, test),
                    "method": method,
                    "seed": seed if method in SEEDED else None,
                    "metric": "r2",
                    "value": score(evaluation.velocity, predicted),
                    "test_labels": test_labels(method, settings.get(method)),
                    "n_train_trials": n_train_trials(
                        method, train, calibration, settings.get(method)
                    ),
                    "n_eval_trials": evaluation.n_trials,
                }
            )
    table = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    table["seed"] = table["seed"].astype("Int64")
    return table
