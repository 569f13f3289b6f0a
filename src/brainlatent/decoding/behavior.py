"""Decoding behaviour from embeddings of a user's recording (the CEBRA hippocampus analysis).

Follows the CEBRA paper's rat-hippocampus decoding (Schneider, Lee & Mathis
2023, Fig. 2; the CEBRA repository's hippocampus demo): the recording is split
in time — the last ``test_fraction`` (default 0.2) is a held-out *contiguous*
block, so temporally adjacent, strongly correlated samples cannot leak from
training into testing — every embedding is fitted on the training block only,
and a k-nearest-neighbour decoder (36 neighbours, cosine distance, as in the
demo) fitted on the training embedding predicts the test block's behaviour:
median absolute error and R² for continuous columns, accuracy for discrete
ones. A ``chance`` row predicts the training median (continuous) or majority
class (discrete), the floor every embedding must beat.

Embeddings: ``cebra_time`` (self-supervised), ``cebra_behavior`` (continuous
columns as CEBRA's continuous labels, discrete columns — combined into one
code when there are several — as its discrete label, which gives cebra's mixed
time-delta sampler), ``pca`` and ``raw`` activity. Consistency across CEBRA
seeds is the paper's linear identifiability R² between seeds' embeddings of
the same samples (:func:`brainlatent.decoding.frames.consistency_matrix`,
``align="sample"``).

Beside the embeddings, the decoders the field uses on spike counts
(:mod:`brainlatent.decoding.population`): ``bayesian`` (Zhang et al. 1998, on
counts), ``knn_smoothed`` and ``ridge_smoothed`` (on Gaussian-smoothed rates), their
smoothing chosen on the training block; the table's ``smoothing_s`` states each
method's smoothing (0 for the embeddings, which see the unsmoothed input).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.metrics import r2_score
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from brainlatent.datasets.recording import Recording
from brainlatent.decoding.frames import consistency_matrix

#: Embeddings decoded with kNN, CEBRA first.
EMBEDDINGS = ("cebra_behavior", "cebra_time", "pca", "raw")
#: The field's standard decoders on counts (:mod:`brainlatent.decoding.population`).
STANDARD = ("bayesian", "knn_smoothed", "ridge_smoothed")
#: Every decoding method.
METHODS = (*EMBEDDINGS, *STANDARD)
#: Methods whose embedding depends on the seed (one row per seed in the tables).
SEEDED = ("cebra_behavior", "cebra_time")
#: Columns of the metrics table (``seed`` is missing for deterministic methods;
#: ``smoothing_s``: the input's smoothing, 0 for the embeddings, the chosen Gaussian s.d.
#: or Bayesian window for the standard decoders, missing for chance; ``device`` is
#: where the embedding was fitted: CEBRA's resolved device, ``cpu`` for the rest).
METRIC_COLUMNS = [
    "dataset", "method", "seed", "label", "metric", "value", "smoothing_s", "device",
]  # fmt: skip
#: Columns of the consistency table (CEBRA methods only, so ``device`` is CEBRA's).
CONSISTENCY_COLUMNS = [
    "dataset",
    "method",
    "source_seed",
    "target_seed",
    "metric",
    "value",
    "device",
]
#: The CEBRA hippocampus demo's kNN decoder.
DEFAULT_NEIGHBORS = 36


def method_device(method: str, cebra_params: Mapping | None = None) -> str:
    """Where ``method`` runs: CEBRA on its ``device`` parameter (resolved), the rest on the CPU."""
    if method not in SEEDED:
        return "cpu"
    from brainlatent.device import device_name

    return device_name((cebra_params or {}).get("device", "auto"))


def split_index(n_samples: int, test_fraction: float = 0.2) -> int:
    """First sample of the held-out block: train is ``[:i]``, test ``[i:]``, both non-empty."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1); got {test_fraction}")
    i = int(round(n_samples * (1 - test_fraction)))
    if i < 1 or i >= n_samples:
        raise ValueError(
            f"test_fraction={test_fraction} leaves no training or no test samples "
            f"out of {n_samples}"
        )
    return i


def cebra_labels(behavior: np.ndarray, is_discrete) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(continuous float32 (T × c) or None, discrete int64 (T,) or None) for ``CEBRA.fit``.

    cebra takes at most one discrete label, so several discrete columns become
    one code per distinct combination of their values.
    """
    behavior = np.asarray(behavior, dtype=np.float64)
    is_discrete = np.asarray(is_discrete, dtype=bool)
    continuous = behavior[:, ~is_discrete].astype(np.float32) if (~is_discrete).any() else None
    discrete = None
    if is_discrete.any():
        _, discrete = np.unique(behavior[:, is_discrete], axis=0, return_inverse=True)
        discrete = discrete.reshape(-1).astype(np.int64)
    return continuous, discrete


def fit_cebra(
    kind: str,
    neural: np.ndarray,
    continuous: np.ndarray | None = None,
    discrete: np.ndarray | None = None,
    *,
    seed: int = 0,
    threads: int | None = 1,
    **params,
):
    """A seeded CEBRA fit on continuous and/or discrete behaviour (none for ``time``)."""
    from brainlatent.models import cebra_models  # imports torch: only when asked

    if kind != "time" and continuous is None and discrete is None:
        raise ValueError("CEBRA-Behavior needs at least one behaviour column")
    if kind == "time":
        continuous = discrete = None
    model = cebra_models.make_cebra(kind, random_state=seed, **params)
    return cebra_models.fit_model(model, neural, continuous, discrete=discrete, threads=threads)


def embed(
    method: str,
    train: np.ndarray,
    test: np.ndarray,
    behavior_train: np.ndarray,
    is_discrete,
    *,
    seed: int = 0,
    pca_dim: int = 3,
    cebra_params: Mapping | None = None,
    threads: int | None = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) embeddings of one method, fitted on the training block only."""
    if method == "raw":
        return np.asarray(train, np.float32), np.asarray(test, np.float32)
    if method == "pca":
        k = min(pca_dim, train.shape[1], train.shape[0])
        pca = PCA(n_components=k, svd_solver="full").fit(train)
        return pca.transform(train).astype(np.float32), pca.transform(test).astype(np.float32)
    if method in SEEDED:
        kind = method.split("_", 1)[1]
        continuous, discrete = cebra_labels(behavior_train, is_discrete)
        model = fit_cebra(
            kind, train, continuous, discrete, seed=seed, threads=threads, **(cebra_params or {})
        )
        return (
            model.transform(np.asarray(train, np.float32)),
            model.transform(np.asarray(test, np.float32)),
        )
    raise ValueError(f"unknown method {method!r}; expected one of {list(METHODS)}")


def knn_decode(
    train_embedding: np.ndarray,
    train_behavior: np.ndarray,
    test_embedding: np.ndarray,
    test_behavior: np.ndarray,
    names: Sequence[str],
    is_discrete,
    *,
    n_neighbors: int = DEFAULT_NEIGHBORS,
    metric: str = "cosine",
) -> list[dict]:
    """kNN decoding of each behaviour column: ``{label, metric, value}`` rows.

    Continuous columns: median absolute error (the column's unit) and R²;
    discrete columns: accuracy. ``k`` is capped at the number of training rows.
    """
    k = max(1, min(int(n_neighbors), len(train_embedding)))
    rows = []
    for j, (name, discrete) in enumerate(zip(names, is_discrete, strict=True)):
        y_train, y_test = train_behavior[:, j], test_behavior[:, j]
        if discrete:
            knn = KNeighborsClassifier(n_neighbors=k, metric=metric)
            predicted = knn.fit(train_embedding, y_train.astype(np.int64)).predict(test_embedding)
            rows.append(
                {"label": name, "metric": "accuracy", "value": _accuracy(predicted, y_test)}
            )
        else:
            knn = KNeighborsRegressor(n_neighbors=k, metric=metric)
            predicted = knn.fit(train_embedding, y_train).predict(test_embedding)
            rows += _continuous_rows(name, predicted, y_test)
    return rows


def chance_rows(train_behavior, test_behavior, names, is_discrete) -> list[dict]:
    """The floor: the training median (continuous) or majority class (discrete) for every sample."""
    rows = []
    for j, (name, discrete) in enumerate(zip(names, is_discrete, strict=True)):
        y_train, y_test = train_behavior[:, j], test_behavior[:, j]
        if discrete:
            values, counts = np.unique(y_train, return_counts=True)
            guess = np.full(len(y_test), values[np.argmax(counts)])
            rows.append({"label": name, "metric": "accuracy", "value": _accuracy(guess, y_test)})
        else:
            rows += _continuous_rows(name, np.full(len(y_test), np.median(y_train)), y_test)
    return rows


def _accuracy(predicted, true) -> float:
    return float(np.mean(np.asarray(predicted) == np.asarray(true)))


def _continuous_rows(name: str, predicted, true) -> list[dict]:
    return [
        {
            "label": name,
            "metric": "median_abs_error",
            "value": float(np.median(np.abs(predicted - true))),
        },
        {"label": name, "metric": "r2", "value": float(r2_score(true, predicted))},
    ]


@dataclass
class BehaviorDecoding:
    """Result of :func:`decode_behavior`.

    ``embeddings[(method, seed)]`` is ``(train, test)``; deterministic
    methods are stored under seed ``None`` and ``raw`` is not stored.
    """

    metrics: pd.DataFrame
    consistency: pd.DataFrame
    split: int
    embeddings: dict[tuple[str, int | None], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict
    )


def decode_behavior(
    recording: Recording,
    methods: Sequence[str] = METHODS,
    seeds: Sequence[int] = (0,),
    cebra_params: Mapping | None = None,
    *,
    test_fraction: float = 0.2,
    input_smoothing_s: float = 0.0,
    pca_dim: int = 3,
    n_neighbors: int = DEFAULT_NEIGHBORS,
    metric: str = "cosine",
    threads: int | None = 1,
    standard_params: Mapping | None = None,
    dataset: str = "recording",
    log=print,
) -> BehaviorDecoding:
    """Embed, decode the held-out block, and measure CEBRA's consistency across seeds.

    CEBRA methods run once per seed; PCA, raw and the standard decoders are
    deterministic and run once (their ``seed`` is missing). ``input_smoothing_s`` > 0
    smooths the embeddings' input (a Gaussian of that s.d., in counts per bin, each block
    on its own; the standard decoders choose their own smoothing); ``standard_params``
    (e.g. ``sigmas``, ``windows_s``) go to
    :func:`brainlatent.decoding.population.decode_standard`. Returns long tables
    (:data:`METRIC_COLUMNS`, :data:`CONSISTENCY_COLUMNS`) and the embeddings for the figure.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; expected some of {list(METHODS)}")
    devices = {m: method_device(m, cebra_params) for m in ("chance", *methods)}
    neural, behavior = recording.neural, recording.behavior
    names, is_discrete = recording.behavior_names, recording.is_discrete
    split = split_index(len(neural), test_fraction)
    X_train, X_test = neural[:split], neural[split:]
    y_train, y_test = behavior[:split], behavior[split:]
    if input_smoothing_s < 0:
        raise ValueError(f"input_smoothing_s must be >= 0; got {input_smoothing_s}")
    # The embeddings' input: the binned activity, or smoothed (in counts per bin), each block
    # on its own so that no activity crosses the split.
    E_input = (X_train, X_test)
    if input_smoothing_s > 0:
        from brainlatent.decoding.population import smooth_blocks

        E_input = tuple(
            block / recording.rate
            for block in smooth_blocks(neural, recording.rate, input_smoothing_s, split)
        )
    log(
        f"{recording.path}: {neural.shape[0]} samples × {neural.shape[1]} neurons at "
        f"{recording.rate:g} Hz; train {split}, held-out block {len(neural) - split}"
    )

    rows = [
        {"method": "chance", "seed": None, **row, "device": devices["chance"]}
        for row in chance_rows(y_train, y_test, names, is_discrete)
    ]
    result = BehaviorDecoding(metrics=pd.DataFrame(), consistency=pd.DataFrame(), split=split)
    for method in (m for m in methods if m in EMBEDDINGS):
        for seed in seeds if method in SEEDED else [None]:
            E_train, E_test = embed(
                method,
                *E_input,
                y_train,
                is_discrete,
                seed=int(seed or 0),
                pca_dim=pca_dim,
                cebra_params=cebra_params,
                threads=threads,
            )
            decoded = knn_decode(
                E_train,
                y_train,
                E_test,
                y_test,
                names,
                is_discrete,
                n_neighbors=n_neighbors,
                metric=metric,
            )
            rows += [
                {
                    "method": method,
                    "seed": seed,
                    **row,
                    "smoothing_s": float(input_smoothing_s),
                    "device": devices[method],
                }
                for row in decoded
            ]
            if method != "raw":
                result.embeddings[(method, seed)] = (E_train, E_test)
            log(
                f"{method} seed={seed}: "
                + ", ".join(f"{r['label']} {r['metric']}={r['value']:.3f}" for r in decoded)
            )
    standard = [m for m in methods if m in STANDARD]
    if standard:
        from brainlatent.decoding.population import decode_standard

        rows += [
            {"seed": None, **row, "device": "cpu"}
            for row in decode_standard(
                X_train,
                y_train,
                X_test,
                y_test,
                names,
                is_discrete,
                recording.rate,
                methods=standard,
                neighbors=n_neighbors,
                metric=metric,
                log=log,
                **(standard_params or {}),
            )
        ]
    metrics = pd.DataFrame(rows)
    metrics.insert(0, "dataset", dataset)
    metrics = metrics.reindex(columns=METRIC_COLUMNS)  # chance rows: no smoothing (NaN)
    metrics["seed"] = metrics["seed"].astype("Int64")
    result.metrics = metrics[METRIC_COLUMNS]
    # Without a CEBRA method the consistency table is empty and its device moot.
    cebra_device = next((devices[m] for m in methods if m in SEEDED), "cpu")
    result.consistency = seed_consistency(result.embeddings, dataset=dataset, device=cebra_device)
    return result


def seed_consistency(
    embeddings: Mapping, dataset: str = "recording", *, device: str
) -> pd.DataFrame:
    """Consistency R² between every ordered pair of seeds of each CEBRA method.

    Each seed's embedding of the whole recording (training block, then the
    held-out block) is compared sample by sample; empty when a method has
    fewer than two seeds. ``device`` (where CEBRA ran) is recorded in every row.
    """
    rows = []
    for method in dict.fromkeys(m for m, _ in embeddings):
        seeds = [s for m, s in embeddings if m == method and s is not None]
        if len(seeds) < 2:
            continue
        full = {str(s): np.concatenate(embeddings[(method, s)]) for s in seeds}
        index = {s: np.arange(len(e)) for s, e in full.items()}
        matrix = consistency_matrix(full, index, align="sample")
        for source in matrix.index:
            for target in matrix.columns:
                if source != target:
                    rows.append(
                        {
                            "dataset": dataset,
                            "method": method,
                            "source_seed": int(source),
                            "target_seed": int(target),
                            "metric": "r2",
                            "value": float(matrix.loc[source, target]),
                            "device": device,
                        }
                    )
    return pd.DataFrame(rows, columns=CONSISTENCY_COLUMNS)


def embedding_filename(method: str, seed: int | None) -> str:
    """``{method}_seed{seed}.npz`` for CEBRA, ``{method}.npz`` for deterministic methods."""
    return f"{method}.npz" if seed is None else f"{method}_seed{seed}.npz"


def save_embedding(path, result: BehaviorDecoding, recording: Recording, method: str, seed) -> None:
    """One embedding of the whole recording (train block, then held-out block) as ``.npz``.

    Stores what the figure needs beside it: the behaviour, its column names,
    the discrete columns and the split index.
    """
    from brainlatent.io import atomic_path

    train, test = result.embeddings[(method, seed)]
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(
            f,
            embedding=np.concatenate([train, test]).astype(np.float32),
            split=np.int64(result.split),
            behavior=recording.behavior,
            behavior_names=np.array(recording.behavior_names),
            discrete=np.array(recording.discrete, dtype=str),
            method=np.array(method),
            seed=np.int64(-1 if seed is None else seed),
        )
