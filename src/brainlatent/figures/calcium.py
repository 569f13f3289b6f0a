"""Figures of the CEBRA paper's results, drawn from the long-format metrics tables only."""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from brainlatent.datasets.allen_calcium import AREAS
from brainlatent.errors import DataError
from brainlatent.figures.style import MAIN_COLOR, METHOD_LABELS


def plot_frame_decoding(metrics: pd.DataFrame, source: str = "metrics", pseudo: str = "pseudo"):
    """Frame accuracy (within 1 s) on the held-out repeat vs number of neurons, per method.

    Single mice share one panel (line: mean over mice and seeds, band or bar: range); each
    pseudo-mouse (``pseudo``, or ``pseudo-<area>`` pooling one imaging area) gets its own,
    since pooling areas into one line would hide what the per-area comparison is for. Single
    mice decoded at all their neurons only (``sweep_mice: false``, the default config) would
    leave their panel one column of points on a 10-600 axis: they are drawn as open markers
    on the pooled pseudo-mouse's panel instead, beside the pooled value at the same count.
    """
    rows = metrics[metrics["metric"] == "accuracy"]
    if rows.empty:
        raise DataError(source, "no rows with metric 'accuracy'")
    subject = rows["subject"].astype(str)
    is_pseudo = (subject == pseudo) | subject.str.startswith(f"{pseudo}-")
    single = rows[~is_pseudo]
    overlay = (
        (subject == pseudo).any()
        and not single.empty
        and (single.groupby(["subject", "method"])["n_neurons"].nunique() == 1).all()
    )
    panels = [("single mice", single)] if not single.empty and not overlay else []
    for name in sorted(subject[is_pseudo].unique(), key=lambda n: _area_order(n, pseudo)):
        area = name.removeprefix(pseudo).removeprefix("-")
        title = f"pseudo-mouse, {area}" if area else "pseudo-mouse (pooled)"
        title += " and single mice" if overlay and not area else ""
        panels.append((title, rows[subject == name]))
    with_single = "pseudo-mouse (pooled) and single mice"
    n_cols = min(3, len(panels))
    n_rows = -(-len(panels) // n_cols)
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        figsize=(4.2 * n_cols, 3.4 * n_rows),
        constrained_layout=True,
        sharey=True,
        squeeze=False,
    )
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    # One neuron axis for every panel, so a single mouse's few counts sit where the
    # pseudo-mice's sweep puts them; ticks at the swept counts (the overlaid mice's own
    # counts are in the legend), labels thinned where they would touch.
    counts = np.sort(rows["n_neurons"].unique())
    ticks = np.sort(rows.loc[is_pseudo, "n_neurons"].unique()) if overlay else counts
    shown = _labelled(ticks)
    labels = [str(c) if c in shown else "" for c in ticks]
    colors = {}
    for i, (title, panel) in enumerate(panels):
        ax = axes.flat[i]
        for method, sub in panel.groupby("method", sort=False):
            curve = sub.groupby("n_neurons")["value"].agg(["mean", "min", "max"])
            (line,) = ax.plot(
                curve.index,
                100 * curve["mean"],
                marker="o",
                ms=3,
                label=METHOD_LABELS.get(method, method),
            )
            colors[method] = line.get_color()
            if len(curve) == 1:  # a band needs two counts: the range as an error bar
                low, high = curve["mean"] - curve["min"], curve["max"] - curve["mean"]
                ax.errorbar(curve.index, 100 * curve["mean"], yerr=[100 * low, 100 * high],
                            color=line.get_color(), capsize=3, lw=1)  # fmt: skip
            ax.fill_between(
                curve.index,
                100 * curve["min"],
                100 * curve["max"],
                color=line.get_color(),
                alpha=0.15,
            )
        if title == with_single:
            _single_mice_markers(ax, single, colors)
        chance = 100 * panel["chance"].mean()
        ax.axhline(chance, color="k", ls="--", lw=1, label=f"chance ({chance:.1f} %)")
        ax.set_xscale("log")
        ax.set_xlim(counts[0] / 1.3, counts[-1] * 1.3)
        ax.set_xticks(ticks, labels)
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel("number of neurons")
        ax.set_title(title, fontsize=9)
        if i % n_cols == 0:
            ax.set_ylabel("frame accuracy within 1 s (%)")
        ax.spines[["top", "right"]].set_visible(False)
    # the pooled sweep rises left to right: its upper left is free of points
    axes[0, 0].legend(fontsize=7, frameon=False, loc="upper left" if overlay else "best")
    fig.suptitle("Allen natural movie one: decoding the held-out repeat", fontsize=9)
    return fig


def _area_order(name: str, pseudo: str) -> tuple:
    """The pooled pseudo-mouse first, then the areas in the Allen's order (V1 first),
    then any other name alphabetically."""
    area = name.removeprefix(pseudo).removeprefix("-")
    known = area in AREAS
    return (name != pseudo, not known, AREAS.index(area) if known else 0, name)


def _labelled(counts, gap: float = 0.15) -> set:
    """The counts whose labels stay apart on a log axis: from the largest down, each at
    least ``gap`` decades below the last labelled (600, 800, 1000 print as "6008001000")."""
    labelled: list = []
    for count in sorted(counts, reverse=True):
        if not labelled or np.log10(labelled[-1] / count) >= gap:
            labelled.append(count)
    return set(labelled)


def _single_mice_markers(ax, single: pd.DataFrame, colors: dict) -> None:
    """Each method's single mice as one open marker: mean over mice and seeds, bar: range;
    set a little to the right of the count (x is logarithmic), not to hide the pooled point
    of the same count."""
    n_mice = single["subject"].nunique()
    for method, sub in single.groupby("method", sort=False):
        point = sub.groupby("n_neurons")["value"].agg(["mean", "min", "max"])
        ax.errorbar(
            point.index * 1.12,
            100 * point["mean"],
            yerr=[100 * (point["mean"] - point["min"]), 100 * (point["max"] - point["mean"])],
            fmt="D",
            ms=5,
            mfc="white",
            color=colors.get(method, MAIN_COLOR),
            capsize=3,
            lw=1,
        )
    low, high = single["n_neurons"].min(), single["n_neurons"].max()
    span = f"{low}" if low == high else f"{low}–{high}"
    ax.plot([], [], "D", ms=5, mfc="white", color="0.4",
            label=f"single mice ({n_mice}), all their neurons ({span})")  # fmt: skip


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
            ax.scatter(np.full(len(values), i - 0.12), values, s=12, color=MAIN_COLOR, zorder=3)
            ax.hlines(values.median(), i - 0.3, i + 0.06, color=MAIN_COLOR, lw=2)
        if method in paper:
            ax.hlines(paper[method], i - 0.06, i + 0.3, color="#d62728", lw=2)
    ax.plot([], [], color=MAIN_COLOR, lw=2, label="this workflow (median, seeds)")
    ax.plot([], [], color="#d62728", lw=2, label="Schneider et al. 2023 (median)")
    ax.set_xticks(x, [METHOD_LABELS.get(m, m) for m in methods], rotation=30, ha="right")
    ax.set_ylabel("R² (embedding → true latent)")
    ax.set_ylim(min(0.0, float(rows["value"].min())), 1.0)
    ax.set_title("Synthetic latents (pi-VAE generative process)", fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="lower left")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def plot_consistency(metrics: pd.DataFrame, source: str = "metrics"):
    """One matrix per CEBRA kind: R² of the linear map from row mouse to column mouse."""
    rows = metrics[metrics["metric"] == "r2"]
    if rows.empty:
        raise DataError(source, "no rows with metric 'r2'")
    kinds = list(dict.fromkeys(rows["kind"]))
    mice = list(dict.fromkeys([*rows["source"], *rows["target"]]))
    # Sized by what it holds: ~0.42 in a cell (room for "0.95" at 7 pt) and the longest
    # name at ~0.06 in a character, once on the left and once, turned, underneath; the
    # real configs' six pseudo-mice or session names collapsed a fixed 2.6-in panel.
    side = max(1.8, 0.42 * len(mice))
    names = 0.06 * max(len(str(m)) for m in mice)
    turned = names > 0.42
    fig, axes = plt.subplots(
        1,
        len(kinds),
        figsize=(names + 1.5 + (side + 0.3) * len(kinds), side + (names if turned else 0.2) + 1.0),
        constrained_layout=True,
        squeeze=False,
        sharey=True,
    )
    for ax, kind in zip(axes[0], kinds, strict=True):
        matrix = (
            rows[rows["kind"] == kind]
            .pivot(index="source", columns="target", values="value")
            .reindex(index=mice, columns=mice)
        )
        # the diagonal (no pair): grey, not magma's near-white top
        cmap = plt.get_cmap("magma").with_extremes(bad="0.8")
        image = ax.imshow(np.ma.masked_invalid(matrix.to_numpy()), vmin=0, vmax=1, cmap=cmap)
        for (i, j), value in np.ndenumerate(matrix.to_numpy()):
            if np.isfinite(value):
                ax.text(
                    j,
                    i,
                    f"{value:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="k" if value > 0.6 else "w",
                )
        ax.set_xticks(range(len(mice)), mice, fontsize=7, rotation=90 if turned else 0)
        ax.set_yticks(range(len(mice)), mice, fontsize=7)
        ax.set_xlabel("target mouse", fontsize=8)
        ax.set_title(METHOD_LABELS.get(f"cebra_{kind}", kind), fontsize=9)
    axes[0, 0].set_ylabel("source mouse", fontsize=8)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="R² (linear fit)")
    return fig


def plot_embedding(embeddings: dict, title: str = ""):
    """3D scatter of each CEBRA kind's embedding (first three dimensions), coloured by frame.

    ``embeddings`` maps a kind to ``(embedding, frame)``; the held-out repeat is
    drawn like the others, as the model embedded it.
    """
    if not embeddings:
        raise ValueError("no embeddings to plot")
    fig = plt.figure(figsize=(3.2 * len(embeddings), 3.3), constrained_layout=True)
    for k, (kind, (embedding, frame)) in enumerate(embeddings.items(), start=1):
        embedding = np.asarray(embedding)
        if embedding.ndim != 2 or embedding.shape[1] < 3:
            raise ValueError(
                f"{kind}: need an embedding with ≥ 3 dimensions; got {embedding.shape}"
            )
        ax = fig.add_subplot(1, len(embeddings), k, projection="3d")
        points = ax.scatter(
            *embedding[:, :3].T,
            c=frame,
            cmap="viridis",
            s=1,
            alpha=0.6,
            linewidths=0,
            rasterized=True,
        )
        ax.set_title(METHOD_LABELS.get(f"cebra_{kind}", kind), fontsize=9)
        ax.set_xticks([]), ax.set_yticks([]), ax.set_zticks([])
        ax.set_box_aspect(None, zoom=0.9)
    fig.colorbar(points, ax=fig.axes, shrink=0.6, label="movie frame")
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
