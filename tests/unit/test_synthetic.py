"""The pi-VAE simulation (CEBRA Fig. 1) and the latent-recovery benchmark on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from brainlatent.synthetic.benchmark import (
    embed,
    exact_neighbors,
    latent_r2,
    paper_medians,
    run_benchmark,
)
from brainlatent.synthetic.pivae import (
    LOG_RATE_GAIN,
    make_flow,
    rates_from_latents,
    sample_latents,
    simulate,
)


@pytest.fixture(scope="module")
def data():
    return simulate(n_samples=4000, n_neurons=100, seed=3)


def test_shapes_and_types(data):
    assert data.u.shape == (4000,)
    assert data.z.shape == (4000, 2)
    assert data.rates.shape == data.spikes.shape == (4000, 100)
    assert data.spikes.dtype == np.float32
    assert np.all(data.spikes == np.round(data.spikes)) and data.spikes.min() >= 0
    assert data.u.min() >= 0 and data.u.max() < 2 * np.pi
    # Rates are exp(2.2 tanh(.)), so bounded; and not all neurons alike.
    assert np.exp(-LOG_RATE_GAIN) < data.rates.min() and data.rates.max() < np.exp(LOG_RATE_GAIN)
    assert data.rates.mean(axis=0).std() > 0.1


def test_deterministic_per_seed():
    a, b, c = simulate(300, 20, seed=1), simulate(300, 20, seed=1), simulate(300, 20, seed=2)
    for field in ("u", "z", "rates", "spikes"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.allclose(a.rates, c.rates)


def test_latent_follows_pivae_prior():
    u, z = sample_latents(100_000, seed=0)
    residual = z - np.stack([u, 2 * np.sin(u)], axis=1)
    np.testing.assert_allclose(residual.mean(axis=0), 0, atol=0.01)
    # Variances (0.6 - 0.3|sin u|, 0.3|sin u|), whose means are 0.6 - 0.6/π and 0.6/π.
    np.testing.assert_allclose(residual.var(axis=0), [0.6 - 0.6 / np.pi, 0.6 / np.pi], rtol=0.02)


def test_spikes_are_poisson_given_rates(data):
    """Given the rates, counts have variance equal to their mean, neuron by neuron."""
    residual = data.spikes - data.rates
    mean_rate = data.rates.mean(axis=0)
    ratio = (residual**2).mean(axis=0) / mean_rate
    assert np.abs(residual.mean(axis=0) / np.sqrt(mean_rate / len(residual))).max() < 5
    assert abs(np.median(ratio) - 1) < 0.03
    assert np.abs(ratio - 1).max() < 0.15


def test_rates_are_the_flow_of_the_padded_latent(data):
    np.testing.assert_allclose(data.rates, rates_from_latents(data.z, make_flow(100, seed=3)))


@pytest.mark.parametrize("n_dim", [100, 7, 2])
def test_flow_is_invertible(n_dim):
    flow = make_flow(n_dim, seed=0)
    x = np.random.default_rng(0).normal(scale=3, size=(200, n_dim))
    y = flow.forward(x)
    assert not np.allclose(y, x)
    np.testing.assert_allclose(flow.inverse(y), x, atol=1e-10)
    np.testing.assert_allclose(flow.forward(flow.inverse(x)), x, atol=1e-10)


def test_latent_is_recoverable_from_rates(data):
    """The rates determine z exactly: undo the squashing, then the flow."""
    flow_output = np.arctanh(np.log(data.rates) / LOG_RATE_GAIN)
    padded = make_flow(100, seed=3).inverse(flow_output)
    np.testing.assert_allclose(padded[:, :2], data.z, atol=1e-6)
    np.testing.assert_allclose(padded[:, 2:], 0, atol=1e-6)


def test_spikes_carry_the_label(data):
    """A decoder from counts to (cos u, sin u) does far better than chance (R² ≈ 0)."""
    from sklearn.neighbors import KNeighborsRegressor

    target = np.stack([np.cos(data.u), np.sin(data.u)], axis=1)
    train, test = slice(0, 3000), slice(3000, None)
    decoder = KNeighborsRegressor(25).fit(data.spikes[train], target[train])
    assert decoder.score(data.spikes[test], target[test]) > 0.5
    shuffled = np.random.default_rng(0).permutation(target[train])
    control = KNeighborsRegressor(25).fit(data.spikes[train], shuffled)
    assert control.score(data.spikes[test], target[test]) < 0.05


def test_latent_r2_is_one_for_linear_maps_and_zero_for_noise(data):
    gen = np.random.default_rng(0)
    mixed = data.z @ gen.normal(size=(2, 2)) + 5.0
    assert latent_r2(mixed, data.z) == pytest.approx(1.0, abs=1e-9)
    assert latent_r2(gen.normal(size=(len(data.z), 2)), data.z) < 0.01
    with pytest.raises(ValueError, match="NaN"):
        latent_r2(np.full((len(data.z), 2), np.nan), data.z)


def test_label_only_embedding_scores_about_090(data):
    """The best a function of u alone can do: R² = 1 - E[Var(z|u)]/Var(z) ≈ 0.90.

    CEBRA-Behaviour only learns what the label explains, so this bounds what it
    can reach here; the paper's 0.92 sits just above it.
    """
    label_only = np.stack([data.u, 2 * np.sin(data.u)], axis=1)
    assert latent_r2(label_only, data.z) == pytest.approx(0.90, abs=0.01)


def test_pca_is_deterministic_and_fair(data):
    a = embed("pca", data.spikes, data.u, seed=0)
    np.testing.assert_array_equal(a, embed("pca", data.spikes, data.u, seed=0))
    assert a.shape == (4000, 2)
    assert 0.6 < latent_r2(a, data.z) < 0.9


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown method"):
        embed("ica", np.zeros((10, 3)), np.zeros(10), seed=0)
    with pytest.raises(ValueError, match="unknown methods"):
        run_benchmark(["ica"], seeds=[0], n_samples=50, n_neurons=4)


def test_cebra_beats_pca_and_leaves_torch_state_alone():
    import torch

    state, threads = torch.random.get_rng_state(), torch.get_num_threads()
    table = run_benchmark(
        ["cebra", "pca"],
        seeds=[0, 1],
        n_samples=3000,
        n_neurons=100,
        cebra_params={"max_iterations": 150, "batch_size": 256},
    )
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.get_num_threads() == threads
    assert list(table.columns) == ["dataset", "method", "seed", "metric", "value", "device"]
    assert set(table.device) == {"cpu"}  # CEBRA's default here, and PCA's only
    assert len(table) == 4 and set(table.metric) == {"r2"} and set(table.dataset) == {"pivae"}
    r2 = table.groupby("method").value.median()
    assert r2["cebra"] > 0.85
    assert r2["cebra"] > r2["pca"] + 0.05


def test_tsne_on_a_subset_and_timings():
    table = run_benchmark(
        ["tsne"],
        seeds=[0],
        n_samples=2000,
        n_neurons=100,
        method_params={"tsne": {"max_iter": 500, "perplexity": 20}},
        max_samples={"tsne": 500},
        timings=True,
    )
    assert set(table.metric) == {"r2", "seconds"}
    r2 = table.set_index("metric").value["r2"]
    assert 0.5 < r2 <= 1.0


def test_tsne_from_pca_is_fitted_once_for_every_seed_of_the_same_samples(data, monkeypatch):
    """Its seed reaches nothing but the PCA initialisation, which ends the same: one fit."""
    import brainlatent.synthetic.benchmark as benchmark

    spikes, u = data.spikes[:400], data.u[:400]
    kwargs = {"max_iter": 250, "perplexity": 20}
    first = embed("tsne", spikes, u, seed=0, **kwargs)
    np.testing.assert_array_equal(first, embed("tsne", spikes, u, seed=7, **kwargs))
    assert not np.array_equal(
        embed("tsne", spikes, u, seed=0, init="random", **kwargs),
        embed("tsne", spikes, u, seed=7, init="random", **kwargs),
    )

    calls = []
    monkeypatch.setattr(
        benchmark, "embed", lambda method, s, u, seed, **p: calls.append(seed) or s[:, :2]
    )

    def run(**kwargs):
        calls.clear()
        table = benchmark.run_benchmark(
            ["tsne"], seeds=[0, 1, 2], n_samples=300, n_neurons=10, timings=True, **kwargs
        )
        assert len(table) == 6  # an r2 and a seconds row per seed, reused or not
        return list(calls)

    assert run() == [0]
    assert run(method_params={"tsne": {"init": "random"}}) == [0, 1, 2]
    assert run(max_samples={"tsne": 200}) == [0, 1, 2]  # each seed draws its own samples
    assert run(data_seed=None) == [0, 1, 2]  # each seed simulates its own data


def test_exact_neighbors_match_brute_force_with_self_first(data):
    spikes = data.spikes[:400]
    indices, distances = exact_neighbors(spikes, 15)
    assert indices.shape == distances.shape == (400, 15)
    assert indices.dtype == np.int32 and distances.dtype == np.float32
    np.testing.assert_array_equal(indices[:, 0], np.arange(400))
    assert (distances[:, 0] == 0).all() and (np.diff(distances, axis=1) >= 0).all()
    full = np.linalg.norm(spikes[:, None].astype(float) - spikes[None].astype(float), axis=2)
    np.fill_diagonal(full, np.inf)
    np.testing.assert_allclose(distances[:, 1:], np.sort(full, axis=1)[:, :14], rtol=1e-5)


def test_umap_graph_is_computed_once_for_every_seed(monkeypatch):
    """UMAP's exact kNN graph depends on the data only: one per run, not one per seed."""
    import brainlatent.synthetic.benchmark as benchmark

    calls, graphs = [], []
    monkeypatch.setattr(benchmark, "exact_neighbors", lambda *a: calls.append(a) or "graph")

    def embed(method, spikes, u, seed, **params):
        graphs.append(params.get("precomputed_knn"))
        return spikes[:, :2]

    monkeypatch.setattr(benchmark, "embed", embed)
    benchmark.run_benchmark(["umap"], seeds=[0, 1, 2], n_samples=300, n_neurons=10)
    assert len(calls) == 1 and graphs == ["graph"] * 3
    calls.clear(), graphs.clear()  # a fresh dataset per seed: embed makes each seed's graph
    benchmark.run_benchmark(["umap"], seeds=[0, 1], n_samples=300, n_neurons=10, data_seed=None)
    assert not calls and graphs == [None, None]


@pytest.mark.parametrize("labels", ["continuous", "duplicated", "wide"])
def test_sorted_label_search_returns_cebras_indices(labels):
    """The binary search picks, bit for bit, the sample cebra's brute-force scan picks,
    ties (many under float32 rounding) included."""
    import torch
    from cebra.distributions.index import ContinuousIndex

    from brainlatent.synthetic.label_search import SortedLabelIndex

    generator = torch.Generator().manual_seed(0)
    u = torch.rand(6000, 1, generator=generator) * 2 * np.pi
    if labels == "duplicated":
        u = torch.round(u * 50) / 50
    elif labels == "wide":
        u = torch.randn(6000, 1, generator=generator) * 30
    brute, fast = ContinuousIndex(u), SortedLabelIndex(u)
    for scale in (0.01, 0.1, 3.0):  # queries inside and beyond the labels' range
        reference = torch.randint(0, len(u), (512,), generator=generator)
        query = u[reference] + scale * torch.randn(512, 1, generator=generator)
        torch.testing.assert_close(fast.search(query), brute.search(query), rtol=0, atol=0)


def test_cebra_fit_is_unchanged_by_the_sorted_label_search(monkeypatch):
    import contextlib

    import brainlatent.synthetic.label_search as label_search

    data = simulate(2000, 30, seed=2)

    def run():
        return embed("cebra", data.spikes, data.u, 0, max_iterations=20, batch_size=128)

    searched = []
    sorted_search = label_search.SortedLabelIndex.search
    monkeypatch.setattr(
        label_search.SortedLabelIndex,
        "search",
        lambda self, query: searched.append(1) or sorted_search(self, query),
    )
    fast = run()
    assert len(searched) == 20  # the benchmark's fit took the sorted search at every step
    monkeypatch.setattr(label_search, "sorted_label_search", contextlib.nullcontext)
    np.testing.assert_array_equal(run(), fast)
    assert len(searched) == 20


@pytest.mark.slow
def test_umap_runs(data):
    embedding = embed("umap", data.spikes[:500], data.u[:500], seed=0, n_neighbors=15)
    assert embedding.shape == (500, 2) and np.isfinite(embedding).all()
    assert latent_r2(embedding, data.z[:500]) > 0.5


def test_paper_medians_rank_cebra_first():
    medians = paper_medians(Path(__file__).resolve().parents[2] / "resources/paper_values.yaml")
    assert max(medians, key=medians.get) == "cebra"
    assert set(medians) == {"cebra", "autolfads", "pivae", "umap", "tsne"}


def test_cebra_embedding_is_reproducible():
    """The benchmark seeds CEBRA's weights and samplers: the same seed, the same numbers.

    (cebra 0.6 seeds its samplers from the OS unless told otherwise: the benchmark's CEBRA
    rows used to change from run to run.)"""
    import torch

    data = simulate(300, 20, seed=1)
    threads = torch.get_num_threads()

    def run(seed):
        return embed("cebra", data.spikes, data.u, seed, 3, max_iterations=5, batch_size=64)

    first = run(0)
    np.testing.assert_array_equal(run(0), first)
    assert not np.array_equal(run(1), first)
    assert torch.get_num_threads() == threads


def test_latent_r2_is_from_embedding_to_latents_averaged_uniformly():
    """The embedding predicts each latent: z's first dimension fully (R² 1), its second not
    at all (0): 0.5 (the other direction gives 1.0, variance-weighting 0.556)."""
    embedding = np.array([[0.0], [1.0], [2.0], [3.0]])
    z = np.array([[0.0, 1.0], [1.0, -1.0], [2.0, -1.0], [3.0, 1.0]])
    assert latent_r2(embedding, z) == pytest.approx(0.5)
