"""Figure motor_cross_session from hand-made tables: drawn, and bad tables named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from brainlatent.errors import DataError
from brainlatent.figures.motor import METHODS, plot_motor_cross_session
from brainlatent.figures.style import save_figure


def metrics(subject="S"):
    rows = [
        {"subject": subject, "session": f"s{d}", "days_apart": d, "method": m,
         "seed": seed, "metric": "r2", "value": 0.9 - 0.01 * d * (m == "fixed") + (seed or 0) / 99}
        for d in (2, 9, 30) for m in METHODS
        for seed in ((0, 1, 2) if m.startswith("sable") else (None,))
    ]  # fmt: skip
    return pd.DataFrame(rows)


def trajectories():
    t = np.linspace(0, 2 * np.pi, 40)
    paths = np.stack([np.c_[np.cos(t + k), np.sin(t + k), t] for k in range(8)])
    return {
        "reference": paths, "test_before": paths[:, ::-1], "test_after": paths,
        "reference_session": "sub-S_ses-CO-20240111", "test_session": "sub-S_ses-CO-20240308",
        "days_apart": 57,
    }  # fmt: skip


def test_one_row_per_cohort_is_drawn(tmp_path):
    fig = plot_motor_cross_session([metrics(), metrics("P")], [trajectories(), trajectories()])
    assert len(fig.axes) == 8  # 2 cohorts × (R² panel + 3 trajectory panels)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "SABLE, 3 seeds" in labels and "fixed decoder" in labels
    save_figure(fig, tmp_path / "f.pdf", tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 10_000
    # one compass of the targets' colours, under the first reference panel, not on its paths
    compasses = [(ax, inset) for ax in fig.axes for inset in ax.child_axes]
    assert len(compasses) == 1 and compasses[0][0] is fig.axes[1]
    panel, compass = compasses[0]
    assert compass.get_position().y1 <= panel.get_position().y0


def test_each_trajectory_panel_fits_its_data_at_one_scale(tmp_path):
    """After drawing, every trajectory panel's limits are square and hug its data (the test
    session's own PCA at its own scale, here 3x the reference's); equal aspect with
    adjustable="datalim" once doubled one panel's limits under constrained layout."""
    traj = trajectories()
    traj["test_before"] = 3 * traj["test_before"]
    fig = plot_motor_cross_session([metrics()], [traj])
    save_figure(fig, tmp_path / "f.pdf", tmp_path / "f.png")
    for ax, paths in zip(fig.axes[1:], ("reference", "test_before", "test_after"), strict=True):
        span = np.ptp(traj[paths][..., :2].reshape(-1, 2), axis=0).max()
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        assert x1 - x0 == pytest.approx(y1 - y0)
        assert span < x1 - x0 < 1.2 * span, (paths, x1 - x0, span)


def test_a_table_without_r2_is_named():
    bad = metrics().assign(metric="mse")
    with pytest.raises(DataError, match="table.csv: no r2 rows"):
        plot_motor_cross_session([bad], [trajectories()], sources=["table.csv"])
    with pytest.raises(DataError, match="lacks columns \\['days_apart'\\]"):
        plot_motor_cross_session([metrics().drop(columns="days_apart")], [trajectories()])


def test_an_r2_below_the_axis_is_drawn_on_its_edge_with_its_value(tmp_path):
    """The axis stops at R² -1; a drifted fixed decoder's -2.5 is marked there, not lost."""
    table = metrics()
    far = (table.method == "fixed") & (table.days_apart == 30)
    table.loc[far, "value"] = -2.5
    fig = plot_motor_cross_session([table], [trajectories()])
    ax = fig.axes[0]
    assert ax.get_ylim() == (-1.0, 1.0)
    assert [t.get_text() for t in ax.texts] == ["−2.50"]
    fixed = next(line for line in ax.lines if line.get_label() == "fixed decoder")
    assert fixed.get_ydata()[-1] == -1.0  # the line ends on the edge, not off the axis
    save_figure(fig, tmp_path / "f.pdf", tmp_path / "f.png")


def test_many_r2s_below_the_axis_share_one_label():
    """real.yaml's monkey C has dozens of sessions where the fixed decoder falls below -1:
    one value label each stacked into a smear; one label names how many and the lowest."""
    table = metrics()
    fixed = table.method == "fixed"
    table.loc[fixed & (table.days_apart == 30), "value"] = -2.5
    table.loc[fixed & (table.days_apart == 9), "value"] = -3.0
    fig = plot_motor_cross_session([table], [trajectories()])
    assert [t.get_text() for t in fig.axes[0].texts] == ["2 below, lowest −3.00"]
