"""Neurons a two-bit multiplier needs to fail with probability below ε, against noise σ.

The knob is K, the neurons of every population of the protected multiplier
(:data:`~.circuits.MULTIPLIER`: 6 AND and 2 XOR grid-code gates, no bundles: the circuit
is three gates deep). Every population averages K neurons with independent output noise,
so every noise in the network scales as σ/√K and the failure is a function of σ²/K alone:
the neurons needed grow as ``N(σ) = a σ²`` (exponent 2), with ``a`` set by the gates'
error rates and ε; since each gate's error falls as a Gaussian tail, ``a`` grows only as
``log(1/ε)``: reliability costs polylogarithmically, in line with the paper's
``O(N polylog(N/ε))`` neurons for a formula of N gates.

:func:`neurons_needed` finds the smallest K by bisection on simulated multipliers (common
random numbers, so the failure is monotone in K); :func:`predicted_neurons` gives the law
from isolated gates' error rates (:func:`~.threshold.gate_errors`), as the union of the
eight gates' errors; :func:`fit_exponent` fits ``log N = log a + b log σ``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from brainlatent.fault_tolerance.circuits import MULTIPLIER, multiplier_failure, multiplier_neurons
from brainlatent.fault_tolerance.code import GridCode
from brainlatent.fault_tolerance.threshold import gate_errors

#: Probability of each input sum of a two-input gate of the multiplier on uniform inputs,
#: approximated as independent uniform bits: 0, 1, 2 with 1/4, 1/2, 1/4.
_SUM_WEIGHTS = np.array([0.25, 0.5, 0.25])


def neurons_needed(
    code: GridCode, sigma: float, epsilon: float, n_trials: int, seed: int, max_neurons: int
) -> tuple[int, int]:
    """(K, total neurons) of the smallest multiplier with failure < ``epsilon`` at ``sigma``;
    ``(-1, -1)`` when even K = ``max_neurons`` fails."""

    def fails(k: int) -> bool:
        return multiplier_failure(replace(code, neurons=k), sigma, n_trials, seed) >= epsilon

    if fails(max_neurons):
        return -1, -1
    low, high = 0, max_neurons  # fails(low) (K = 0 means no neurons), not fails(high)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if fails(mid) else (low, mid)
    return high, multiplier_neurons(replace(code, neurons=high))


def predicted_failure(code: GridCode, sigma: float, n_samples: int = 100_000) -> float:
    """Union of the eight gates' errors (isolated gates, uniform inputs)."""
    rates = {
        g: float(_SUM_WEIGHTS @ gate_errors(g, code, sigma, n_samples)) for g in ("and", "xor")
    }
    return float(1 - np.prod([1 - rates[gate] for _, gate, _ in MULTIPLIER]))


def predicted_neurons(
    code: GridCode, sigmas: Sequence[float], epsilon: float, n_samples: int = 100_000
) -> tuple[np.ndarray, float]:
    """The law ``N(σ) = a σ²`` at each ``sigmas`` (continuous K), and ``a``.

    By scale invariance the failure with K neurons at σ is that with one neuron at σ/√K:
    find by bisection the noise ``c`` at which one-neuron populations reach ``epsilon``;
    then ``K(σ) = (σ / c)²``."""
    one = replace(code, neurons=1)
    low, high = 1e-3, 10.0
    for _ in range(16):
        mid = np.sqrt(low * high)
        low, high = (mid, high) if predicted_failure(one, mid, n_samples) < epsilon else (low, mid)
    critical = np.sqrt(low * high)
    per_k = multiplier_neurons(one)  # neurons per unit of K
    a = per_k / critical**2
    return a * np.asarray(sigmas, dtype=float) ** 2, float(a)


def fit_exponent(sigmas: Sequence[float], neurons: Sequence[float]) -> float:
    """Slope of ``log N`` against ``log σ`` (least squares, finite positive points only)."""
    sigmas, neurons = np.asarray(sigmas, float), np.asarray(neurons, float)
    keep = np.isfinite(neurons) & (neurons > 0) & (sigmas > 0)
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(sigmas[keep]), np.log(neurons[keep]), 1)[0])
