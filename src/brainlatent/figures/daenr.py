"""DAE-NR figure: held-out reconstructions per beta above the scores per beta.

Drawn from ``daenr/metrics.parquet`` and ``daenr/reconstructions.npz`` only, so
restyling the figure never refits a model.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from brainlatent.errors import DataError

METRICS = {
    "pixcorr": "PixCorr",
    "ssim": "SSIM",
    "rsa": "RSA (code vs neurons)",
    "rsa_readout": "RSA (read-out layer)",
}
RECONSTRUCTION_ARRAYS = ("test_images", "test_image", "betas", "reconstructions")


def _beta_label(beta: float) -> str:
    return "β = 0 (autoencoder)" if beta == 0 else f"β = {beta:g}"


def plot_daenr(
    metrics: pd.DataFrame,
    reconstructions: Mapping[str, np.ndarray],
    n_images: int = 6,
    source: str = "metrics",
):
    """Top: the first ``n_images`` test images, the pretrained autoencoder's
    reconstructions (when stored) and the reconstructions per beta.

    Bottom: PixCorr, SSIM and RSA (code, read-out layer) per beta; dots are model
    seeds, bars their mean, and the dashed line each score's shuffled-pairing
    baseline (mean over seeds), the level a score must beat. Metrics absent from
    the table (older runs) are left out.
    """
    missing = [name for name in RECONSTRUCTION_ARRAYS if name not in reconstructions]
    if missing:
        raise DataError(source, f"reconstructions lack arrays {missing}")
    rows = metrics[metrics["metric"].isin(list(METRICS))]
    if rows.empty:
        raise DataError(source, f"no rows with metric in {list(METRICS)}")
    shown = {m: t for m, t in METRICS.items() if (rows["metric"] == m).any()}
    originals = np.asarray(reconstructions["test_images"])
    recon = np.asarray(reconstructions["reconstructions"])
    betas = [float(b) for b in np.asarray(reconstructions["betas"])]
    index = np.asarray(reconstructions["test_image"])
    n_show = min(n_images, len(originals))
    image_rows = [("original", originals)]
    if "pretrained" in reconstructions:
        image_rows.append(("pretrained only", np.asarray(reconstructions["pretrained"])))
    image_rows += [(_beta_label(b), recon[k]) for k, b in enumerate(betas)]

    fig = plt.figure(figsize=(8.0, 1.05 * len(image_rows) + 2.6), constrained_layout=True)
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.05 * len(image_rows), 2.6])
    axes = top.subplots(len(image_rows), n_show, squeeze=False)
    for r, (label, stack) in enumerate(image_rows):
        for c in range(n_show):
            ax = axes[r, c]
            ax.imshow(stack[c], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"image {index[c]}", fontsize=7)
            if c == 0:
                ax.set_ylabel(label, fontsize=7)
    top.suptitle("Held-out natural scenes and their DAE-NR reconstructions", fontsize=9)

    panels = np.atleast_1d(bottom.subplots(1, len(shown)))
    all_betas = sorted(set(rows["beta"].astype(float)))
    x = np.arange(len(all_betas))
    colors = plt.get_cmap("viridis")(np.linspace(0.15, 0.75, max(len(all_betas), 2)))
    for ax, (metric, title) in zip(panels, shown.items(), strict=True):
        sub = rows[rows["metric"] == metric]
        shuffled = metrics[metrics["metric"] == f"{metric}_shuffled"]
        for i, beta in enumerate(all_betas):
            values = sub.loc[sub["beta"].astype(float) == beta, "value"].to_numpy(float)
            if len(values) == 0:
                continue
            ax.bar(i, np.nanmean(values), 0.6, color=colors[i], alpha=0.45)
            # Each β's own baseline, its range over seeds shaded: pooled into one line, the
            # baselines' spread (as wide as the β effect on RSA) was hidden.
            base = shuffled.loc[shuffled["beta"].astype(float) == beta, "value"].to_numpy(float)
            if len(base):
                span = (i - 0.36, i + 0.36)
                ax.fill_between(
                    span, np.nanmin(base), np.nanmax(base), color="0.5", alpha=0.3, lw=0, zorder=2
                )
                ax.hlines(np.nanmean(base), *span, color="0.3", lw=0.9, ls="--", zorder=2)
            jitter = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else [0.0]
            ax.scatter(i + np.asarray(jitter), values, s=14, color="k", zorder=3)
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xticks(x, [f"β={b:g}" for b in all_betas], fontsize=7)
        ax.set_title(title, fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
    panels[0].set_ylabel("held-out score (dots: seeds)", fontsize=7)
    if metrics["metric"].str.endswith("_shuffled").any():
        bottom.suptitle(
            "Held-out scores per β (dashed, grey: each β's shuffled-pairing baseline, image i "
            "vs image j ≠ i, mean and range over seeds)",
            fontsize=8,
        )
    return fig
