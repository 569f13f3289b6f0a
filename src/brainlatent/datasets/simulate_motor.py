"""Simulated chronic Utah-array recordings of monkey M1 during center-out reaching.

Stands in for DANDI 000688 (Perich, Miller et al.; the data of Jude et al. 2022,
SABLE) so that the cross-session chain runs on files with a known ground truth,
written in exactly the dandiset's layout (:mod:`brainlatent.datasets.motor_cortex`).
The point of the simulation is the problem those methods solve: one stable
latent dynamical system drives the hand in every session, while the neurons
that report it change from day to day, so a decoder fixed on day 0 degrades
with days apart and an aligned one can recover.

* Latent dynamics: per hand axis a 3-D linear system (:func:`dynamics`): a
  preparatory mode ``p``, set to ``a·d`` during the delay (``d`` the reach
  direction, ``a`` its amplitude), decays at movement onset into a damped
  rotation plane ``(r1, r2)``, and ``r2`` read out with a fixed gain is the
  velocity: a smooth bell (peak ≈ 0.21 s after onset, over by ≈ 0.6 s, ≈ 1 %
  negative lobe), 8 cm reaches peaking at 25–40 cm/s. 6-D for the two axes:
  the preparatory state and the two rotation planes jPCA finds in M1, larger
  during the movement than before it. The readout is identical in every
  session. A condition-invariant bump (the large non-directional signal of M1
  around movement onset) and two slow Ornstein-Uhlenbeck processes (activity
  unrelated to the reach) complete the 9 latent dimensions the neurons see.
* Trials: 8 targets 45° apart, 8 cm away; start → target on (0.2–0.5 s) → go
  cue (0.5–1.0 s delay) → reaction time 0.2–0.4 s → reach (duration ±15 %,
  extent ±10 %, direction ±5° s.d.) → 0.5 s hold → stop; the cursor returns to
  the centre during the 0.3–0.6 s inter-trial interval. About 90 % of trials
  are rewarded ("R"); aborts ("A": before the target, target_id NaN, or during
  the delay, no movement) and fails ("F": a wayward reach, hold broken).
* Units: Poisson spikes at ``g·softplus(c + w·z(t + lag))``, lag 50–150 ms
  (M1 leads the hand): nearly linear tuning, rectified for weakly driven
  units, with trial-averaged modulation depths of ~10–60 Hz (median ~26 Hz)
  and single-trial peaks rarely above 80 Hz, as in M1 (an exponential link
  gave hundreds of Hz for the same decodability). Mean rates log-normal around
  ``mean_rate_hz`` (1–40 Hz), spikes over the whole session. Each unit sits
  on one electrode (at most two per electrode); units die with an
  exponential lifetime (mean ``unit_lifetime_days``) and are born at the same
  rate on free electrodes, so sessions weeks apart share few units; surviving
  units' weights, offset and mean rate drift (an Ornstein-Uhlenbeck walk over
  days whose correlation after ``Δ`` days is ``exp(−tuning_drift·Δ)``). Each
  session also has a global gain (log s.d. 0.1).
* Sessions: day offsets grow quadratically up to ``span_days`` (0, 1, 5, 11,
  20, 31, 44, 60 for the defaults), so both near and far pairs exist.
* Corrective sub-movements (``corrections``, 0 by default): that fraction of reaches
  gets a second, smaller movement (1–2.5 cm sideways: 60–120° from the reach, either
  side; starting 0.15–0.35 of the reach's time scale after its onset, 0.5–0.8 times as
  long) on the same dynamics, with its own preparatory rise: an input mid-reach that the
  reach's initial state does not predict, as real reaches have (curved paths,
  corrections). Drawn from their own random stream.
* Cursor artifacts (``artifacts_per_minute``, 0 by default: how often the real
  files have them is not known here): knocks on the handle at random times, each
  an out-and-back jolt of the cursor (two half-sine velocity pulses of 60–150
  cm/s over 40–100 ms, 0.1–0.3 s apart, ≥ 1,650 cm/s² sampled at 100 Hz), drawn from their own
  random stream so that everything else is the same bytes as without them; the
  spikes do not see them. Their times are in the ground truth.

The ground truth (``ground_truth/sub-<S>_truth.npz``) holds the days, the
dynamics and readout, per unit (concatenated over sessions, ``unit_session``
says which) its persistent id, electrode, tuning ``w``, ``offset`` ``c``,
``gain`` ``g``, lag and measured mean rate, and per trial (``trial_session``)
its movement onset (NaN without a movement) and the latent on a 20 ms grid
from −0.25 to 0.5 s around it.

With the defaults, a ridge on 5 lagged 20 ms bins of per-electrode counts
(−0.25 to 0.5 s around movement onset) trained on a session's first half of
trials scores R² ≈ 0.66–0.71 on its second half; the same decoder applied
unchanged scores ≈ 0.67 one day later, ≈ 0.24 twenty days later and < 0 from a
month on.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

from brainlatent.io import atomic_path
from brainlatent.seeding import derive_seed, rng

START_DATE = date(2024, 1, 8)
#: Kinematics sampling rate (Hz) and the clock (s) on which rates are piecewise constant.
KINEMATICS_HZ = 100.0
NEURAL_DT = 0.005
N_TARGETS = 8
REACH_CM = 8.0
#: Per-axis dynamics (1/s): decay of the preparatory mode, damping and frequency of the
#: rotation plane, and the drive from the first into the second (see :func:`dynamics`).
PREP_DECAY = 10.0
DAMPING = 7.0
OMEGA = 2 * np.pi * 1.0
COUPLING = 35.0
#: Time constants (s): preparatory rise and its decay after an abort.
PREP_TAU = 0.1
ABORT_TAU = 0.15
#: Neural latent: 6 kinematic dimensions, the condition-invariant signal, two nuisances.
LATENT_NAMES = ("x_prep", "x_r1", "x_r2", "y_prep", "y_r1", "y_r2", "cis", "other1", "other2")
N_KINEMATIC = 6
NUISANCE_TAU = 1.0
#: Movement window after onset (in units of the movement's time scale) and the truth grid.
MOVEMENT_WINDOW = 2.5
TRUTH_BIN_S = 0.02
TRUTH_WINDOW_S = (-0.25, 0.5)
MAX_RATE_HZ = 200.0
#: Population mean and s.d. of a unit's offset inside the softplus (mostly linear tuning).
OFFSET_MEAN = 1.0
OFFSET_SD = 0.5
#: Probabilities of trial results.
RESULT_P = {"R": 0.9, "A": 0.07, "F": 0.03}
RESULT_CODES = ("R", "A", "F")
TRUTH_UNIT_KEYS = (
    "unit_session",
    "unit_id",
    "unit_electrode",
    "tuning",
    "offset",
    "gain",
    "mean_rate",
    "lag",
)
TRUTH_TRIAL_KEYS = ("trial_session", "movement_onset", "trial_latent")
TRUTH_ARTIFACT_KEYS = ("artifact_session", "artifact_time")
#: Corrective sub-movements (``corrections``): displacement (cm), start after the reach's
#: onset and duration (both in units of the reach's time scale).
CORRECTION_CM = (1.0, 2.5)
CORRECTION_DELAY = (0.15, 0.35)
CORRECTION_SCALE = (0.5, 0.8)
#: Knocks on the handle (``artifacts_per_minute``): velocity pulse peak (cm/s), duration
#: and the gap before the return pulse (s).
KNOCK_PEAK = (60.0, 150.0)
KNOCK_DURATION = (0.04, 0.1)
KNOCK_GAP = (0.1, 0.3)


def dynamics() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A, x0, readout) of the hand's latent dynamical system.

    ``dz/dt = A z`` over the 6 kinematic dimensions (per axis: preparatory mode
    ``p``, rotation plane ``r1, r2``); a movement starts from ``a·d ⊗ x0`` with
    ``x0 = (1, 0, 0)``: ``p`` decays into ``r1``, the plane rotates and ``r2`` is
    the velocity, a bell-shaped bump (peak ≈ 0.21 s, ends ≈ 0.6 s, ≈ 1 % negative
    lobe) during which the latent is larger than in preparation, as in M1.
    ``readout`` (2 × 9) maps the latent to velocity in cm/s (zero on the
    condition-invariant and nuisance dimensions).
    """
    block = np.array(
        [[-PREP_DECAY, 0.0, 0.0], [COUPLING, -DAMPING, -OMEGA], [0.0, OMEGA, -DAMPING]]
    )
    readout = np.zeros((2, len(LATENT_NAMES)))
    readout[0, 2] = readout[1, 5] = _response()[3]
    return np.kron(np.eye(2), block), np.array([1.0, 0.0, 0.0]), readout


@functools.cache
def _response(du: float = 0.001) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(u, state, distance, gain): the unit response on a fine grid, its integrated
    velocity component, and the cm/s per latent unit that makes it a REACH_CM reach."""
    from scipy.linalg import expm

    u = np.arange(0.0, MOVEMENT_WINDOW + du, du)
    block = np.array(
        [[-PREP_DECAY, 0.0, 0.0], [COUPLING, -DAMPING, -OMEGA], [0.0, OMEGA, -DAMPING]]
    )
    step = expm(block * du)
    state = np.empty((len(u), 3))
    state[0] = [1.0, 0.0, 0.0]
    for k in range(1, len(u)):
        state[k] = step @ state[k - 1]
    speed = state[:, 2]
    distance = np.concatenate([[0.0], np.cumsum((speed[1:] + speed[:-1]) / 2) * du])
    return u, state, distance / distance[-1], REACH_CM / distance[-1]


def _state(u: np.ndarray) -> np.ndarray:
    grid, state, _, _ = _response()
    return np.stack([np.interp(u, grid, state[:, k]) for k in range(3)], 1)


def session_days(n_sessions: int, span_days: int) -> np.ndarray:
    """Day offsets from 0 to ``span_days``, growing quadratically, strictly increasing."""
    if n_sessions < 1 or span_days < n_sessions - 1:
        raise ValueError(
            f"need n_sessions >= 1 and span_days >= n_sessions - 1; got {n_sessions}, {span_days}"
        )
    if n_sessions == 1:
        return np.zeros(1, dtype=np.int64)
    days = np.round(span_days * (np.arange(n_sessions) / (n_sessions - 1)) ** 2).astype(np.int64)
    for k in range(1, n_sessions):
        days[k] = max(days[k], days[k - 1] + 1)
    return np.minimum(days, span_days - (n_sessions - 1 - np.arange(n_sessions)))


# --------------------------------------------------------------------------- units


def _unit_pool(gen, days, n_electrodes, units_per_session, lifetime):
    """Birth and death days and electrodes of every unit alive during the span."""
    n0 = units_per_session
    births = [0.0] * n0
    deaths = list(gen.exponential(lifetime, n0))
    electrodes = list(_place(gen, np.zeros(n_electrodes, int), n0))
    span = float(days[-1])
    n_new = gen.poisson(units_per_session * span / lifetime)
    for birth in np.sort(gen.uniform(0, span, n_new)):
        alive = [e for e, d in zip(electrodes, deaths, strict=True) if d > birth]
        load = np.bincount(np.asarray(alive, int), minlength=n_electrodes)
        if (load >= 2).all():
            continue
        births.append(float(birth))
        deaths.append(float(birth + gen.exponential(lifetime)))
        electrodes.append(int(_place(gen, load, 1)[0]))
    return np.array(births), np.array(deaths), np.array(electrodes, dtype=np.int64)


def _place(gen, load, n):
    """Electrodes for ``n`` new units, never more than two per electrode."""
    load = load.copy()
    out = []
    for _ in range(n):
        free = np.flatnonzero(load < 2)
        e = int(gen.choice(free))
        load[e] += 1
        out.append(e)
    return np.array(out, dtype=np.int64)


class _Tuning:
    """Per-unit tuning drifting over days: an Ornstein-Uhlenbeck walk of every parameter
    (latent weights, offset, log mean rate) around its population mean."""

    def __init__(self, gen, n_units, scales, mean_rate_hz, rate_log_sd, drift):
        self.gen, self.drift = gen, drift
        log_mu = np.log(mean_rate_hz) - rate_log_sd**2 / 2
        self.mean = np.array([0.0] * len(scales) + [OFFSET_MEAN, log_mu])
        self.sd = np.array([*scales, OFFSET_SD, rate_log_sd])
        self.state = np.zeros((n_units, len(self.mean)))
        self.lag = gen.uniform(0.05, 0.15, n_units)
        self.day = np.full(n_units, np.nan)

    def at(self, units, day):
        """(w, offset, log mean rate, lag) of ``units`` on ``day``, updating their state."""
        fresh = self.gen.normal(0, 1, (len(units), len(self.mean))) * self.sd
        new = np.isnan(self.day[units])
        rho = np.exp(-self.drift * np.where(new, np.inf, day - self.day[units]))[:, None]
        state = self.mean + rho * (self.state[units] - self.mean) + np.sqrt(1 - rho**2) * fresh
        self.state[units], self.day[units] = state, day
        log_rate = np.clip(state[:, -1], np.log(1.0), np.log(40.0))
        return state[:, :-2], state[:, -2], log_rate, self.lag[units]


# --------------------------------------------------------------------------- trials


def _trials(gen, n_trials, start_s=1.0, corrections=0.0, cgen=None):
    """Trial table, movements and aborts of one session (times in s).

    With ``corrections`` > 0, that fraction of reaches gets a corrective sub-movement
    (:data:`CORRECTION_CM`, sideways, starting :data:`CORRECTION_DELAY` of the reach's
    time scale after its onset, on the same dynamics at :data:`CORRECTION_SCALE` of its
    duration), drawn from ``cgen`` so that every other draw is the same as without them.
    """
    trials, moves, aborts = [], [], []
    t, position = start_s, np.zeros(2)
    results = gen.choice(RESULT_CODES, n_trials, p=[RESULT_P[c] for c in RESULT_CODES])
    for result in results:
        start = t
        target = int(gen.integers(N_TARGETS))
        target_on = start + gen.uniform(0.2, 0.5)
        go = target_on + gen.uniform(0.5, 1.0)
        row = dict(start_time=start, target_on_time=target_on, go_cue_time=go, result=str(result))
        row["target_id"] = float(target)
        row["onset"] = np.nan
        if result == "A":
            if gen.uniform() < 0.5:  # before the target appeared
                stop = start + gen.uniform(0.05, target_on - start)
                row.update(target_on_time=np.nan, target_id=np.nan)
            else:  # during the delay: preparatory activity, no movement
                stop = target_on + gen.uniform(0.05, go - target_on)
                angle = 2 * np.pi * target / N_TARGETS
                aborts.append((target_on, stop, np.cos(angle), np.sin(angle)))
            row["go_cue_time"] = np.nan
        else:
            error = np.deg2rad(5.0 if result == "R" else 30.0)
            angle = 2 * np.pi * target / N_TARGETS + gen.normal(0, error)
            onset = go + gen.uniform(0.2, 0.4)
            scale = float(np.clip(np.exp(gen.normal(0, 0.15)), 0.7, 1.4))
            extent = REACH_CM * float(np.clip(1 + gen.normal(0, 0.05), 0.8, 1.2))
            step = extent * np.array([np.cos(angle), np.sin(angle)])
            moves.append((target_on, onset, scale, *step))
            position = position + step
            if corrections > 0 and cgen.uniform() < corrections:
                c_onset = onset + cgen.uniform(*CORRECTION_DELAY) * scale
                c_angle = angle + cgen.choice([-1, 1]) * np.deg2rad(90 + cgen.uniform(-30, 30))
                c_step = cgen.uniform(*CORRECTION_CM) * np.array([np.cos(c_angle), np.sin(c_angle)])
                c_scale = scale * cgen.uniform(*CORRECTION_SCALE)
                moves.append((c_onset - PREP_TAU, c_onset, c_scale, *c_step))
                position = position + c_step
            end = onset + 0.5 * scale
            stop = end + (0.5 if result == "R" else gen.uniform(0.05, 0.3))
            row["onset"] = onset
            back = stop + gen.uniform(0.05, 0.15)
            moves.append((stop, back, 0.9 * np.exp(gen.normal(0, 0.1)), *(-position)))
            position = np.zeros(2)
        row["stop_time"] = stop
        trials.append(row)
        t = stop + gen.uniform(0.3, 0.6)
    end = t + 1.5
    return trials, np.array(moves).reshape(-1, 5), np.array(aborts).reshape(-1, 4), end


def _movement_terms(moves, t):
    """Per movement: its times, displacement, latent amplitude and the window of ``t``."""
    for t_prep, onset, scale, dx, dy in moves:
        step = np.array([dx, dy])
        amplitude = step / (REACH_CM * scale)
        lo, mid, hi = np.searchsorted(t, [t_prep, onset, onset + MOVEMENT_WINDOW * scale])
        yield t_prep, onset, scale, step, amplitude, lo, mid, hi


def _latent(moves, aborts, t):
    """(len(t), 7): the 6 kinematic dimensions and the condition-invariant signal."""
    z = np.zeros((len(t), 7))
    for t_prep, onset, scale, _, amplitude, lo, mid, hi in _movement_terms(moves, t):
        # Preparatory rise towards a·d on the p modes, normalised to reach it at onset.
        level = 1 - np.exp(-(onset - t_prep) / PREP_TAU)
        rise = (1 - np.exp(-(t[lo:mid] - t_prep) / PREP_TAU)) / level
        state = _state((t[mid:hi] - onset) / scale)
        for axis in range(2):
            z[lo:mid, 3 * axis] += amplitude[axis] * rise
            z[mid:hi, 3 * axis : 3 * axis + 3] += amplitude[axis] * state
        # Condition-invariant bump, rising ~100 ms before onset.
        cis = slice(np.searchsorted(t, onset - 0.6 * scale), hi)
        z[cis, 6] += np.exp(-0.5 * ((t[cis] - onset - 0.1 * scale) / (0.15 * scale)) ** 2)
    for target_on, stop, dx, dy in aborts:
        lo, mid, hi = np.searchsorted(t, [target_on, stop, stop + 5 * ABORT_TAU])
        rise = 1 - np.exp(-(t[lo:mid] - target_on) / PREP_TAU)
        level = 1 - np.exp(-(stop - target_on) / PREP_TAU)
        fall = level * np.exp(-(t[mid:hi] - stop) / ABORT_TAU)
        for axis, d in enumerate((dx, dy)):
            z[lo:mid, 3 * axis] += d * rise
            z[mid:hi, 3 * axis] += d * fall
    return z


def _knocks(gen, t, rate_per_minute):
    """Knock times and the (position, velocity) they add at ``t`` (see the module docstring)."""
    n = gen.poisson(rate_per_minute * (t[-1] - t[0]) / 60.0)
    times = np.sort(gen.uniform(t[0], t[-1], n))
    pos, vel = np.zeros((len(t), 2)), np.zeros((len(t), 2))
    for start in times:
        peak = gen.uniform(*KNOCK_PEAK)
        duration = gen.uniform(*KNOCK_DURATION)
        back = start + duration + gen.uniform(*KNOCK_GAP)
        angle = gen.uniform(0, 2 * np.pi)
        direction = np.array([np.cos(angle), np.sin(angle)])
        for onset, sign in ((start, 1.0), (back, -1.0)):
            phase = np.clip((t - onset) / duration, 0.0, 1.0)  # 0 before, 1 after the pulse
            inside = (phase > 0) & (phase < 1)
            vel[inside] += sign * peak * np.sin(np.pi * phase[inside])[:, None] * direction
            pos += sign * peak * duration / np.pi * (1 - np.cos(np.pi * phase))[:, None] * direction
    return times, pos, vel


def _kinematics(moves, t):
    """Position (cm) and velocity (cm/s) at ``t`` from the movements, exactly integrated."""
    grid, state, distance, gain = _response()
    pos, vel = np.zeros((len(t), 2)), np.zeros((len(t), 2))
    steps = np.zeros((len(t) + 1, 2))
    for _, onset, scale, step, amplitude, _, mid, hi in _movement_terms(moves, t):
        u = (t[mid:hi] - onset) / scale
        pos[mid:hi] += step * np.interp(u, grid, distance)[:, None]
        vel[mid:hi] += gain * amplitude * np.interp(u, grid, state[:, 2])[:, None]
        steps[hi] += step
    return pos + np.cumsum(steps, 0)[:-1], vel


# --------------------------------------------------------------------------- spikes


def _spikes(gen, rate, dt):
    """Poisson spike times per unit from rates (units × bins, Hz) constant over ``dt`` bins.

    Time rescaling: a unit's spike count is Poisson with mean Λ (its integrated
    rate) and its spikes are uniform in Λ, mapped back to time through the
    piecewise-linear Λ(t); all units at once on one concatenated axis.
    """
    n_units, n_bins = rate.shape
    cum = np.cumsum(rate, axis=1) * dt
    total = cum[:, -1]
    offset = np.concatenate([[0.0], np.cumsum(total)[:-1]])
    n = gen.poisson(total)
    unit_of = np.repeat(np.arange(n_units), n)
    mass = np.sort(gen.uniform(0, 1, n.sum()) * total[unit_of] + offset[unit_of])
    grid = np.concatenate([[0.0], (cum + offset[:, None]).ravel()])
    times = np.interp(mass, grid, np.arange(n_units * n_bins + 1) * dt) - unit_of * n_bins * dt
    return tuple(np.split(times, np.cumsum(n)[:-1]))


# --------------------------------------------------------------------------- sessions


def session_relpath(subject: str, day: date, task: str = "CO") -> str:
    """``sub-S/sub-S_ses-CO-YYYYMMDD_behavior+ecephys.nwb``, the dandiset's file name."""
    return f"sub-{subject}/sub-{subject}_ses-{task}-{day:%Y%m%d}_behavior+ecephys.nwb"


def simulate_motor_sessions(
    out_dir: str | Path,
    *,
    subject: str = "S",
    n_sessions: int = 8,
    span_days: int = 60,
    days: Sequence[int] | None = None,
    n_electrodes: int = 96,
    arrays: tuple[str, ...] = ("M1",),
    units_per_session: int = 70,
    trials_per_session: int = 160,
    unit_lifetime_days: float = 40.0,
    tuning_drift: float = 0.01,
    mean_rate_hz: float = 10.0,
    rate_log_sd: float = 0.7,
    tuning_scale: float = 2.5,
    cis_scale: float = 0.5,
    other_scale: float = 0.4,
    artifacts_per_minute: float = 0.0,
    corrections: float = 0.0,
    start_date: date = START_DATE,
    seed: int = 0,
) -> list[Path]:
    """Simulate sessions of one monkey into ``out_dir``; return the NWB paths.

    ``days``: the sessions' day offsets from ``start_date`` (increasing); None
    spreads ``n_sessions`` over ``span_days`` (:func:`session_days`).

    ``n_electrodes`` electrodes per array in ``arrays`` (electrode groups);
    ``tuning_scale``, ``cis_scale`` and ``other_scale`` are the s.d. of a
    unit's log-rate weights on the kinematic, condition-invariant and nuisance
    latents; ``artifacts_per_minute`` the rate of knocks on the handle; ``corrections``
    the fraction of reaches with a corrective sub-movement. See the module docstring for
    the model. Same arguments, same bytes.
    """
    if not artifacts_per_minute >= 0:
        raise ValueError(f"artifacts_per_minute must be >= 0; got {artifacts_per_minute}")
    if not 0 <= corrections <= 1:
        raise ValueError(f"corrections is a fraction of reaches in [0, 1]; got {corrections}")
    if units_per_session < 1 or trials_per_session < 1 or n_electrodes < 1 or not arrays:
        raise ValueError(
            "units_per_session, trials_per_session, n_electrodes and arrays must be > 0"
        )
    if units_per_session > 2 * n_electrodes * len(arrays):
        raise ValueError(
            f"units_per_session={units_per_session} exceeds two units per electrode "
            f"({len(arrays)} × {n_electrodes} electrodes)"
        )
    out_dir = Path(out_dir)
    if days is None:
        days = session_days(n_sessions, span_days)
    days = np.asarray(days, dtype=np.int64)
    if days.ndim != 1 or not len(days) or days[0] < 0 or np.any(np.diff(days) <= 0):
        raise ValueError(f"days must be non-negative and strictly increasing; got {days.tolist()}")
    gen = rng(seed, "motor", subject, "units")
    total_electrodes = n_electrodes * len(arrays)
    births, deaths, electrode = _unit_pool(
        gen, days, total_electrodes, units_per_session, unit_lifetime_days
    )
    scales = np.array([tuning_scale] * N_KINEMATIC + [cis_scale] + [other_scale] * 2)
    tuning = _Tuning(gen, len(births), scales, mean_rate_hz, rate_log_sd, tuning_drift)
    _, _, readout = dynamics()
    truth: dict[str, list] = {
        k: [] for k in TRUTH_UNIT_KEYS + TRUTH_TRIAL_KEYS + TRUTH_ARTIFACT_KEYS
    }
    paths = []
    for k, day in enumerate(days):
        units = np.flatnonzero((births <= day) & (deaths > day))
        w, offset, log_rate, lag = tuning.at(units, float(day))
        sgen = rng(seed, "motor", subject, "session", int(day))
        cgen = rng(seed, "motor", subject, "corrections", int(day))  # their own stream
        rows, moves, aborts, end = _trials(
            sgen, trials_per_session, corrections=corrections, cgen=cgen
        )
        t = np.arange(0, end + 0.2, NEURAL_DT)
        z = np.concatenate([_latent(moves, aborts, t), _nuisance(sgen, len(t))], 1)
        shape = _modulation(z, w, offset, lag, int(np.ceil(end / NEURAL_DT)))
        gain = np.exp(log_rate + sgen.normal(0, 0.1)) / shape.mean(1)
        spikes = _spikes(sgen, np.minimum(shape * gain[:, None], MAX_RATE_HZ), NEURAL_DT)
        t_kin = np.arange(0, end, 1 / KINEMATICS_HZ)
        pos, vel = _kinematics(moves, t_kin)
        pos = pos + sgen.normal(0, 0.01, pos.shape)
        vel = vel + lfilter([0.5], [1, -0.5], sgen.normal(0, 0.4, vel.shape), axis=0)
        knocks = np.zeros(0)
        if artifacts_per_minute > 0:  # their own stream: the rest stays as without them
            agen = rng(seed, "motor", subject, "artifacts", int(day))
            knocks, knock_pos, knock_vel = _knocks(agen, t_kin, artifacts_per_minute)
            pos, vel = pos + knock_pos, vel + knock_vel
        day_date = start_date + timedelta(days=int(day))
        path = out_dir / session_relpath(subject, day_date)
        _write_nwb(
            path,
            subject=subject,
            day=day_date,
            identifier=str(uuid.UUID(int=derive_seed(seed, "motor", subject, int(day)) << 64)),
            trials=rows,
            spikes=spikes,
            unit_electrode=electrode[units],
            arrays=arrays,
            n_electrodes=n_electrodes,
            t_kin=t_kin,
            pos=pos,
            vel=vel,
        )
        paths.append(path)
        onset = np.array([r["onset"] for r in rows])
        truth["unit_session"].append(np.full(len(units), k))
        truth["unit_id"].append(units)
        truth["unit_electrode"].append(electrode[units])
        truth["tuning"].append(w)
        truth["offset"].append(offset)
        truth["gain"].append(gain)
        truth["mean_rate"].append(np.array([len(s) for s in spikes]) / end)
        truth["lag"].append(lag)
        truth["trial_session"].append(np.full(len(rows), k))
        truth["movement_onset"].append(onset)
        truth["trial_latent"].append(_trial_latent(z, t, onset))
        truth["artifact_session"].append(np.full(len(knocks), k))
        truth["artifact_time"].append(knocks)
    a, x0, readout = dynamics()
    with atomic_path(out_dir / "ground_truth" / f"sub-{subject}_truth.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(
                f,
                days=days,
                dates=np.array([str(start_date + timedelta(days=int(d))) for d in days]),
                latent_names=np.array(LATENT_NAMES),
                dynamics=a,
                initial_state=x0,
                readout=readout,
                truth_bin_s=TRUTH_BIN_S,
                truth_window_s=np.array(TRUTH_WINDOW_S),
                unit_birth_day=births,
                unit_death_day=deaths,
                **{key: np.concatenate(value) for key, value in truth.items()},
            )
    return paths


def _modulation(z, w, offset, lag, n_bins):
    """(units, n_bins) ``softplus(offset + w·z(t + lag))`` on the neural clock."""
    shift = np.round(lag / NEURAL_DT).astype(int)
    drive = np.empty((len(w), n_bins))
    for s in np.unique(shift):
        rows = shift == s
        drive[rows] = w[rows] @ z[s : s + n_bins].T
    return np.logaddexp(0.0, drive + offset[:, None])


def _nuisance(gen, n):
    """(n, 2) unit-variance Ornstein-Uhlenbeck processes on the neural clock."""
    a = np.exp(-NEURAL_DT / NUISANCE_TAU)
    noise = gen.normal(0, np.sqrt(1 - a**2), (n, 2))
    noise[0] = gen.normal(0, 1, 2)
    return lfilter([1.0], [1.0, -a], noise, axis=0)


def _trial_latent(z, t, onset):
    """(trials, bins, 9) latent at TRUTH_BIN_S around each movement onset (NaN: no movement)."""
    offsets = np.arange(*np.round(np.array(TRUTH_WINDOW_S) / TRUTH_BIN_S).astype(int)) * TRUTH_BIN_S
    out = np.full((len(onset), len(offsets), z.shape[1]), np.nan, dtype=np.float32)
    ok = np.isfinite(onset)
    idx = np.clip(np.searchsorted(t, onset[ok, None] + offsets[None, :]), 0, len(t) - 1)
    out[ok] = z[idx]
    return out


def _write_nwb(
    path,
    *,
    subject,
    day,
    identifier,
    trials,
    spikes,
    unit_electrode,
    arrays,
    n_electrodes,
    t_kin,
    pos,
    vel,
):
    """One session in the DANDI 000688 layout, atomically."""
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.behavior import BehavioralTimeSeries, Position, SpatialSeries
    from pynwb.file import Subject

    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    nwbfile = NWBFile(
        session_description=(
            "Simulated center-out reaching (8 targets, 8 cm) with a chronic Utah array in M1 "
            "(brainlatent; stands in for DANDI 000688)."
        ),
        identifier=identifier,
        session_start_time=start,
        file_create_date=start,
        institution="brainlatent (simulated)",
        subject=Subject(subject_id=subject, species="Macaca mulatta"),
    )
    device = nwbfile.create_device("Utah array", description="96-channel Utah array (simulated)")
    for g, name in enumerate(arrays):
        group = nwbfile.create_electrode_group(  # named as in the real files
            f"electrode_group_{name}",
            description=f"Utah array in {name}",
            location=name,
            device=device,
        )
        for e in range(n_electrodes):
            nwbfile.add_electrode(group=group, location=name, id=g * n_electrodes + e)
    nwbfile.units = _units(nwbfile.electrodes, spikes, unit_electrode)
    for name, description in (
        ("target_on_time", "Time the outer target appeared (s)."),
        ("go_cue_time", "Time of the go cue (s)."),
        ("result", "R reward, A abort, F fail, I incomplete."),
        ("target_id", "Target index 0-7 (angle 45°·k); NaN when none."),
    ):
        nwbfile.add_trial_column(name=name, description=description)
    for row in trials:
        nwbfile.add_trial(
            start_time=row["start_time"],
            stop_time=row["stop_time"],
            target_on_time=row["target_on_time"],
            go_cue_time=row["go_cue_time"],
            result=row["result"],
            target_id=row["target_id"],
        )
    behavior = nwbfile.create_processing_module("behavior", "Cursor kinematics.")
    pos_series = SpatialSeries(
        name="cursor_pos",
        description="Cursor position.",
        data=pos,
        timestamps=t_kin,
        reference_frame="centre target at (0, 0)",
        unit="cm",
    )
    behavior.add(Position(spatial_series=pos_series))
    acc = np.gradient(vel, t_kin, axis=0)
    for container, name, data, unit in (
        ("Velocity", "cursor_vel", vel, "cm/s"),
        ("Acceleration", "cursor_acc", acc, "cm/s^2"),
    ):
        series = TimeSeries(
            name=name,
            description=f"Cursor {container.lower()}.",
            data=data,
            timestamps=pos_series,
            unit=unit,
        )
        behavior.add(BehavioralTimeSeries(name=container, time_series=series))
    # Every container gets a random uuid4 object_id; derive them from the identifier instead
    # so that the same seed writes the same bytes.
    for k, child in enumerate(nwbfile.all_children()):
        child._AbstractContainer__object_id = str(uuid.uuid5(uuid.UUID(identifier), str(k)))
    with atomic_path(path) as tmp, NWBHDF5IO(str(tmp), mode="w") as io:
        io.write(nwbfile)


def _units(electrodes, spikes, unit_electrode):
    """The units table built from whole arrays (``add_unit`` converts every spike alone)."""
    from pynwb.core import DynamicTableRegion, VectorData, VectorIndex
    from pynwb.misc import Units

    n = len(spikes)
    times = VectorData(
        name="spike_times",
        description="Spike times (s) of each unit.",
        data=np.concatenate(spikes) if n else np.zeros(0),
    )
    region = DynamicTableRegion(
        name="electrodes",
        description="The electrode each unit was recorded on.",
        data=np.asarray(unit_electrode, dtype=np.int64),
        table=electrodes,
    )
    return Units(
        name="units",
        description="Sorted units (simulated).",
        id=np.arange(n),
        columns=[
            times,
            VectorIndex(
                name="spike_times_index", data=np.cumsum([len(s) for s in spikes]), target=times
            ),
            region,
            VectorIndex(name="electrodes_index", data=np.arange(1, n + 1), target=region),
        ],
        electrode_table=electrodes,
    )
