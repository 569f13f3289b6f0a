"""Image embeddings: the registry of image models, and the one function that runs them.

Decoders are trained to predict these vectors from brain activity, so every
model maps a list of image files to a ``float32`` matrix with one row per image
in the order given. Handcrafted models need nothing but the images; pretrained
ones read their weights from a path in the config and never download anything,
so a workflow run is reproducible offline.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from brainlatent.errors import DataError
from brainlatent.features import handcrafted
from brainlatent.io import save_npy, write_table

#: Columns of the index table written next to each feature matrix.
INDEX_COLUMNS = {"image": "int64", "row": "int64", "model": "string", "file": "string"}


@dataclass(frozen=True)
class ImageModelSpec:
    """One image model.

    ``dim`` is the output length, or ``None`` where it depends on the
    checkpoint (CLIP, DINOv2). ``embed`` (handcrafted only) maps one RGB
    ``uint8`` array to a vector; pretrained models have ``weights_hint`` instead,
    telling the user where to get the weights.
    """

    name: str
    pretrained: bool
    dim: int | None
    description: str
    embed: Callable[[np.ndarray], np.ndarray] | None = None
    weights_hint: str = ""


IMAGE_MODELS: dict[str, ImageModelSpec] = {
    "color_histogram": ImageModelSpec(
        "color_histogram", False, 3 * handcrafted.HIST_BINS,
        "HSV histogram, 8 bins per channel, sums to 1", handcrafted.color_histogram,
    ),
    "hog": ImageModelSpec(
        "hog", False, handcrafted.hog_dim(),
        "HOG of the 64x64 grayscale image (16 px cells, 8 orientations)", handcrafted.hog,
    ),
    "fft": ImageModelSpec(
        "fft", False, handcrafted.FFT_N_FREQUENCIES * handcrafted.FFT_N_ORIENTATIONS,
        "log-amplitude spectrum, 8 spatial frequencies x 8 orientations", handcrafted.fft,
    ),
    "vgg19": ImageModelSpec(
        "vgg19", True, 4096, "VGG-19 (ImageNet), classifier.4 (last hidden layer)",
        weights_hint="download https://download.pytorch.org/models/vgg19-dcbb9e9d.pth "
        "(torchvision's file)",
    ),
    "clip": ImageModelSpec(
        "clip", True, None, "CLIP vision tower, projected image embedding",
        weights_hint="download a CLIP checkpoint directory, e.g. "
        "`hf download openai/clip-vit-large-patch14 --local-dir DIR`",
    ),
    "dinov2": ImageModelSpec(
        "dinov2", True, None, "DINOv2 backbone, CLS token",
        weights_hint="download a DINOv2 checkpoint directory, e.g. "
        "`hf download facebook/dinov2-giant --local-dir DIR`",
    ),
}  # fmt: skip


def get_spec(model: str) -> ImageModelSpec:
    """The spec for ``model``; ``ValueError`` listing the valid names otherwise."""
    try:
        return IMAGE_MODELS[model]
    except KeyError:
        raise ValueError(
            f"unknown image model {model!r}; valid models: {sorted(IMAGE_MODELS)}"
        ) from None


def check_weights(model: str, weights: str | os.PathLike | None) -> Path:
    """The weights path of a pretrained model, or a ``FileNotFoundError`` saying how to get it."""
    spec = get_spec(model)
    if weights is not None and Path(weights).exists():
        return Path(weights)
    where = "no weights path given" if weights is None else f"weights not found at {weights}"
    raise FileNotFoundError(
        f"image model {model!r}: {where}. {spec.weights_hint}, then set "
        f"things_meg.weights.{model} in the config to its path."
    )


def load_rgb(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to an RGB ``uint8`` array; ``DataError`` naming the file if it can't.

    Transparent images are composited on white, the usual display background.
    """
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                rgba = image.convert("RGBA")
                image = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                image.alpha_composite(rgba)
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(path, "image file not found") from None
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise DataError(path, f"cannot read image ({exc})") from exc


def embed_images(
    paths: Sequence[str | os.PathLike],
    model: str,
    weights: str | os.PathLike | None = None,
    image_size: int | None = None,
    batch_size: int = 32,
    progress: bool = True,
    layer: str | None = None,
    device: str | None = None,
) -> np.ndarray:
    """Embed ``paths`` with ``model``: a ``float32`` array of shape (n_images, dim).

    ``weights``, ``image_size``, ``layer`` and ``device`` apply to pretrained
    models only. ``image_size`` is the square crop fed to the network; ``None``
    means the model's native size (224 for VGG-19; CLIP's and DINOv2's from the
    checkpoint's preprocessor config, 224 for the public ones). ``layer``
    chooses the representation (see :mod:`brainlatent.features.pretrained`);
    ``device`` defaults to CUDA when available.
    """
    from tqdm.auto import tqdm

    spec = get_spec(model)
    paths = [Path(p) for p in paths]
    if spec.pretrained:
        weights_path = check_weights(model, weights)
    elif layer is not None:
        raise ValueError(f"image model {model!r} has no layers to choose; got layer={layer!r}")
    if not paths:
        raise ValueError(f"embed_images({model!r}): no image paths given")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")

    with tqdm(total=len(paths), desc=f"embed {model}", disable=not progress, unit="img") as bar:
        if not spec.pretrained:
            rows = []
            for path in paths:
                rows.append(spec.embed(load_rgb(path)))
                bar.update(1)
            out = np.stack(rows).astype(np.float32, copy=False)
        else:
            from brainlatent.features import pretrained

            loaded = pretrained.LOADERS[model](weights_path, image_size, layer, device)
            out = pretrained.embed_batches(
                loaded, lambda i: load_rgb(paths[i]), len(paths), batch_size, bar
            )
    bad = ~np.isfinite(out).all(axis=1)
    if bad.any():
        raise DataError(paths[int(np.argmax(bad))], f"{model} embedding is not finite")
    return out


def write_features(
    out_npy: str | os.PathLike,
    out_index: str | os.PathLike,
    image_ids: Sequence[int],
    paths: Sequence[str | os.PathLike],
    model: str,
    **kwargs,
) -> np.ndarray:
    """Embed ``paths`` and save the matrix (``.npy``) and its index (Parquet), atomically.

    Row ``i`` of the matrix is image ``image_ids[i]``; the index table records
    that mapping (columns ``image``, ``row``, ``model``, ``file``) so later steps
    join on image id rather than trusting row order. ``kwargs`` go to
    :func:`embed_images`. Returns the matrix.
    """
    image_ids = np.asarray(image_ids, dtype=np.int64)
    if len(image_ids) != len(paths):
        raise ValueError(f"{len(image_ids)} image ids but {len(paths)} paths")
    if len(np.unique(image_ids)) != len(image_ids):
        raise ValueError("image ids must be unique")
    features = embed_images(paths, model, **kwargs)
    index = pd.DataFrame(
        {
            "image": image_ids,
            "row": np.arange(len(image_ids), dtype=np.int64),
            "model": model,
            "file": [str(p) for p in paths],
        }
    ).astype(INDEX_COLUMNS)
    save_npy(out_npy, features)
    write_table(out_index, index)
    return features
