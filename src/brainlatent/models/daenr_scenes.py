"""DAE-NR on the Allen natural scenes: with vs without the neural term, on held-out images.

The pseudo-mouse of scenes (:func:`brainlatent.preprocessing.scenes.pool_scenes`)
is split once by image (:func:`~brainlatent.preprocessing.scenes.split_images`),
so every beta and model seed is scored on the same held-out images. About 100
training scenes are too few for an autoencoder to learn natural images from, so
the plain autoencoder is first pretrained on a large corpus
(:func:`pretraining_corpus`: dead-leaves images drawn from the seed, or a folder
of the user's images) with augmentation; every (beta, seed) fit starts from it
and keeps seeing corpus images in its reconstruction term
(:func:`~brainlatent.models.daenr.compare_beta`). The first seed's
reconstructions are kept for the figure from the same fits that are scored.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainlatent.datasets.dead_leaves import dead_leaves
from brainlatent.device import device_name
from brainlatent.errors import DataError
from brainlatent.models.daenr import compare_beta, pretrain
from brainlatent.preprocessing.scenes import SceneMatrix, split_images

#: Columns of ``daenr/metrics.parquet`` (``device``: where the models were trained).
METRIC_COLUMNS = ["dataset", "beta", "seed", "metric", "value", "device"]
#: ``pretrain.images`` value that draws the corpus from the dead-leaves generator.
DEAD_LEAVES = "dead_leaves"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
#: Stream of the dead-leaves generator the corpus is drawn from (the simulated scenes
#: come from another, so no scene is ever in the corpus).
CORPUS_STREAM = "corpus"


def _fit_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Centre-crop ``image`` (h, w) to the aspect of (height, width), then resize to it."""
    from skimage.transform import resize

    h, w = image.shape
    if h * width > w * height:  # too tall
        keep = max(1, round(w * height / width))
        top = (h - keep) // 2
        image = image[top : top + keep]
    else:
        keep = max(1, round(h * width / height))
        left = (w - keep) // 2
        image = image[:, left : left + keep]
    if image.shape == (height, width):
        return image.astype(np.float32)
    return resize(image, (height, width), anti_aliasing=True, preserve_range=True).astype(
        np.float32
    )


def pretraining_corpus(
    images: str, n_images: int, height: int, width: int, seed: int
) -> np.ndarray:
    """The pretraining images, float32 (n, height, width) in [0, 1].

    ``images`` is ``"dead_leaves"`` (drawn from ``seed``, square at the larger
    side and centre-cropped) or a folder: every image file under it (sorted,
    first ``n_images``; ImageNet or THINGS images on disk serve), made grey,
    centre-cropped to the scenes' aspect and resized to their size.
    """
    if n_images < 1:
        raise ValueError(f"pretrain.n_images must be >= 1; got {n_images}")
    if images == DEAD_LEAVES:
        side = max(height, width)
        square = dead_leaves(n_images, side, seed, stream=CORPUS_STREAM)
        top, left = (side - height) // 2, (side - width) // 2
        return np.ascontiguousarray(square[:, top : top + height, left : left + width])
    from brainlatent.features.image_models import load_rgb

    folder = Path(images)
    if not folder.is_dir():
        raise DataError(
            folder, f"pretrain.images is neither {DEAD_LEAVES!r} nor an existing folder of images"
        )
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(folder, f"no image files ({', '.join(IMAGE_SUFFIXES)}) under the folder")
    files = files[:n_images]
    out = np.empty((len(files), height, width), np.float32)
    for k, path in enumerate(files):
        grey = load_rgb(path).astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        out[k] = _fit_to(grey / 255.0, height, width)
    return np.clip(out, 0.0, 1.0)


def fit_scenes(
    scenes: SceneMatrix,
    betas: Sequence[float],
    seeds: Sequence[int],
    n_test_images: int,
    split_seed: int,
    dataset: str = "allen_calcium",
    pretraining: Mapping[str, Any] | None = None,
    **params: Any,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Pretrain, then fit and score DAE-NR per (beta, seed); return metrics and reconstructions.

    The metrics are a long table (:data:`METRIC_COLUMNS`). The reconstructions
    dict holds ``test_images`` (n_test, H, W), ``test_image`` (their indices),
    ``train_image``, ``betas``, ``reconstructions`` (n_betas, n_test, H, W),
    from the first seed, and ``pretrained`` (n_test, H, W), the pretrained
    autoencoder's own reconstructions; it is what ``reconstructions.npz`` stores.
    ``pretraining``: ``images``, ``n_images``, ``max_epochs``, ``lr``,
    ``batch_size`` (``n_images`` 0 or None: no pretraining, the network starts
    from scratch on the training scenes). ``params`` go to
    :class:`~brainlatent.models.daenr.DAENREstimator`.
    """
    if not betas or not seeds:
        raise ValueError(f"fit_scenes needs at least one beta and one seed; got {betas}, {seeds}")
    train, test = split_images(len(scenes.image), n_test_images, split_seed)
    images, responses = scenes.images, scenes.responses
    kept: dict[float, np.ndarray] = {}
    init, corpus = None, None
    pretraining = dict(pretraining or {})
    if pretraining.get("n_images"):
        start = time.perf_counter()
        _, height, width = images.shape
        corpus = pretraining_corpus(
            pretraining.get("images", DEAD_LEAVES),
            int(pretraining["n_images"]),
            height,
            width,
            split_seed,
        )
        drawn = time.perf_counter()
        shared = {k: params[k] for k in ("hidden_dim", "device", "progress") if k in params}
        init = pretrain(
            corpus,
            seed=split_seed,
            augment=bool(params.get("augment", True)),
            max_epochs=int(pretraining.get("max_epochs", 10)),
            lr=float(pretraining.get("lr", 3e-3)),
            batch_size=int(pretraining.get("batch_size", 64)),
            **shared,
        )
        print(
            f"pretraining corpus: {len(corpus)} images drawn/read in {drawn - start:.1f} s; "
            f"autoencoder pretrained in {time.perf_counter() - drawn:.1f} s"
        )

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
        init=init,
        corpus=corpus,
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
    if init is not None:
        reconstructions["pretrained"] = init.reconstruct(images[test]).astype(np.float32)
    return table[METRIC_COLUMNS], reconstructions
