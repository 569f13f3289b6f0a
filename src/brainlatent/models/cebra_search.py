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

CEBRA-Behavior on a movie (:func:`repeated_label_search`) has the opposite shape: labels of
many columns (an image embedding of each frame, 288-D HOG), each row repeated once per
presentation of the movie. cebra's ``ContinuousIndex.search`` scores every query against
every *sample* (about 40 % of a fit on one core at 9 repeats); scoring it against every
distinct row and returning that row's first sample gives cebra's answer, since identical
rows tie and ``torch.argmin`` returns the first of equal minima. Exactly so whenever the
float32 product gives identical rows identical scores, as it did in every one of a fit's
76,800 searches on the default pseudo-mouse (and in the tests); where a rounding could
break such a tie differently, the two can differ in which repeat of the same frame they
pick, never in the frame.
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


#: Repeated labels are searched by distinct row only when there are at most this many
#: distinct rows per sample (below it, the saving does not pay for the bookkeeping).
MAX_DISTINCT_FRACTION = 0.5


class DistinctRows:
    """The distinct rows of a (samples, d) label tensor in the order they first appear, with
    cebra's squared norms of them and the first sample of each."""

    def __init__(self, index: torch.Tensor):
        self.index = index
        rows, inverse = torch.unique(index, dim=0, return_inverse=True)
        n = len(index)
        first = torch.full((len(rows),), n, dtype=torch.long, device=index.device)
        first = first.scatter_reduce(0, inverse, torch.arange(n, device=index.device), "amin")
        order = torch.argsort(first)  # first appearance: argmin's order among tied rows
        self.rows, self.first = rows[order], first[order]
        self.xTx = self.rows.square().sum(1, keepdim=True)  # as cebra's DistanceMatrix

    def search(self, query: torch.Tensor) -> torch.Tensor:
        """cebra's ``xᵀx + qᵀq − 2 xᵀq`` and argmin, over the distinct rows."""
        query = query.to(self.rows.device)
        qTq = query.square().sum(1, keepdim=True).T
        distance = self.xTx + qTq - 2 * torch.einsum("ni,mi->nm", self.rows, query)
        return self.first[torch.argmin(distance, dim=0)]


def repeated_label_search(index, query: torch.Tensor, original):
    """``ContinuousIndex.search(query)`` over distinct label rows when rows repeat (see the
    module's docstring); cebra's ``original`` otherwise, and on a GPU."""
    labels = index.dist_matrix.index
    cached = getattr(index, "_brainlatent_distinct", None)
    if cached is None or cached[0] is not labels:  # decided once per label tensor
        distinct = DistinctRows(labels) if labels.device.type == "cpu" else None
        if distinct is not None and len(distinct.rows) > MAX_DISTINCT_FRACTION * len(labels):
            distinct = None  # mostly distinct rows: cebra's search
        cached = index._brainlatent_distinct = (labels, distinct)
    if cached[1] is None:
        return original(index, query)
    return cached[1].search(query)


@contextlib.contextmanager
def fast_label_search() -> Iterator[None]:
    """Use :func:`conditional_search` and :func:`repeated_label_search` inside cebra for the
    block, then restore cebra's."""
    from cebra.distributions.index import ConditionalIndex, ContinuousIndex

    original = ConditionalIndex.search_naive
    original_continuous = ContinuousIndex.search

    def search_naive(self, continuous, discrete):
        return conditional_search(self, continuous, discrete, original)

    def search(self, query):
        return repeated_label_search(self, query, original_continuous)

    ConditionalIndex.search_naive = search_naive
    ContinuousIndex.search = search
    try:
        yield
    finally:
        ConditionalIndex.search_naive = original
        ContinuousIndex.search = original_continuous
