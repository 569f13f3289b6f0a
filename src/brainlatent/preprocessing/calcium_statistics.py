"""The statistics that say whether a 2P session looks like the Allen Visual Coding data.

Computed by ``preprocess_calcium`` for every session, real or simulated, and written to
its ``info.json`` (``statistics``), so a simulated mouse can be held against the real
recordings it stands in for (and ``tests/unit/test_calcium_statistics.py`` holds the
simulator's defaults to the published values).

- ``noise_level``: the standardised noise of Rupprecht et al. (2021, CASCADE), the median
  absolute difference of consecutive dF/F samples over the square root of the frame rate,
  in %·s^-1/2. The Allen Brain Observatory's traces sit "around 1" (CASCADE's README);
  it compares recordings at any frame rate.
- ``reliability``: the Allen Institute's reliability for natural movie one (de Vries et
  al. 2020; ``visual_coding_2p_analysis``): the mean Pearson correlation between the
  responses of every pair of repeats, per cell. The Allen computes it on L0 events; here
  on the dF/F per frame, which the reader has.
- ``responsive``: the Allen's movie criterion, responses at the cell's peak frame (of the
  mean over repeats) on more than 2 of 10 repeats, with an event there read as dF/F more
  than 3 noise SDs above the cell's median. The L0 detector's ``event_min_size`` is 2 SDs
  of sparse deconvolved events; on dF/F, whose peak frame is chosen on the same repeats,
  2 SDs passed a fifth of pure-noise cells, 3 SDs under 1 % (tested).
"""

from __future__ import annotations

import numpy as np

#: The Allen's "responsive to natural movie" rule: events on more than this many repeats.
MIN_RESPONSIVE_REPEATS = 2
#: An event: dF/F this many noise SDs above the cell's median (see the module docstring).
EVENT_SDS = 3.0
#: Gaussian SD from the median absolute difference of consecutive white-noise samples.
_MAD_DIFF_TO_SD = 1 / (np.sqrt(2) * 0.6744897501960817)


def _median_abs_diff(dff: np.ndarray) -> np.ndarray:
    """Per cell, the median |difference| of consecutive samples (NaN samples skipped)."""
    dff = np.asarray(dff)
    if dff.ndim != 2 or len(dff) < 2:
        raise ValueError(f"dff must be (time × cells) with 2 or more samples; got {dff.shape}")
    return np.nanmedian(np.abs(np.diff(dff, axis=0)), axis=0).astype(np.float64)


def noise_level(dff: np.ndarray, rate: float) -> np.ndarray:
    """CASCADE's standardised noise per cell (%·s^-1/2), from a (time × cells) dF/F trace."""
    return 100 * _median_abs_diff(dff) / np.sqrt(rate)


def noise_sd(dff: np.ndarray) -> np.ndarray:
    """Per-cell noise SD of dF/F from consecutive differences, blind to slow transients."""
    return _MAD_DIFF_TO_SD * _median_abs_diff(dff)


def _by_repeat(neural: np.ndarray, frame: np.ndarray, repeat: np.ndarray) -> np.ndarray:
    """(repeats × frames × cells) from rows in any order, one row per (repeat, frame)."""
    n_rep, n_frames = int(repeat.max()) + 1, int(frame.max()) + 1
    if len(neural) != n_rep * n_frames:
        raise ValueError(
            f"{len(neural)} rows do not hold every frame once per repeat "
            f"({n_rep} repeats × {n_frames} frames)"
        )
    out = np.empty((n_rep, n_frames, neural.shape[1]))
    out[repeat, frame] = neural
    return out


def reliability(neural: np.ndarray, frame: np.ndarray, repeat: np.ndarray) -> np.ndarray:
    """Mean correlation between the movie responses of every pair of repeats, per cell."""
    return _reliability(_by_repeat(np.asarray(neural, dtype=np.float64), frame, repeat))


def _reliability(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    x = np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)
    pairs = np.einsum("rfn,sfn->rsn", x, x)
    upper = np.triu_indices(len(x), 1)
    return pairs[upper].mean(axis=0)


def responsive(
    neural: np.ndarray, frame: np.ndarray, repeat: np.ndarray, sd: np.ndarray
) -> np.ndarray:
    """Whether each cell meets the Allen's movie criterion (see the module docstring)."""
    return _responsive(_by_repeat(np.asarray(neural, dtype=np.float64), frame, repeat), sd)


def _responsive(x: np.ndarray, sd: np.ndarray) -> np.ndarray:
    peak = x.mean(axis=0).argmax(axis=0)
    at_peak = x[:, peak, np.arange(x.shape[2])]
    events = at_peak - np.median(x.reshape(-1, x.shape[2]), axis=0) > EVENT_SDS * np.asarray(sd)
    return events.sum(axis=0) > MIN_RESPONSIVE_REPEATS


def session_statistics(
    dff: np.ndarray, rate: float, neural: np.ndarray, frame: np.ndarray, repeat: np.ndarray
) -> dict[str, float]:
    """Medians over cells of the statistics above, and the fraction of responsive cells.

    ``dff`` is the whole trace (time × cells) at ``rate`` Hz; ``neural`` the movie
    responses per presented frame (rows × the same cells), labelled by ``frame`` and
    ``repeat``.
    """
    mad = _median_abs_diff(dff)  # one pass over the whole trace serves both noise measures
    sd = _MAD_DIFF_TO_SD * mad
    x = _by_repeat(np.asarray(neural, dtype=np.float64), frame, repeat)
    return {
        "noise_level_median": float(np.nanmedian(100 * mad / np.sqrt(rate))),
        "noise_sd_median": float(np.nanmedian(sd)),
        "reliability_median": float(np.median(_reliability(x))),
        "fraction_responsive": float(_responsive(x, sd).mean()),
    }
