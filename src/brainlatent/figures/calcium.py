"""Figures of the CEBRA paper's results, drawn from the long-format metrics tables only."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from brainlatent.errors import DataError  # noqa: E402

METHOD_LABELS = {
    "cebra_behavior": "CEBRA-Behavior",
    "cebra_time": "CEBRA-Time",
    "cebra_hybrid": "CEBRA-Hybrid",
    "pca": "PCA",
    "raw": "kNN on raw activity",
    "cebra": "CEBRA",
    "umap": "UMAP",
    "tsne": "t-SNE",
    "autolfads": "autoLFADS",
    "pivae": "pi-VAE",
}


def plot_frame_decoding(metrics: pd.DataFrame, source: str = "metrics"):
    """Frame accuracy (within 1 s) on the held-out repeat vs number of neurons, per method."""
    rows = metrics[metrics["metric"] == "accuracy"]
    if rows.empty:
        raise DataError(source, "no rows with metric 'accuracy'")
    fig, ax = plt.subplots(figsize=(4.8, 3.4), constrained_layout=True)
    for method, sub in rows.groupby("method", sort=False):
        curve = sub.groupby("n_neurons")["value"].agg(["mean", "min", "max"])
        (line,) = ax.plot(
            curve.index,
            100 * curve["mean"],
            marker="o",
            ms=3,
            label=METHOD_LABELS.get(method, method),
        )
        ax.fill_between(
            curve.index, 100 * curve["min"], 100 * curve["max"], color=line.get_color(), alpha=0.15
        )
    ax.axhline(100 * rows["chance"].mean(), color="k", ls="--", lw=1, label="chance")
    ax.set_xscale("log")
    ax.set_xlabel("number of neurons")
    ax.set_ylabel("frame accuracy within 1 s (%)")
    ax.set_title("Allen natural movie one: decoding the held-out repeat", fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def plot_synthetic_latents(metrics: pd.DataFrame, paper: dict, source: str = "metrics"):
    """R² of the true latents per method (dots: seeds), beside the paper's medians."""
    rows = metrics[metrics["metric"] == "r2"]
    if rows.empty:
        raise DataError(source, "no rows with metric 'r2'")
    methods = list(dict.fromkeys([*rows["method"], *paper]))
    fig, ax = plt.subplots(figsize=(4.8, 3.2), constrained_layout=True)
    x = np.arange(len(methods))
    for i, method in enumerate(methods):
        values = rows.loc[rows["method"] == method, "value"]
        if len(values):
            ax.scatter(np.full(len(values), i - 0.12), values, s=12, color="#1f77b4", zorder=3)
            ax.hlines(values.median(), i - 0.3, i + 0.06, color="#1f77b4", lw=2)
        if method in paper:
            ax.hlines(paper[method], i - 0.06, i + 0.3, color="#d62728", lw=2)
    ax.plot([], [], color="#1f77b4", lw=2, label="this workflow (median, seeds)")
    ax.plot([], [], color="#d62728", lw=2, label="Schneider et al. 2023 (median)")
    ax.set_xticks(x, [METHOD_LABELS.get(m, m) for m in methods], rotation=30, ha="right")
    ax.set_ylabel("R² (embedding → true latent)")
    ax.set_ylim(min(0.0, float(rows["value"].min())), 1.0)
    ax.set_title("Synthetic latents (pi-VAE generative process)", fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="lower left")
    ax.spines[["top", "right"]].set_visible(False)
    return fig
