"""The faster nearest-label search returns cebra's own indices, and fits do not move."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cebra.distributions.index import ConditionalIndex, ContinuousIndex

from brainlatent.datasets import simulate_place_cells as sim
from brainlatent.models import cebra_models
from brainlatent.models.cebra_search import (
    DistinctRows,
    conditional_search,
    fast_label_search,
    repeated_label_search,
)


def position_labels(seed=0):
    """Position on a track with pauses at the ends (many equal values) and a direction code."""
    session = sim.simulate_session(sim.PlaceCellSimulation(n_neurons=5, duration_s=120, seed=seed))
    return session.position.astype(np.float32), session.direction.astype(np.int64)


@pytest.mark.parametrize("seed", [0, 1])
def test_indices_equal_cebras_brute_force(seed, monkeypatch):
    position, direction = position_labels(seed=seed)
    index = ConditionalIndex(torch.from_numpy(direction), torch.from_numpy(position[:, None]))
    rng = np.random.default_rng(seed)
    reference = rng.integers(0, len(position), 4096)
    # cebra's queries: a sample's label plus a random empirical 10-step change, and exact copies.
    delta = position[10:] - position[:-10]
    query = position[reference] + delta[rng.integers(0, len(delta), len(reference))]
    query[:512] = position[reference[:512]]  # exact ties with existing labels
    query[512:600] = 5.0  # far off the track: the window edge decides
    query = torch.from_numpy(query.astype(np.float32)[:, None])
    discrete = torch.from_numpy(direction[reference])
    expected = ConditionalIndex.search_naive(index, query, discrete)
    calls = []

    def original(*args):
        calls.append(len(args[1]))
        return ConditionalIndex.search_naive(*args)

    got = conditional_search(index, query, discrete, original)
    assert torch.equal(got, expected)
    assert sum(calls) < 0.2 * len(query)  # cebra's brute force only for the unsettled few
    monkeypatch.setattr("brainlatent.models.cebra_search.WINDOWS", (1,))
    assert torch.equal(conditional_search(index, query, discrete, original), expected)


def test_several_label_columns_keep_cebras_search():
    calls = []

    def original(index, continuous, discrete):
        calls.append(continuous.shape)
        return torch.zeros(len(continuous), dtype=torch.long)

    index = ConditionalIndex(torch.zeros(10, dtype=torch.long), torch.rand(10, 2))
    conditional_search(index, torch.rand(4, 2), torch.zeros(4, dtype=torch.long), original)
    assert calls == [(4, 2)]


def test_a_fit_is_bit_identical_with_the_fast_search(monkeypatch):
    position, direction = position_labels(seed=3)
    rng = np.random.default_rng(0)
    neural = rng.poisson(0.3, size=(len(position), 20)).astype(np.float32)
    params = {"max_iterations": 40, "batch_size": 128, "output_dimension": 3, "device": "cpu"}
    searched = []
    monkeypatch.setattr(
        "brainlatent.models.cebra_search.conditional_search",
        lambda *args, search=conditional_search: searched.append(1) or search(*args),
    )

    plain = cebra_models.fit_model(
        cebra_models.make_cebra("behavior", random_state=1, **params),
        neural, position[:, None], discrete=direction, threads=1, fast_search=False,
    ).transform(neural)  # fmt: skip
    assert searched == []
    fast = cebra_models.fit_model(
        cebra_models.make_cebra("behavior", random_state=1, **params),
        neural, position[:, None], discrete=direction, threads=1, fast_search=True,
    ).transform(neural)  # fmt: skip
    assert np.array_equal(plain, fast)
    assert len(searched) == 40  # the fast fit took the fast search at every step


def test_the_patch_lives_only_inside_the_block():
    original = ConditionalIndex.search_naive
    continuous = ContinuousIndex.search
    with fast_label_search():
        assert ConditionalIndex.search_naive is not original
        assert ContinuousIndex.search is not continuous
    assert ConditionalIndex.search_naive is original
    assert ContinuousIndex.search is continuous


def movie_labels(seed=0, frames=300, repeats=6, dims=32):
    """A movie's frame embeddings, one row per sample: every frame once per repeat."""
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((frames, dims)).astype(np.float32)
    return features[np.tile(np.arange(frames), repeats)]


@pytest.mark.parametrize("seed", [0, 1])
def test_repeated_labels_are_searched_by_distinct_row_with_cebras_answer(seed):
    labels = movie_labels(seed)
    index = ContinuousIndex(torch.from_numpy(labels))
    rng = np.random.default_rng(seed)
    reference = torch.from_numpy(rng.integers(0, len(labels), 4096))
    # queries as cebra draws them (a label plus a random change), and exact copies of labels
    query = index.dist_matrix.index[reference] + 0.3 * torch.randn(4096, labels.shape[1])
    query[:512] = index.dist_matrix.index[reference[:512]]
    expected = ContinuousIndex.search(index, query)
    calls = []

    def original(*args):
        calls.append(1)
        return ContinuousIndex.search(*args)

    got = repeated_label_search(index, query, original)
    assert torch.equal(got, expected) and calls == []
    assert int(got.max()) < 300  # every answer is a frame's first sample (repeat 0)
    distinct = ContinuousIndex(torch.rand(100, 3))  # nothing repeats: cebra's own search
    repeated_label_search(distinct, torch.rand(8, 3), original)
    assert calls == [1]


def test_a_movie_fit_is_bit_identical_with_the_fast_search(monkeypatch):
    labels = movie_labels(seed=2, frames=200, repeats=5, dims=16)
    rng = np.random.default_rng(0)
    neural = rng.poisson(0.5, size=(len(labels), 20)).astype(np.float32)
    params = {"max_iterations": 40, "batch_size": 128, "output_dimension": 3, "device": "cpu"}
    searched = []
    monkeypatch.setattr(
        "brainlatent.models.cebra_search.DistinctRows.search",
        lambda self, query, search=DistinctRows.search: searched.append(1) or search(self, query),
    )
    fits = [
        cebra_models.fit_model(
            cebra_models.make_cebra("behavior", random_state=1, **params),
            neural, labels, threads=1, fast_search=fast,
        ).transform(neural)
        for fast in (False, True)
    ]  # fmt: skip
    assert np.array_equal(*fits)
    assert len(searched) == 40  # the fast fit searched by distinct row at every step
