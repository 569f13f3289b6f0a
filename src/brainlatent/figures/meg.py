"""THINGS-MEG figures, drawn from the long-format metrics tables only."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from brainlatent.errors import DataError
from brainlatent.figures.style import (
    BASELINE_COLOR,
    MAIN_COLOR,
    has_intervals,
    mark_image_offset,
    shade_windows_spanning_onset,
)

DECODER_LABELS = {"ridge": "Ridge (linear)", "brain_module": "Brain module (CLIP + MSE)"}
DECODER_COLORS = {"ridge": BASELINE_COLOR, "brain_module": MAIN_COLOR}


def _select(metrics: pd.DataFrame, metric: str, source: str) -> pd.DataFrame:
    rows = metrics[metrics["metric"] == metric]
    if rows.empty:
        raise DataError(source, f"no rows with metric {metric!r}")
    return rows


CANDIDATE_TITLES = {
    "small": "among the test images (small set)",
    "large": "among test + never-seen images (large set)",
}


def _candidate_sets(rows: pd.DataFrame) -> pd.Series:
    """Each row's candidate set; tables from before the ``candidates`` column are ``small``."""
    if "candidates" not in rows:
        return pd.Series("small", index=rows.index)
    return rows["candidates"].fillna("small")


RANK_METRIC = "relative_median_rank"


def plot_retrieval(
    metrics: pd.DataFrame,
    metric: str = "top5",
    source: str = "metrics",
    rank_metric: str = RANK_METRIC,
):
    """Top-k retrieval per image model, ridge vs brain module, subjects as dots.

    One column per candidate set, side by side: the test images (``small``) and, when
    the table has it, the test images plus images never seen (``large``), each with its
    own chance level. A second row draws the relative median rank (1/n is perfect, about
    0.5 chance) when the table has it: top-5 falls in the large set while the rank, which
    divides by the number of candidates, need not.
    """
    rows = _select(metrics, metric, source)
    rows = rows[rows["window_start"].isna()]
    sets = _candidate_sets(rows)
    names = [c for c in CANDIDATE_TITLES if c in set(sets)]
    unknown = sorted(set(sets) - set(CANDIDATE_TITLES))
    if unknown:
        raise DataError(source, f"unknown candidate sets {unknown}; expected small or large")
    ranks = metrics[(metrics["metric"] == rank_metric) & metrics["window_start"].isna()]
    models = list(dict.fromkeys(rows["image_model"]))
    decoders = [d for d in DECODER_LABELS if d in set(rows["decoder"])]
    n_rows = 2 if len(ranks) else 1
    fig, axes = plt.subplots(
        n_rows,
        len(names),
        figsize=(0.4 + len(names) * (1.2 + 1.1 * len(models)), 3.6 + 2.6 * (n_rows - 1)),
        squeeze=False,
        constrained_layout=True,
    )
    for ax in axes[1:, 1:].flat:  # ranks are fractions of each set: one scale
        ax.sharey(axes[1, 0])
        ax.tick_params(labelleft=False)
    for ax, name in zip(axes[0], names, strict=True):
        panel = rows[sets == name]
        # Each set on its own scale, with room above its highest subject's dot: among the
        # real large set's 3,859 candidates chance is 0.13 %, flat on the small set's scale.
        accuracy_top = min(1.0, max(2 * panel["chance"].max(), 1.1 * _highest(panel)))
        _bars(ax, panel, models, decoders)
        chance = panel["chance"].mean()
        n = panel["n_candidates"].mean()
        ax.axhline(chance, color="k", ls="--", lw=1, label="chance")
        digits = 1 if chance >= 0.01 else 2  # the real large set's 0.13 %, not "0.1%"
        ax.set_title(
            f"{CANDIDATE_TITLES[name]}\n~{n:.0f} candidates, chance {chance:.{digits}%}",
            fontsize=9,
        )
        ax.set_ylim(0, accuracy_top)
    axes[0, 0].set_ylabel(f"{metric.replace('top', 'top-')} retrieval accuracy")
    if n_rows == 2:
        rank_sets = _candidate_sets(ranks)
        # up to chance, drawn as in the row above (and past it, should a decoder be worse)
        top = max(0.55, 1.05 * _highest(ranks))
        for ax, name in zip(axes[1], names, strict=True):
            _bars(ax, ranks[rank_sets == name], models, decoders)
            ax.axhline(0.5, color="k", ls="--", lw=1)
            ax.set_ylim(0, top)
            ax.set_title("relative median rank (chance 0.5)", fontsize=9)
        axes[1, 0].set_ylabel("relative median rank\n(lower is better)")
    fig.suptitle("THINGS-MEG: retrieval of test images", fontsize=10)
    # Below the axes: bars reach the top, and a legend inside would hide them.
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, frameon=False, loc="outside lower center", ncol=3)
    return fig


INTERVAL_LABEL = "a participant, 95 % interval over test images"


def _highest(rows: pd.DataFrame) -> float:
    """The highest value drawn: a dot, or the top of its interval."""
    return float(rows["ci_high"].max() if has_intervals(rows) else rows["value"].max())


def _bars(ax, panel: pd.DataFrame, models: list[str], decoders: list[str]) -> None:
    """Mean over subjects per image model and decoder as bars, each subject as a dot with
    its bootstrap interval (when the table has one)."""
    width = 0.8 / max(len(decoders), 1)
    x = np.arange(len(models))
    # Subjects side by side within a bar, in one order everywhere, so that overlapping
    # intervals stay apart and each subject sits at the same place in every bar.
    subjects = sorted(panel["subject"].unique())
    spread = width * 0.6 / max(len(subjects), 1)
    dodge = {s: (k - (len(subjects) - 1) / 2) * spread for k, s in enumerate(subjects)}
    for j, decoder in enumerate(decoders):
        sub = panel[panel["decoder"] == decoder]
        means = sub.groupby("image_model")["value"].mean().reindex(models)
        offset = (j - (len(decoders) - 1) / 2) * width
        ax.bar(
            x + offset,
            means,
            width * 0.9,
            color=DECODER_COLORS[decoder],
            label=DECODER_LABELS[decoder],
        )
        for i, model in enumerate(models):
            mine = sub[sub["image_model"] == model]
            xs = x[i] + offset + mine["subject"].map(dodge).to_numpy()
            if has_intervals(mine):
                labelled = INTERVAL_LABEL in ax.get_legend_handles_labels()[1]
                ax.vlines(
                    xs, mine["ci_low"], mine["ci_high"], color="k", lw=0.7, alpha=0.45,
                    zorder=3, label=None if labelled else INTERVAL_LABEL,
                )  # fmt: skip
            ax.scatter(xs, mine["value"], s=10, color="k", zorder=3)
    ax.set_xticks(x, [m.replace("_", " ") for m in models])
    ax.spines[["top", "right"]].set_visible(False)


def plot_timecourse(metrics: pd.DataFrame, metric: str = "top5", source: str = "metrics"):
    """Top-k retrieval of the ridge decoder over window start, one line per image model.

    Among the test images (the ``small`` candidate set), as the paper's time course."""
    rows = _select(metrics, metric, source).dropna(subset=["window_start"])
    rows = rows[_candidate_sets(rows) == "small"]
    fig, ax = plt.subplots(figsize=(6.6, 3.4), constrained_layout=True)
    for model, sub in rows.groupby("image_model", sort=False):
        curve = sub.groupby("window_start")["value"].agg(["mean", "min", "max"])
        (line,) = ax.plot(
            curve.index, curve["mean"], marker="o", ms=3, label=model.replace("_", " ")
        )
        ax.fill_between(curve.index, curve["min"], curve["max"], color=line.get_color(), alpha=0.15)
    chance = rows["chance"].mean()
    ax.axhline(chance, color="k", ls="--", lw=1, label=f"chance ({chance:.1%})")
    ax.axvline(0, color="k", lw=0.8)
    length = float((rows["window_stop"] - rows["window_start"]).median())
    shade_windows_spanning_onset(ax, length, label="windows spanning onset")
    mark_image_offset(ax, label="image offset (later windows: after it)")
    ax.set_xlabel(f"window start (s, {length * 1000:.0f} ms windows; 0 = image onset)")
    ax.set_ylabel(f"{metric.replace('top', 'top-')} retrieval accuracy")
    ax.set_title("THINGS-MEG: decoding over time (ridge)", fontsize=10)
    # beside the axes: the curves rise after onset and again after the image's offset
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.spines[["top", "right"]].set_visible(False)
    return fig
