"""Procedural stimulus images with known low-level and category-level structure.

THINGS images cannot be redistributed, so the simulator draws one image per
THINGS image number. Each concept (``things_category_nr``) gets a prototype
colour, orientation and spatial frequency, and its superordinate category (from
the real THINGS category matrix) fixes the shape drawn on top; each image
jitters its concept's prototype. The generative parameters are the ground truth
the simulated MEG responds to, so every embedding model has something to find.
"""

from __future__ import annotations

import colorsys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from brainlatent.seeding import rng

SHAPES = ("circle", "square", "triangle", "diamond", "cross", "ring")
#: Colour is coded by hue-tuned populations (as in V4), one per preferred hue.
N_HUE_CHANNELS = 6
HUE_TUNING = 2.0  # von Mises concentration of the hue tuning curves
#: Names of the latent dimensions the simulated brain responds to.
LATENT_NAMES = (
    *(f"hue_{k}" for k in range(N_HUE_CHANNELS)),
    "orientation_cos",
    "orientation_sin",
    "spatial_frequency",
    "shape_0",
    "shape_1",
    "shape_2",
    "size",
)
_SHAPE_CODES = np.array(
    [
        [np.cos(a), np.sin(a), (-1) ** i * 0.7]
        for i, a in enumerate(np.linspace(0, 2 * np.pi, 7)[:6])
    ]
)


def superordinate_categories(category_matrix: Path) -> np.ndarray:
    """Superordinate category index per THINGS concept (1-based concept → row).

    ``category_mat_manual.tsv`` is a concepts × 27 binary matrix; concepts with
    no superordinate category get index 27.
    """
    matrix = pd.read_csv(category_matrix, sep="\t").to_numpy()
    has = matrix.any(axis=1)
    return np.where(has, matrix.argmax(axis=1), matrix.shape[1]).astype(np.int64)


def image_parameters(
    images: pd.DataFrame, superordinate: np.ndarray | Mapping[int, int], seed: int
) -> pd.DataFrame:
    """Generative parameters and latent vector of each image.

    ``images`` has columns ``image`` and ``category`` (THINGS concept number, or any
    integer concept id when ``superordinate`` is a mapping concept → class).
    """
    rows = []
    for image, category in (
        images[["image", "category"]].drop_duplicates("image").itertuples(index=False)
    ):
        if isinstance(superordinate, Mapping):  # e.g. ImageNet synset → class
            sup = int(superordinate.get(int(category), 27))
        elif 0 < category <= len(superordinate):
            sup = int(superordinate[int(category) - 1])
        else:
            sup = 27
        concept = rng(seed, "concept", int(category))
        jitter = rng(seed, "image", int(image))
        hue = (sup / 28 + concept.normal(0, 0.12) + jitter.normal(0, 0.02)) % 1.0
        orientation = (concept.uniform(0, np.pi) + jitter.normal(0, 0.15)) % np.pi
        log_sf = np.clip(concept.uniform(np.log(2), np.log(12)) + jitter.normal(0, 0.1), 0.5, 2.6)
        size = float(np.clip(concept.uniform(0.22, 0.42) + jitter.normal(0, 0.02), 0.15, 0.48))
        phase = jitter.uniform(0, 2 * np.pi)
        rows.append(
            {
                "image": int(image),
                "category": int(category),
                "superordinate": sup,
                "hue": hue,
                "orientation": orientation,
                "spatial_frequency": float(np.exp(log_sf)),
                "shape": SHAPES[sup % len(SHAPES)],
                "size": size,
                "phase": phase,
            }
        )
    table = pd.DataFrame(rows)
    latents = latent_vectors(table)
    for i, name in enumerate(LATENT_NAMES):
        table[f"z_{name}"] = latents[:, i]
    return table


def latent_vectors(params: pd.DataFrame) -> np.ndarray:
    """The standardised latent vector (``LATENT_NAMES``) of each image."""
    shape_index = params["shape"].map({s: i for i, s in enumerate(SHAPES)}).to_numpy()
    z = np.column_stack(
        [
            hue_tuning(params["hue"].to_numpy()),
            np.cos(2 * params["orientation"]),
            np.sin(2 * params["orientation"]),
            (np.log(params["spatial_frequency"]) - 1.55) / 0.5,
            _SHAPE_CODES[shape_index],
            (params["size"] - 0.32) / 0.06,
        ]
    )
    return z.astype(np.float32)


def hue_tuning(hue: np.ndarray) -> np.ndarray:
    """Responses of :data:`N_HUE_CHANNELS` von Mises hue-tuned populations, centred on 0."""
    preferred = np.arange(N_HUE_CHANNELS) / N_HUE_CHANNELS
    delta = 2 * np.pi * (np.asarray(hue)[:, None] - preferred[None, :])
    response = np.exp(HUE_TUNING * (np.cos(delta) - 1))
    return 2 * (response - response.mean(axis=1, keepdims=True))


def render_image(row: pd.Series | dict, size: int = 64) -> Image.Image:
    """Draw one image: a coloured grating with a grey shape on top."""
    y, x = np.mgrid[0:size, 0:size] / size - 0.5
    theta = row["orientation"]
    grating = np.sin(
        2 * np.pi * row["spatial_frequency"] * (x * np.cos(theta) + y * np.sin(theta))
        + row["phase"]
    )
    r, g, b = colorsys.hsv_to_rgb(row["hue"], 0.85, 1.0)
    luminance = 0.5 + 0.4 * grating
    rgb = np.stack([luminance * r, luminance * g, luminance * b], axis=-1)
    image = Image.fromarray((255 * np.clip(rgb, 0, 1)).astype(np.uint8), "RGB")
    _draw_shape(ImageDraw.Draw(image), row["shape"], row["size"] * size, size / 2)
    return image


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, radius: float, c: float) -> None:
    fill, width = (235, 235, 235), max(1, int(radius / 3))
    box = [c - radius, c - radius, c + radius, c + radius]
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rectangle(
            [c - radius * 0.8, c - radius * 0.8, c + radius * 0.8, c + radius * 0.8], fill=fill
        )
    elif shape == "triangle":
        draw.polygon(
            [(c, c - radius), (c - radius, c + radius * 0.8), (c + radius, c + radius * 0.8)],
            fill=fill,
        )
    elif shape == "diamond":
        draw.polygon(
            [(c, c - radius), (c + radius, c), (c, c + radius), (c - radius, c)], fill=fill
        )
    elif shape == "cross":
        draw.rectangle([c - radius, c - width / 2, c + radius, c + width / 2], fill=fill)
        draw.rectangle([c - width / 2, c - radius, c + width / 2, c + radius], fill=fill)
    elif shape == "ring":
        draw.ellipse(box, outline=fill, width=width)
    else:
        raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")


def stimulus_file(stimuli_dir: Path, image: int) -> Path:
    """Where the stimulus of a THINGS image number lives (``<image>.png``)."""
    return Path(stimuli_dir) / f"{int(image)}.png"


def write_stimuli(stimuli_dir: Path, params: pd.DataFrame, size: int = 64) -> None:
    """Write one PNG per image and ``stimuli.tsv`` (image → file, category)."""
    stimuli_dir = Path(stimuli_dir)
    stimuli_dir.mkdir(parents=True, exist_ok=True)
    for row in params.to_dict("records"):
        render_image(row, size).save(stimulus_file(stimuli_dir, row["image"]))
    index = params[["image", "category", "superordinate"]].copy()
    index["file"] = [stimulus_file(Path("."), i).name for i in index["image"]]
    index.to_csv(stimuli_dir / "stimuli.tsv", sep="\t", index=False)


# --- Extra retrieval candidates: images the participant never saw (Benchetrit et al.'s
# "large" set) ---

#: Simulated extra candidates are numbered from here, above THINGS' 26,107 image numbers,
#: so that no simulated extra image takes the number of a real THINGS image.
EXTRA_IMAGE_START = 100_001
#: THINGS images never shown in THINGS-MEG (26,107 − 12 × 1,854 exp − 200 test): the
#: paper's large set adds these to the 200 test images.
THINGS_UNSEEN = 3659


def extra_images(test: pd.DataFrame, n: int) -> pd.DataFrame:
    """``n`` new images (``image``, ``category``) of the concepts of the ``test`` images.

    The concepts take turns in increasing order, so each test concept gets ``n / concepts``
    images (±1): category-level neighbours of the test images, which retrieval must tell
    apart from the image that was seen.
    """
    if n < 0:
        raise ValueError(f"the number of extra images must be >= 0; got {n}")
    concepts = np.sort(pd.unique(np.asarray(test["category"], dtype=np.int64)))
    if n and not len(concepts):
        raise ValueError("no test images: extra images are drawn from the test images' concepts")
    return pd.DataFrame(
        {
            "image": EXTRA_IMAGE_START + np.arange(n, dtype=np.int64),
            "category": concepts[np.arange(n) % max(len(concepts), 1)] if n else [],
        }
    ).astype("int64")


def write_extra_stimuli(
    stimuli_dir: Path,
    test: pd.DataFrame,
    n: int,
    superordinate: np.ndarray | Mapping[int, int],
    seed: int,
    size: int = 64,
) -> pd.DataFrame:
    """Simulate and write ``n`` extra images of the test images' concepts.

    Drawn by :func:`image_parameters` with the simulation's ``seed``, so an extra image
    jitters the same concept prototype as the test image of its concept. Writes the PNGs,
    ``stimuli.tsv`` and ``latents.parquet`` (the ground truth); returns the parameters.
    """
    params = image_parameters(extra_images(test, n), superordinate, seed)
    write_stimuli(stimuli_dir, params, size)
    params.to_parquet(Path(stimuli_dir) / "latents.parquet", index=False)
    return params


def things_image_numbers(images_dir: Path) -> list[int]:
    """Every THINGS image number that ``images_dir`` lists (see ``index_stimuli``).

    Its own ``stimuli.tsv`` (column ``image``), or else THINGS' ``image_paths.csv``,
    whose line *n* is image number *n*.
    """
    from brainlatent.datasets.things_meg import THINGS_HELP
    from brainlatent.errors import DataError

    images_dir = Path(images_dir)
    own = images_dir / "stimuli.tsv"
    if own.exists():
        table = pd.read_csv(own, sep="\t")
        if "image" not in table.columns:
            raise DataError(own, "needs a column 'image'")
        return sorted({int(i) for i in table["image"]})
    listings = sorted(images_dir.rglob("image_paths.csv")) if images_dir.is_dir() else []
    if not listings:
        raise DataError(
            images_dir, f"neither stimuli.tsv nor THINGS' image_paths.csv found. {THINGS_HELP}"
        )
    lines = [line for line in listings[0].read_text().splitlines() if line.strip()]
    return list(range(1, len(lines) + 1))


def unseen_images(available, shown, n: int, seed: int, source="stimuli_dir") -> list[int]:
    """``n`` image numbers of ``available`` that are not in ``shown``, sorted.

    All of them when ``n`` is their number (the paper's 3,659), otherwise a sample drawn
    with ``seed``; fewer than ``n`` is an error naming ``source``.
    """
    from brainlatent.errors import DataError

    pool = np.setdiff1d(np.asarray(sorted(set(available)), dtype=np.int64), np.asarray(list(shown)))
    if n > len(pool):
        raise DataError(
            source,
            f"things_meg.evaluate.extra_candidates asks for {n} images never shown in "
            f"THINGS-MEG, but only {len(pool)} of the {len(set(available))} images listed "
            f"here were not shown (the full THINGS release has {THINGS_UNSEEN}); point "
            "things_meg.stimuli_dir at the THINGS release or lower extra_candidates",
        )
    if n == len(pool):
        return pool.tolist()
    return np.sort(rng(seed, "extra_candidates").choice(pool, size=n, replace=False)).tolist()
