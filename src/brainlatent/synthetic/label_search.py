"""CEBRA's positive-pair search on a 1-D label, without scanning every sample.

cebra 0.6's ``ContinuousIndex.search`` finds, for each query label ``q`` of a batch, the
sample whose label is nearest, by brute force: it builds the whole (samples × batch) matrix
``(x² + q²) - 2 x q`` in float32 and takes its ``argmin`` over the samples. At the synthetic
benchmark's size (15,000 samples, batch 512) that matrix and its argmin were ~85 % of every
CEBRA step on one CPU thread (~150 of ~170 ms).

:func:`sorted_label_search` returns the *same* indices, bit for bit, for a 1-D label: it
keeps the labels sorted, finds each query's true nearest label by binary search, and
evaluates cebra's float32 expression (same operations, same order) only on the few samples
that rounding could let win: those within ``sqrt(d0² + 4E)`` of ``q``, where ``d0`` is the
true nearest distance and ``E`` bounds the expression's rounding error. The smallest
original index wins ties, as ``torch.argmin`` over the samples does. So a CEBRA fit,
with its seeded batches, gives the same embedding with or without it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

#: Relative rounding of one float32 operation; the expression ``(x² + q²) - 2 x q`` makes
#: four (x², q², the sum, the product and difference), each off by at most this times the
#: magnitude ``x² + q²``. The window uses 4 of them on each side, twice over (``4E``).
_EPS32 = float(torch.finfo(torch.float32).eps)


class SortedLabelIndex:
    """Exact nearest-label search over a (n, 1) float label tensor (see the module doc)."""

    def __init__(self, index: torch.Tensor):
        if index.ndim != 2 or index.shape[1] != 1:
            raise ValueError(f"expected a (n, 1) label tensor; got shape {tuple(index.shape)}")
        self.index = index
        self.xTx = index.square().sum(1, keepdim=True)  # as cebra's DistanceMatrix
        values = index[:, 0]
        self.sorted, self.order = torch.sort(values.double(), stable=True)
        self.max_xTx = float(self.xTx.max())

    def search(self, query: torch.Tensor) -> torch.Tensor:
        """Index (batch,) of the sample nearest each row of ``query`` (batch, 1), as cebra."""
        query = query.to(self.index.device)
        n = len(self.sorted)
        q = query[:, 0].double()
        # The true nearest distance d0 of each query, from its two sorted neighbours.
        right = torch.searchsorted(self.sorted, q).clamp(max=n - 1)
        left = (right - 1).clamp(min=0)
        d0 = torch.minimum((self.sorted[right] - q).abs(), (self.sorted[left] - q).abs())
        # Bound on the float32 expression's error, and the window that can hold its argmin.
        error = 4 * _EPS32 * (self.max_xTx + q.square())
        radius = torch.sqrt(d0.square() + 4 * error) * (1 + 1e-6)
        low = torch.searchsorted(self.sorted, q - radius)
        high = torch.searchsorted(self.sorted, q + radius, right=True)
        width = int((high - low).max())
        positions = low[:, None] + torch.arange(width, device=low.device)
        inside = positions < high[:, None]
        candidates = self.order[positions.clamp(max=n - 1)]  # original indices (batch, width)
        # cebra's expression, in float32, in its order: (xTx + qTq) - 2 * (x q).
        qTq = query.square().sum(1, keepdim=True)  # (batch, 1)
        x = self.index[candidates, 0]
        value = (self.xTx[candidates, 0] + qTq) - 2 * (x * query)
        value = value.masked_fill(~inside, float("inf"))
        best = value.min(dim=1, keepdim=True).values
        # Among equal minima the smallest original index, as argmin over the samples.
        tied = candidates.masked_fill((value != best) | ~inside, n)
        return tied.min(dim=1).values


@contextlib.contextmanager
def sorted_label_search() -> Iterator[None]:
    """For the block, cebra's ``ContinuousIndex.search`` on a 1-D label uses
    :class:`SortedLabelIndex` (the same indices, without the full distance matrix);
    labels of more dimensions keep cebra's brute force."""
    from cebra.distributions.index import ContinuousIndex

    original = ContinuousIndex.search

    def search(self, query):
        index = self.dist_matrix.index
        if index.ndim != 2 or index.shape[1] != 1:
            return original(self, query)
        fast = getattr(self, "_brainlatent_sorted", None)
        if fast is None or fast.index is not index:
            fast = self._brainlatent_sorted = SortedLabelIndex(index)
        return fast.search(query)

    ContinuousIndex.search = search
    try:
        yield
    finally:
        ContinuousIndex.search = original
