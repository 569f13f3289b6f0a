"""Figures of Zlokapa et al. (2022), from the fault-tolerance chain's metrics tables only."""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from brainlatent.errors import DataError
from brainlatent.fault_tolerance.biology import peak_spikes, poisson_sigma
from brainlatent.figures.style import BASELINE_COLOR, MAIN_COLOR


def _rows(metrics: pd.DataFrame, source, **wanted) -> pd.DataFrame:
    mask = np.ones(len(metrics), dtype=bool)
    for column, value in wanted.items():
        mask &= (metrics[column] == value).to_numpy()
    rows = metrics[mask]
    if rows.empty:
        raise DataError(source, f"no rows with {wanted}")
    return rows


#: The chains of panel c, as the legend names them.
NETWORK_LABELS = {
    "protected": "grid code + restoration",
    "restored_rate": "rate code + restoration",
    "unprotected": "plain copies, no code",
}


def _sd(values) -> float:
    """Sample s.d. over seeds (0 for one seed)."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _paper_note(paper: dict[str, float | None], key: str, what: str) -> str:
    value = paper.get(key)
    return (
        f"paper's {what}: {value:g}" if value is not None else f"paper's {what}: not available here"
    )


def plot_phase(metrics: pd.DataFrame, paper: dict[str, float | None], source="metrics"):
    """(a) protected failure vs σ per depth with σ* and, on top, σ as a Poisson neuron's
    spikes per step beside the biological range; (b) unprotected, simulated and exact;
    (c) failure vs depth below and above σ*; (d) the deepest chain per bundle size (finite
    size). ``paper``: the values file's numbers by id."""
    failure = _rows(metrics, source, metric="failure", estimate="simulated")
    # the main bundle: the one the unprotected copies share (further bundles: panel d only)
    bundle = float(failure.loc[failure["network"] == "unprotected", "bundle"].iloc[0])
    sizes = failure[failure["network"] == "protected"]
    failure = failure[failure["bundle"] == bundle]
    measured = _rows(metrics, source, metric="threshold", estimate="simulated", network="protected")
    thresholds = metrics[metrics["metric"] == "threshold_by_bundle"]
    if thresholds.empty:  # a table without the finite-size check: the main bundle alone
        thresholds = measured
    predicted = float(
        _rows(metrics, source, metric="threshold", estimate="predicted")["value"].iloc[0]
    )
    star, spread = measured["value"].mean(), _sd(measured["value"])
    rate_star = metrics.loc[
        (metrics["network"] == "restored_rate") & (metrics["metric"] == "threshold"), "value"
    ].mean()  # NaN for a table without the rate code with restoration
    depths = sorted(failure["depth"].unique())
    colours = plt.get_cmap("viridis")(np.linspace(0.0, 0.85, len(depths)))
    fig, grid = plt.subplots(2, 2, figsize=(11.5, 8.6), constrained_layout=True)
    axes = grid.ravel()
    for ax, network in zip(axes[:2], ("protected", "unprotected"), strict=True):
        rows = failure[failure["network"] == network]
        for depth, colour in zip(depths, colours, strict=True):
            stats = (
                rows[rows["depth"] == depth].groupby("sigma")["value"].agg(["mean", "min", "max"])
            )
            ax.plot(
                stats.index, stats["mean"], "o-", ms=3.5, color=colour, label=f"depth {depth:g}"
            )
            ax.fill_between(stats.index, stats["min"], stats["max"], color=colour, alpha=0.2, lw=0)
        if network == "unprotected":
            exact = metrics[(metrics["network"] == network) & (metrics["estimate"] == "predicted")]
            exact = exact[exact["metric"] == "failure"]
            for depth, colour in zip(depths, colours, strict=True):
                line = exact[exact["depth"] == depth].sort_values("sigma")
                ax.plot(line["sigma"], line["value"], "--", color=colour, lw=1)
            ax.plot([], [], "k--", lw=1, label="exact")
        if network == "protected":  # the unprotected network has no threshold
            ax.axvline(predicted, color="k", ls=":", lw=1.2, label=f"σ* predicted {predicted:.3f}")
            ax.axvspan(star - spread, star + spread, color=MAIN_COLOR, alpha=0.25, lw=0)
            ax.axvline(
                star, color=MAIN_COLOR, lw=1.2, label=f"σ* measured {star:.3f} ± {spread:.3f}"
            )
            if np.isfinite(rate_star):
                label = f"σ* of a rate code, same restoration {rate_star:.3f}"
                ax.axvline(rate_star, color="#d62728", ls="-.", lw=1.2, label=label)
            _biology(ax, metrics)
        ax.axhline(0.5, color=BASELINE_COLOR, lw=0.8)
        letter = "ab"[network == "unprotected"]
        ax.set(xlabel="neuron noise σ", ylabel="failure probability", ylim=(-0.02, 0.6),
               title=f"{letter}. {NETWORK_LABELS[network]}, bundle {bundle:g}")  # fmt: skip
        if network == "protected":  # nine entries: below the axes, off the transition
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
        else:
            ax.legend(fontsize=7, loc="upper left")
    # (c) failure against depth, just below and just above the threshold
    ax = axes[2]
    sigmas = np.sort(failure["sigma"].unique())
    below = sigmas[sigmas <= 0.9 * star]  # clearly below and clearly above the threshold
    above = sigmas[sigmas >= 1.1 * star]
    picks = [
        (below[-1] if len(below) else None, "below"),
        (above[0] if len(above) else None, "above"),
    ]
    for sigma, side in picks:
        if sigma is None:
            continue
        for network, style in (("protected", "-"), ("restored_rate", ":"), ("unprotected", "--")):
            rows = failure[(failure["network"] == network) & (failure["sigma"] == sigma)]
            if rows.empty:
                continue
            stats = rows.groupby("depth")["value"].mean()
            colour = MAIN_COLOR if side == "below" else "#d62728"
            ax.plot(stats.index, stats.values, style, marker="o", ms=3.5, color=colour,
                    label=f"σ = {sigma:g}, {NETWORK_LABELS[network]}")  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.axhline(0.5, color=BASELINE_COLOR, lw=0.8)
    ax.set(xlabel="depth (XOR gates)", ylabel="failure probability", ylim=(-0.02, 0.6),
           title=f"c. failure against depth, bundle {bundle:g}\nσ below (blue) and above (red) "
                 f"the grid code's σ* {star:.3f}")  # fmt: skip
    # long handles: a short one shows the dashes of "--" beside its markers as a solid line
    ax.legend(fontsize=7, loc="upper left", handlelength=4)
    _finite_size(axes[3], sizes, thresholds, predicted, depth=depths[-1])
    note = "; ".join(
        [
            _paper_note(paper, "fault_tolerance_threshold", "σ*"),
            _paper_note(paper, "fault_tolerance_biological_noise", "biological noise"),
        ]
    )
    fig.suptitle(
        f"Noise threshold of fault-tolerant computation (Zlokapa et al. 2022), {note}",
        fontsize=9,
    )
    return fig


def _biology(ax, metrics: pd.DataFrame) -> None:
    """σ as a Poisson neuron's peak spikes per step (top axis), and the configured
    biological neurons' range of σ (a bar along the top), when the table has them."""
    rows = metrics[metrics["network"] == "biological"].set_index("metric")["value"]
    if {"biological_sigma_min", "biological_sigma_max"} - set(rows.index):
        return
    # the Fano factor the table was made with: n* σ*² / 2 for the predicted σ*
    predicted = metrics[metrics["estimate"] == "predicted"].set_index("metric")["value"]
    fano = float(predicted["threshold_peak_spikes"] * predicted["threshold"] ** 2 / 2)
    low, high = rows["biological_sigma_min"], rows["biological_sigma_max"]
    left, right = ax.get_xlim()  # a bar along the top, clipped to the σ simulated
    label = f"biological neurons (Poisson, assumed): σ {low:.2f}–{high:.2f}"
    ax.plot([max(low, left), min(high, right)], [0.565, 0.565], lw=5, color=BASELINE_COLOR,
            alpha=0.6, solid_capstyle="butt", marker=">" if high > right else None,
            markevery=[1], label=label)  # fmt: skip
    ax.set_xlim(left, right)

    def to_spikes(sigma):  # matplotlib also asks at σ <= 0
        return peak_spikes(np.maximum(sigma, 1e-3), fano)

    def to_sigma(spikes):
        return poisson_sigma(np.maximum(spikes, 1e-3), fano)

    top = ax.secondary_xaxis("top", functions=(to_spikes, to_sigma))
    top.set_xlabel("Poisson neuron: spikes per step at its peak", fontsize=8)
    top.set_xticks([50, 20, 10, 7, 5, 3, 2])
    top.tick_params(labelsize=7)


def _finite_size(ax, sizes: pd.DataFrame, thresholds: pd.DataFrame, predicted: float, depth):
    """(d) failure of the deepest chain against σ for each bundle size, with its σ*."""
    rows = sizes[sizes["depth"] == depth]
    bundles = sorted(rows["bundle"].unique())
    colours = plt.get_cmap("plasma")(np.linspace(0.0, 0.8, len(bundles)))
    for size, colour in zip(bundles, colours, strict=True):
        stats = rows[rows["bundle"] == size].groupby("sigma")["value"].agg(["mean", "min", "max"])
        stars = thresholds.loc[thresholds["bundle"] == size, "value"]
        label = f"bundle {size:g}: σ* {stars.mean():.3f} ± {_sd(stars):.3f}"
        ax.plot(stats.index, stats["mean"], "o-", ms=3.5, color=colour, label=label)
        ax.fill_between(stats.index, stats["min"], stats["max"], color=colour, alpha=0.2, lw=0)
    ax.axvline(predicted, color="k", ls=":", lw=1.2, label=f"σ* predicted {predicted:.3f} (∞)")
    ax.axhline(0.5, color=BASELINE_COLOR, lw=0.8)
    ax.set(xlabel="neuron noise σ", ylabel="failure probability", ylim=(-0.02, 0.6),
           title=f"d. larger bundles: sharper, toward σ* (depth {depth:g})")  # fmt: skip
    ax.legend(fontsize=7, loc="upper left")


def plot_scaling(metrics: pd.DataFrame, paper: dict[str, float | None], source="metrics"):
    """Neurons a two-bit multiplier needs for failure < ε against σ: simulated (per seed)
    and the predicted law, with the fitted exponents."""
    simulated = _rows(metrics, source, metric="neurons", estimate="simulated")
    law = _rows(metrics, source, metric="neurons", estimate="predicted").sort_values("sigma")
    fitted = _rows(metrics, source, metric="exponent", estimate="simulated")["value"]
    predicted = float(
        _rows(metrics, source, metric="exponent", estimate="predicted")["value"].iloc[0]
    )
    epsilon = float(simulated["epsilon"].iloc[0])
    fig, ax = plt.subplots(figsize=(5.2, 4.0), constrained_layout=True)
    stats = simulated.groupby("sigma")["value"].agg(["mean", "min", "max"])
    ax.errorbar(
        stats.index,
        stats["mean"],
        yerr=[stats["mean"] - stats["min"], stats["max"] - stats["mean"]],
        fmt="o",
        color=MAIN_COLOR,
        capsize=3,
        label=f"simulated (exponent {fitted.mean():.3f} ± {_sd(fitted):.3f} SD over seeds)",
    )
    law_label = f"predicted law ∝ $σ^{{{predicted:.0f}}}$"
    ax.plot(law["sigma"], law["value"], "k--", lw=1, label=law_label)
    ax.set(xscale="log", yscale="log")
    ax.set_xticks(stats.index, [f"{s:g}" for s in stats.index])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set(xlabel="neuron noise σ", ylabel="neurons needed",
           title=f"Two-bit multiplication with failure < {epsilon:g}")  # fmt: skip
    ax.legend(fontsize=8, loc="upper left", title=_paper_note(
        paper, "fault_tolerance_neurons_exponent", "exponent"), title_fontsize=7)  # fmt: skip
    return fig
