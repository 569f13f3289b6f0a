"""DAE-NR on the Allen natural scenes: with vs without the neural term, on held-out images.

The pseudo-mouse of scenes (:func:`brainlatent.preprocessing.scenes.pool_scenes`)
is split once by image (:func:`~brainlatent.preprocessing.scenes.split_images`),
so every beta and model seed is scored on the same held-out images, and
:func:`~brainlatent.models.daenr.compare_beta` fits one model per (beta, seed).
The first seed's reconstructions are kept for the figure from the same fits
that are scored, rather than refitting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from brainlatent.device import device_name
from brainlatent.models.daenr import compare_beta
from brainlatent.preprocessing.scenes import SceneMatrix, split_images

#: Columns of ``daenr/metrics.parquet`` (``device``: where the models were trained).
METRIC_COLUMNS = ["dataset", "beta", "seed", "metric", "value", "device"]


def fit_scenes(
    scenes: SceneMatrix,
    betas: Sequence[float],
    seeds: Sequence[int],
    n_test_images: int,
    split_seed: int,
    dataset: str = "allen_calcium",
    **params: Any,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Fit and score DAE-NR per (beta, seed); return the metrics and the reconstructions.

    The metrics are a long table (:data:`METRIC_COLUMNS`). The reconstructions
    dict holds ``test_images`` (n_test, H, W), ``test_image`` (their indices),
    ``train_image``, ``betas`` and ``reconstructions`` (n_betas, n_test, H, W),
    from the first seed; it is what ``reconstructions.npz`` stores.
    ``params`` go to :class:`~brainlatent.models.daenr.DAENREstimator`.
    """
    if not betas or not seeds:
        raise ValueError(f"fit_scenes needs at least one beta and one seed; got {betas}, {seeds}")
    train, test = split_images(len(scenes.image), n_test_images, split_seed)
    images, responses = scenes.images, scenes.responses
    kept: dict[float, np.ndarray] = {}

    def keep_first_seed(beta: float, seed: int, _estimator, recon: np.ndarray) -> None:
        if seed == int(seeds[0]):
            kept[beta] = recon

    table = compare_beta(
        images[train],
        responses[train],
        images[test],
        responses[test],
        betas=[float(b) for b in betas],
        seeds=[int(s) for s in seeds],
        on_fit=keep_first_seed,
        **params,
    )
    table.insert(0, "dataset", dataset)
    table["device"] = device_name(params.get("device", "auto"))
    betas = [float(b) for b in betas]
    reconstructions = {
        "test_images": images[test].astype(np.float32),
        "test_image": scenes.image[test].astype(np.int64),
        "train_image": scenes.image[train].astype(np.int64),
        "betas": np.array(betas, dtype=np.float64),
        "reconstructions": np.stack([kept[b] for b in betas]).astype(np.float32),
    }
    return table[METRIC_COLUMNS], reconstructions
