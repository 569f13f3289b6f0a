"""An exact, faster nearest-label search for CEBRA-Behavior with one continuous label.

cebra 0.6 samples each positive pair of CEBRA-Behavior with a discrete label (e.g.
running direction) by brute force (``ConditionalIndex.search_naive``): the float32
distance ``xᵀx + qᵀq − 2xᵀq`` from every query to **every** sample, the other
classes masked with ``inf``, then ``argmin``. At 13,700 samples and batch 512 that is
three quarters of a fit's time on one core (0.1 s of 0.17 s per iteration).

With one continuous column (position on a track) the nearest samples of a query are
its neighbours in sorted order, so :func:`conditional_search` sorts each class once
and scores only a window of sorted neighbours (:data:`WINDOWS`) with **the same float32
expression**, taking the first minimum in the original order as ``torch.argmin``
does. A query whose window cannot be shown to hold every sample that could tie or
win after rounding (the window's edges must be farther, in exact arithmetic, than the
best value plus a bound on the rounding error) is searched by cebra's own code. The
indices are therefore the ones cebra returns, bit for bit, and so are the fits
(``tests/unit/test_cebra_search.py``). Labels with several columns keep cebra's search.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

#: Neighbours scored on each side of a query's place in the sorted class: a narrow window,
#: then a wide one for the queries the first cannot settle.
WINDOWS = (64, 1024)


def _classes(index) -> dict:
    """Per class: original indices sorted by label value (stable) and the sorted values."""
    cache = getattr(index, "_brainlatent_sorted", None)
    if cache is None:
        continuous = index.continuous[:, 0].cpu().numpy()
        discrete = index.discrete.cpu().numpy()
        cache = {}
        for value in np.unique(discrete):
            members = np.flatnonzero(discrete == value)
            order = members[np.argsort(continuous[members], kind="stable")]
            cache[int(value)] = (order, continuous[order].astype(np.float32))
        index._brainlatent_sorted = cache
    return cache


def _rounding(q_abs, distance):
    """A bound on |float32 score − exact squared distance| for a sample ``distance`` from a
    query of magnitude ``q_abs``: the five float32 roundings of cebra's ``xᵀx + qᵀq − 2xq``
    add up to less than 5 × 2⁻²⁴ × (x² + q²); this returns 16 × 2⁻²⁴ × (x² + q²)."""
    x_abs = q_abs + distance
    return 8 * 2.0**-24 * 2 * (x_abs**2 + q_abs**2) + 1e-30


def _windowed(index, query, qTq, classes, xTx, half: int):
    """(indices, unsure) for queries scored on ``2 × half`` sorted neighbours of their class."""
    result = np.empty(len(query), dtype=np.int64)
    unsure = np.zeros(len(query), dtype=bool)
    for value, (order, values) in _classes(index).items():
        rows = np.flatnonzero(classes == value)
        if rows.size == 0:
            continue
        q = query[rows]
        start = np.clip(np.searchsorted(values, q) - half, 0, max(len(values) - 2 * half, 0))
        window = start[:, None] + np.arange(min(2 * half, len(values)))[None, :]
        members = order[window]  # original indices (rows × window)
        x = values[window]
        # cebra: xTx + qTq - 2 * einsum(x, q), all float32, in this order.
        score = (xTx[members] + qTq[rows][:, None]).astype(np.float32) - (
            np.float32(2) * (x * q[:, None]).astype(np.float32)
        )
        best = score.min(axis=1)
        first = np.where(score == best[:, None], members, np.iinfo(np.int64).max).min(axis=1)
        result[rows] = first
        # Provably complete only if no sample outside the window can score <= best after
        # rounding: the nearest outside sample on each side (the bound grows with distance).
        qd = np.abs(q.astype(np.float64))
        best_true = best.astype(np.float64) + _rounding(qd, np.sqrt(np.maximum(best, 0)))
        left_gap = np.abs(q.astype(np.float64) - values[np.maximum(start - 1, 0)])
        right_edge = np.minimum(start + window.shape[1], len(values) - 1)
        right_gap = np.abs(values[right_edge].astype(np.float64) - q)
        left_open = start > 0
        right_open = start + window.shape[1] < len(values)
        unsure[rows] = (left_open & (left_gap**2 - _rounding(qd, left_gap) <= best_true)) | (
            right_open & (right_gap**2 - _rounding(qd, right_gap) <= best_true)
        )
    return result, unsure


def conditional_search(index, continuous: torch.Tensor, discrete: torch.Tensor, original):
    """``ConditionalIndex.search_naive(continuous, discrete)``, without the full matrix.

    ``original`` is cebra's function, used for multi-column labels and for queries whose
    window is not provably wide enough.
    """
    if continuous.shape[1] != 1 or discrete is None or index.continuous.device.type != "cpu":
        return original(index, continuous, discrete)
    xTx = index.distance_matrix.xTx[:, 0].cpu().numpy()  # the squares cebra computed
    query = continuous[:, 0].cpu().numpy().astype(np.float32)
    classes = discrete.cpu().numpy()
    qTq = (continuous.square().sum(1)).cpu().numpy().astype(np.float32)
    result = np.empty(len(query), dtype=np.int64)
    fallback = np.ones(len(query), dtype=bool)
    # A narrow window first; the few queries it cannot settle (many samples at one position,
    # e.g. pauses at the track's ends) get a wide one, and then cebra's search.
    for window in WINDOWS:
        rows = np.flatnonzero(fallback)
        if rows.size == 0:
            break
        found, unsure = _windowed(index, query[rows], qTq[rows], classes[rows], xTx, window)
        result[rows] = found
        fallback[rows] = unsure
    if fallback.any():
        picked = torch.from_numpy(np.flatnonzero(fallback))
        result[fallback] = original(index, continuous[picked], discrete[picked]).cpu().numpy()
    return torch.from_numpy(result).to(continuous.device)


@contextlib.contextmanager
def fast_label_search() -> Iterator[None]:
    """Use :func:`conditional_search` inside cebra for the block, then restore cebra's."""
    from cebra.distributions.index import ConditionalIndex

    original = ConditionalIndex.search_naive

    def search_naive(self, continuous, discrete):
        return conditional_search(self, continuous, discrete, original)

    ConditionalIndex.search_naive = search_naive
    try:
        yield
    finally:
        ConditionalIndex.search_naive = original
