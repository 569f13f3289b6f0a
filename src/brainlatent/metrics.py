"""Retrieval metrics: rank each true image among candidates by cosine similarity.

A decoder predicts an embedding per test trial (or per test image, after
averaging repeats); the candidates are the embeddings of all test images.
Chance levels are exact for a uniform random ranking. Each metric comes with a 95 %
bootstrap interval over the test images (:func:`bootstrap_interval`): with the 100-200 test
images of a participant, top-5 accuracy is known to a few points only, and a table that
says so keeps a difference of that size from being read as a finding.
"""

from __future__ import annotations

from functools import partial

import numpy as np


def cosine_similarity(predictions: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """(n_predictions, n_candidates) cosine similarities."""
    p = predictions / np.maximum(np.linalg.norm(predictions, axis=1, keepdims=True), 1e-12)
    c = candidates / np.maximum(np.linalg.norm(candidates, axis=1, keepdims=True), 1e-12)
    return p @ c.T


def retrieval_ranks(predictions: np.ndarray, candidates: np.ndarray, targets=None) -> np.ndarray:
    """Rank (1 = best) of each prediction's true candidate.

    ``targets[i]`` is the index of prediction ``i``'s true candidate (defaults
    to ``i``). Ties count against the prediction: the rank is one plus the
    number of candidates scoring at least as high, other than the target.
    """
    predictions = np.asarray(predictions, dtype=np.float64)
    candidates = np.asarray(candidates, dtype=np.float64)
    if predictions.ndim != 2 or candidates.ndim != 2:
        raise ValueError("predictions and candidates must be 2D (items × embedding dims)")
    if predictions.shape[1] != candidates.shape[1]:
        raise ValueError(
            f"embedding dims differ: predictions {predictions.shape[1]}, "
            f"candidates {candidates.shape[1]}"
        )
    if not (np.isfinite(predictions).all() and np.isfinite(candidates).all()):
        raise ValueError("predictions or candidates contain NaN or infinite values")
    targets = np.arange(len(predictions)) if targets is None else np.asarray(targets)
    similarity = cosine_similarity(predictions, candidates)
    true = similarity[np.arange(len(predictions)), targets]
    return (similarity >= true[:, None]).sum(axis=1)


def top_k_accuracy(ranks: np.ndarray, k: int) -> float | np.ndarray:
    """Fraction of ranks at most ``k``, over the last axis (resamples stacked first)."""
    return np.mean(np.asarray(ranks) <= k, axis=-1)


def relative_median_rank(ranks: np.ndarray, n_candidates: int) -> float | np.ndarray:
    """Median rank divided by the number of candidates (Benchetrit et al.).

    Ranks start at 1 (:func:`retrieval_ranks`), so a perfect decoder scores ``1/n``, not 0,
    and chance is ``(n + 1) / 2n``: compare sets of different sizes with that floor in mind.
    """
    return np.median(ranks, axis=-1) / n_candidates  # over the last axis, as top_k_accuracy


def chance_level(metric: str, n_candidates: int) -> float:
    """Expected value of a metric under random ranking among ``n_candidates``."""
    if metric.startswith("top"):
        k = int(metric[3:])
        return min(k, n_candidates) / n_candidates
    if metric == "relative_median_rank":
        return float(np.median(np.arange(1, n_candidates + 1)) / n_candidates)
    raise ValueError(f"unknown metric {metric!r}; expected 'top<k>' or 'relative_median_rank'")


#: Resamples and seed of :func:`bootstrap_interval`: fixed, so a table is the same every run.
N_BOOTSTRAP = 1000
BOOTSTRAP_SEED = 0


def bootstrap_interval(
    values: np.ndarray, statistic=None, level: float = 0.95, n_boot: int = N_BOOTSTRAP
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(values)`` over the queries (test images).

    ``values`` holds one entry per query (a rank, a score); ``statistic`` maps a (resamples,
    queries) array of them to one value per resample (default: the mean). The candidates
    stay fixed: the interval says how much the metric would move with another draw of test
    images of the same kind, not with another decoder or training run.
    """
    values = np.asarray(values)
    statistic = statistic or (lambda v: v.mean(axis=-1))
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    draws = statistic(values[rng.integers(0, len(values), (n_boot, len(values)))])
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)


def retrieval_metrics(
    predictions: np.ndarray, candidates: np.ndarray, top_k: tuple[int, ...] = (1, 5)
) -> list[dict]:
    """Top-k accuracies and relative median rank, each with its chance level and its 95 %
    bootstrap interval over the predictions (``ci_low``, ``ci_high``)."""
    ranks = retrieval_ranks(predictions, candidates)
    n = len(candidates)
    statistics = {f"top{k}": partial(top_k_accuracy, k=k) for k in top_k}
    statistics["relative_median_rank"] = partial(relative_median_rank, n_candidates=n)
    rows = []
    for metric, statistic in statistics.items():
        low, high = bootstrap_interval(ranks, statistic)
        rows.append(
            {
                "metric": metric,
                "value": float(statistic(ranks)),
                "chance": chance_level(metric, n),
                "n_candidates": n,
                "ci_low": low,
                "ci_high": high,
            }
        )
    return rows
