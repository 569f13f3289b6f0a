"""THINGS-MEG image generation (after Benchetrit, Banville & King 2023, Figs. 4-5).

Drawn from the generation metrics tables and each subject's ``images.npz`` only
(:func:`brainlatent.decoding.meg_generation.evaluate_generation`), so restyling the
figure never refits a decoder or redraws an image.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from brainlatent.decoding.meg_generation import CEILING
from brainlatent.errors import DataError
from brainlatent.figures.style import (
    BASELINE_COLOR,
    INTERVAL_COLUMNS,
    MAIN_COLOR,
    has_intervals,
    mark_image_offset,
    shade_windows_spanning_onset,
)
from brainlatent.plan import PRETRAINED as DEEP_MODELS

__all__ = ["IMAGE_ARRAYS", "plot_meg_generation"]

#: Columns the figure reads from both tables.
COLUMNS = ("subject", "decoder", "metric", "value", "chance", "window_start", "window_stop")
#: Arrays every subject's images file must hold (plus ``generated_<decoder>``).
IMAGE_ARRAYS = ("image", "seen")
DECODER_LABELS = {
    "ridge": "Ridge (linear)",
    "brain_module": "Brain module (MSE head)",
    CEILING: "Generator ceiling\n(seen image's latents)",
}
#: Short labels of the image rows.
ROW_LABELS = {"ridge": "ridge", "brain_module": "brain\nmodule", CEILING: "generator\nceiling"}
DECODER_COLORS = {"ridge": BASELINE_COLOR, "brain_module": MAIN_COLOR, CEILING: "#9fd49f"}
SHUFFLED = "shuffled pairing"
INTERVAL = "a participant, 95 % interval\nover test images"


def _metric_label(metric: str) -> str:
    if metric == "pixcorr":
        return "PixCorr"
    if metric == "ssim":
        return "SSIM"
    model = metric.removesuffix("_corr")
    # the paper's high-level similarity is a deep network's (CLIP); a hand-made feature
    # (the default config's HOG) is as low-level as the pixels, so it is not called high-level
    level = "\n(high-level)" if model in DEEP_MODELS else ""
    return f"{model.replace('_', ' ')} corr.{level}"


def _subject_label(subject: str) -> str:
    subject = str(subject)
    return subject if subject.startswith("sub-") else f"sub-{subject}"


#: Subjects' image blocks side by side in one row of the figure.
SUBJECTS_PER_ROW = 2


def _check(table: pd.DataFrame, source: str) -> pd.DataFrame:
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise DataError(source, f"table lacks columns {missing}")
    if table.empty:
        raise DataError(source, "table is empty")
    return table.assign(subject=table["subject"].astype(str))


def _metrics_order(metrics: pd.Series) -> list[str]:
    present = list(dict.fromkeys(metrics))
    fixed = [m for m in ("pixcorr", "ssim") if m in present]
    return fixed + [m for m in present if m not in fixed]


def _images_panel(fig, images: Mapping[str, Mapping[str, np.ndarray]], decoders, n_examples):
    """Per subject, two side by side a row: the seen images, then each decoder's
    generations (four subjects in one row drew each image ~40 px wide)."""
    subjects = list(images)
    columns = min(SUBJECTS_PER_ROW, len(subjects))
    grid = fig.subfigures(-(-len(subjects) // columns), columns, wspace=0.02, squeeze=False)
    for block, subject in zip(grid.flat, subjects, strict=False):
        arrays = images[subject]
        n = min(n_examples, len(arrays["image"]))
        rows = [("seen", np.asarray(arrays["seen"])[:n])]
        rows += [(ROW_LABELS[d], np.asarray(arrays[f"generated_{d}"])[:n]) for d in decoders]
        axes = block.subplots(len(rows), n, squeeze=False)
        for r, (label, stack) in enumerate(rows):
            for c in range(n):
                ax = axes[r, c]
                ax.imshow(stack[c], interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if c == 0:
                    ax.set_ylabel(label, fontsize=6)
        block.suptitle(_subject_label(subject), fontsize=8)


def _bars(ax, metrics: pd.DataFrame, order: list[str], decoders: list[str]) -> None:
    width = 0.8 / len(decoders)
    for i, metric in enumerate(order):
        for j, decoder in enumerate(decoders):
            rows = metrics[(metrics["metric"] == metric) & (metrics["decoder"] == decoder)]
            if rows.empty:
                continue
            x = i + (j - (len(decoders) - 1) / 2) * width
            intervals = has_intervals(rows)
            columns = ["value", "chance"] + (INTERVAL_COLUMNS if intervals else [])
            per_subject = rows.groupby("subject", sort=False)[columns].mean()
            ax.bar(x, per_subject["value"].mean(), width * 0.9, color=DECODER_COLORS[decoder])
            # subjects side by side (their intervals would overlap), or one through the bar
            xs = x + np.linspace(-0.25, 0.25, len(per_subject)) * width * (len(per_subject) > 1)
            if intervals:
                ax.vlines(
                    xs, per_subject["ci_low"], per_subject["ci_high"], color="k", lw=0.7,
                    alpha=0.5, zorder=3,
                )  # fmt: skip
            if len(per_subject) > 1:
                ax.scatter(xs, per_subject["value"], s=8, color="k", zorder=3)
            chance = per_subject["chance"].mean()
            ax.hlines(chance, x - width * 0.45, x + width * 0.45, colors="k", linestyles="--")
    ax.set_xticks(np.arange(len(order)), [_metric_label(m) for m in order], fontsize=7)
    ax.set_ylabel("similarity to the seen image", fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    lowest = float(np.nanmin(metrics[["value", "chance"]].to_numpy()))
    ax.set_ylim(0 if lowest >= 0 else lowest - 0.05, 1)  # a score below 0 stays in view
    ax.spines[["top", "right"]].set_visible(False)
    handles = [Patch(color=DECODER_COLORS[d], label=DECODER_LABELS[d]) for d in decoders]
    handles.append(Line2D([], [], color="k", ls="--", label=SHUFFLED))
    if has_intervals(metrics):
        handles.append(Line2D([], [], color="k", lw=0.7, alpha=0.5, label=INTERVAL))
    ax.legend(handles=handles, fontsize=6, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
    ax.set_title("Whole epoch: test images (repeats averaged)", fontsize=8)


def _timecourse(axes, course: pd.DataFrame, order: list[str]) -> None:
    length = float((course["window_stop"] - course["window_start"]).median())
    for ax, metric in zip(axes, order, strict=True):
        rows = course[course["metric"] == metric]
        by_window = rows.groupby("window_start")
        value = by_window["value"].agg(["mean", "min", "max"])
        chance = by_window["chance"].mean()
        ax.plot(value.index, value["mean"], marker="o", ms=2.5, color=BASELINE_COLOR, lw=1.2)
        ax.fill_between(value.index, value["min"], value["max"], color=BASELINE_COLOR, alpha=0.2)
        ax.plot(chance.index, chance, color="k", ls="--", lw=0.9)
        ax.axvline(0, color="k", lw=0.6)
        shade_windows_spanning_onset(ax, length)
        mark_image_offset(ax)
        ax.set_title(_metric_label(metric).replace("\n", " "), fontsize=7)
        ax.tick_params(labelsize=6)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_ylabel("similarity (ridge)", fontsize=7)
    axes[len(axes) // 2].set_xlabel(
        f"window start (s, {length * 1000:.0f} ms windows; 0 = image onset; grey: windows "
        f"spanning onset; dotted: image offset; dashed: {SHUFFLED})",
        fontsize=7,
    )


def plot_meg_generation(
    metrics: pd.DataFrame,
    timecourse: pd.DataFrame,
    images: Mapping[str, Mapping[str, np.ndarray]],
    n_examples: int = 6,
    source: str = "metrics",
    image_sources: Mapping[str, str] | None = None,
):
    """Top: each subject's first ``n_examples`` test images and their generations.

    Middle: PixCorr, SSIM and the high-level correlation of each decoder's generations with
    the seen images (bars: mean over subjects, dots: subjects; dashed: the shuffled-pairing
    baseline), beside the generator's own ceiling. Bottom: the same scores from a ridge
    fitted on each sliding window, against the window's start (line: mean over subjects,
    band: range; dashed: shuffled pairing). ``source`` names the tables and
    ``image_sources`` each subject's image file in errors.
    """
    metrics = _check(metrics, source)
    timecourse = _check(timecourse, source)
    if not images:
        raise DataError(source, "no generated images given")
    whole = metrics[metrics["window_start"].isna()]
    if whole.empty:
        raise DataError(source, "no whole-epoch rows (window_start NaN)")
    decoders = [d for d in DECODER_LABELS if d in set(whole["decoder"])]
    unknown = sorted(set(whole["decoder"]) - set(DECODER_LABELS))
    if unknown:
        raise DataError(source, f"unknown decoders {unknown}; expected {list(DECODER_LABELS)}")
    for subject, arrays in images.items():
        needed = [*IMAGE_ARRAYS, *(f"generated_{d}" for d in decoders)]
        missing = [name for name in needed if name not in arrays]
        if missing:
            where = (image_sources or {}).get(subject, source)
            raise DataError(where, f"images of {_subject_label(subject)} lack arrays {missing}")
    order = _metrics_order(whole["metric"])
    course = timecourse.dropna(subset=["window_start"])
    if course.empty:
        raise DataError(source, "the time course has no windows")
    course_order = [m for m in order if m in set(course["metric"])]

    n_rows = 1 + len(decoders)
    image_height = (0.62 * n_rows + 0.3) * -(-len(images) // SUBJECTS_PER_ROW)
    fig = plt.figure(figsize=(7.5, image_height + 2.4 + 2.0), constrained_layout=True)
    top, middle, bottom = fig.subfigures(3, 1, height_ratios=[image_height, 2.4, 2.0])
    _images_panel(top, images, decoders, n_examples)
    top.suptitle(
        "THINGS-MEG: held-out test images and the images generated from their MEG", fontsize=9
    )
    _bars(middle.subplots(), whole, order, decoders)
    # each metric on its own scale: SSIM's and the high-level correlation's changes over
    # time are a few hundredths, flat on PixCorr's range
    axes = bottom.subplots(1, len(course_order), squeeze=False)[0]
    _timecourse(axes, course, course_order)
    bottom.suptitle("Over time: a ridge per sliding window", fontsize=8)
    return fig
