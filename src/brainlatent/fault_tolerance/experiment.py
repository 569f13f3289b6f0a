"""The ``fault_tolerance`` chain's simulations, as long-format metrics tables.

:func:`phase_transition`: failure of XOR chains of increasing depth against noise σ, with
and without the grid code, over seeds; the threshold σ* read off each seed's deepest curve
and predicted from the gates (:mod:`.threshold`). :func:`multiplier_scaling`: neurons a
two-bit multiplier needs for failure below ε against σ, simulated and predicted, and the
fitted exponents (:mod:`.scaling`).

Both tables have the columns of :data:`COLUMNS`: ``network`` is ``protected`` (grid code,
bundles and restoration), ``restored_rate`` (rate code with the same restoration: what the
restoration does without the code) or ``unprotected`` (rate code, plain redundancy); ``estimate`` is
``simulated`` (Monte Carlo, one row per seed) or ``predicted`` (theory; no seed); ``bundle``
(wires per logical bit), ``depth``, ``sigma`` and ``epsilon`` are NaN where they do not
apply. Metrics: ``failure`` (probability that the circuit's output is wrong), ``wire_error``
(mean fraction of wrong wires of the output bundle), ``threshold`` (σ* of the main bundle),
(``protected`` and ``restored_rate``), ``threshold_by_bundle`` (σ* of every bundle of the
protected chain, the finite-size check),
``threshold_peak_spikes`` (the Poisson neuron whose noise is σ*: its spikes per step at the
peak of its tuning, :mod:`.biology`), ``biological_sigma_min`` / ``_max`` (the noise of the
configured biological neurons), ``neurons`` (total neurons of the multiplier),
``neurons_per_population`` (K), ``exponent`` (fitted slope of log neurons on log σ).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from brainlatent.fault_tolerance.biology import peak_spikes, poisson_sigma
from brainlatent.fault_tolerance.circuits import xor_chain
from brainlatent.fault_tolerance.code import GridCode
from brainlatent.fault_tolerance.scaling import fit_exponent, neurons_needed, predicted_neurons
from brainlatent.fault_tolerance.threshold import crossing, predicted_threshold, unprotected_failure
from brainlatent.seeding import rng

DATASET = "fault_tolerance"
#: The chains simulated: the grid code with restoration, a rate code with the same
#: restoration, and a rate code with plain redundancy.
NETWORKS = ("protected", "restored_rate", "unprotected")
COLUMNS = [
    "dataset", "network", "estimate", "seed", "bundle", "depth", "sigma", "epsilon", "metric",
    "value",
]  # fmt: skip


def _table(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame.from_records(rows).reindex(columns=COLUMNS)
    table["dataset"] = DATASET
    table["seed"] = table["seed"].astype("Int64")
    for column in ("bundle", "depth", "sigma", "epsilon", "value"):
        table[column] = table[column].astype("float64")
    for column in ("dataset", "network", "estimate", "metric"):
        table[column] = table[column].astype("string")
    return table


def phase_transition(
    periods: Sequence[float],
    neurons: int,
    bundle: int,
    sigmas: Sequence[float],
    depths: Sequence[int],
    n_trials: int,
    seeds: Sequence[int],
    gate_samples: int,
    bundles: Sequence[int] = (),
    biology: Mapping | None = None,
    progress=print,
) -> pd.DataFrame:
    """Failure vs σ and depth, both networks, and σ* (see the module's docstring).

    ``bundles``: further bundle sizes of the protected chain, run at the deepest depth only:
    the finite-size check (σ* rises toward the predicted one as bundles grow). ``biology``
    (``fano``, ``peak_rate_hz`` and ``window_s``, each ``[low, high]``): the noise range of
    Poisson neurons in σ's units, and σ* as spikes per step (:mod:`.biology`).
    """
    code = GridCode(tuple(float(p) for p in periods), int(neurons))
    sigmas = np.asarray(sorted(sigmas), dtype=float)
    depths = sorted(set(int(d) for d in depths))
    extra = sorted(set(int(b) for b in bundles) - {int(bundle)})
    fano = float(biology["fano"]) if biology else 1.0
    rows = []

    def simulated(network, seed, size, result):
        for i, depth in enumerate(result["depths"]):
            for j, sigma in enumerate(sigmas):
                for metric in ("failure", "wire_error"):
                    rows.append(
                        dict(network=network, estimate="simulated", seed=seed, bundle=size,
                             depth=depth, sigma=sigma, metric=metric, value=result[metric][j, i])
                    )  # fmt: skip
        if network == "unprotected":
            return
        threshold = crossing(sigmas, result["failure"][:, -1])
        if network == "restored_rate":
            metrics = [("threshold", threshold)]
        else:
            metrics = [("threshold_by_bundle", threshold)]
        if network == "protected" and size == bundle:  # the headline σ*: the main bundle's
            metrics += [
                ("threshold", threshold),
                ("threshold_peak_spikes", peak_spikes(threshold, fano)),
            ]
        for metric, value in metrics:
            rows.append(
                dict(network=network, estimate="simulated", seed=seed, bundle=size,
                     depth=depths[-1], metric=metric, value=value)
            )  # fmt: skip
        progress(
            f"seed {seed}: sigma* = {threshold:.3f} ({network}, bundle {size}, depth {depths[-1]})"
        )

    for seed in seeds:
        for network in NETWORKS:
            result = xor_chain(
                code,
                sigmas,
                depths,
                bundle,
                n_trials,
                rng(seed, DATASET, network),
                protected=network == "protected",
                restore=network != "unprotected",
            )
            simulated(network, seed, bundle, result)
        for size in extra:
            gen = rng(seed, DATASET, "protected", f"bundle-{size}")
            simulated("protected", seed, size, xor_chain(code, sigmas, depths[-1:], size,
                                                         n_trials, gen))  # fmt: skip
    for depth in depths:
        failure = unprotected_failure(code.neurons * code.modules, sigmas, depth, bundle)
        rows += [
            dict(network="unprotected", estimate="predicted", bundle=bundle, depth=depth,
                 sigma=s, metric="failure", value=f)
            for s, f in zip(sigmas, failure, strict=True)
        ]  # fmt: skip
    predicted = predicted_threshold(code, high=4.0, tol=2e-3, n_samples=gate_samples)
    progress(f"predicted sigma* = {predicted:.3f} (infinite bundle and depth)")
    rows += [
        dict(network="protected", estimate="predicted", metric="threshold", value=predicted),
        dict(network="protected", estimate="predicted", metric="threshold_peak_spikes",
             value=peak_spikes(predicted, fano)),
    ]  # fmt: skip
    if biology:
        # every pairing of the rates and windows: spikes per step at the peak, and their σ
        sigma = poisson_sigma(np.outer(biology["peak_rate_hz"], biology["window_s"]), fano)
        low, high = float(sigma.min()), float(sigma.max())
        progress(f"biological neurons: sigma {low:.3f}-{high:.3f} (Poisson, Fano {fano:g})")
        rows += [
            dict(network="biological", estimate="predicted", metric=metric, value=value)
            for metric, value in (("biological_sigma_min", low), ("biological_sigma_max", high))
        ]
    return _table(rows)


def multiplier_scaling(
    periods: Sequence[float],
    sigmas: Sequence[float],
    epsilon: float,
    n_trials: int,
    seeds: Sequence[int],
    max_neurons: int,
    gate_samples: int,
    progress=print,
) -> pd.DataFrame:
    """Neurons needed by the two-bit multiplier vs σ at failure < ε, and the exponents."""
    code = GridCode(tuple(float(p) for p in periods), 1)
    sigmas = np.asarray(sorted(sigmas), dtype=float)
    rows = []
    for seed in seeds:
        needed = []
        draws = int(rng(seed, DATASET, "multiplier").integers(2**31))  # shared by every K
        for sigma in sigmas:
            k, total = neurons_needed(code, sigma, epsilon, n_trials, draws, max_neurons)
            total = np.nan if total < 0 else total
            needed.append(total)
            for metric, value in (
                ("neurons", total),
                ("neurons_per_population", k if k > 0 else np.nan),
            ):
                rows.append(
                    dict(network="protected", estimate="simulated", seed=seed, sigma=sigma,
                         epsilon=epsilon, metric=metric, value=value)
                )  # fmt: skip
        exponent = fit_exponent(sigmas, needed)
        progress(f"seed {seed}: neurons {needed}, exponent {exponent:.3f}")
        rows.append(
            dict(network="protected", estimate="simulated", seed=seed, epsilon=epsilon,
                 metric="exponent", value=exponent)
        )  # fmt: skip
    predicted, _ = predicted_neurons(code, sigmas, epsilon, n_samples=gate_samples)
    rows += [
        dict(network="protected", estimate="predicted", sigma=s, epsilon=epsilon,
             metric="neurons", value=n)
        for s, n in zip(sigmas, predicted, strict=True)
    ]  # fmt: skip
    rows.append(
        dict(network="protected", estimate="predicted", epsilon=epsilon, metric="exponent",
             value=fit_exponent(sigmas, predicted))
    )  # fmt: skip
    return _table(rows)


def run(settings: Mapping, progress=print) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both tables from the config's ``fault_tolerance`` section."""
    common = dict(periods=settings["periods"], gate_samples=settings["gate_samples"])
    phase = phase_transition(
        neurons=settings["neurons"],
        bundle=settings["bundle"],
        sigmas=settings["sigmas"],
        depths=settings["depths"],
        n_trials=settings["n_trials"],
        seeds=settings["seeds"],
        bundles=settings.get("bundles", ()),
        biology=settings.get("biology"),
        progress=progress,
        **common,
    )
    scaling = settings["scaling"]
    table = multiplier_scaling(
        sigmas=scaling["sigmas"],
        epsilon=scaling["epsilon"],
        n_trials=scaling["n_trials"],
        seeds=settings["seeds"],
        max_neurons=scaling["max_neurons"],
        progress=progress,
        **common,
    )
    return phase, table
