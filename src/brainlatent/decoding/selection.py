"""Choosing the embeddings' input smoothing and CEBRA's iterations on the training block only.

On sparse spike counts (about 0.5 Hz per cell, 25 ms bins) most bins are empty,
and CEBRA's offset10 model sees 250 ms of them at a time: on the sparse
place-cell preset its error halves when its input is smoothed first. How much
to smooth depends on the recording, so it is chosen, like the standard decoders'
smoothing (:func:`brainlatent.decoding.population.choose_sigma`), on data the
held-out block never touches: the training block is cut into a contiguous fit
part and a validation tail (its last ``validation_fraction``), each smoothed on
its own; for each candidate width one model is fitted on the fit part and, every
``eval_every`` iterations, the kNN decoder of the final analysis (fitted on the
fit part's embedding) scores the validation tail. The (width, iteration count)
with the lowest criterion wins; the final models are then fitted on the whole
training block with them.

The criterion is the median absolute error of the first continuous behaviour
column (position), the median distance of the first multi-column position (an
open field's x and y) when there is one, or the error rate of the first discrete
column when nothing is continuous. Each embedding chooses for itself:
``cebra_behavior`` and ``cebra_time`` (one CEBRA fit per width; on the dense preset
CEBRA-Time wants less smoothing than CEBRA-Behavior), ``pca`` and ``raw`` (kNN on the
smoothed input itself); the last two have no iterations and cost a kNN fit per width.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

#: Columns of a validation curve (one row per width, iteration count and behaviour column;
#: ``criterion`` marks the rows the choice is made on, ``chosen`` the winner's).
SELECTION_COLUMNS = [
    "dataset", "method", "seed", "smoothing_s", "iterations", "label", "metric", "value",
    "criterion", "chosen", "device",
]  # fmt: skip
#: Candidate widths (Gaussian s.d., s) tried by default: 0 keeps the counts.
DEFAULT_SMOOTHINGS_S = (0.0, 0.1, 0.25, 0.5)
#: Iterations between two validation scores of a CEBRA fit.
DEFAULT_EVAL_EVERY = 250
#: Methods a validation curve can be made for.
SELECTION_METHODS = ("cebra_behavior", "cebra_time", "pca", "raw")


def input_blocks(neural, rate_hz: float, sigma_s: float, bounds) -> tuple[np.ndarray, ...]:
    """The embeddings' input, one array per contiguous block (float32, counts per bin).

    ``sigma_s`` 0 keeps the binned activity; otherwise each block is smoothed on its
    own by a Gaussian of that s.d. (:func:`~brainlatent.decoding.population.smooth_blocks`),
    so that no activity crosses a boundary. ``bounds``: the first sample of each block
    after the first (an int or an increasing sequence).
    """
    from brainlatent.decoding.population import smooth_blocks

    neural = np.asarray(neural, dtype=np.float32)
    sigma_s = float(sigma_s)
    if not np.isfinite(sigma_s) or sigma_s < 0:
        raise ValueError(f"input smoothing must be finite and >= 0 s; got {sigma_s}")
    if sigma_s == 0:
        return tuple(np.split(neural, np.atleast_1d(bounds)))
    return tuple(
        (block / rate_hz).astype(np.float32)
        for block in smooth_blocks(neural, rate_hz, sigma_s, bounds)
    )


def criterion_label(names: Sequence[str], is_discrete, groups=None) -> tuple[str, str]:
    """(column, metric) a choice is made on: the first multi-column position's median
    distance (``groups``: label → columns), else the first continuous column's median
    absolute error, else the first discrete column's accuracy."""
    from brainlatent.decoding.behavior import DISTANCE_METRIC

    if groups:
        return next(iter(groups)), DISTANCE_METRIC
    is_discrete = list(is_discrete)
    for name, discrete in zip(names, is_discrete, strict=True):
        if not discrete:
            return name, "median_abs_error"
    return names[0], "accuracy"


def _scores(
    fit_embedding, fit_behavior, val_embedding, val_behavior, names, is_discrete, knn, groups
):
    from brainlatent.decoding.behavior import distance_rows

    rows = []
    predictions = np.full(val_behavior.shape, np.nan)
    for j, (name, discrete) in enumerate(zip(names, is_discrete, strict=True)):
        if discrete:
            model = KNeighborsClassifier(**knn).fit(fit_embedding, fit_behavior[:, j].astype(int))
            accuracy = np.mean(model.predict(val_embedding) == val_behavior[:, j])
            rows.append({"label": name, "metric": "accuracy", "value": float(accuracy)})
        else:
            model = KNeighborsRegressor(**knn).fit(fit_embedding, fit_behavior[:, j])
            predictions[:, j] = model.predict(val_embedding)
            error = np.median(np.abs(predictions[:, j] - val_behavior[:, j]))
            rows.append({"label": name, "metric": "median_abs_error", "value": float(error)})
    return rows + distance_rows(groups, predictions, val_behavior)


def validation_curve(
    neural,
    behavior,
    names: Sequence[str],
    is_discrete,
    rate_hz: float,
    *,
    method: str = "cebra_behavior",
    smoothing_s: float = 0.0,
    seed: int = 0,
    validation_fraction: float = 0.2,
    eval_every: int = DEFAULT_EVAL_EVERY,
    cebra_params: Mapping | None = None,
    n_neighbors: int = 36,
    metric: str = "cosine",
    pca_dim: int = 3,
    threads: int | None = 1,
    dataset: str = "recording",
    progress: bool = False,
    groups: Mapping[str, Sequence[int]] | None = None,
) -> pd.DataFrame:
    """Validation scores of one input width over a fit's iterations (:data:`SELECTION_COLUMNS`).

    ``neural`` and ``behavior`` are the **training block** only; its last
    ``validation_fraction`` is the validation tail. For CEBRA, the model is scored
    every ``eval_every`` iterations and after the last (``iterations``: the gradient steps
    taken, so a final fit of that many iterations is the model scored); for ``pca``
    (``pca_dim`` components fitted on the fit part) and ``raw`` there is one score
    (``iterations`` missing). ``groups`` (label → columns: a
    multi-column position) adds each position's median distance, the criterion then.
    ``chosen`` is left False: :func:`choose` sets it over all widths' curves.
    """
    from brainlatent.decoding.behavior import cebra_labels, split_index

    if method not in SELECTION_METHODS:
        raise ValueError(
            f"unknown selection method {method!r}; expected one of {SELECTION_METHODS}"
        )
    neural = np.asarray(neural, dtype=np.float32)
    behavior = np.asarray(behavior, dtype=np.float64)
    names, is_discrete = list(names), np.asarray(is_discrete, dtype=bool)
    cut = split_index(len(neural), validation_fraction)
    fit_part, val_part = input_blocks(neural, rate_hz, smoothing_s, cut)
    fit_y, val_y = behavior[:cut], behavior[cut:]
    knn = {"n_neighbors": max(1, min(int(n_neighbors), cut)), "metric": metric}
    label, criterion_metric = criterion_label(names, is_discrete, groups)
    curve: list[dict] = []

    def record(iterations, fit_embedding, val_embedding):
        scores = _scores(
            fit_embedding, fit_y, val_embedding, val_y, names, is_discrete, knn, groups
        )
        for row in scores:
            curve.append({"iterations": iterations, **row})

    device = "cpu"
    if method == "raw":
        record(None, fit_part, val_part)
    elif method == "pca":
        from sklearn.decomposition import PCA

        k = min(pca_dim, *fit_part.shape)
        pca = PCA(n_components=k, svd_solver="full").fit(fit_part)
        record(None, pca.transform(fit_part), pca.transform(val_part))
    else:
        import torch

        from brainlatent.decoding.behavior import fit_cebra, method_device

        device = method_device(method, cebra_params)
        params = dict(cebra_params or {})
        if eval_every < 1:
            raise ValueError(f"eval_every must be >= 1 iteration; got {eval_every}")

        def embed(solver, block):
            inputs = torch.from_numpy(np.ascontiguousarray(block)).to(solver.device)
            return solver.transform(inputs).detach().cpu().numpy()

        def on_step(steps, solver):
            record(steps, embed(solver, fit_part), embed(solver, val_part))
            solver.model.train()  # transform() left it in eval mode

        continuous, discrete = cebra_labels(fit_y, is_discrete)
        model = fit_cebra(
            method.split("_", 1)[1],
            fit_part,
            continuous,
            discrete,
            seed=seed,
            threads=threads,
            callback=on_step,
            callback_every=eval_every,
            progress=f"{dataset} {method} σ={smoothing_s:g} s (validation)" if progress else None,
            **params,
        )
        total = int(model.max_iterations)  # the hook records eval_every, 2 eval_every, ...
        if not curve or curve[-1]["iterations"] != total:
            record(total, model.transform(fit_part), model.transform(val_part))
    table = pd.DataFrame(curve)
    table.insert(0, "smoothing_s", float(smoothing_s))
    table.insert(0, "seed", int(seed) if method in ("cebra_behavior", "cebra_time") else None)
    table.insert(0, "method", method)
    table.insert(0, "dataset", dataset)
    table["criterion"] = (table["label"] == label) & (table["metric"] == criterion_metric)
    table["chosen"] = False
    table["device"] = device
    table["seed"] = table["seed"].astype("Int64")
    table["iterations"] = table["iterations"].astype("Int64")
    return table[SELECTION_COLUMNS]


@dataclass(frozen=True)
class Choice:
    """What :func:`choose` picked: the input width and (CEBRA) the iteration count."""

    smoothing_s: float
    iterations: int | None
    label: str
    metric: str
    value: float


def choose(curves: pd.DataFrame | Sequence[pd.DataFrame]) -> tuple[Choice, pd.DataFrame]:
    """The best (width, iterations) over one method's validation curves, and the curves with
    ``chosen`` set.

    Lowest criterion error (highest accuracy); ties go to the smaller width, then to
    fewer iterations. The chosen count is what the final fit trains: the curve counts
    the steps its scored models took.
    """
    table = curves if isinstance(curves, pd.DataFrame) else pd.concat(list(curves))
    table = table.reset_index(drop=True)
    if table.empty:
        raise ValueError("no validation curves to choose from")
    missing = [c for c in SELECTION_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"validation curves lack the columns {missing}")
    if table["method"].nunique() > 1:
        raise ValueError(f"curves of several methods {sorted(set(table['method']))}: choose each")
    candidates = table[table["criterion"]]
    if candidates.empty:
        raise ValueError("the validation curves have no criterion rows")
    metric = candidates["metric"].iloc[0]
    score = -candidates["value"] if metric == "accuracy" else candidates["value"]
    order = pd.DataFrame(
        {
            "score": score.round(12),
            "smoothing_s": candidates["smoothing_s"],
            "iterations": candidates["iterations"].fillna(0),
        }
    ).sort_values(["score", "smoothing_s", "iterations"], kind="stable")
    best = table.loc[order.index[0]]
    iterations = None if pd.isna(best["iterations"]) else int(best["iterations"])
    same = (table["smoothing_s"] == best["smoothing_s"]) & (
        table["iterations"].isna() if iterations is None else table["iterations"] == iterations
    )
    table["chosen"] = same.to_numpy()
    choice = Choice(
        float(best["smoothing_s"]), iterations, str(best["label"]), metric, float(best["value"])
    )
    return choice, table
