"""Movie-frame decoding of one mouse, every method in one long table (CEBRA Fig. 5).

Ties :mod:`brainlatent.decoding.frames` (kNN decoding, neuron-count sweep) to
the frame labels CEBRA-Behavior learns from: an image embedding of each movie
frame (the paper uses DINO features; the handcrafted models need no weights).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from brainlatent.decoding import frames
from brainlatent.features.image_models import get_spec

#: Decoding methods: raw activity, PCA, and the three CEBRA variants.
METHODS = ("raw", "pca", "cebra_behavior", "cebra_time", "cebra_hybrid")

#: Columns of :func:`decode_movie_frames`'s table: ``method``, then
#: :func:`~brainlatent.decoding.frames.neuron_count_sweep`'s, then ``device`` (where the
#: embedding was fitted: CEBRA's resolved device, ``cpu`` for raw and PCA).
COLUMNS = [
    "method",
    "n_neurons",
    "seed",
    "metric",
    "value",
    "chance",
    "n_test",
    "n_neighbors",
    "device",
]


def frame_features(template: np.ndarray, model: str = "hog") -> np.ndarray:
    """One handcrafted embedding per movie frame ((frames, H, W[, 3]) uint8 → (frames, d))."""
    spec = get_spec(model)
    if spec.pretrained:
        raise ValueError(f"frame features need a handcrafted image model; got {model!r}")
    template = np.asarray(template)
    rgb = np.repeat(template[..., None], 3, axis=-1) if template.ndim == 3 else template
    return np.stack([spec.embed(frame) for frame in rgb]).astype(np.float32)


def method_device(method: str, cebra_params: Mapping) -> str:
    """Where ``method`` runs: CEBRA on its ``device`` parameter (resolved), the rest on the CPU."""
    if not method.startswith("cebra_"):
        return "cpu"
    from brainlatent.device import device_name

    return device_name(cebra_params.get("device", "auto"))


def embed_fn(method: str, features: np.ndarray, pca_dim: int, cebra_params: Mapping):
    if method == "raw":
        return frames.raw_embedding
    if method == "pca":
        return frames.pca_embedding(pca_dim)
    if method in ("cebra_behavior", "cebra_hybrid"):
        return frames.cebra_embedding(method.split("_")[1], features, **cebra_params)
    if method == "cebra_time":
        return frames.cebra_embedding("time", **cebra_params)
    raise ValueError(f"unknown method {method!r}; expected one of {list(METHODS)}")


def decode_movie_frames(
    neural: np.ndarray,
    frame: np.ndarray,
    repeat: np.ndarray,
    features: np.ndarray,
    methods: Sequence[str],
    counts: Sequence[int],
    seeds: Sequence[int],
    cebra_params: Mapping,
    pca_dim: int = 8,
    window: int = frames.FRAME_RATE_HZ,
    candidates: Mapping[int, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Accuracy (within ``window`` frames) on the last repeat vs neuron count, per method.

    Counts above the mouse's number of neurons (a pseudo-mouse's: each seed's draw,
    ``candidates``, see :func:`~brainlatent.decoding.frames.neuron_count_sweep`) are
    replaced by that number, so the largest count always means "every neuron".
    Columns: :data:`COLUMNS`.
    """
    n = min((len(c) for c in candidates.values()), default=0) if candidates else neural.shape[1]
    counts = sorted({min(int(c), n) for c in counts})
    tables = []
    for method in methods:
        table = frames.neuron_count_sweep(
            neural,
            frame,
            repeat,
            counts,
            seeds,
            embed_fn(method, features, pca_dim, cebra_params),
            decode_kwargs={"window": window},
            candidates=candidates,
        )
        table.insert(0, "method", method)
        table["device"] = method_device(method, cebra_params)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def movie_embedding(
    neural: np.ndarray,
    frame: np.ndarray,
    repeat: np.ndarray,
    features: np.ndarray,
    kind: str,
    cebra_params: Mapping,
    seed: int = 0,
) -> np.ndarray:
    """One CEBRA embedding of every row, fitted on all repeats but the last.

    The held-out repeat is embedded by the same model, so figures and the
    consistency across mice see train and test rows in one space.
    """
    repeat = np.asarray(repeat)
    train = repeat != repeat.max()
    if not train.any():
        raise ValueError("need at least two repeats: one to fit on, the last held out")
    embed = embed_fn(f"cebra_{kind}", features, pca_dim=0, cebra_params=cebra_params)
    _, embedding = embed(neural[train], np.asarray(frame)[train], neural, int(seed))
    return embedding
