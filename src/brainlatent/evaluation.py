"""Retrieval evaluation of decoders on the test images, and its time course.

Test images are seen several times; predictions for repeats of an image are
averaged, then each image's prediction is ranked against the embeddings of all
test images (the ``small`` candidate set) and, when extra candidates are given,
against the test images plus images the participant never saw (the ``large``
set of Benchetrit et al. 2023). Results are long-format rows: one per (decoder,
image model, window, candidate set, metric), which the workflow stacks over
subjects into Parquet tables.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from brainlatent.errors import DataError
from brainlatent.io import RowStack, load_npy, read_json, read_table
from brainlatent.metrics import retrieval_metrics

#: Columns of every metrics table, in order. ``device`` is where the decoder was trained
#: (``cpu``, ``cuda``, ...; ridge always fits on the CPU); ``candidates`` is the candidate set
#: (:data:`CANDIDATE_SETS`), whose size is ``n_candidates`` and whose chance is ``chance``;
#: ``ci_low`` and ``ci_high`` bound ``value``'s 95 % bootstrap interval over the test images
#: (:func:`brainlatent.metrics.bootstrap_interval`).
#: Columns added later go last, so older columns keep their place.
METRIC_COLUMNS = [
    "dataset",
    "subject",
    "decoder",
    "image_model",
    "window_start",
    "window_stop",
    "metric",
    "value",
    "chance",
    "n_candidates",
    "device",
    "candidates",
    "ci_low",
    "ci_high",
]
#: Candidate sets: the test images (``small``), and the test images plus extra images
#: the participant never saw (``large``).
CANDIDATE_SETS = ("small", "large")


def feature_lookup(
    features: np.ndarray, index: pd.DataFrame, images, source="features"
) -> np.ndarray:
    """Rows of ``features`` for the given image numbers, via the index table; an image
    without an embedding, or with one that is not finite, is an error naming ``source``."""
    row_of = pd.Series(index["row"].to_numpy(), index=index["image"].to_numpy())
    images = np.asarray(images)
    missing = np.setdiff1d(images, row_of.index)
    if len(missing):
        raise DataError(source, f"no embedding for images {missing[:10].tolist()}")
    rows = np.asarray(features)[row_of.loc[images].to_numpy()]
    bad = ~np.isfinite(rows).all(axis=tuple(range(1, rows.ndim)))
    if bad.any():
        bad_images = np.unique(images[bad])[:10].tolist()
        raise DataError(
            source, f"embeddings of images {bad_images} are not finite (NaN or infinite)"
        )
    return rows


def average_repeats(predictions: np.ndarray, images) -> tuple[np.ndarray, np.ndarray]:
    """Mean prediction per unique image: (sorted image numbers, predictions)."""
    frame = pd.DataFrame(np.asarray(predictions, dtype=np.float64))
    means = frame.groupby(np.asarray(images)).mean()
    return means.index.to_numpy(), means.to_numpy()


def extra_candidates(
    features: np.ndarray, index: pd.DataFrame, seen=(), source="extra candidates"
) -> np.ndarray:
    """The embeddings of the extra candidates, in the order of their image numbers.

    Extra candidates are images the participant never saw: an image number listed twice,
    or one of ``seen`` (the test images, or every image shown), or an embedding that is
    not finite, is an error naming ``source``.
    """
    features = np.asarray(features)
    if not {"image", "row"} <= set(index.columns):
        raise DataError(source, f"needs columns 'image' and 'row'; got {list(index.columns)}")
    images = index["image"].to_numpy()
    if not len(images):
        raise DataError(source, "lists no extra candidates")
    repeated = np.unique(images[pd.Series(images).duplicated().to_numpy()])
    if len(repeated):
        raise DataError(source, f"image numbers listed more than once: {repeated[:10].tolist()}")
    overlap = np.intersect1d(images, np.asarray(list(seen), dtype=np.int64))
    if len(overlap):
        raise DataError(
            source,
            f"images {overlap[:10].tolist()} are extra candidates but the participant saw them "
            "(test or training images); extra candidates must be images never shown",
        )
    rows = index["row"].to_numpy()
    if features.ndim != 2 or rows.min() < 0 or rows.max() >= len(features):
        raise DataError(source, f"rows {rows.min()}..{rows.max()} do not fit {features.shape}")
    matrix = features[rows[np.argsort(images, kind="stable")]]
    bad = ~np.isfinite(matrix).all(axis=1)
    if bad.any():
        raise DataError(
            source,
            f"embeddings of images {np.sort(images)[bad][:10].tolist()} are not finite "
            "(NaN or infinite)",
        )
    return matrix


def retrieval_rows(
    decoder,
    X_test,
    test_images,
    features,
    index,
    top_k=(1, 5),
    extra=None,
    seen=(),
    extra_source="extra candidates",
    source="features",
) -> list[dict]:
    """Retrieval metrics of a fitted decoder (``predict`` + ``transform_targets``).

    Each row's ``candidates`` is ``small`` (among the test images). With ``extra``,
    ``(features, index)`` of images the participant never saw (checked by
    :func:`extra_candidates` against the test images and ``seen``), the same metrics
    follow for the ``large`` set: the test images plus the extra ones. Chance and
    ``n_candidates`` are those of each set; errors name ``source`` (the test images'
    embeddings) or ``extra_source``.
    """
    images, predictions = average_repeats(decoder.predict(X_test), test_images)
    small = decoder.transform_targets(feature_lookup(features, index, images, source))
    rows = [
        {**row, "candidates": "small"}
        for row in retrieval_metrics(predictions, small, tuple(top_k))
    ]
    if extra is not None:
        extra_features, extra_index = extra
        others = extra_candidates(
            extra_features,
            extra_index,
            np.union1d(images, np.asarray(list(seen), dtype=np.int64)),
            extra_source,
        )
        if others.shape[1] != np.asarray(features).shape[1]:
            raise DataError(
                extra_source,
                f"{others.shape[1]} embedding dims, but the test images have "
                f"{np.asarray(features).shape[1]}",
            )
        large = np.concatenate([small, decoder.transform_targets(others)])
        # The true candidate of prediction i is row i: the test images come first.
        rows += [
            {**row, "candidates": "large"}
            for row in retrieval_metrics(predictions, large, tuple(top_k))
        ]
    return rows


def sliding_windows(
    times: np.ndarray, length: float, step: float
) -> list[tuple[float, float, slice]]:
    """Windows ``[start, start + length)`` over the epoch, as (start, stop, sample slice)."""
    times = np.asarray(times)
    if length <= 0 or step <= 0:
        raise ValueError(f"window length and step must be positive; got {length}, {step}")
    # The sample step from the whole span: the stored times are rounded (to 1 µs), and one
    # rounded step times n would put each window's stop off the grid.
    dt = (times[-1] - times[0]) / (len(times) - 1)
    n = int(round(length / dt))
    if n > len(times):
        raise ValueError(f"window length {length} s exceeds the epoch ({len(times) * dt:.3f} s)")
    windows = []
    start_index = 0.0
    while int(round(start_index)) + n <= len(times):
        i = int(round(start_index))
        windows.append(
            (round(float(times[i]), 6), round(float(times[i] + n * dt), 6), slice(i, i + n))
        )
        start_index += step / dt
    return windows


#: ``split`` of the training trials left out for a zero-shot test
#: (:func:`brainlatent.datasets.things_meg.exclude_test_concepts`).
EXCLUDED = "excluded"


def exclude_concepts(trials: pd.DataFrame, concepts) -> pd.DataFrame:
    """A copy of ``trials`` with the training trials of ``concepts`` marked :data:`EXCLUDED`."""
    out = trials.copy()
    out.loc[(out["split"] == "train") & out["category"].isin(set(concepts)), "split"] = EXCLUDED
    return out


def split_trials(trials: pd.DataFrame, source="trials") -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of training and test trials; both must be non-empty."""
    train = (trials["split"] == "train").to_numpy()
    test = (trials["split"] == "test").to_numpy()
    if not train.any() or not test.any():
        raise DataError(source, f"need train and test trials; got {train.sum()} and {test.sum()}")
    return train, test


def training_set(
    epochs_paths, trials_paths, info_paths, features, index, source="features", zero_shot=False
):
    """Every subject's training trials stacked for one multi-subject decoder.

    Returns X (trials, channels, times: a :class:`~brainlatent.io.RowStack` over the
    memory-mapped epochs, which reads only the rows a batch asks for), Y (trials, dims),
    the subject index of each trial (position in the given lists) and the sensors' 2D
    positions, which must be the same for every subject.

    ``zero_shot`` (``things_meg.zero_shot``): each subject's table leaves out the
    concepts of its own test images only, but one decoder trained on every subject is
    tested on all of them, so a training image of a concept tested on any subject is
    left out here too: when the configured runs give the subjects different test
    images, one's training trials would otherwise show concepts another is tested on
    (even where no subject trains on its own). Told, not guessed from the tables: a
    table with ``excluded`` trials was preprocessed for zero-shot and is refused
    without it.
    """
    tables = [read_table(path) for path in trials_paths]
    if zero_shot:
        tested = set().union(*(t.loc[t["split"] == "test", "category"] for t in tables))
        tables = [exclude_concepts(t, tested) for t in tables]
    else:
        for trials, path in zip(tables, trials_paths, strict=True):
            if (trials["split"] == EXCLUDED).any():
                raise DataError(
                    path,
                    f"trials marked {EXCLUDED!r} (preprocessed with zero_shot) in a training"
                    " set built without zero-shot: preprocess again, or ask for zero-shot",
                )
    trains, epochs, Y, subjects, channels, positions = [], [], [], [], None, None
    for number, (epochs_path, trials, trials_path, info_path) in enumerate(
        zip(epochs_paths, tables, trials_paths, info_paths, strict=True)
    ):
        train, _ = split_trials(trials, trials_path)
        info = read_json(info_path, ["channels", "positions"])
        if channels is None:
            channels, positions = info["channels"], np.asarray(info["positions"], np.float32)
        elif info["channels"] != channels:
            raise DataError(info_path, "channels differ from the first subject's")
        epochs.append(load_npy(epochs_path))
        if epochs[-1].shape[1:] != epochs[0].shape[1:]:
            raise DataError(
                epochs_path, f"epochs {epochs[-1].shape[1:]} differ from {epochs[0].shape[1:]}"
            )
        trains.append(np.flatnonzero(train))
        Y.append(feature_lookup(features, index, trials["image"][train], source))
        subjects.append(np.full(len(trains[-1]), number))
    # The memory-mapped files, read a batch at a time: stacking per-subject copies held the
    # training epochs twice at once (31 GB at the real config's four participants), one
    # array filled from the files once (15.6 GB).
    X = RowStack(epochs, trains)
    return X, np.concatenate(Y), np.concatenate(subjects), positions


def tidy(rows: list[dict], **columns) -> pd.DataFrame:
    """Long-format metrics table with :data:`METRIC_COLUMNS`."""
    table = pd.DataFrame(rows)
    for key, value in columns.items():
        table[key] = value
    return table[METRIC_COLUMNS]


class _TargetColumns:
    """The columns ``cols`` of a decoder fitted on several image models' targets at once."""

    def __init__(self, decoder, cols: slice):
        self.decoder, self.cols = decoder, cols

    def predict(self, X) -> np.ndarray:
        return self.decoder.predict(X)[:, self.cols]

    def transform_targets(self, Y) -> np.ndarray:
        mean, scale = self.decoder.y_mean_[self.cols], self.decoder.y_scale_[self.cols]
        return ((np.asarray(Y, dtype=np.float64) - mean) / scale).astype(np.float32)


def timecourse_rows(
    epochs,
    trials: pd.DataFrame,
    times: np.ndarray,
    models: Mapping[str, tuple[np.ndarray, pd.DataFrame]],
    alphas,
    length: float,
    step: float,
    top_k=(1, 5),
    trials_source="trials",
    feature_sources: Mapping[str, object] | None = None,
    **columns,
) -> pd.DataFrame:
    """Fit and evaluate a ridge decoder in each sliding window (training trials only).

    ``models`` maps an image model's name to its ``(features, index)``. One
    ridge per window predicts every model's targets at once: with an alpha
    chosen per target by leave-one-out, that is the same fit as one ridge per
    model, for the price of one decomposition of the window's data.
    Windows ending at or before image onset carry no information about the
    image, so they must decode at chance: a check against leakage. Ridge fits on
    the CPU, so every row's ``device`` is ``"cpu"``. Errors name ``trials_source`` and
    each model's entry of ``feature_sources``.
    """
    from brainlatent.models.ridge import RidgeDecoder

    train, test = split_trials(trials, trials_source)
    test_images = trials["image"][test].to_numpy()
    sources = {name: (feature_sources or {}).get(name, "features") for name in models}
    targets, slices, offset = [], {}, 0
    for name, (features, index) in models.items():
        y = feature_lookup(features, index, trials["image"][train], sources[name])
        feature_lookup(features, index, test_images, sources[name])  # before any window's fit
        targets.append(y)
        slices[name] = slice(offset, offset + y.shape[1])
        offset += y.shape[1]
    y_train = np.concatenate(targets, axis=1)
    x_train, x_test = np.asarray(epochs[train]), np.asarray(epochs[test])
    tables = []
    for start, stop, window in sliding_windows(times, length, step):
        decoder = RidgeDecoder(alphas=tuple(alphas)).fit(x_train[:, :, window], y_train)
        for name, (features, index) in models.items():
            rows = retrieval_rows(
                _TargetColumns(decoder, slices[name]),
                x_test[:, :, window],
                test_images,
                features,
                index,
                top_k,
                source=sources[name],
            )
            tables.append(
                tidy(
                    rows,
                    decoder="ridge",
                    window_start=start,
                    window_stop=stop,
                    image_model=name,
                    device="cpu",
                    **columns,
                )
            )
    return pd.concat(tables, ignore_index=True)
