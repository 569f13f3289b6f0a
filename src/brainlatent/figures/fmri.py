"""GOD fMRI figures (after Ozcelik et al. 2022): reconstructions with their scores, ROI weights.

Drawn from the per-subject ``metrics.parquet``, ``reconstructions.npz`` and ROI-weight tables
only, so restyling a figure never refits a ridge model or regenerates an image.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from brainlatent.errors import DataError
from brainlatent.figures.style import BASELINE_COLOR, MAIN_COLOR, has_intervals

METRIC_COLUMNS = ("subject", "space", "metric", "value", "chance", "n_images")
RECONSTRUCTION_ARRAYS = ("image", "truth", "reconstruction")
IDENTIFICATION = (
    ("latent", "two_way"),
    ("pixel", "two_way"),
    ("latent", "n_way"),
    ("pixel", "n_way"),
)
SIMILARITY = {("pixel", "pixcorr"): "PixCorr", ("pixel", "ssim"): "SSIM"}
SPACE_COLORS = {"latent": MAIN_COLOR, "pixel": BASELINE_COLOR}

ROI_COLUMNS = ("subject", "roi", "level", "n_voxels", "low", "high", "contrast")
LEVEL_COLORS = {"low": "#4c72b0", "mid": "#9a9a9a", "high": "#dd8452"}
FEATURE_COLORS = {"low": "#4c72b0", "high": "#dd8452"}


def _subject_label(subject: str) -> str:
    subject = str(subject)
    return subject if subject.startswith("sub-") else f"sub-{subject}"


def _require_columns(table: pd.DataFrame, columns, source: str) -> None:
    missing = [name for name in columns if name not in table.columns]
    if missing:
        raise DataError(source, f"table lacks columns {missing}")
    if table.empty:
        raise DataError(source, "table is empty")


def _bar_with_dots(
    ax, x: float, values: np.ndarray, color, width: float = 0.6, intervals=None
) -> None:
    """A bar at the mean of ``values`` and, when there are several, one dot per subject;
    ``intervals`` (lows, highs: one per subject) as vertical lines through the dots, or
    through the bar's top for a single subject."""
    ax.bar(x, np.nanmean(values), width, color=color, alpha=0.45 if len(values) > 1 else 0.8)
    jitter = np.linspace(-0.12, 0.12, len(values)) * width / 0.6 if len(values) > 1 else [0.0]
    if intervals is not None:
        ax.vlines(x + np.asarray(jitter), *intervals, color="k", lw=0.8, alpha=0.6, zorder=3)
    if len(values) > 1:
        ax.scatter(x + jitter, values, s=12 * min(1.0, width / 0.6), color="k", zorder=3)


def _per_subject(rows: pd.DataFrame):
    """Each subject's value and, where the table has them, its intervals (lows, highs)."""
    by = rows.groupby("subject", sort=False)
    values = by["value"].mean().to_numpy(float)
    if not has_intervals(rows):
        return values, None  # tables from before the intervals
    return values, (by["ci_low"].mean().to_numpy(float), by["ci_high"].mean().to_numpy(float))


def _identification_label(space: str, metric: str, rows: pd.DataFrame) -> str:
    if metric == "two_way":
        name = "2-way"
    else:
        sizes = sorted({int(n) for n in rows["n_images"].dropna()})
        name = "/".join(str(n) for n in sizes) + "-way" if sizes else "n-way"
    return f"{name}\n({space})"


def plot_fmri_reconstruction(
    metrics: pd.DataFrame,
    reconstructions: Mapping[str, Mapping[str, np.ndarray]],
    n_images: int = 8,
    source: str = "metrics",
):
    """Top: the first ``n_images`` test images and each subject's reconstructions.

    Bottom: identification accuracy (2-way and n-way, in the generator's latent space and in
    pixels; dashed: chance) and PixCorr/SSIM (dashed: each reconstruction against the other
    test images); bars are means over subjects, dots subjects.
    """
    _require_columns(metrics, METRIC_COLUMNS, source)
    if not reconstructions:
        raise DataError(source, "no reconstructions given")
    for subject, arrays in reconstructions.items():
        missing = [name for name in RECONSTRUCTION_ARRAYS if name not in arrays]
        if missing:
            raise DataError(
                source, f"reconstructions of {_subject_label(subject)} lack arrays {missing}"
            )
    metrics = metrics.assign(subject=metrics["subject"].astype(str))
    pairs = list(zip(metrics["space"], metrics["metric"], strict=True))
    absent = [f"{s}/{m}" for s, m in (*IDENTIFICATION, *SIMILARITY) if (s, m) not in pairs]
    if absent:
        raise DataError(source, f"no rows with space/metric {absent}")

    subjects = list(reconstructions)
    first = reconstructions[subjects[0]]
    images = np.asarray(first["image"])
    n_show = min(n_images, len(images))
    shown = images[:n_show]
    names = np.asarray(first["stimulus_name"])[:n_show] if "stimulus_name" in first else None
    image_rows = [("original", np.asarray(first["truth"])[:n_show])]
    for subject in subjects:
        arrays = reconstructions[subject]
        position = {int(image): k for k, image in enumerate(np.asarray(arrays["image"]))}
        lacking = [int(image) for image in shown if int(image) not in position]
        if lacking:
            raise DataError(
                source, f"reconstructions of {_subject_label(subject)} lack test images {lacking}"
            )
        order = [position[int(image)] for image in shown]
        image_rows.append((_subject_label(subject), np.asarray(arrays["reconstruction"])[order]))

    row_height = 7.0 / max(n_show, 4)
    top_height = row_height * len(image_rows) + 0.3
    fig = plt.figure(figsize=(7.0, top_height + 2.6), constrained_layout=True)
    top, bottom = fig.subfigures(2, 1, height_ratios=[top_height, 2.6])
    axes = top.subplots(len(image_rows), n_show, squeeze=False)
    for r, (label, stack) in enumerate(image_rows):
        for c in range(n_show):
            ax = axes[r, c]
            picture = stack[c]
            ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0 and names is not None:  # the ImageNet name: what a reader can look up
                ax.set_title(names[c], fontsize=5)
            if c == 0:
                ax.set_ylabel(label, fontsize=7)
    top.suptitle("GOD fMRI: held-out test images and their reconstructions", fontsize=9)

    identification, similarity = bottom.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    labels = []
    for i, (space, metric) in enumerate(IDENTIFICATION):
        rows = metrics[(metrics["space"] == space) & (metrics["metric"] == metric)]
        values, intervals = _per_subject(rows)
        _bar_with_dots(identification, i, values, SPACE_COLORS[space], intervals=intervals)
        chance = float(rows["chance"].mean())
        if np.isfinite(chance):
            identification.hlines(chance, i - 0.4, i + 0.4, colors="k", linestyles="--", lw=1)
        labels.append(_identification_label(space, metric, rows))
    identification.set_xticks(np.arange(len(IDENTIFICATION)), labels, fontsize=7)
    identification.set_ylim(0, 1)
    identification.set_ylabel("identification accuracy", fontsize=7)
    identification.set_title("Identification (dashed: chance)", fontsize=8)

    for i, (space, metric) in enumerate(SIMILARITY):
        rows = metrics[(metrics["space"] == space) & (metrics["metric"] == metric)]
        values, intervals = _per_subject(rows)
        _bar_with_dots(similarity, i, values, SPACE_COLORS[space], intervals=intervals)
        chance = float(rows["chance"].mean())  # NaN in tables written before it was kept
        if np.isfinite(chance):
            similarity.hlines(chance, i - 0.4, i + 0.4, colors="k", linestyles="--", lw=1)
    similarity.axhline(0, color="k", lw=0.6)
    similarity.set_xticks(np.arange(len(SIMILARITY)), list(SIMILARITY.values()), fontsize=7)
    similarity.set_ylabel("score vs. original", fontsize=7)
    similarity.set_title("Image similarity\n(dashed: vs. other test images)", fontsize=8)

    n_subjects = metrics["subject"].nunique()
    if n_subjects > 1:
        dots = f"bars: mean over {n_subjects} subjects, dots: subjects"
    else:
        dots = _subject_label(metrics["subject"].iloc[0])
    if has_intervals(metrics):
        dots += "; lines: 95 % interval over the test images"
    for ax in (identification, similarity):
        ax.tick_params(axis="y", labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
    bottom.suptitle(f"Scores on the test images ({dots})", fontsize=8)
    return fig


def plot_fmri_roi_weights(table: pd.DataFrame, source: str = "roi_weights"):
    """Left: per ROI, the contrast of ridge weights for low- vs high-level image features.

    Bars are means over subjects (dots: subjects), coloured by the ROI's expected level.
    Right: the normalised mean squared weights for low- and high-level features per ROI.
    """
    _require_columns(table, ROI_COLUMNS, source)
    table = table.assign(subject=table["subject"].astype(str), roi=table["roi"].astype(str))
    rois = list(dict.fromkeys(table["roi"]))
    levels = table.groupby("roi", sort=False)["level"].first()
    voxels = table.groupby("roi", sort=False)["n_voxels"].mean()
    x = np.arange(len(rois))

    fig, (left, right) = plt.subplots(
        1,
        2,
        figsize=(max(6.0, 1.5 + 0.8 * len(rois)), 3.4),
        gridspec_kw={"width_ratios": [2, 1]},
        constrained_layout=True,
    )
    for i, roi in enumerate(rois):
        values = table.loc[table["roi"] == roi].groupby("subject", sort=False)["contrast"].mean()
        _bar_with_dots(left, i, values.to_numpy(float), LEVEL_COLORS.get(levels[roi], "#cccccc"))
    left.axhline(0, color="k", lw=0.8)
    left.set_ylim(-1.05, 1.05)
    left.set_xticks(x, [f"{roi}\n{voxels[roi]:.0f} vox" for roi in rois], fontsize=7)
    left.set_ylabel("weight contrast (low − high) / (low + high)", fontsize=7)
    left.set_title("Ridge weights: low- vs high-level features per ROI", fontsize=8)
    present = [level for level in LEVEL_COLORS if level in set(levels)]
    left.legend(
        handles=[Patch(color=LEVEL_COLORS[level], alpha=0.6, label=level) for level in present],
        title="expected level",
        title_fontsize=7,
        fontsize=7,
        frameon=False,
        loc="upper right",
    )

    width = 0.38
    for j, feature in enumerate(FEATURE_COLORS):
        offset = (j - 0.5) * width
        for i, roi in enumerate(rois):
            values = table.loc[table["roi"] == roi].groupby("subject", sort=False)[feature].mean()
            _bar_with_dots(
                right, i + offset, values.to_numpy(float), FEATURE_COLORS[feature], width
            )
    right.set_xticks(x, rois, fontsize=7, rotation=90)
    right.set_ylabel("normalised mean squared weight", fontsize=7)
    right.set_title("Per feature level", fontsize=8)
    top = float(np.nanmax(table[list(FEATURE_COLORS)].to_numpy(float), initial=0.0))
    right.set_ylim(0, 1.3 * top if top > 0 else 1.0)
    right.legend(
        handles=[Patch(color=c, alpha=0.6, label=f"{f}-level") for f, c in FEATURE_COLORS.items()],
        fontsize=7,
        frameon=False,
        ncol=2,
        loc="upper center",
    )
    for ax in (left, right):
        ax.tick_params(axis="y", labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
    return fig
