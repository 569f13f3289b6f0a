"""THINGS-MEG figures, drawn from the long-format metrics tables only."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from brainlatent.errors import DataError
from brainlatent.figures.style import BASELINE_COLOR, MAIN_COLOR

DECODER_LABELS = {"ridge": "Ridge (linear)", "brain_module": "Brain module (CLIP + MSE)"}
DECODER_COLORS = {"ridge": BASELINE_COLOR, "brain_module": MAIN_COLOR}


def _select(metrics: pd.DataFrame, metric: str, source: str) -> pd.DataFrame:
    rows = metrics[metrics["metric"] == metric]
    if rows.empty:
        raise DataError(source, f"no rows with metric {metric!r}")
    return rows


def plot_retrieval(metrics: pd.DataFrame, metric: str = "top5", source: str = "metrics"):
    """Top-k retrieval per image model, ridge vs brain module, subjects as dots."""
    rows = _select(metrics, metric, source)
    rows = rows[rows["window_start"].isna()]
    models = list(dict.fromkeys(rows["image_model"]))
    decoders = [d for d in DECODER_LABELS if d in set(rows["decoder"])]
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(models), 3.4), constrained_layout=True)
    width = 0.8 / max(len(decoders), 1)
    x = np.arange(len(models))
    for j, decoder in enumerate(decoders):
        sub = rows[rows["decoder"] == decoder]
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
            values = sub.loc[sub["image_model"] == model, "value"]
            ax.scatter(np.full(len(values), x[i] + offset), values, s=10, color="k", zorder=3)
    chance = rows["chance"].mean()
    ax.axhline(chance, color="k", ls="--", lw=1, label=f"chance ({chance:.1%})")
    ax.set_xticks(x, [m.replace("_", " ") for m in models])
    ax.set_ylabel(f"{metric.replace('top', 'top-')} retrieval accuracy")
    ax.set_ylim(0, 1)
    ax.set_title("THINGS-MEG: retrieval of test images", fontsize=10)
    # Below the axes: bars reach the top, and a legend inside would hide them.
    ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def plot_timecourse(metrics: pd.DataFrame, metric: str = "top5", source: str = "metrics"):
    """Top-k retrieval of the ridge decoder over window start, one line per image model."""
    rows = _select(metrics, metric, source).dropna(subset=["window_start"])
    fig, ax = plt.subplots(figsize=(5, 3.4), constrained_layout=True)
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
    ax.set_xlabel(f"window start (s, {length * 1000:.0f} ms windows; 0 = image onset)")
    ax.set_ylabel(f"{metric.replace('top', 'top-')} retrieval accuracy")
    ax.set_title("THINGS-MEG: decoding over time (ridge)", fontsize=10)
    ax.legend(fontsize=7, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return fig
