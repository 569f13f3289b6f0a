"""Retrieval metrics: rank each true image among candidates by cosine similarity.

A decoder predicts an embedding per test trial (or per test image, after
averaging repeats); the candidates are the embeddings of all test images.
Chance levels are exact for a uniform random ranking.
"""

from __future__ import annotations

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


def top_k_accuracy(ranks: np.ndarray, k: int) -> float:
    return float(np.mean(np.asarray(ranks) <= k))


def relative_median_rank(ranks: np.ndarray, n_candidates: int) -> float:
    """Median rank divided by the number of candidates (Benchetrit et al.).

    Ranks start at 1 (:func:`retrieval_ranks`), so a perfect decoder scores ``1/n``, not 0,
    and chance is ``(n + 1) / 2n``: compare sets of different sizes with that floor in mind.
    """
    return float(np.median(ranks) / n_candidates)


def chance_level(metric: str, n_candidates: int) -> float:
    """Expected value of a metric under random ranking among ``n_candidates``."""
    if metric.startswith("top"):
        k = int(metric[3:])
        return min(k, n_candidates) / n_candidates
    if metric == "relative_median_rank":
        return float(np.median(np.arange(1, n_candidates + 1)) / n_candidates)
    raise ValueError(f"unknown metric {metric!r}; expected 'top<k>' or 'relative_median_rank'")


def retrieval_metrics(
    predictions: np.ndarray, candidates: np.ndarray, top_k: tuple[int, ...] = (1, 5)
) -> list[dict]:
    """Top-k accuracies and relative median rank, each with its chance level."""
    ranks = retrieval_ranks(predictions, candidates)
    n = len(candidates)
    rows = [
        {
            "metric": f"top{k}",
            "value": top_k_accuracy(ranks, k),
            "chance": chance_level(f"top{k}", n),
        }
        for k in top_k
    ]
    rows.append(
        {
            "metric": "relative_median_rank",
            "value": relative_median_rank(ranks, n),
            "chance": chance_level("relative_median_rank", n),
        }
    )
    for row in rows:
        row["n_candidates"] = n
    return rows
