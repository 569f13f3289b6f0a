"""MNE's zero-phase band-pass, evaluated only at the samples the epochs keep.

A THINGS-MEG run is 1,200 Hz; its epochs keep 120 Hz. Filtering every raw sample
and then keeping one in ten was most of the preprocessing time, so
:func:`filter_chain` splits MNE's band-pass into its short low-pass and its long
high-pass remainder and evaluates each on a decimated copy of the run
(:class:`FilterChain`): :func:`decimate` makes the copies, :class:`Sampler`
evaluates a kernel at the epochs' samples. The result matches
``raw.filter(...)`` then ``mne.Epochs(decim=...)`` to within 1e-3 × (1 + |x|)
(``tests/unit/test_preprocess_meg.py``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import mne
import numpy as np
from scipy.signal import firwin, kaiserord

if TYPE_CHECKING:
    from brainlatent.preprocessing.recipe import Preprocessing

#: Stopband attenuation (dB) of the multirate chain's anti-alias and interpolation filters
#: (Kaiser windows; passband ripple 10 ** (-ATTENUATION_DB / 20)).
ATTENUATION_DB = 100.0
#: The first decimation keeps frequencies up to PASS1 × the low-pass's stop edge (50 Hz).
PASS1 = 1.8
#: Epoch samples computed per matrix product in :class:`Sampler`.
SAMPLE_GROUP = 16


@dataclass(frozen=True)
class FilterChain:
    """MNE's band-pass FIR ``band``, evaluated only where the epochs keep a sample.

    MNE's zero-phase band-pass is the sum of two linear-phase kernels (``firwin``
    design, ``mne.filter._firwin_design``): ``short``, MNE's low-pass at ``h_freq``
    (0.33 s at 40 Hz), and ``long`` = ``band`` − ``short`` (33 s at 0.1 Hz), which
    passes only frequencies below ``pass2`` = 50 × ``l_freq`` (gain < 1e-4 above).
    The run is low-passed by ``aa1`` (flat to ``pass1`` = 1.8 × MNE's upper stop
    edge) and decimated by ``factor1`` (1200 → 240 Hz), then low-passed by ``aa2``
    (flat to ``pass2``) and decimated to ``sfreq / factor2`` (20 Hz):

    * the short part is ``kernel1`` = ``short`` * ``factor1``·``aa1`` (MNE's kernel
      after the band-limited interpolation back to the raw rate), applied to the
      240 Hz copy at the epochs' samples only;
    * the long part is ``long`` sampled every ``factor2`` samples (``long2``),
      applied to the 20 Hz copy over the whole run, then interpolated to the
      epochs' samples by ``interp2``.

    ``factor`` is the epochs' decimation (MNE's ``decim``). The chain differs from
    MNE's filter by the interpolators' ripple (1e-5), by what MNE's Hamming window
    lets through above ``pass1`` (< −70 dB), which the chain drops or aliases, and
    by ``long``'s gain above ``pass2`` (< 1e-4).
    """

    sfreq: float
    factor: int
    band_length: int
    factor1: int
    aa1: np.ndarray
    kernel1: np.ndarray
    factor2: int  # 0: no long kernel (no high-pass)
    aa2: np.ndarray
    long2: np.ndarray
    interp2: np.ndarray


def _lowpass(sfreq: float, f_pass: float, f_stop: float, gain: float) -> np.ndarray:
    """Odd-length Kaiser-window low-pass flat to ``f_pass``, ATTENUATION_DB down at ``f_stop``."""
    numtaps, beta = kaiserord(ATTENUATION_DB, (f_stop - f_pass) / (sfreq / 2))
    numtaps += 1 - numtaps % 2
    return gain * firwin(numtaps, (f_pass + f_stop) / 2, window=("kaiser", beta), fs=sfreq)


def _max_gain(h: np.ndarray, sfreq: float, f_from: float) -> float:
    """Largest gain of FIR ``h`` from ``f_from`` Hz to Nyquist (on a grid of ≤ 0.005 Hz)."""
    n = 1 << int(np.ceil(np.log2(max(4 * len(h), sfreq / 0.005))))
    gain = np.abs(np.fft.rfft(h, n))
    return float(gain[np.fft.rfftfreq(n, 1 / sfreq) >= f_from].max())


@functools.lru_cache(maxsize=8)
def filter_chain(sfreq: float, params: Preprocessing) -> FilterChain | None:
    """The multirate evaluation of MNE's band-pass for ``params``, or None where it does
    not apply (no band-pass, a rate that is no whole multiple of ``params.sfreq``, or
    a high-pass too close to the low-pass to separate them)."""
    ratio = sfreq / params.sfreq
    if not np.isclose(ratio, round(ratio)) or (params.l_freq is None and params.h_freq is None):
        return None
    band = mne.filter.create_filter(None, sfreq, params.l_freq, params.h_freq, verbose=False)
    if params.h_freq is None:
        short = np.ones(1)
    else:
        short = mne.filter.create_filter(None, sfreq, None, params.h_freq, verbose=False)
    if len(short) > len(band):
        return None
    center = len(band) // 2
    long = band.copy()
    long[center - len(short) // 2 : center + len(short) // 2 + 1] -= short
    factor1, aa1, kernel1 = 1, np.ones(1), short
    if params.h_freq is not None:
        edge = params.h_freq + min(max(0.25 * params.h_freq, 2.0), sfreq / 2 - params.h_freq)
        pass1 = PASS1 * edge
        factor1 = max(1, int(sfreq // (2.6 * pass1)))
        if factor1 > 1 and _max_gain(short, sfreq, pass1) < 1e-3:
            aa1 = _lowpass(sfreq, pass1, sfreq / factor1 - pass1, 1.0)
            kernel1 = np.convolve(short, factor1 * aa1)
        else:
            factor1 = 1
    factor2, aa2, long2, interp2 = 0, np.ones(1), np.zeros(1), np.zeros(1)
    if np.abs(long).max() > 1e-12:
        pass2 = 50.0 * params.l_freq
        step2 = int(sfreq / factor1 // (4 * pass2))
        if _max_gain(long, sfreq, pass2) > 1e-4 or step2 < 2:
            return None
        factor2 = factor1 * step2
        stop2 = sfreq / factor2 - pass2
        aa2 = _lowpass(sfreq / factor1, pass2, stop2, 1.0)
        half = center // factor2
        long2 = factor2 * long[center - half * factor2 : center + half * factor2 + 1 : factor2]
        interp2 = _lowpass(sfreq, pass2, stop2, factor2)
    return FilterChain(
        sfreq, int(round(ratio)), len(band), factor1, aa1, kernel1, factor2, aa2, long2, interp2
    )


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


class Padded:
    """Rows of a run, MNE's ``reflect_limited`` padding of ``n_edge`` samples each side
    (``mne.cuda._smart_pad``), then zeros: the float32 input :func:`decimate` needs
    (one zero block of ``block`` samples first, a whole number of blocks, one more after).
    One buffer serves every block of channels of a run."""

    def __init__(self, n_rows: int, n: int, n_edge: int, factor: int, aa: np.ndarray):
        self.block = max(1, ceil_div(len(aa) // 2, factor)) * factor
        self.n, self.n_edge, self.n_ext = n, n_edge, n + 2 * n_edge
        n_blocks = ceil_div(ceil_div(self.n_ext, factor) * factor, self.block)
        self.buffer = np.zeros((n_rows, (n_blocks + 2) * self.block), np.float32)

    def middle(self, n_rows: int) -> np.ndarray:
        start = self.block + self.n_edge
        return self.buffer[:n_rows, start : start + self.n]

    def padded(self, n_rows: int) -> np.ndarray:
        """The buffer's first rows, their padding filled from :meth:`middle`."""
        mid, n, k = self.middle(n_rows), self.n, min(self.n_edge, self.n - 1)
        lead = self.block + self.n_edge - k
        self.buffer[:n_rows, lead : lead + k] = 2 * mid[:, :1] - mid[:, k:0:-1]
        tail = self.block + self.n_edge + n
        self.buffer[:n_rows, tail : tail + k] = 2 * mid[:, -1:] - mid[:, -2 : -k - 2 : -1]
        return self.buffer[:n_rows]


def decimate(padded: np.ndarray, block: int, n: int, aa: np.ndarray, factor: int) -> np.ndarray:
    """``out[:, m] = sum_i x[:, factor * m + i] * aa[c + i]`` (x = 0 outside) in one GEMM.

    ``padded`` holds x (``n`` samples) after one zero block of ``block`` samples, and
    zeros to a whole number of blocks plus one; ``aa`` is odd-length and centred (``c`` =
    half its length) with ``c`` ≤ ``block``. Each block of ``block / factor`` outputs then
    needs only its inputs' block and the two beside it: one product with the three
    banded Toeplitz pieces of ``aa`` side by side, summed shifted.
    """
    rows = padded.shape[0]
    c, k = len(aa) // 2, block // factor
    n_blocks = padded.shape[1] // block - 2
    s, j = np.arange(block)[:, None], np.arange(k)[None, :] * factor
    pieces = []
    for shift in (-1, 0, 1):
        lag = shift * block + s - j
        pieces.append(np.where(np.abs(lag) <= c, aa[np.clip(c + lag, 0, len(aa) - 1)], 0))
    product = padded.reshape(-1, block) @ np.hstack(pieces).astype(padded.dtype)
    product = product.reshape(rows, n_blocks + 2, 3, k)
    out = product[:, :-2, 0] + product[:, 1:-1, 1] + product[:, 2:, 2]
    return out.reshape(rows, n_blocks * k)[:, : ceil_div(n, factor)]


class Sampler:
    """``y[n] = sum_m z[m] * kernel[c + n - factor * m]`` at ``positions + offsets``, for
    any rows of ``z``; what does not depend on z's values is worked out once.

    Calling it on z returns (epochs, rows, times). The epochs whose first sample has the
    same phase on z's grid share their weights: their stretches of z are gathered once,
    then SAMPLE_GROUP samples at a time go through one matrix product with the part of
    the stretch they need.
    """

    def __init__(self, factor: int, kernel: np.ndarray, positions, offsets):
        positions, offsets = np.asarray(positions), np.asarray(offsets)
        c = len(kernel) // 2
        self.margin = ceil_div(c, factor) + 1
        m0 = ceil_div(positions + offsets[0] - c, factor)
        phases = positions - factor * m0
        span = (offsets[-1] - offsets[0] + 2 * c) // factor + 2
        self.shape = (len(positions), len(offsets))
        self.phases = []  # (epochs, z's indices of their stretches, span, groups)
        for phase in np.unique(phases):
            chosen = np.flatnonzero(phases == phase)
            index = m0[chosen, None] + self.margin + np.arange(span)[None, :]
            groups = []
            for g in range(0, len(offsets), SAMPLE_GROUP):
                group = offsets[g : g + SAMPLE_GROUP]
                start = ceil_div(phase + group[0] - c, factor)
                width = min((group[-1] - group[0] + 2 * c) // factor + 2, span - start)
                lag = c + phase + group[:, None] - factor * (start + np.arange(width))
                inside = (lag >= 0) & (lag < len(kernel))
                weights = np.where(inside, kernel[np.clip(lag, 0, len(kernel) - 1)], 0)
                # and in float32 (what z is), cast once rather than per block of channels
                groups.append(
                    (slice(g, g + len(group)), start, weights.T, weights.T.astype(np.float32))
                )
            self.phases.append((chosen, index.ravel(), span, groups))

    def __call__(self, z: np.ndarray) -> np.ndarray:
        zp = np.zeros((z.shape[0], z.shape[1] + 2 * self.margin), z.dtype)
        zp[:, self.margin : self.margin + z.shape[1]] = z
        out = np.empty((self.shape[0], z.shape[0], self.shape[1]), np.float32)
        for chosen, index, span, groups in self.phases:
            stretch = np.take(zp, index, axis=1).reshape(-1, span)
            for times, start, weights, weights32 in groups:
                weights = weights32 if z.dtype == np.float32 else weights.astype(z.dtype)
                result = stretch[:, start : start + weights.shape[0]] @ weights
                n = times.stop - times.start
                out[chosen, :, times] = result.reshape(z.shape[0], len(chosen), n).transpose(
                    1, 0, 2
                )
        return out
