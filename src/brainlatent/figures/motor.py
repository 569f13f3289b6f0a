"""Figure motor_cross_session: hand-velocity R² on unseen sessions against days apart.

Drawn after Jude et al. (2022, SABLE): one line per method, R² of the
decoded hand velocity on each test session's evaluation trials against the
days since the last training session; dashed: the recalibrated decoders (the
within-session Wiener filter, and SABLE fitted with the session's velocity,
the ceiling of its unsupervised alignment) and the fixed decoder, the floor.
Beside it, the trajectories that make alignment possible (Gallego et al.
2020): per-target mean latent trajectories of a training and a test session,
each session's own PCA (before) and the test session mapped by CCA onto the
reference (after).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from brainlatent.errors import DataError

#: Methods in drawing order: label, colour, line style and marker. Dashed: the
#: recalibrated decoders and the floor; SABLE's three variants lie within ~0.01 of
#: each other, so they differ in line style and marker as well as in colour.
METHODS = {
    "within": ("within-session Wiener filter", "#2ca02c", "--", "o"),
    "sable_recalibrated": ("SABLE recalibrated on the session's velocity", "#17becf", "--", "s"),
    "sable": ("SABLE", "#1f77b4", "-", "o"),
    "sable_no_reverse": ("SABLE, no reverse step", "#08306b", ":", "^"),
    "cebra": ("CEBRA multi-session", "#9467bd", "-", "o"),
    "aligned": ("aligned PCA/CCA", "#ff7f0e", "-", "o"),
    "fixed": ("fixed decoder", "#8c8c8c", "--", "o"),
}
#: Columns the metrics tables must have.
COLUMNS = ("subject", "session", "days_apart", "method", "metric", "value")


def _check(metrics: pd.DataFrame, source) -> pd.DataFrame:
    missing = [c for c in COLUMNS if c not in metrics.columns]
    if missing:
        raise DataError(source, f"metrics table lacks columns {missing}")
    r2 = metrics[metrics["metric"] == "r2"]
    if r2.empty:
        raise DataError(source, "no r2 rows to plot")
    return r2


def _r2_panel(ax, r2: pd.DataFrame, title: str) -> None:
    # R² has no lower bound (a drifted fixed decoder can fall far below zero): the axis
    # stops at -1, and a mean below it is drawn on that edge as a down triangle with its value.
    floor = max(min(-0.1, float(np.nanmin(r2["value"])) - 0.05), -1.0)
    for method, (label, color, style, marker) in METHODS.items():
        rows = r2[r2["method"] == method]
        if rows.empty:
            continue
        per_day = rows.groupby("days_apart")["value"].mean().sort_index()
        seeds = rows["seed"].nunique() if "seed" in rows else 0
        if seeds > 1:  # the band: range over seeds (each seed's mean per day)
            by_seed = rows.groupby(["days_apart", "seed"])["value"].mean().unstack()
            low, high = by_seed.min(axis=1), by_seed.max(axis=1)
            low, high = low.clip(lower=floor), high.clip(lower=floor)
            ax.fill_between(by_seed.index, low, high, color=color, alpha=0.15)
            label = f"{label}, {seeds} seeds"
        shown = per_day.clip(lower=floor)
        ax.plot(shown.index, shown.values, style, marker=marker, ms=4, color=color, label=label)
        below = per_day[per_day < floor]
        if len(below):  # one label, at the lowest: real.yaml's dozens of sessions below the
            # axis printed their values on top of one another
            ax.plot(below.index, [floor] * len(below), "v", ms=7, color=color, clip_on=False)
            day, value = below.idxmin(), below.min()
            text = f"{value:.2f}" if len(below) == 1 else f"{len(below)} below, lowest {value:.2f}"
            middle = (r2["days_apart"].min() + r2["days_apart"].max()) / 2
            left = day < middle  # the text runs towards the axis's middle
            ax.annotate(
                text.replace("-", "−"),
                (day, floor),
                xytext=(7 if left else -7, 6),
                textcoords="offset points",
                ha="left" if left else "right",
                va="bottom",
                fontsize=7,
                color=color,
            )
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlabel("days since the last training session")
    ax.set_ylabel("hand velocity R² (held-out trials)")
    ax.set_ylim(floor, 1.0)
    ax.set_title(title, fontsize=9)


def _square_limits(*paths: np.ndarray, margin: float = 0.08) -> tuple[tuple, tuple]:
    """Equal x and y spans around the first two coordinates of every path.

    Set as limits with a box aspect: ``adjustable="datalim"`` under constrained
    layout widened one panel's limits to twice its data and drew it shrunken.
    """
    xy = np.concatenate([np.asarray(p)[..., :2].reshape(-1, 2) for p in paths])
    low, high = np.nanmin(xy, axis=0), np.nanmax(xy, axis=0)
    centre, half = (low + high) / 2, (1 + margin) * float(np.max(high - low)) / 2 or 1.0
    return tuple(centre[0] + [-half, half]), tuple(centre[1] + [-half, half])


def _trajectory_panel(ax, trajectories: np.ndarray, title: str, limits, key: bool = False) -> None:
    """(targets, bins, ≥2) per-target mean trajectories, coloured by target direction;
    ``key``: a compass of the targets' colours under the panel, clear of the paths."""
    # target k's colour: the hue of its direction, k / n of a turn
    colors = plt.get_cmap("hsv")(np.linspace(0, 1, len(trajectories), endpoint=False))
    for k, path in enumerate(trajectories):
        ax.plot(path[:, 0], path[:, 1], color=colors[k], lw=1.2)
        ax.plot(path[0, 0], path[0, 1], "o", color=colors[k], ms=2.5)
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title(title, fontsize=8)
    ax.set_xlim(limits[0]), ax.set_ylim(limits[1])
    ax.set_aspect("equal", adjustable="box")
    if key:
        compass = ax.inset_axes([0.33, -0.4, 0.34, 0.34])
        for k, colour in enumerate(colors):
            angle = 2 * np.pi * k / len(colors)
            compass.annotate(
                "", (np.cos(angle), np.sin(angle)), (0, 0),
                arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.2, "mutation_scale": 7},
            )  # fmt: skip
        compass.set(xlim=(-1.3, 1.3), ylim=(-1.3, 1.3), xticks=[], yticks=[], aspect="equal")
        compass.set_title("target", fontsize=7, pad=1)
        compass.axis("off")


def _date(session: str) -> str:
    """``sub-S_ses-CO-20240111`` → ``2024-01-11`` (a name without a date as it is)."""
    stamp = session[-8:]
    return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:]}" if stamp.isdigit() else session


def plot_motor_cross_session(
    metrics: list[pd.DataFrame],
    trajectories: list[dict],
    sources: list | None = None,
):
    """One row per cohort: R² vs days apart, then latent trajectories before/after CCA.

    ``trajectories`` holds, per cohort, the arrays of
    :func:`brainlatent.decoding.cross_session.trajectories_before_after`:
    ``reference`` and ``test_before`` (each session's own PCA), ``test_after``
    (the test session mapped onto the reference), ``reference_session``,
    ``test_session`` and ``days_apart``.
    """
    sources = sources or [f"table {i}" for i in range(len(metrics))]
    rows = len(metrics)
    fig = plt.figure(figsize=(11.5, 3.6 * rows), constrained_layout=True)
    grid = fig.add_gridspec(rows, 4, width_ratios=[2.2, 1, 1, 1])
    for row, (table, traj, source) in enumerate(zip(metrics, trajectories, sources, strict=True)):
        r2 = _check(table, source)
        subject = str(r2["subject"].iloc[0])
        ax = fig.add_subplot(grid[row, 0])
        _r2_panel(ax, r2, f"monkey {subject}: decoding on unseen sessions")
        if row == 0:  # under every panel, where the layout makes room for it: the lines
            # fill the R² panel from the ceiling to the floor
            handles, labels = ax.get_legend_handles_labels()
            fig.legend(handles, labels, fontsize=7, loc="outside lower center", ncol=4)
        ref, test = str(traj["reference_session"]), str(traj["test_session"])
        days = int(traj["days_apart"])
        # The reference and the mapped test share one space, so one scale; the test
        # session's own PCA is another space, drawn at its own scale.
        shared = _square_limits(traj["reference"], traj["test_after"])
        panels = (
            (traj["reference"], f"reference {_date(ref)}\n(its own PCA)", shared),
            (
                traj["test_before"],
                f"test {_date(test)}, {days} d later\nown PCA: before",
                _square_limits(traj["test_before"]),
            ),
            (traj["test_after"], "test mapped by CCA\nonto the reference: after", shared),
        )
        for col, (paths, title, limits) in enumerate(panels, start=1):
            ax = fig.add_subplot(grid[row, col])
            _trajectory_panel(ax, np.asarray(paths), title, limits, key=row == 0 and col == 1)
    fig.suptitle(
        "Hand velocity from motor cortex on sessions never trained on "
        "(Jude et al. 2022; latents: Gallego et al. 2020)",
        fontsize=10,
    )
    return fig
