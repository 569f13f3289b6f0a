"""Natural-scene responses per image, the data of DAE-NR.

DAE-NR learns from one response vector per image, not per presentation: a
flashed scene evokes a noisy transient, and averaging its ~50 presentations
(10 in the default simulation) is what makes the neural targets usable. Blank
sweeps (image -1) are a grey screen, not an image, so they are left out.

Mice are pooled into a pseudo-mouse of scenes as for the movie: every mouse saw
the same 118 images, so rows are aligned by image index and the neurons of all
mice become columns. The images themselves (the ``natural_scenes_template``)
travel with the responses, as float in [0, 1], so the fitting step needs no
NWB file.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from brainlatent.datasets import allen_calcium as ac
from brainlatent.errors import DataError
from brainlatent.io import atomic_path
from brainlatent.preprocessing.calcium import SCENE_WINDOW, drop_nan_neurons, interval_means
from brainlatent.seeding import rng

#: Arrays of ``scenes.npz`` (one mouse) and what they hold.
SCENE_ARRAYS = {
    "responses": "float32 (images × neurons): mean dF/F per image, blanks excluded",
    "image": "int64 (images,): index into the natural_scenes template",
    "images": "float32 (images × height × width) in [0, 1]: the scene shown",
    "n_presentations": "int64 (images,): presentations averaged per image",
    "cell_ids": "int64 (neurons,): cell specimen id of each column",
}


class SceneMatrix(NamedTuple):
    """Mean response per image; ``origin`` (neurons × 2) is (mouse, column) after pooling."""

    responses: np.ndarray
    image: np.ndarray
    images: np.ndarray
    n_presentations: np.ndarray
    cell_ids: np.ndarray
    origin: np.ndarray | None = None


def scene_matrix(
    session: ac.CalciumSession,
    source_path: Path | None = None,
    window: tuple[float, float] = SCENE_WINDOW,
) -> SceneMatrix:
    """Average each neuron's response over the presentations of each scene.

    Rows are the images of the session's natural_scenes template (``image``: their
    indices), all of them but image 0 when the reader marked it as mixed with blank
    sweeps (:data:`~brainlatent.datasets.allen_calcium.SCENE_ZERO_OR_BLANK`, the real
    DANDI 000728 files). Raises :class:`DataError` naming ``source_path`` (default: the
    session's file) when the session has no scene presentations, no scene template, or
    another image of the template is never shown (its mean would be undefined).
    """
    source = Path(source_path or session.path)
    if session.scenes.empty:
        raise DataError(
            source,
            f"no natural_scenes presentations (needed by DAE-NR; of the Visual Coding "
            f"sessions only {ac.SCENES_SESSION_TYPE} shows them)",
        )
    if session.scenes_template is None or len(session.scenes_template) == 0:
        raise DataError(source, f"no natural scenes template ({ac.SCENES_TEMPLATE})")
    template = np.asarray(session.scenes_template)
    if template.ndim != 3:
        raise DataError(
            source,
            f"natural scenes template has shape {template.shape}; expected (images, height, width)",
        )
    onset = session.scenes["start_time"].to_numpy()
    image = session.scenes["frame"].to_numpy(np.int64)
    responses = interval_means(
        session.dff, session.timestamps, onset + window[0], onset + window[1], source
    )
    responses, keep = drop_nan_neurons(responses, source, "natural_scenes")
    n_images = len(template)
    shown = image >= 0
    if (image[shown] >= n_images).any():
        raise DataError(
            source,
            f"scene presentations index image {image.max()}, but the template has {n_images}",
        )
    counts = np.bincount(image[shown], minlength=n_images)
    # image 0 mixed with blank sweeps (the reader's SCENE_ZERO_OR_BLANK) is left out
    left_out = [0] if (image == ac.SCENE_ZERO_OR_BLANK).any() else []
    missing = np.setdiff1d(np.flatnonzero(counts == 0), left_out)
    if len(missing):
        raise DataError(
            source,
            f"{len(missing)} of {n_images} natural scenes are never shown "
            f"(images {missing[:10].tolist()}{' ...' if len(missing) > 10 else ''})",
        )
    kept = np.flatnonzero(counts > 0)
    sums = np.zeros((n_images, responses.shape[1]))
    np.add.at(sums, image[shown], responses[shown].astype(np.float64))
    return SceneMatrix(
        responses=(sums[kept] / counts[kept, None]).astype(np.float32),
        image=kept.astype(np.int64),
        images=(template[kept] / np.float32(255.0)).astype(np.float32),
        n_presentations=counts[kept].astype(np.int64),
        cell_ids=np.asarray(session.cell_ids, dtype=np.int64)[keep],
    )


def write_scenes(path: str | Path, scenes: SceneMatrix, source: str = "") -> None:
    """Write one mouse's :class:`SceneMatrix` as ``scenes.npz`` (:data:`SCENE_ARRAYS`), whole."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(
                f,
                responses=np.asarray(scenes.responses, dtype=np.float32),
                image=np.asarray(scenes.image, dtype=np.int64),
                images=np.asarray(scenes.images, dtype=np.float32),
                n_presentations=np.asarray(scenes.n_presentations, dtype=np.int64),
                cell_ids=np.asarray(scenes.cell_ids, dtype=np.int64),
                source=np.array(str(source)),
            )


def read_scenes(path: str | Path) -> SceneMatrix:
    """Read ``scenes.npz``; a missing array or inconsistent shape is a :class:`DataError`."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in SCENE_ARRAYS if name in data.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as error:  # truncated, not npz
        raise DataError(path, f"cannot read scenes file ({error})") from error
    missing = [name for name in SCENE_ARRAYS if name not in arrays]
    if missing:
        raise DataError(path, f"missing arrays {missing}; expected {list(SCENE_ARRAYS)}")
    n_images = len(arrays["image"])
    responses, images = arrays["responses"], arrays["images"]
    if (
        responses.ndim != 2
        or len(responses) != n_images
        or images.ndim != 3
        or len(images) != n_images
        or responses.shape[1] != len(arrays["cell_ids"])
    ):
        raise DataError(
            path,
            f"inconsistent shapes: responses {responses.shape}, image {arrays['image'].shape}, "
            f"images {images.shape}, cell_ids {arrays['cell_ids'].shape}",
        )
    if not (np.isfinite(responses).all() and np.isfinite(images).all()):
        raise DataError(path, "responses or images contain NaN or infinite values")
    return SceneMatrix(**arrays)


def resize_images(images: np.ndarray, height: int) -> np.ndarray:
    """Images (n, H, W) resized to ``height`` rows, aspect ratio kept, with anti-aliasing.

    The real template is 918 × 1174 pixels: an autoencoder at that size needs
    a GPU and ~500 MB per mouse on disk, where DAE-NR's comparison of β needs
    only the images' coarse structure.
    """
    from skimage.transform import resize

    images = np.asarray(images, dtype=np.float32)
    width = max(1, round(height * images.shape[2] / images.shape[1]))
    if (height, width) == images.shape[1:]:
        return images
    shape = (len(images), height, width)
    return resize(images, shape, anti_aliasing=True, preserve_range=True).astype(np.float32)


def preprocess_scenes(
    nwb_path: str | Path, out_path: str | Path, image_size: int | None = None
) -> SceneMatrix:
    """One session's NWB file -> its ``scenes.npz`` (images ``image_size`` rows high, or native)."""
    session = ac.read_session(nwb_path, templates=True)
    scenes = scene_matrix(session, Path(nwb_path))
    if image_size is not None:
        scenes = scenes._replace(images=resize_images(scenes.images, image_size))
    write_scenes(out_path, scenes, source=str(nwb_path))
    return scenes


def pool_scenes(mice: list[SceneMatrix], sources: list[str | Path] | None = None) -> SceneMatrix:
    """Pseudo-mouse of scenes: rows aligned by image index, every mouse's neurons as columns.

    Every mouse must have the same images (same indices, same pixels): pooling
    responses to different pictures would be meaningless. ``sources`` names
    each mouse's file in errors.
    """
    if not mice:
        raise ValueError("pool_scenes needs at least one mouse")
    sources = (
        [str(s) for s in sources]
        if sources is not None
        else [f"mouse {k}" for k in range(len(mice))]
    )
    if len(sources) != len(mice):
        raise ValueError(f"{len(sources)} sources for {len(mice)} mice")
    first = mice[0]
    order0 = np.argsort(first.image, kind="stable")
    index = first.image[order0]
    images = first.images[order0]
    columns, origin, counts = [], [], []
    for m, (mouse, source) in enumerate(zip(mice, sources, strict=True)):
        order = np.argsort(mouse.image, kind="stable")
        if not np.array_equal(mouse.image[order], index):
            only = sorted(set(mouse.image.tolist()) ^ set(index.tolist()))
            raise DataError(
                source,
                f"its images differ from {sources[0]}'s (indices only in one of them: {only[:10]})",
            )
        if mouse.images.shape != first.images.shape or not np.allclose(
            mouse.images[order], images, atol=1 / 255
        ):
            raise DataError(source, f"its scene images differ from those of {sources[0]}")
        columns.append(np.asarray(mouse.responses, dtype=np.float32)[order])
        origin.append(
            np.column_stack(
                [np.full(mouse.responses.shape[1], m), np.arange(mouse.responses.shape[1])]
            )
        )
        counts.append(np.asarray(mouse.n_presentations)[order])
    return SceneMatrix(
        responses=np.ascontiguousarray(np.concatenate(columns, axis=1)),
        image=index.astype(np.int64),
        images=images.astype(np.float32),
        n_presentations=np.min(counts, axis=0).astype(np.int64),
        cell_ids=np.concatenate([np.asarray(mouse.cell_ids, dtype=np.int64) for mouse in mice]),
        origin=np.concatenate(origin).astype(np.int64),
    )


def split_images(n_images: int, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/test split of image rows: (train, test), each sorted.

    Held-out images test whether the code generalises, and RSA needs at least
    3 of them; the split depends only on ``seed``, so every beta and model seed
    sees the same images.
    """
    if not 3 <= n_test < n_images:
        raise ValueError(
            f"n_test_images must be between 3 and {n_images - 1} (of {n_images} images); "
            f"got {n_test}"
        )
    test = np.sort(rng(seed, "daenr-split").choice(n_images, n_test, replace=False))
    train = np.setdiff1d(np.arange(n_images), test)
    return train, test
