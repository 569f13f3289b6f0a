"""CEBRA Figure 1: how linearly each method's 2-D embedding recovers the true latent.

Every method embeds the spike counts of one simulated pi-VAE session
(:mod:`brainlatent.synthetic.pivae`); the score is the R² of a linear
regression from the embedding to the true latent ``z``. Only CEBRA sees the
label ``u`` (CEBRA-Behaviour); PCA, UMAP and t-SNE are unsupervised, as in
the paper. pi-VAE and autoLFADS are not rerun: their published medians, like the
others', are in the papers' values file (``resources/paper_values.yaml``, read by
:func:`paper_medians`) for comparison.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from brainlatent.scorecard import figure_values, load_values
from brainlatent.seeding import rng
from brainlatent.synthetic.pivae import simulate

METHODS = ("cebra", "pca", "umap", "tsne")
#: UMAP's default number of neighbours (``umap.UMAP(n_neighbors=15)``).
UMAP_NEIGHBORS = 15


def paper_medians(values_file) -> dict[str, float]:
    """Median reconstruction R² over seeds per method reported in Schneider, Lee & Mathis
    (2023), Fig. 1b, as written once in the papers' values file (the results the figure
    ``synthetic_latents`` draws)."""
    return figure_values(load_values(values_file), "synthetic_latents", "method")


#: Columns of :func:`run_benchmark`'s table; ``device`` is where the method ran (CEBRA: its
#: resolved ``device`` parameter, default CPU; the others always run on the CPU).
COLUMNS = ["dataset", "method", "seed", "metric", "value", "device"]

#: CEBRA-Behaviour as the CEBRA authors ran it on this dataset (their reproduction script for
#: Fig. 1, gist stes/8722195744040ba186f4820c9faee7a5): the samples are i.i.d., not a time
#: series, so the encoder sees one sample at a time ("offset1"; an offset10 model would convolve
#: over 10 unrelated neighbours) and positives come from the label alone: "delta_normal" (the
#: non-deprecated name of their "delta") picks the sample whose u is nearest to
#: u_ref + N(0, delta²). "time_delta" would instead reuse label changes between consecutive
#: samples, which here are jumps across the whole circle. The "-mse" model is unnormalised,
#: matching the Euclidean distance, since the true latent (u, 2 sin u) is not on a sphere.
#: They trained 1000 steps at learning rate 1e-4 on a GPU (on the first 12,000 samples; we fit
#: every method on all samples). We take 200 steps at 3e-3, which reach the same R² (median of
#: 5 seeds ~0.905, vs ~0.90 for theirs). On one CPU thread a step costs ~15 ms at 15,000 samples
#: (~3 s a fit) since the positive-pair search is a binary search on the 1-D label
#: (:mod:`brainlatent.synthetic.label_search`; cebra's brute force took ~150 ms a step).
CEBRA_DEFAULTS: dict = {
    "model_architecture": "offset1-model-mse",
    "distance": "euclidean",
    "conditional": "delta_normal",
    "delta": 0.1,
    "temperature": 1.0,
    "batch_size": 512,
    "learning_rate": 3e-3,
    "max_iterations": 200,
}


def embed(
    method: str, spikes: np.ndarray, u: np.ndarray, seed: int, dim: int = 2, **params
) -> np.ndarray:
    """A ``dim``-D embedding (n, dim) of ``spikes``; ``params`` override the method's defaults.

    ``u`` is used by CEBRA only. Every random draw (CEBRA's weights and batch samplers,
    UMAP) comes from ``seed``: the same seed gives the same embedding. t-SNE from its PCA
    initialisation (scikit-learn's default) does not change with the seed
    (:func:`ignores_seed`): its seeds differ only by the samples drawn for it
    (``tsne_max_samples``), and :func:`run_benchmark` fits it once for all seeds of the
    same samples.
    """
    spikes = np.asarray(spikes, dtype=np.float32)
    if method == "pca":
        from sklearn.decomposition import PCA

        embedding = PCA(n_components=dim, random_state=seed % 2**32, **params).fit_transform(spikes)
    elif method == "tsne":
        from sklearn.manifold import TSNE

        params = {"init": "pca", **params}
        embedding = TSNE(n_components=dim, random_state=seed % 2**32, **params).fit_transform(
            spikes
        )
    elif method == "umap":
        import umap

        if params.get("precomputed_knn") is None:
            k = params.get("n_neighbors", UMAP_NEIGHBORS)
            params = {**params, "precomputed_knn": exact_neighbors(spikes, k)}
        reducer = umap.UMAP(n_components=dim, random_state=seed % 2**32, **params)
        with warnings.catch_warnings():
            # A kNN graph without pynndescent's index only forbids transform(), unused here.
            warnings.filterwarnings("ignore", "precomputed_knn\\[2\\]", UserWarning)
            # With random_state, UMAP's layout runs on one thread whatever n_jobs says.
            warnings.filterwarnings("ignore", "n_jobs value", UserWarning)
            embedding = reducer.fit_transform(spikes)
    elif method == "cebra":
        embedding = _embed_cebra(spikes, u, seed, dim, params)
    else:
        raise ValueError(f"unknown method {method!r}; expected one of {list(METHODS)}")
    return np.asarray(embedding, dtype=np.float64)


def ignores_seed(method: str, params: Mapping) -> bool:
    """Whether ``embed(method, ..., seed, **params)`` is the same embedding for every seed.

    t-SNE from a PCA initialisation: its only draw is the randomized SVD of that
    initialisation, which converges to the same two components whatever the seed
    (float32 embeddings identical bit for bit across seeds on the simulated data);
    its gradient descent draws nothing. A random initialisation does depend on it.
    """
    return method == "tsne" and params.get("init", "pca") == "pca"


def exact_neighbors(spikes: np.ndarray, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
    """UMAP's Euclidean kNN graph of ``spikes``, exact: (indices, distances), each (n, k).

    As UMAP's own graph, each sample is its own first neighbour (distance 0). UMAP computes
    this graph exactly below 4,096 samples and with pynndescent's approximate search above:
    there, each fit drew its own approximate graph and compiled pynndescent's numba kernels
    (~40 CPU-s per process, more than the search itself). The exact graph depends on the data
    only, so :func:`run_benchmark` computes it once for every seed (~1.5 s at 15,000 × 100).
    """
    from sklearn.neighbors import NearestNeighbors

    spikes = np.asarray(spikes, dtype=np.float32)
    n = len(spikes)
    k = min(int(n_neighbors), n)
    distances, indices = NearestNeighbors(n_neighbors=k - 1).fit(spikes).kneighbors()
    indices = np.concatenate([np.arange(n)[:, None], indices], axis=1).astype(np.int32)
    distances = np.concatenate([np.zeros((n, 1)), distances], axis=1).astype(np.float32)
    return indices, distances


def _embed_cebra(spikes: np.ndarray, u: np.ndarray, seed: int, dim: int, params: dict):
    import cebra

    from brainlatent.models.cebra_models import seeded_cebra, torch_threads
    from brainlatent.synthetic.label_search import sorted_label_search

    params = {**CEBRA_DEFAULTS, "device": "cpu", "verbose": False, **params}
    params["device"] = method_device("cebra", params)  # cebra takes no "auto"
    label = np.asarray(u, dtype=np.float32).reshape(len(spikes), -1)
    # The encoder is a tiny MLP: one thread is fastest, and several threads on a busy machine
    # spin against each other (measured: 1.4 ms vs 290 ms per forward/backward pass on 2 shared
    # cores). Weights and samplers are seeded, so the table is the same on every run. The
    # positive-pair search on the 1-D label is a binary search instead of cebra's scan of
    # every sample: the same pairs, ~25x cheaper (label_search).
    with torch_threads(1), seeded_cebra(seed, weights_key="cebra"), sorted_label_search():
        model = cebra.CEBRA(output_dimension=dim, **params)
        model.fit(spikes, label)
        return model.transform(spikes)


def method_device(method: str, params: Mapping) -> str:
    """The resolved device ``embed(method, ..., **params)`` runs on (``"cpu"``, ``"cuda"``...)."""
    if method != "cebra":
        return "cpu"
    from brainlatent.device import device_name

    return device_name(params.get("device", "cpu"))


def latent_r2(embedding: np.ndarray, z: np.ndarray) -> float:
    """R² of a linear regression from the embedding to ``z``, averaged over ``z``'s dims.

    As the CEBRA authors score Fig. 1: an ordinary least-squares fit (with
    intercept) on all samples, scored on the same samples. With 2 regressors
    and thousands of samples the in-sample optimism is negligible.
    """
    from sklearn.linear_model import LinearRegression

    embedding = np.asarray(embedding, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64).reshape(len(embedding), -1)
    if not np.isfinite(embedding).all():
        raise ValueError("embedding contains NaN or infinite values")
    model = LinearRegression().fit(embedding, z)
    return float(model.score(embedding, z))


def run_benchmark(
    methods: Iterable[str] = METHODS,
    seeds: Iterable[int] = (0, 1, 2, 3, 4),
    n_samples: int = 15000,
    n_neurons: int = 100,
    cebra_params: Mapping | None = None,
    method_params: Mapping[str, Mapping] | None = None,
    max_samples: Mapping[str, int] | None = None,
    data_seed: int | None = 0,
    dataset: str = "pivae",
    timings: bool = False,
) -> pd.DataFrame:
    """Long table (dataset, method, seed, metric, value) of R² per method and seed.

    As in the paper, one simulated dataset (``data_seed``) is embedded with
    several method seeds; ``data_seed=None`` simulates a fresh dataset per seed
    instead. ``max_samples[method]`` caps the samples a slow method (t-SNE)
    sees: a seeded random subset, scored against its own latents. With
    ``timings`` each run also gets a ``seconds`` row (wall-clock of ``embed``).
    Columns: :data:`COLUMNS`.
    """
    params = {k: dict(v) for k, v in (method_params or {}).items()}
    params["cebra"] = {**params.get("cebra", {}), **dict(cebra_params or {})}
    max_samples = dict(max_samples or {})
    methods = list(methods)
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ValueError(f"unknown methods {unknown}; expected some of {list(METHODS)}")
    devices = {method: method_device(method, params.get(method, {})) for method in methods}
    shared = simulate(n_samples, n_neurons, data_seed) if data_seed is not None else None
    # What no seed changes is computed once: UMAP's exact kNN graph of the shared data, and
    # the embedding of a method that draws nothing from its seed (t-SNE from its PCA
    # initialisation), with the seconds of that one fit in every seed's timing row.
    umap_graph = None
    seed_free = {}
    rows = []
    for seed in seeds:
        data = shared if shared is not None else simulate(n_samples, n_neurons, seed)
        for method in methods:
            index = np.arange(n_samples)
            cap = max_samples.get(method)
            subset = cap is not None and cap < n_samples
            if subset:
                index = np.sort(rng(seed, "subsample", method).choice(n_samples, cap, False))
            start = time.perf_counter()
            extra = dict(params.get(method, {}))
            seedless = shared is not None and not subset  # the same samples for every seed
            if method == "umap" and seedless and extra.get("precomputed_knn") is None:
                if umap_graph is None:
                    k = extra.get("n_neighbors", UMAP_NEIGHBORS)
                    umap_graph = exact_neighbors(data.spikes, k)
                extra["precomputed_knn"] = umap_graph  # else embed computes this seed's own
            once = seedless and ignores_seed(method, extra)
            if once and method in seed_free:
                embedding, seconds = seed_free[method]
            else:
                embedding = embed(method, data.spikes[index], data.u[index], seed, **extra)
                seconds = time.perf_counter() - start
                if once:
                    seed_free[method] = embedding, seconds
            row = {"dataset": dataset, "method": method, "seed": int(seed)}
            device = {"device": devices[method]}
            r2 = latent_r2(embedding, data.z[index])
            rows.append({**row, "metric": "r2", "value": r2, **device})
            if timings:
                rows.append({**row, "metric": "seconds", "value": seconds, **device})
    return pd.DataFrame(rows, columns=COLUMNS)
