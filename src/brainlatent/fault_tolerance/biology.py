"""Biological neurons' noise in the model's units: Poisson spike counts.

σ is the s.d. of a neuron's output noise in units of its tuning amplitude (:mod:`.code`).
A spiking neuron whose tuning curve runs from 0 to ``n`` spikes per computation step (its
peak rate times the readout window) has a cosine tuning amplitude of ``n / 2``; its count
varies with variance ``F`` times its mean (``F``, the Fano factor, is about 1 in cortex),
``n / 2`` on average over the tuning curve. In σ's units its noise is therefore
``σ = sqrt(2 F / n)``: a network that tolerates σ* works with neurons that fire at least
``2 F / σ*²`` spikes per step at their peak.
"""

from __future__ import annotations

import numpy as np


def poisson_sigma(peak_spikes, fano: float = 1.0) -> np.ndarray:
    """σ of neurons firing ``peak_spikes`` spikes per step at the peak of their tuning."""
    peak_spikes = np.asarray(peak_spikes, dtype=float)
    if np.any(peak_spikes <= 0) or fano <= 0:
        raise ValueError(f"spike counts and the Fano factor must be > 0, got {peak_spikes}, {fano}")
    return np.sqrt(2.0 * fano / peak_spikes)


def peak_spikes(sigma, fano: float = 1.0):
    """The peak spikes per step of the Poisson neuron whose noise is ``sigma`` (inverse of
    :func:`poisson_sigma`); NaN stays NaN."""
    sigma = np.asarray(sigma, dtype=float)
    with np.errstate(divide="ignore"):
        return 2.0 * fano / sigma**2
