"""The noise threshold σ*: predicted from the gates' error rates, and read off simulations.

**Prediction.** :func:`gate_errors` gives each grid-code gate's probability of a digital
error (the decoder picks a sum on the other side of the truth table) for each input sum, in
the small-noise Gaussian approximation: each input population's phase is off by a Gaussian
angle (s.d. ``s``, the population vector's noise), the summed phase's population adds
complex noise of s.d. ``s`` per component and each score its own noise; the scores are then
jointly Gaussian, and the probability of each winner is a multivariate normal orthant
probability. :func:`restoration_map` is von Neumann's multiplexing recursion for the
protected XOR chain (a bundle of infinitely many wires, each wrong with probability ``e``):
one XOR layer and one majority-of-three restoring layer. Iterated from ``e = 0`` it settles
on a small fixed point while the gates are good enough, and on ``e = 1/2`` (the output is a
coin flip) once they are not. The map is symmetric about 1/2, so the small fixed point rises
continuously with the noise and merges with the coin flip (a pitchfork bifurcation) where
the coin flip stops repelling: :func:`predicted_threshold` finds the noise at which the map's
slope at 1/2 falls to 1 (:func:`coin_flip_slope`), the phase transition. (Reading it off the
fixed point instead, e.g. where it passes 1/4, lands short of the transition: it rises
steeply only near the end.)

**Measurement.** :func:`crossing` reads, from simulated failure probabilities on a grid of
noise levels, the noise at which the deepest circuit's failure reaches 1/4, halfway between
reliable (0) and a coin flip (1/2): curves of all depths coincide below σ* and fan out above
it, and as depth grows this point converges to σ*.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb

import numpy as np
from scipy.stats import binom, norm

from brainlatent.fault_tolerance.circuits import GATES, grid_gate
from brainlatent.fault_tolerance.code import GridCode


def gate_errors(
    name: str, code: GridCode, sigma: float, n_samples: int = 100_000, seed: int = 0
) -> np.ndarray:
    """Probability of a wrong output bit of grid-code gate ``name`` for each input sum
    0..fan-in, with freshly encoded (noisy) inputs: ``n_samples`` isolated gates per sum.
    The draws depend on ``seed`` only (common random numbers across ``sigma``)."""
    fan_in, truth = GATES[name]
    if sigma <= 0:
        return np.zeros(fan_in + 1)
    gen = np.random.default_rng(seed)
    sums = np.repeat(np.arange(fan_in + 1), n_samples)
    inputs = [code.encode((sums > i).astype(np.int8), sigma, gen) for i in range(fan_in)]
    _, bits = grid_gate(name, inputs, code, sigma, gen)
    wrong = bits != np.asarray(truth)[sums]
    return wrong.reshape(fan_in + 1, n_samples).mean(axis=1)


def restoration_map(xor_errors: np.ndarray, maj_errors: np.ndarray):
    """``e -> e'``: the wrong-wire fraction after one XOR layer (with a fresh random bit)
    and one majority-of-three restoration, for gates with these per-sum error rates."""
    # the XOR's input sum is 0, 1, 2 with probability 1/4, 1/2, 1/4 whatever the errors
    p = 0.25 * xor_errors[0] + 0.5 * xor_errors[1] + 0.25 * xor_errors[2]
    # majority of three wires, k of them wrong: the true bits sum to k (value 0) or 3 - k
    flip = [0.5 * (maj_errors[k] + maj_errors[3 - k]) for k in range(4)]

    def step(e):
        e = e + p * (1 - 2 * e)
        return sum(
            comb(3, k) * e**k * (1 - e) ** (3 - k) * (1 - flip[k] if k >= 2 else flip[k])
            for k in range(4)
        )

    return step


def coin_flip_slope(xor_errors: np.ndarray, maj_errors: np.ndarray) -> float:
    """The slope of :func:`restoration_map` at ``e = 1/2``: above 1 the coin flip repels
    and the restored bundle keeps a small error fraction; below 1 it attracts every start.

    The XOR layer contributes ``1 - 2p``; the majority layer, whose per-sum flip rates are
    symmetric (``flip[k] == flip[3 - k]``), ``3/2 (1 - flip[0] - flip[1])``."""
    p = 0.25 * xor_errors[0] + 0.5 * xor_errors[1] + 0.25 * xor_errors[2]
    flip0 = 0.5 * (maj_errors[0] + maj_errors[3])
    flip1 = 0.5 * (maj_errors[1] + maj_errors[2])
    return float((1 - 2 * p) * 1.5 * (1 - flip0 - flip1))


def fixed_point(
    code: GridCode, sigma: float, n_samples: int = 100_000, iterations: int = 4000
) -> float:
    """The wrong-wire fraction the restored bundle settles on, starting error-free (slow to
    converge near the threshold, where the map's slope approaches 1)."""
    step = restoration_map(
        gate_errors("xor", code, sigma, n_samples), gate_errors("maj", code, sigma, n_samples)
    )
    e = 0.0
    for _ in range(iterations):
        e = step(e)
    return float(e)


def predicted_threshold(
    code: GridCode, high: float = 5.0, tol: float = 1e-3, n_samples: int = 100_000
) -> float:
    """σ*: the noise at which the coin flip ``e = 1/2`` stops repelling the restored bundle
    (bisection on :func:`coin_flip_slope` ``> 1``); below it a small error fraction is
    stable, so an infinite bundle's majority is always right."""

    def repels(sigma: float) -> bool:
        errors = [gate_errors(name, code, sigma, n_samples) for name in ("xor", "maj")]
        return coin_flip_slope(*errors) > 1

    low = 0.0
    if repels(high):
        raise ValueError(f"no threshold below sigma = {high} for {code}")
    while high - low > tol:
        mid = 0.5 * (low + high)
        low, high = (mid, high) if repels(mid) else (low, mid)
    return 0.5 * (low + high)


def crossing(sigmas: Sequence[float], failure: Sequence[float], level: float = 0.25) -> float:
    """The noise at which ``failure`` (one depth, on the grid ``sigmas``) first reaches
    ``level``, interpolated linearly; NaN when it never does."""
    sigmas, failure = np.asarray(sigmas, float), np.asarray(failure, float)
    order = np.argsort(sigmas)
    sigmas, failure = sigmas[order], failure[order]
    above = np.flatnonzero(failure >= level)
    if len(above) == 0:
        return float("nan")
    i = above[0]
    if i == 0:
        return float(sigmas[0])
    s0, s1, f0, f1 = sigmas[i - 1], sigmas[i], failure[i - 1], failure[i]
    return float(s0 + (level - f0) * (s1 - s0) / (f1 - f0))


def unprotected_failure(neurons: int, sigma, depth, bundle: int) -> np.ndarray:
    """Exact failure of the unprotected XOR chain: ``bundle`` copies, each bit a population
    of ``neurons`` rate neurons, read by a final majority vote; broadcast over ``sigma``
    and ``depth``.

    The copies share their inputs (the true bits and each layer's fresh bit) and only their
    noise is their own, so their errors are not independent: a gate errs at rate ``t`` on
    input sums 0 and 2 and ``2t`` on sum 1, and a wrong copy sees the other kind of sum than
    the right ones. The number of wrong copies is a Markov chain whose step mixes the two
    cases with probability 1/2 each (the fresh bit is uniform and independent)."""
    sigma, depth = np.broadcast_arrays(np.asarray(sigma, float), np.asarray(depth, int))
    out = np.empty(sigma.shape)
    wrong = np.arange(bundle + 1)
    for s in np.unique(sigma):
        # a gate's noise: two input populations and the summed one
        tail = float(norm.sf(0.5 / (np.sqrt(3.0 / neurons) * s))) if s > 0 else 0.0
        step = 0.5 * _copies_step(bundle, tail, 2 * tail) + 0.5 * _copies_step(
            bundle, 2 * tail, tail
        )
        for d in np.unique(depth[sigma == s]):
            start = np.zeros(bundle + 1)
            start[0] = 1.0
            state = start @ np.linalg.matrix_power(step, int(d))
            out[(sigma == s) & (depth == d)] = state[wrong > bundle // 2].sum()
    return out[()] if out.ndim == 0 else out


def _copies_step(bundle: int, right_errs: float, wrong_errs: float) -> np.ndarray:
    """Transition matrix of the number of wrong copies when each right copy errs with
    probability ``right_errs`` and each wrong copy (erring back) with ``wrong_errs``."""
    step = np.zeros((bundle + 1, bundle + 1))
    for j in range(bundle + 1):
        new = binom.pmf(np.arange(bundle - j + 1), bundle - j, right_errs)  # right -> wrong
        back = binom.pmf(np.arange(j + 1), j, wrong_errs)  # wrong -> right
        for v, pv in enumerate(back):
            step[j, j - v : j - v + len(new)] += pv * new
    return step
