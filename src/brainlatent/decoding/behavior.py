"""Decoding behaviour from embeddings of a user's recording (the CEBRA hippocampus analysis).

Follows the CEBRA paper's rat-hippocampus decoding (Schneider, Lee & Mathis
2023, Fig. 2; the CEBRA repository's hippocampus demo): the recording is split
in time — the last ``test_fraction`` (default 0.2) is a held-out *contiguous*
block, so temporally adjacent, strongly correlated samples cannot leak from
training into testing — every embedding is fitted on the training block only,
and a k-nearest-neighbour decoder (36 neighbours, cosine distance, as in the
demo) fitted on the training embedding predicts the test block's behaviour:
median absolute error and R² for continuous columns, accuracy for discrete
ones, and for a multi-column position (an open field's x and y,
:attr:`~brainlatent.datasets.recording.Recording.distance_groups`) the median
distance between decoded and true position. A ``chance`` row predicts the
training median (continuous) or majority class (discrete), the floor every
embedding must beat.

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
smoothing chosen on the training block. The embeddings' input may be smoothed too, by a
set width or one each embedding chooses on the training block's validation tail, with
CEBRA's iteration count (:mod:`brainlatent.decoding.selection`); the table's
``smoothing_s`` and ``iterations`` state what every row's method saw.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.metrics import r2_score
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from brainlatent.datasets.recording import Recording
from brainlatent.decoding.frames import consistency_matrix
from brainlatent.errors import DataError

#: Embeddings decoded with kNN, CEBRA first.
EMBEDDINGS = ("cebra_behavior", "cebra_time", "pca", "raw")
#: The field's standard decoders on counts (:mod:`brainlatent.decoding.population`).
STANDARD = ("bayesian", "knn_smoothed", "ridge_smoothed")
#: Every decoding method.
METHODS = (*EMBEDDINGS, *STANDARD)
#: Fewest samples a recording may have (a held-out block, and a validation tail of the rest).
MIN_SAMPLES = 200
#: Methods whose embedding depends on the seed (one row per seed in the tables).
SEEDED = ("cebra_behavior", "cebra_time")
#: Columns of the metrics table (``seed`` is missing for deterministic methods;
#: ``smoothing_s``: the input's smoothing, set or chosen (Gaussian s.d. for the embeddings
#: and smoothed decoders, the window for the Bayesian one), missing for chance;
#: ``iterations``: CEBRA's training steps, missing for the rest; ``device`` is
#: where the embedding was fitted: CEBRA's resolved device, ``cpu`` for the rest).
METRIC_COLUMNS = [
    "dataset", "method", "seed", "label", "metric", "value", "smoothing_s", "iterations",
    "device",
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
#: The metric of a multi-column position (an open field's x and y as one error).
DISTANCE_METRIC = "median_distance_error"


def method_device(method: str, cebra_params: Mapping | None = None) -> str:
    """Where ``method`` runs: CEBRA on its ``device`` parameter (resolved), the rest on the CPU."""
    if method not in SEEDED:
        return "cpu"
    from brainlatent.device import device_name

    return device_name((cebra_params or {}).get("device", "auto"))


def check_length(recording: Recording) -> None:
    """A DataError naming the file when it is too short to split (:data:`MIN_SAMPLES`)."""
    if len(recording.neural) < MIN_SAMPLES:
        raise DataError(
            recording.path,
            f"only {len(recording.neural)} samples (at least {MIN_SAMPLES}): too few to hold "
            "out a test block and choose the smoothing on a validation tail of the rest",
        )


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
    callback=None,
    callback_every: int | None = None,
    progress: str | None = None,
    **params,
):
    """A seeded CEBRA fit on continuous and/or discrete behaviour (none for ``time``).

    ``callback``, ``callback_every`` and ``progress`` (a tqdm description) go to
    :func:`brainlatent.models.cebra_models.fit_model`; ``params`` to ``make_cebra``.
    """
    from brainlatent.models import cebra_models  # imports torch: only when asked

    if kind != "time" and continuous is None and discrete is None:
        raise ValueError("CEBRA-Behavior needs at least one behaviour column")
    if kind == "time":
        continuous = discrete = None
    model = cebra_models.make_cebra(kind, random_state=seed, **params)
    return cebra_models.fit_model(
        model,
        neural,
        continuous,
        discrete=discrete,
        threads=threads,
        callback=callback,
        callback_every=callback_every,
        progress=progress,
    )


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
    progress: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) embeddings of one method, fitted on the training block only.

    ``progress``: a description for a tqdm bar of CEBRA's iterations (None: no bar).
    """
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
            kind,
            train,
            continuous,
            discrete,
            seed=seed,
            threads=threads,
            progress=progress,
            **(cebra_params or {}),
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
    groups: Mapping[str, Sequence[int]] | None = None,
) -> list[dict]:
    """kNN decoding of each behaviour column: ``{label, metric, value}`` rows.

    Continuous columns: median absolute error (the column's unit) and R²;
    discrete columns: accuracy; each multi-column position in ``groups``
    (:func:`distance_rows`): the median distance. ``k`` is capped at the number of
    training rows.
    """
    k = max(1, min(int(n_neighbors), len(train_embedding)))
    rows = []
    predictions = np.full(np.shape(test_behavior), np.nan)
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
            predictions[:, j] = predicted
            rows += _continuous_rows(name, predicted, y_test)
    return rows + distance_rows(groups, predictions, test_behavior)


def chance_rows(train_behavior, test_behavior, names, is_discrete, groups=None) -> list[dict]:
    """The floor: the training median (continuous) or majority class (discrete) for every
    sample; a multi-column position in ``groups``: the point of the columns' medians."""
    rows = []
    predictions = np.full(np.shape(test_behavior), np.nan)
    for j, (name, discrete) in enumerate(zip(names, is_discrete, strict=True)):
        y_train, y_test = train_behavior[:, j], test_behavior[:, j]
        if discrete:
            values, counts = np.unique(y_train, return_counts=True)
            guess = np.full(len(y_test), values[np.argmax(counts)])
            rows.append({"label": name, "metric": "accuracy", "value": _accuracy(guess, y_test)})
        else:
            predictions[:, j] = np.median(y_train)
            rows += _continuous_rows(name, predictions[:, j], y_test)
    return rows + distance_rows(groups, predictions, test_behavior)


def distance_rows(groups: Mapping[str, Sequence[int]] | None, predicted, true) -> list[dict]:
    """One row per multi-column position (``groups``: label → its columns of ``predicted``
    and ``true``, samples × columns): the median Euclidean distance between the decoded
    and the true position, in the position's unit. An open field's decoding is reported
    this way; its x and y errors alone each miss the other axis."""
    rows = []
    for label, columns in (groups or {}).items():
        columns = list(columns)
        error = np.linalg.norm(
            np.asarray(predicted)[:, columns] - np.asarray(true)[:, columns], axis=1
        )
        if np.isnan(error).any():
            raise ValueError(f"position {label!r}: columns {columns} were not all decoded")
        rows.append({"label": label, "metric": DISTANCE_METRIC, "value": float(np.median(error))})
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


@dataclass(frozen=True)
class FittedEmbedding:
    """One embedding of the recording, fitted on the training block: what it was fitted with."""

    train: np.ndarray
    test: np.ndarray
    smoothing_s: float  # the input's Gaussian s.d. (s), 0: binned counts
    iterations: int | None  # CEBRA's training steps (None for PCA)
    device: str


@dataclass
class BehaviorDecoding:
    """Result of :func:`decode_behavior`.

    ``embeddings[(method, seed)]`` is ``(train, test)``; deterministic
    methods are stored under seed ``None`` and ``raw`` is not stored.
    ``selection``: the validation curves the input smoothing was chosen on
    (:data:`brainlatent.decoding.selection.SELECTION_COLUMNS`; empty when it was set).
    """

    metrics: pd.DataFrame
    consistency: pd.DataFrame
    split: int
    embeddings: dict[tuple[str, int | None], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict
    )
    selection: pd.DataFrame = field(default_factory=pd.DataFrame)  # set by decode_behavior
    fitted: dict[tuple[str, int | None], FittedEmbedding] = field(default_factory=dict)


def select_input(
    recording: Recording,
    method: str,
    seed: int = 0,
    cebra_params: Mapping | None = None,
    *,
    test_fraction: float = 0.2,
    selection: Mapping | None = None,
    n_neighbors: int = DEFAULT_NEIGHBORS,
    metric: str = "cosine",
    pca_dim: int = 3,
    threads: int | None = 1,
    dataset: str = "recording",
    progress: bool = False,
    log=print,
):
    """Validation curves of ``method`` at every candidate input width, on the training block.

    ``selection``: ``smoothings_s`` (candidates), ``validation_fraction`` and
    ``eval_every`` (:func:`brainlatent.decoding.selection.validation_curve`); CEBRA's
    curves are made with ``seed``. Returns ``(choice, curves)`` as
    :func:`brainlatent.decoding.selection.choose` does.
    """
    from brainlatent.decoding import selection as sel

    settings = {"smoothings_s": sel.DEFAULT_SMOOTHINGS_S, **(selection or {})}
    split = split_index(len(recording.neural), test_fraction)
    curves = []
    for sigma in settings["smoothings_s"]:
        curves.append(
            validation_curve_of(
                recording,
                method,
                sigma,
                seed=int(seed),
                split=split,
                cebra_params=cebra_params,
                validation_fraction=settings.get("validation_fraction", 0.2),
                eval_every=settings.get("eval_every", sel.DEFAULT_EVAL_EVERY),
                n_neighbors=n_neighbors,
                metric=metric,
                pca_dim=pca_dim,
                threads=threads,
                dataset=dataset,
                progress=progress,
            )
        )
        log(_describe_curve(curves[-1]))
    return sel.choose(curves)


def validation_curve_of(recording: Recording, method: str, smoothing_s: float, *, split, **kw):
    """:func:`~brainlatent.decoding.selection.validation_curve` on ``recording``'s training block
    (``[:split]``)."""
    from brainlatent.decoding.selection import validation_curve

    check_length(recording)
    return validation_curve(
        recording.neural[:split],
        recording.behavior[:split],
        recording.behavior_names,
        recording.is_discrete,
        recording.rate,
        method=method,
        smoothing_s=smoothing_s,
        groups=recording.distance_groups,
        **kw,
    )


def _describe_curve(curve: pd.DataFrame) -> str:
    rows = curve[curve["criterion"]]
    points = ", ".join(
        f"{'' if pd.isna(i) else f'{i} it '}{v:.3f}"
        for i, v in zip(rows["iterations"], rows["value"], strict=True)
    )
    first = rows.iloc[0]
    return (
        f"validation {first['method']} σ={first['smoothing_s']:g} s, "
        f"{first['label']} {first['metric']}: {points}"
    )


def fit_recording_embedding(
    recording: Recording,
    method: str,
    seed: int | None,
    *,
    smoothing_s: float = 0.0,
    cebra_params: Mapping | None = None,
    test_fraction: float = 0.2,
    pca_dim: int = 3,
    threads: int | None = 1,
    progress: bool = False,
) -> FittedEmbedding:
    """One embedding of ``recording`` fitted on its training block (input smoothed by
    ``smoothing_s``, each block on its own)."""
    from brainlatent.decoding.selection import input_blocks

    if method not in EMBEDDINGS:
        raise ValueError(f"unknown embedding {method!r}; expected one of {list(EMBEDDINGS)}")
    check_length(recording)
    split = split_index(len(recording.neural), test_fraction)
    train, test = input_blocks(recording.neural, recording.rate, smoothing_s, split)
    description = f"{method} seed={seed}" if progress and method in SEEDED else None
    E_train, E_test = embed(
        method,
        train,
        test,
        recording.behavior[:split],
        recording.is_discrete,
        seed=int(seed or 0),
        pca_dim=pca_dim,
        cebra_params=cebra_params,
        threads=threads,
        progress=description,
    )
    iterations = None
    if method in SEEDED:
        from brainlatent.models.cebra_models import MAX_ITERATIONS

        iterations = (cebra_params or {}).get("max_iterations", MAX_ITERATIONS)
    return FittedEmbedding(
        E_train,
        E_test,
        float(smoothing_s),
        None if iterations is None else int(iterations),
        method_device(method, cebra_params),
    )


def decode_behavior(
    recording: Recording,
    methods: Sequence[str] = METHODS,
    seeds: Sequence[int] = (0,),
    cebra_params: Mapping | None = None,
    *,
    test_fraction: float = 0.2,
    input_smoothing_s: float | str = 0.0,
    selection: Mapping | None = None,
    selection_curves: pd.DataFrame | None = None,
    fitted: Mapping | None = None,
    pca_dim: int = 3,
    n_neighbors: int = DEFAULT_NEIGHBORS,
    metric: str = "cosine",
    threads: int | None = 1,
    standard_params: Mapping | None = None,
    dataset: str = "recording",
    progress: bool = False,
    log=print,
) -> BehaviorDecoding:
    """Embed, decode the held-out block, and measure CEBRA's consistency across seeds.

    CEBRA methods run once per seed; PCA, raw and the standard decoders are
    deterministic and run once (their ``seed`` is missing). ``input_smoothing_s`` > 0
    smooths the embeddings' input (a Gaussian of that s.d., in counts per bin, each block
    on its own; the standard decoders choose their own smoothing); ``"auto"`` lets each
    embedding choose its own, with CEBRA's iteration count, on the training block's
    validation tail (:func:`select_input` with ``selection``; CEBRA's curves may be given
    as ``selection_curves``, PCA's and raw's cost a kNN fit per width and are always made).
    ``fitted[(method, seed)]`` (:class:`FittedEmbedding`) are embeddings fitted
    elsewhere (the workflow's parallel jobs), used instead of fitting again.
    ``standard_params`` (e.g. ``sigmas``, ``windows_s``) go to
    :func:`brainlatent.decoding.population.decode_standard`. Returns long tables
    (:data:`METRIC_COLUMNS`, :data:`CONSISTENCY_COLUMNS`) and the embeddings for the figure.
    """
    from brainlatent.decoding.selection import SELECTION_COLUMNS

    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; expected some of {list(METHODS)}")
    if "bayesian" in methods and (recording.neural < 0).any():
        raise DataError(
            recording.path,
            "the neural series has negative values (dF/F or z-scores?), but the Bayesian "
            "decoder needs spike counts: leave 'bayesian' out of recording.methods",
        )
    check_length(recording)
    neural, behavior = recording.neural, recording.behavior
    names, is_discrete = recording.behavior_names, recording.is_discrete
    split = split_index(len(neural), test_fraction)
    y_train, y_test = behavior[:split], behavior[split:]
    log(
        f"{recording.path}: {neural.shape[0]} samples × {neural.shape[1]} neurons at "
        f"{recording.rate:g} Hz; train {split}, held-out block {len(neural) - split}"
    )
    result = BehaviorDecoding(metrics=pd.DataFrame(), consistency=pd.DataFrame(), split=split)
    curves = {}  # method -> its validation curves, chosen marked
    settings = {}  # method -> (input width, CEBRA parameters)
    for method in (m for m in methods if m in EMBEDDINGS):
        given = None
        if selection_curves is not None and method in SEEDED:
            given = selection_curves[selection_curves["method"] == method]
        settings[method] = resolve_input(
            input_smoothing_s,
            cebra_params,
            given,
            select=lambda method=method: select_input(
                recording, method, int(seeds[0]), cebra_params, test_fraction=test_fraction,
                selection=selection, n_neighbors=n_neighbors, metric=metric, pca_dim=pca_dim,
                threads=threads, dataset=dataset, progress=progress, log=log,
            ),
            log=log,
        )  # fmt: skip
        curves[method] = settings[method][2]
    made = [c for c in curves.values() if not c.empty]
    result.selection = (
        pd.concat(made, ignore_index=True) if made else pd.DataFrame(columns=SELECTION_COLUMNS)
    )

    rows = [
        {"method": "chance", "seed": None, **row, "device": "cpu"}
        for row in chance_rows(y_train, y_test, names, is_discrete, recording.distance_groups)
    ]
    for method in (m for m in methods if m in EMBEDDINGS):
        for seed in seeds if method in SEEDED else [None]:
            embedding = (fitted or {}).get((method, seed))
            if embedding is None:
                sigma, params, _ = settings[method]
                embedding = fit_recording_embedding(
                    recording, method, seed, smoothing_s=sigma, cebra_params=params,
                    test_fraction=test_fraction, pca_dim=pca_dim, threads=threads,
                    progress=progress,
                )  # fmt: skip
            _check_fitted(embedding, method, seed, split, len(neural))
            decoded = knn_decode(
                embedding.train,
                y_train,
                embedding.test,
                y_test,
                names,
                is_discrete,
                n_neighbors=n_neighbors,
                metric=metric,
                groups=recording.distance_groups,
            )
            rows += [
                {
                    "method": method,
                    "seed": seed,
                    **row,
                    "smoothing_s": embedding.smoothing_s,
                    "iterations": embedding.iterations,
                    "device": embedding.device,
                }
                for row in decoded
            ]
            if method != "raw":
                result.embeddings[(method, seed)] = (embedding.train, embedding.test)
                result.fitted[(method, seed)] = embedding
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
                neural[:split],
                y_train,
                neural[split:],
                y_test,
                names,
                is_discrete,
                recording.rate,
                methods=standard,
                neighbors=n_neighbors,
                metric=metric,
                position_groups=recording.position_groups,
                distance_groups=recording.distance_groups,
                log=log,
                **(standard_params or {}),
            )
        ]
    metrics = pd.DataFrame(rows)
    metrics.insert(0, "dataset", dataset)
    metrics = metrics.reindex(columns=METRIC_COLUMNS)  # chance rows: no smoothing (NaN)
    metrics["seed"] = metrics["seed"].astype("Int64")
    metrics["iterations"] = metrics["iterations"].astype("Int64")
    result.metrics = metrics[METRIC_COLUMNS]
    # Without a CEBRA method the consistency table is empty and its device moot.
    cebra_device = next(
        (e.device for (m, _), e in result.fitted.items() if m in SEEDED),
        method_device(SEEDED[0], cebra_params),
    )
    result.consistency = seed_consistency(result.embeddings, dataset=dataset, device=cebra_device)
    if not result.selection.empty:
        result.selection["dataset"] = dataset
    return result


def resolve_input(input_smoothing_s, cebra_params=None, curves=None, *, select=None, log=print):
    """``(input width, CEBRA parameters, selection table)`` to fit with: as set, or chosen.

    With ``"auto"`` the validation curves (given, else ``select()``'s) choose the width and,
    when made with CEBRA, ``max_iterations``; the table is the curves with ``chosen``
    marked (empty when the width was set).
    """
    from brainlatent.decoding.selection import SELECTION_COLUMNS, choose

    cebra_params = dict(cebra_params or {})
    if input_smoothing_s != "auto":
        sigma = float(input_smoothing_s)
        if not np.isfinite(sigma) or sigma < 0:
            raise ValueError(f"input_smoothing_s must be >= 0 or 'auto'; got {input_smoothing_s!r}")
        return sigma, cebra_params, pd.DataFrame(columns=SELECTION_COLUMNS)
    if curves is None and select is None:
        raise ValueError("input_smoothing_s 'auto' needs validation curves or a way to make them")
    choice, table = choose(curves) if curves is not None else select()
    if choice.iterations is not None:
        cebra_params["max_iterations"] = choice.iterations
    log(
        f"chosen on the training block's validation tail: input smoothing "
        f"{choice.smoothing_s:g} s"
        + ("" if choice.iterations is None else f", {choice.iterations} CEBRA iterations")
        + f" ({choice.label} {choice.metric} {choice.value:.3f})"
    )
    return choice.smoothing_s, cebra_params, table


def _check_fitted(embedding: FittedEmbedding, method, seed, split: int, n: int) -> None:
    if len(embedding.train) != split or len(embedding.train) + len(embedding.test) != n:
        raise ValueError(
            f"the fitted {method} embedding (seed {seed}) has {len(embedding.train)} training "
            f"and {len(embedding.test)} held-out samples; the recording splits {n} samples at "
            f"{split}: it was fitted on another recording or test_fraction"
        )


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


def save_embedding(
    path, embedding: FittedEmbedding, recording: Recording, method: str, seed, split: int
) -> None:
    """One embedding of the whole recording (train block, then held-out block) as ``.npz``.

    Stores what the figure and the decoding step need beside it: the behaviour, its
    column names, the discrete columns, each column's series (which columns are one
    position), the split index, and what it was fitted with.
    """
    from brainlatent.io import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(
            f,
            embedding=np.concatenate([embedding.train, embedding.test]).astype(np.float32),
            split=np.int64(split),
            behavior=recording.behavior,
            behavior_names=np.array(recording.behavior_names),
            discrete=np.array(recording.discrete, dtype=str),
            series=np.array(recording.series or recording.behavior_names, dtype=str),
            method=np.array(method),
            seed=np.int64(-1 if seed is None else seed),
            smoothing_s=np.float64(embedding.smoothing_s),
            iterations=np.int64(-1 if embedding.iterations is None else embedding.iterations),
            device=np.array(embedding.device),
        )


def load_embedding(path) -> tuple[str, int | None, FittedEmbedding]:
    """``(method, seed, embedding)`` from a :func:`save_embedding` file; errors name the file."""
    required = {"embedding", "split", "method", "seed", "smoothing_s", "iterations", "device"}
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = sorted(required - set(data.files))
            if missing:
                raise ValueError(f"{path}: not an embedding file (lacks {missing})")
            values = {key: data[key] for key in required}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as error:
        if str(path) in str(error):
            raise
        raise ValueError(f"{path}: cannot read the embedding ({error})") from error
    split, embedding = int(values["split"]), values["embedding"]
    seed, iterations = int(values["seed"]), int(values["iterations"])
    fitted = FittedEmbedding(
        embedding[:split],
        embedding[split:],
        float(values["smoothing_s"]),
        None if iterations < 0 else iterations,
        str(values["device"]),
    )
    return str(values["method"]), None if seed < 0 else seed, fitted
