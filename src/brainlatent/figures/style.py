"""What every figure module shares: the non-interactive backend, labels, colours, saving.

Importing :mod:`brainlatent.figures` (any figure module) imports this first, so
the Agg backend is chosen once, before anything draws: figures are written to
files by workflow rules, never shown.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
# TrueType (42) fonts in PDFs: Type 3 fonts, matplotlib's default, are refused by some
# journals' submission systems and are not editable in Illustrator.
matplotlib.rcParams["pdf.fonttype"] = 42
import matplotlib.pyplot as plt  # noqa: E402

from brainlatent.io import atomic_path  # noqa: E402
from brainlatent.preprocessing.recipe import IMAGE_DURATION  # noqa: E402

#: Display names of the embedding and decoding methods (keys as in the metrics tables).
METHOD_LABELS = {
    "cebra_behavior": "CEBRA-Behavior",
    "cebra_time": "CEBRA-Time",
    "cebra_hybrid": "CEBRA-Hybrid",
    "pca": "PCA",
    "raw": "kNN on raw activity",
    "bayesian": "Bayesian decoder (counts)",
    "knn_smoothed": "kNN, smoothed rates",
    "ridge_smoothed": "ridge, smoothed rates",
    "cebra": "CEBRA",
    "umap": "UMAP",
    "tsne": "t-SNE",
    "autolfads": "autoLFADS",
    "pivae": "pi-VAE",
}

#: The colour of the method a figure is about (brain module, latent space, this workflow).
MAIN_COLOR = "#1f77b4"
#: The colour of the baseline it is compared with (ridge, pixel space).
BASELINE_COLOR = "#8c8c8c"


def shade_windows_spanning_onset(ax, length: float, **kwargs) -> None:
    """Grey band over the window starts in (-length, 0): those windows reach past image
    onset, so what they decode is not decoding before the image."""
    ax.axvspan(-length, 0, color="0.9", lw=0, zorder=0, **kwargs)


def mark_image_offset(ax, **kwargs) -> None:
    """Dotted line at the window start where windows begin after the image went off."""
    ax.axvline(IMAGE_DURATION, color="k", lw=0.8, ls=":", **kwargs)


#: The columns of a score's bootstrap interval in the metrics tables.
INTERVAL_COLUMNS = ["ci_low", "ci_high"]


def has_intervals(rows) -> bool:
    """Whether every row of a metrics table has its bootstrap interval (tables written before
    the intervals lack the columns; a score without one has NaN)."""
    return set(INTERVAL_COLUMNS) <= set(rows) and bool(
        rows[INTERVAL_COLUMNS].notna().to_numpy().all()
    )


def add_output_arguments(parser) -> None:
    """The options every plot script takes: where to write, and a note for the title."""
    parser.add_argument("--pdf", type=Path, required=True)
    parser.add_argument("--png", type=Path, required=True)
    parser.add_argument(
        "--note",
        help="a line added to the figure's title (the workflow's: the data are simulated)",
    )


def _add_note(fig, note: str) -> None:
    """Put ``note`` in the figure's suptitle, a line under the title if it has one.

    The suptitle is the one place every layout here keeps clear: constrained layout makes
    room for it, where a legend placed under the axes ("outside lower center") sits on the
    figure's bottom edge whatever the layout leaves free, and a tight crop moves every
    artist placed relative to the figure.
    """
    title = getattr(fig, "_suptitle", None)
    if title is None or not title.get_text():
        fig.suptitle(_fill(fig, note, 7), fontsize=7, color="#b22222")
    else:
        size = title.get_fontsize()
        fig.suptitle(f"{title.get_text()}\n{_fill(fig, note, size)}", fontsize=size)


def _fill(fig, text: str, fontsize: float) -> str:
    """``text`` in lines that fit the figure's width at ``fontsize`` (a character is about
    0.55 em wide in DejaVu Sans): a one-line note ran off both edges of a one-panel figure."""
    width = int(fig.get_figwidth() * 72 / (0.55 * fontsize))
    return textwrap.fill(text, max(width, 20), break_long_words=False)


def save_figure(
    fig, pdf: str | Path, png: str | Path, dpi: int = 200, note: str | None = None
) -> None:
    """Save a figure as PDF and PNG, each atomically, then close it.

    ``note`` is printed at the top, in the suptitle (a figure copied out of the report
    keeps the note, where a caption is left behind).
    """
    if note:
        _add_note(fig, note)
    for path, kwargs in ((pdf, {}), (png, {"dpi": dpi})):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix[1:], **kwargs)
    plt.close(fig)
