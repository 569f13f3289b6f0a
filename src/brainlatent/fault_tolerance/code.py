"""The grid code: an integer held as its phases modulo several periods, read by noisy neurons.

A value ``x`` is held by ``M`` modules, module ``j`` at phase ``2π x / λ_j`` (Fiete, Burak &
Brookings 2008; Sreenivasan & Fiete 2011). Each phase is carried by a population of ``K``
neurons with cosine tuning around the circle whose outputs carry independent Gaussian noise
of standard deviation ``σ`` (in units of the tuning amplitude). A linear population-vector
readout of such a population is the phasor ``exp(iθ)`` plus complex Gaussian noise of
standard deviation ``σ √(2/K)`` per component, exactly: simulations draw that sufficient
statistic instead of every neuron.

Phases add under addition of values (``θ(a + b) = θ(a) + θ(b)`` mod 2π), so a sum of bits
is computed in the code itself; the decoder compares the summed phases with every candidate
value (one score per candidate, ``Σ_j cos(φ_j − 2π x_k / λ_j)``, read by populations of
``K`` noisy neurons) and a winner-take-all picks the largest. Small phase errors in many
modules add evidence for the right candidate: that is the code's error correction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GridCode:
    """``periods``: the modules' periods λ_j (in units of the encoded integer);
    ``neurons``: K, the neurons of each population (one per module, and one per decoder score)."""

    periods: tuple[float, ...]
    neurons: int

    def __post_init__(self):
        if len(self.periods) < 1 or any(p <= 1 for p in self.periods):
            raise ValueError(f"grid code periods must be > 1, got {self.periods}")
        if self.neurons < 1:
            raise ValueError(f"neurons per population must be >= 1, got {self.neurons}")

    @property
    def modules(self) -> int:
        return len(self.periods)

    def angles(self, values) -> np.ndarray:
        """Phases (radians) of integer ``values``: shape ``values.shape + (M,)``."""
        periods = np.asarray(self.periods, dtype=np.float64)
        return (2 * np.pi * np.asarray(values, dtype=np.float64)[..., None] / periods) % (2 * np.pi)

    def population_noise(self, sigma) -> np.ndarray:
        """Per-component s.d. of a population vector of K neurons with output noise ``sigma``."""
        return np.asarray(sigma, dtype=np.float64) * np.sqrt(2.0 / self.neurons)

    def score_noise(self, sigma) -> np.ndarray:
        """S.d. of a decoder score read by K neurons with output noise ``sigma``."""
        return np.asarray(sigma, dtype=np.float64) / np.sqrt(self.neurons)

    def encode(self, values, sigma, gen: np.random.Generator) -> np.ndarray:
        """Noisy population vectors (complex64, ``values.shape + (M,)``) of populations
        encoding the non-negative integers ``values``; ``sigma`` broadcasts against
        ``values`` (e.g. one per row)."""
        values = np.asarray(values, dtype=np.int64)
        table = np.exp(1j * self.angles(np.arange(int(values.max(initial=0)) + 1)))
        s = self.population_noise(sigma)[..., None].astype(np.float32)
        shape = (*values.shape, self.modules)
        noise = gen.standard_normal((2, *shape), dtype=np.float32)
        return table.astype(np.complex64)[values] + s * (noise[0] + 1j * noise[1])

    def scores(self, phases, n_candidates: int) -> np.ndarray:
        """Noise-free decoder drive of candidates 0..S-1 from population vectors ``phases``
        (complex, ``(..., M)``): ``Re Σ_j Z_j exp(−2πi x_k / λ_j)``, shape ``(..., S)``."""
        templates = np.exp(-1j * self.angles(np.arange(n_candidates))).astype(np.complex64)
        return np.real(phases @ templates.T)
