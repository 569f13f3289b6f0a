"""Figure recording_embedding: CEBRA embeddings of a user's recording and their decoding.

Drawn like the CEBRA paper's hippocampus figure (Schneider, Lee & Mathis 2023,
Fig. 2): each 3-D embedding is a scatter coloured by position, with one
colour map per running direction when there is a discrete label, so the two
directions show up as separate arms; a bar panel gives the held-out position
error of every method against the chance-level error (for a 2-D position, e.g. an
open field, the distance between decoded and true position).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from brainlatent.datasets.recording import distance_groups
from brainlatent.decoding.behavior import DISTANCE_METRIC
from brainlatent.errors import DataError
from brainlatent.figures.style import MAIN_COLOR, METHOD_LABELS

#: Here "raw" is kNN on the embeddings' input, which may be smoothed (its width is shown).
LABELS = {**METHOD_LABELS, "raw": "kNN on activity", "bayesian": "Bayesian decoder on counts"}

#: One colour map per discrete class (cycled when there are more).
CLASS_CMAPS = ("cool", "viridis", "autumn", "winter")
#: At most this many points per embedding scatter (kept evenly spaced in time).
MAX_POINTS = 4000


def position_colours(xy: np.ndarray) -> np.ndarray:
    """RGB (samples × 3) of 2-D positions: the hue is the angle about the centre of their
    range and the saturation the distance from it (white at the centre, full at the walls),
    so that places near in x *and* y get near colours (an open field coloured by x alone
    puts its two ends of a wall in one colour)."""
    from matplotlib.colors import hsv_to_rgb

    xy = np.asarray(xy, dtype=np.float64)
    low, high = xy.min(axis=0), xy.max(axis=0)
    u = (xy - (low + high) / 2) / np.maximum((high - low) / 2, np.finfo(float).tiny)
    hue = (np.arctan2(u[:, 1], u[:, 0]) / (2 * np.pi)) % 1.0
    saturation = np.clip(np.hypot(u[:, 0], u[:, 1]), 0.0, 1.0)
    return hsv_to_rgb(np.column_stack([hue, saturation, np.full(len(xy), 0.9)]))


def _position_key(ax, xy: np.ndarray, names: list[str]) -> None:
    """A small map of the 2-D colours over the positions' range, beside ``ax``."""
    low, high = xy.min(axis=0), xy.max(axis=0)
    gx, gy = np.meshgrid(np.linspace(low[0], high[0], 64), np.linspace(low[1], high[1], 64))
    image = position_colours(np.column_stack([gx.ravel(), gy.ravel()])).reshape(64, 64, 3)
    key = ax.inset_axes([1.02, 0.02, 0.3, 0.3])
    key.imshow(image, origin="lower", extent=(low[0], high[0], low[1], high[1]), aspect="auto")
    for axis in (key.xaxis, key.yaxis):
        axis.set_major_locator(plt.MaxNLocator(2))
    key.set_xlabel(names[0], fontsize=6, labelpad=1)
    key.set_ylabel(names[1], fontsize=6, labelpad=1)
    key.tick_params(labelsize=5, length=2, pad=1)


def _position_columns(label: str, data: dict, discrete: set) -> list[int] | None:
    """The first two columns of the position ``label`` (a distance group of the recording,
    from the columns' series the embedding file stores), when the recording has no
    discrete column to colour by class; else None."""
    names = [str(x) for x in data["behavior_names"]]
    if discrete & set(names) or "series" not in data:  # files from before series were kept
        return None
    groups = distance_groups(names, tuple(discrete), tuple(str(x) for x in data["series"]))
    return groups[label][:2] if label in groups else None


def _scatter(ax, embedding, color, classes):
    values = np.unique(classes)  # before thinning, so colour maps match the colour bars
    step = max(1, len(embedding) // MAX_POINTS)
    e, c, k = embedding[::step], color[::step], classes[::step]
    three_d = e.shape[1] >= 3
    rgb = color.ndim == 2  # colours given (a 2-D position), no colour map
    for i, value in enumerate(values):
        mask = k == value
        coords = (e[mask, 0], e[mask, 1], e[mask, 2]) if three_d else (e[mask, 0], e[mask, 1])
        scale = {} if rgb else {"vmin": np.min(color), "vmax": np.max(color)}
        ax.scatter(
            *coords,
            c=c[mask],
            cmap=None if rgb else CLASS_CMAPS[i % len(CLASS_CMAPS)],
            s=1.5,
            alpha=0.8,
            linewidths=0,
            **scale,
        )
    if three_d:
        ax.set_xticks([]), ax.set_yticks([]), ax.set_zticks([])
    else:
        ax.set_xticks([]), ax.set_yticks([])


def plot_recording_embedding(
    metrics: pd.DataFrame,
    embeddings: dict[str, dict],
    source: str = "metrics",
    class_names: dict | None = None,
):
    """Embedding scatters (``embeddings``: method → npz contents) plus a decoding-error panel.

    Each embedding dict holds ``embedding`` (samples × dims), ``behavior``,
    ``behavior_names`` and ``discrete`` as written by the decoding step; the
    colour is the first continuous behaviour column, or a 2-D position
    (:func:`position_colours`, with a map of the colours) when its distance is scored
    and there is no discrete column. The error panel shows per
    method (dots: seeds) the median distance of the first multi-column position
    when there is one, else the median absolute error of that column.
    """
    if not embeddings:
        raise DataError(source, "no embeddings to plot")
    distance = (metrics["metric"] == DISTANCE_METRIC).any()
    errors = metrics[metrics["metric"] == (DISTANCE_METRIC if distance else "median_abs_error")]
    if errors.empty:
        raise DataError(source, "no rows with metric 'median_abs_error' (no continuous label)")
    label = errors["label"].iloc[0]
    errors = errors[errors["label"] == label]
    class_names = class_names or {}

    n = len(embeddings)
    fig = plt.figure(figsize=(3.2 * n + 3.0, 3.4), constrained_layout=True)
    grid = fig.add_gridspec(1, n + 1, width_ratios=[1.0] * n + [0.9])
    for i, (method, data) in enumerate(embeddings.items()):
        embedding = np.asarray(data["embedding"])
        names = [str(x) for x in data["behavior_names"]]
        discrete = {str(x) for x in np.atleast_1d(data["discrete"])}
        behavior = np.asarray(data["behavior"])
        continuous = [j for j, name in enumerate(names) if name not in discrete]
        colour_column = names.index(label) if label in names else (continuous or [0])[0]
        colour = behavior[:, colour_column]
        plane = _position_columns(label, data, discrete) if distance else None
        if plane is not None:
            colour = position_colours(behavior[:, plane])
        discrete_columns = [j for j, name in enumerate(names) if name in discrete]
        classes = (
            behavior[:, discrete_columns[0]].astype(int)
            if discrete_columns
            else np.zeros(len(behavior), int)
        )
        projection = "3d" if embedding.shape[1] >= 3 else None
        ax = fig.add_subplot(grid[0, i], projection=projection)
        _scatter(ax, embedding, colour, classes)
        ax.set_title(LABELS.get(method, method) + _fit_note(metrics, method), fontsize=9)
        if i == n - 1 and plane is not None:  # a map of the colours, beside the last embedding
            _position_key(ax, behavior[:, plane], [names[j] for j in plane])
        elif i == n - 1:  # one colour bar per class, beside the last embedding
            pairs = list(zip(np.unique(classes), CLASS_CMAPS * 8, strict=False))
            for value, cmap in reversed(pairs):  # the last bar drawn sits nearest the axes
                mappable = plt.cm.ScalarMappable(
                    cmap=cmap, norm=plt.Normalize(np.min(colour), np.max(colour))
                )
                bar = fig.colorbar(mappable, ax=ax, shrink=0.6, pad=0.02, aspect=25)
                text = names[colour_column]
                if discrete_columns:
                    which = class_names.get(value, f"{names[discrete_columns[0]]} {value}")
                    text = f"{text}, {which}"
                bar.set_label(text, fontsize=7)
                bar.ax.tick_params(labelsize=6)
    ax = fig.add_subplot(grid[0, n])
    chance = errors.loc[errors["method"] == "chance", "value"]
    methods = [m for m in dict.fromkeys(errors["method"]) if m != "chance"]
    for x, method in enumerate(methods):
        values = errors.loc[errors["method"] == method, "value"].to_numpy(float)
        ax.bar(x, values.mean(), color=MAIN_COLOR if method.startswith("cebra") else "#999999")
        ax.scatter(np.full(len(values), x), values, s=8, color="k", zorder=3)
    top = float(errors["value"].max())
    if len(chance):
        ax.axhline(float(chance.mean()), color="k", ls="--", lw=1, label="chance (train median)")
        ax.legend(fontsize=6, frameon=False, loc="upper right")
    positive = errors.loc[errors["value"] > 0, "value"]
    # errors of a cm beside a chance of a track's half-length: on a linear axis every bar is
    # flat at zero, so a log axis when they span more than a decade
    log = len(positive) and top / float(positive.min()) > 10
    if log:
        ax.set_yscale("log")  # from the decade below the best, so it has a labelled tick
        ax.set_ylim(10 ** np.floor(np.log10(float(positive.min()))), 2.0 * top)
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda value, _: f"{value:g}"))
    else:
        ax.set_ylim(0, 1.3 * top)
    ax.set_xticks(
        range(len(methods)),
        # the width chosen for this label (a decoder may choose another for each label)
        [
            LABELS.get(m, m) + _smoothing_note(metrics[metrics["label"] == label], m)
            for m in methods
        ],
        rotation=30,
        ha="right",
        fontsize=7,
    )
    scale = ", log scale" if log else ""
    kind = "distance" if distance else "abs. error"
    ax.set_ylabel(f"{label}: median {kind}\n(held-out block{scale})", fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    coloured = label if plane is not None else names[colour_column]
    fig.suptitle(
        f"{_recording_name(metrics)}embeddings coloured by {coloured}"
        " (first seed, whole recording)",
        fontsize=9,
    )
    return fig


def _recording_name(metrics: pd.DataFrame) -> str:
    names = metrics["dataset"].dropna().unique() if "dataset" in metrics else []
    return f"{names[0]}: " if len(names) == 1 else ""


def _single(metrics: pd.DataFrame, method: str, column: str):
    """The one value of ``column`` for ``method``'s rows, or None (absent, missing or several)."""
    if column not in metrics:
        return None
    values = metrics.loc[metrics["method"] == method, column].dropna().unique()
    return values[0] if len(values) == 1 else None


def _smoothing_note(metrics: pd.DataFrame, method: str) -> str:
    """What a method's input was, as chosen: its Gaussian width, or the Bayesian window."""
    width = _single(metrics, method, "smoothing_s")
    if width is None:
        return ""
    if method == "bayesian":
        return f" ({width:g} s window)"
    return " (counts)" if width == 0 else f" (σ {width:g} s)"


def _fit_note(metrics: pd.DataFrame, method: str) -> str:
    """An embedding panel's subtitle: the input width and CEBRA's iterations it was fitted with."""
    note = _smoothing_note(metrics, method).strip(" ()")
    iterations = _single(metrics, method, "iterations")
    if iterations is not None:
        note = f"{note}, {int(iterations):,} iterations" if note else f"{int(iterations):,} it."
    return f"\n{note}" if note else ""
