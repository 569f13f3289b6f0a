"""Running direction on a linear track, derived from the position and held through pauses.

Files rarely store a direction; the obvious derivation, the sign of the velocity,
is wrong wherever the animal pauses (the tracking's jitter flips it from frame to
frame). CEBRA-Behavior's mixed sampler pairs a sample only with samples of its own
class, so those flipped labels tie the pause's activity to runs in both directions
and cost it direction accuracy in proportion to their share (docs/recording.md, "Your own
recordings"). This labels each sample with the direction of the last run: the velocity's sign
where the smoothed speed is above ``min_speed``, carried forward through slower
samples (and back to the start, before the first run). It is for a linear track on
which the animal runs: a looped track's wrap (or a tracking glitch) between two
samples of a stretch is refused (across a gap the animal may have run anywhere), and
a recording of pauses alone has no runs to take a direction from (its jitter would
pass the relative threshold).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

#: Gaussian s.d. (s) of the position smoothing before the velocity: a 30 Hz camera's jitter
#: of a few mm would otherwise dominate the velocity of a slowly moving animal.
SMOOTHING_S = 0.2
#: Without a ``min_speed``: this fraction of the running speed (the 95th percentile of the
#: smoothed speed), so that the threshold needs no unit (m, cm or camera pixels alike).
RELATIVE_MIN_SPEED = 0.1
#: The codes: position increasing (0) or decreasing (1), as the simulated recording writes them.
INCREASING, DECREASING = 0, 1


def running_direction(
    position,
    timestamps,
    *,
    min_speed: float | None = None,
    smoothing_s: float = SMOOTHING_S,
) -> np.ndarray:
    """Direction code per sample (0 increasing, 1 decreasing) of a 1-D ``position``.

    ``min_speed`` is in the position's unit per second (None: a tenth of the running
    speed). ``timestamps`` (s, increasing) may have gaps (dropped samples, pauses cut
    out): the pieces between them are smoothed and differentiated each on its own.
    """
    position = np.asarray(position, dtype=np.float64)
    t = np.asarray(timestamps, dtype=np.float64)
    if position.ndim != 1 or position.shape != t.shape:
        raise ValueError(
            f"position must be 1-D with one timestamp per sample; got {position.shape} and "
            f"{t.shape}"
        )
    if len(position) < 3:
        raise ValueError(f"a direction needs at least 3 samples; got {len(position)}")
    bad = int((~np.isfinite(position)).sum())
    if bad:
        raise ValueError(f"the position has {bad} NaN or infinite values")
    if np.ptp(position) == 0:
        raise ValueError("the position never changes: no run to take a direction from")
    _check_no_jump(position, t)
    velocity = np.concatenate([_velocity(position[s], t[s], smoothing_s) for s in _pieces(t)])
    speed = np.abs(velocity)
    threshold = (
        RELATIVE_MIN_SPEED * float(np.percentile(speed, 95)) if min_speed is None else min_speed
    )
    if not np.isfinite(threshold) or threshold < 0:
        raise ValueError(f"min_speed must be a non-negative number; got {threshold}")
    moving = speed > threshold
    if not moving.any():
        raise ValueError(
            f"the position never moves faster than {threshold:.3g} per s: no run to take a "
            "direction from"
        )
    # The index of the last moving sample at or before each sample (the first run's before it).
    last = np.maximum.accumulate(np.where(moving, np.arange(len(moving)), -1))
    last[last < 0] = np.flatnonzero(moving)[0]
    return np.where(velocity[last] > 0, INCREASING, DECREASING).astype(np.int64)


#: A step over this many times the median sampling interval is a gap between two pieces.
GAP_STEPS = 3.0


def _pieces(t: np.ndarray) -> list[slice]:
    """The contiguous runs of samples between gaps in the timestamps."""
    steps = np.diff(t)
    cuts = np.flatnonzero(steps > GAP_STEPS * np.median(steps)) + 1
    bounds = np.r_[0, cuts, len(t)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _velocity(position: np.ndarray, t: np.ndarray, smoothing_s: float) -> np.ndarray:
    """d position / dt after a Gaussian smoothing of ``smoothing_s`` (one piece, no gap)."""
    if len(position) < 2:
        return np.zeros(len(position))
    sigma = smoothing_s / float(np.median(np.diff(t))) if smoothing_s > 0 else 0.0
    smooth = gaussian_filter1d(position, sigma, mode="nearest") if sigma > 0 else position
    return np.gradient(smooth, t)


#: One step over this share of the position's range is no run: a looped track's wrap or a
#: tracking glitch (a rat at 1 m/s moves 2 % of a 1.6 m track between 30 Hz frames).
MAX_JUMP = 0.25


def _check_no_jump(position: np.ndarray, t: np.ndarray) -> None:
    """A ValueError at the first step longer than :data:`MAX_JUMP` of the range: the
    smoothing would turn it into a fast run the wrong way, held through the next pause.

    Only steps inside a piece (:func:`_pieces`) count: across a gap (samples dropped
    where the tracking was lost) the animal may have run anywhere, and no smoothing spans it.
    """
    steps = np.abs(np.diff(position))
    inside = np.ones(len(steps), dtype=bool)
    inside[[s.start - 1 for s in _pieces(t)[1:]]] = False  # the step into each later piece
    limit = MAX_JUMP * np.ptp(position)
    jumps = inside & (steps > limit)
    if jumps.any():
        i = int(np.argmax(jumps))
        raise ValueError(
            f"the position jumps by {steps[i]:.3g} ({steps[i] / np.ptp(position):.0%} of its "
            f"range) between {t[i]:.6g} and {t[i + 1]:.6g} s: a looped track's wrap or a "
            "tracking glitch; the direction needs a linear track's position (make glitches NaN)"
        )
