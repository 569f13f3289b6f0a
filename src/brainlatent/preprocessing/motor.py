"""Reaching trials of a motor-cortex session, binned and aligned on movement onset.

Cross-session decoding (:mod:`brainlatent.decoding.cross_session`) compares
sessions recorded weeks apart on the same chronic Utah array. Sorted units do not
persist across such sessions, but electrodes do, so spikes are summed per
electrode (multi-unit activity), as in Gallego et al. 2020 (Nat Neurosci,
"Long-term stability of cortical population dynamics"); channels without a unit
are zeros, so every session of a file layout has the same columns.

A valid centre-out trial was rewarded (``result == "R"``), has a target and a
go cue, and lasts 0.5–6 s. Each is cut to a fixed window around **movement
onset**, found from the cursor speed after the go cue: the speed peak between go
cue and trial end, the first sample after the go cue above ``peak_fraction`` (0.5)
of that peak, then walked back to the last sample below ``onset_fraction`` (0.15)
of it. This is this project's own threshold-then-walk-back rule on the speed. The
Miller-lab TrialData pipeline (``getMoveOnsetAndPeak``, Perich, Gallego) differs: it
takes the first peak of the speed's derivative after the go cue above a minimum, the
onset where the derivative falls below half of it, with a speed threshold as fallback,
and drops no trial; brainsets computes no onset. A trial has
no clean onset, and is dropped, when its peak speed is below ``min_peak_speed``
(no reach) or the walk back reaches the go cue (the hand was already moving at
the cue); trials whose window leaves the kinematics are dropped too, and so are trials
whose cursor is implausible anywhere from the go cue to the end of the trial or
of its window (:func:`cursor_artifacts`: acceleration above 1,500 cm/s², or more
than 10 cm from the centre hold, what a monkey knocking the handle or letting go of
it leaves; the bounds the open ``brainsets`` pipeline of DANDI 000688 also uses),
since one such sample sets the speed peak the onset is found from and dominates
the R² of every method.

Movement onset is read from the cursor, so placing windows on it uses each session's
behaviour, an unseen test session's included. ``align="go_cue"`` places them on the
task's go cue instead (no onset is searched and none is required): then no behaviour
decides where a window sits, and the cursor is read only by the artifact check. The counts
are in :attr:`TrialSet.dropped`; a session left with fewer than ``min_trials``
trials is a :class:`~brainlatent.errors.DataError` naming its file.

Velocity per bin is the exact mean, over the bin, of the linearly interpolated
cursor velocity (the integral of the interpolant at the bin edges), so bins
shorter or longer than the 10 ms kinematic sampling are both well defined.
"""

from __future__ import annotations

import datetime
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from brainlatent.datasets.motor_cortex import session_name
from brainlatent.decoding.motor_settings import n_window_bins
from brainlatent.errors import DataError
from brainlatent.io import atomic_path

#: Duration bounds (s) of a valid centre-out trial.
TRIAL_DURATION = (0.5, 6.0)
#: Fewest valid trials a session may keep.
MIN_TRIALS = 20
#: Events a trial's window can be placed on (:func:`bin_trials`).
ALIGN_EVENTS = ("movement_onset", "go_cue")
#: How movement onset is found: this project's speed rule (:func:`onset_from_speed`) or
#: the Miller lab's TrialData rule (:func:`onset_trialdata`).
ONSET_METHODS = ("speed", "trialdata")
#: Why trials are dropped, the keys of :attr:`TrialSet.dropped`.
DROP_REASONS = ("invalid", "artifact", "no_onset", "outside_kinematics")
#: An excursion's mask is dilated over the first, then eroded over the second (s):
#: brainsets' 400 and 100 samples at 100 Hz (:func:`cursor_artifacts`).
EXCURSION_PADDING_S = (4.0, 1.0)
#: Cursor samples beyond these are artifacts (:func:`cursor_artifacts`).
MAX_ACCELERATION = 1500.0  # cm/s²; a reach peaks near 300
MAX_EXCURSION = 10.0  # cm from the centre hold; targets are 8 cm away


@dataclass(frozen=True)
class TrialSet:
    """One session's valid trials, binned in a window around one event of each trial.

    ``counts`` (trials, bins, channels) float32 spike counts summed per channel;
    ``velocity`` (trials, bins, 2) float32 mean cursor velocity per bin (cm/s);
    ``target`` and ``trial_id`` (row of the session's trials table, which the reader
    puts in time order) int64;
    ``window_s`` relative to the event ``align`` names (:data:`ALIGN_EVENTS`).
    ``dropped`` counts trials left out,
    by reason (:data:`DROP_REASONS`: not a valid rewarded trial, a cursor artifact,
    no clean onset, window outside the kinematics).
    """

    session: str
    subject: str
    date: datetime.date
    counts: np.ndarray
    velocity: np.ndarray
    target: np.ndarray
    trial_id: np.ndarray
    channels: tuple[str, ...]
    bin_s: float
    window_s: tuple[float, float]
    dropped: Mapping[str, int] = field(default_factory=dict)
    align: str = "movement_onset"
    start: datetime.datetime | None = None  # the recording's start: orders sessions of one day

    @property
    def n_trials(self) -> int:
        return int(self.counts.shape[0])

    @property
    def bin_times(self) -> np.ndarray:
        """Centre of each bin (s from the event the window is placed on)."""
        n_bins = self.counts.shape[1]
        return self.window_s[0] + self.bin_s * (np.arange(n_bins) + 0.5)

    def subset(self, index) -> TrialSet:
        """The same session restricted to trials ``index`` (a slice, mask or indices)."""
        return TrialSet(
            session=self.session,
            subject=self.subject,
            date=self.date,
            counts=self.counts[index],
            velocity=self.velocity[index],
            target=self.target[index],
            trial_id=self.trial_id[index],
            channels=self.channels,
            bin_s=self.bin_s,
            window_s=self.window_s,
            dropped=dict(self.dropped),
            align=self.align,
            start=self.start,
        )


def onset_from_speed(
    time: np.ndarray,
    speed: np.ndarray,
    go_cue: float,
    stop: float,
    *,
    peak_fraction: float = 0.5,
    onset_fraction: float = 0.15,
    min_peak_speed: float = 5.0,
) -> float:
    """Movement onset (s) between ``go_cue`` and ``stop``, or NaN when there is no clean one."""
    inside = np.flatnonzero((time >= go_cue) & (time <= stop))
    if len(inside) < 3:
        return np.nan
    s = speed[inside]
    peak = s.max()
    if not np.isfinite(peak) or peak < min_peak_speed:
        return np.nan
    first = int(np.argmax(s >= peak_fraction * peak))
    below = np.flatnonzero(s[:first] < onset_fraction * peak)
    if len(below) == 0:  # moving since the go cue: no clean onset
        return np.nan
    return float(time[inside[below[-1]]])


def onset_trialdata(
    time: np.ndarray,
    speed: np.ndarray,
    go_cue: float,
    stop: float,
    *,
    min_acceleration: float = 190.0,
    speed_threshold: float = 10.0,
) -> float:
    """Movement onset (s) by TrialData's ``getMoveOnsetAndPeak`` ('peak' method), or NaN.

    After the go cue, the first local maximum of the speed's sample-to-sample change
    above ``min_acceleration`` (cm/s²; TrialData's ``min_ds`` 1.9 cm/s per 10 ms bin);
    onset is the last sample before it whose change is under half that maximum. Where
    no such peak or sample exists, the first sample faster than ``speed_threshold``
    (cm/s, its ``s_thresh``); NaN only when the speed never passes it.
    """
    inside = np.flatnonzero((time >= go_cue) & (time <= stop))
    if len(inside) < 3:
        return np.nan
    # TrialData's ds (per sample) and its change, over the trial and the 2 samples before
    lo = max(int(inside[0]) - 2, 0)
    window = speed[lo : inside[-1] + 1]
    change = np.diff(window, prepend=window[0])
    curvature = np.diff(change, prepend=change[0])
    step = float(np.median(np.diff(time[lo : inside[-1] + 1])))
    ds = change[inside - lo]
    rising = curvature[inside - lo]
    after = np.append(rising[1:], 0.0)
    peaks = np.flatnonzero((rising > 0) & (after < 0) & (ds > min_acceleration * step))
    peaks = peaks[peaks > 0]  # strictly after the go cue's sample
    if len(peaks):
        first = peaks[0]
        below = np.flatnonzero(ds[:first] < ds[first] / 2)
        if len(below):
            return float(time[inside[below[-1]]])
    fast = np.flatnonzero(speed[inside] > speed_threshold)
    return float(time[inside[fast[0]]]) if len(fast) else np.nan


def movement_onset(session, trial_row, **thresholds) -> float:
    """Movement onset (s) of one trial (a row of ``session.trials``); NaN when unclear.

    ``thresholds`` go to :func:`onset_from_speed`.
    """
    speed = np.hypot(session.velocity[:, 0], session.velocity[:, 1])
    return onset_from_speed(
        np.asarray(session.kinematics_time),
        speed,
        float(trial_row["go_cue_time"]),
        float(trial_row["stop_time"]),
        **thresholds,
    )


def cursor_artifacts(
    time: np.ndarray,
    position: np.ndarray,
    velocity: np.ndarray,
    acceleration: np.ndarray | None = None,
    *,
    max_acceleration: float | None = MAX_ACCELERATION,
    max_excursion: float | None = MAX_EXCURSION,
) -> np.ndarray:
    """Boolean mask of implausible cursor samples (None turns a bound off).

    ``acceleration`` is the file's ``cursor_acc`` (what the bound was set on); without
    it, the gradient of the velocity over the timestamps. The excursion is measured per
    axis from the session's median position, the centre hold where the cursor spends
    most of a centre-out session, so a workspace not centred on the origin works too.
    As brainsets pads them (at the files' 100 Hz: 2 samples; 400 then 100), a fast
    sample also flags the one before it, and an excursion flags the 1.5 s around it and
    the gaps of under 3 s between two (a handle let go of and taken back).
    """
    from scipy.ndimage import binary_dilation, binary_erosion

    time = np.asarray(time, dtype=np.float64)
    bad = np.zeros(len(time), dtype=bool)
    dt = float(np.median(np.diff(time))) if len(time) > 1 else 0.0
    if max_acceleration is not None and len(time) > 1:
        if acceleration is None:
            acceleration = np.gradient(np.asarray(velocity, dtype=np.float64), time, axis=0)
        acceleration = np.asarray(acceleration, dtype=np.float64)
        fast = np.hypot(acceleration[:, 0], acceleration[:, 1]) > max_acceleration
        bad |= binary_dilation(fast, structure=np.ones(2, dtype=bool))
    if max_excursion is not None and len(time):
        position = np.asarray(position, dtype=np.float64)
        out = (np.abs(position - np.median(position, axis=0)) > max_excursion).any(axis=1)
        if out.any() and dt > 0:
            grow, shrink = (max(1, round(s / dt)) for s in EXCURSION_PADDING_S)
            out = binary_erosion(binary_dilation(out, np.ones(grow, bool)), np.ones(shrink, bool))
        bad |= out
    return bad


def _any_between(flags: np.ndarray, time: np.ndarray, start, stop) -> np.ndarray:
    """For each interval [start_i, stop_i]: does any flagged sample fall inside?"""
    cumulative = np.concatenate([[0], np.cumsum(flags)])
    lo = np.searchsorted(time, start, side="left")
    hi = np.searchsorted(time, stop, side="right")
    return cumulative[hi] > cumulative[lo]


def valid_trials(trials: pd.DataFrame) -> np.ndarray:
    """Boolean mask: rewarded centre-out trials with a target and go cue, 0.5–6 s long.

    The bounds are brainsets'; it applies them from one trial's target onset to the next
    trial's, here they apply to the trial's own start and stop.
    """
    duration = trials["stop_time"].to_numpy(float) - trials["start_time"].to_numpy(float)
    result = trials["result"].astype(str).str.strip().to_numpy()
    return (
        (result == "R")
        & np.isfinite(trials["target_id"].to_numpy(float))
        & np.isfinite(trials["go_cue_time"].to_numpy(float))
        & (duration > TRIAL_DURATION[0])
        & (duration < TRIAL_DURATION[1])
    )


def bin_edges(event: np.ndarray, bin_s: float, window_s: tuple[float, float]) -> np.ndarray:
    """(trials, bins + 1) bin edges (s) of each trial's window around its event time."""
    n_bins = n_window_bins(bin_s, window_s)
    return event[:, None] + window_s[0] + bin_s * np.arange(n_bins + 1)[None, :]


def channel_counts(
    spike_times, unit_channel: np.ndarray, n_channels: int, edges: np.ndarray
) -> np.ndarray:
    """(trials, bins, channels) spikes in [edge_i, edge_i+1), summed over each channel's units."""
    counts = np.zeros((edges.shape[0], edges.shape[1] - 1, n_channels), dtype=np.float32)
    for times, channel in zip(spike_times, unit_channel, strict=True):
        position = np.searchsorted(np.asarray(times), edges, side="left")
        counts[:, :, channel] += np.diff(position, axis=1)
    return counts


def bin_velocity(time: np.ndarray, velocity: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(trials, bins, 2) mean of the linearly interpolated velocity over each bin."""
    time = np.asarray(time, dtype=np.float64)
    velocity = np.asarray(velocity, dtype=np.float64)
    step = np.diff(time)[:, None]
    cumulative = np.concatenate(
        [
            np.zeros((1, velocity.shape[1])),
            np.cumsum(0.5 * step * (velocity[1:] + velocity[:-1]), 0),
        ]
    )
    # The integral at an edge: cumulative at the sample before, plus the partial trapezoid.
    flat = edges.ravel()
    k = np.clip(np.searchsorted(time, flat, side="right") - 1, 0, len(time) - 2)
    dt = (flat - time[k])[:, None]
    slope = (velocity[k + 1] - velocity[k]) / (time[k + 1] - time[k])[:, None]
    integral = cumulative[k] + dt * velocity[k] + 0.5 * dt**2 * slope
    integral = integral.reshape(*edges.shape, velocity.shape[1])
    return (np.diff(integral, axis=1) / np.diff(edges, axis=1)[:, :, None]).astype(np.float32)


def bin_trials(
    session,
    bin_s: float = 0.02,
    window_s: tuple[float, float] = (-0.3, 0.5),
    *,
    min_trials: int = MIN_TRIALS,
    max_acceleration: float | None = MAX_ACCELERATION,
    max_excursion: float | None = MAX_EXCURSION,
    align: str = "movement_onset",
    onset: str = "speed",
    **thresholds,
) -> TrialSet:
    """A session's valid trials as counts per channel and velocity in bins around an event.

    ``session`` is a :class:`~brainlatent.datasets.motor_cortex.MotorSession`
    (any object with its fields); ``align`` the event each window is placed on
    (:data:`ALIGN_EVENTS`), ``onset`` how movement onset is found (:data:`ONSET_METHODS`);
    ``max_acceleration`` and ``max_excursion`` go to :func:`cursor_artifacts`,
    ``thresholds`` to :func:`onset_from_speed` or :func:`onset_trialdata`.
    """
    if align not in ALIGN_EVENTS:
        raise ValueError(f"align must be one of {ALIGN_EVENTS}; got {align!r}")
    if onset not in ONSET_METHODS:
        raise ValueError(f"onset must be one of {ONSET_METHODS}; got {onset!r}")
    find_onset = onset_trialdata if onset == "trialdata" else onset_from_speed
    window_s = (float(window_s[0]), float(window_s[1]))
    n_window_bins(bin_s, window_s)
    trials = session.trials.reset_index(drop=True)
    valid = valid_trials(trials)
    time = np.asarray(session.kinematics_time, dtype=np.float64)
    artifacts = cursor_artifacts(
        time,
        session.position,
        session.velocity,
        getattr(session, "acceleration", None),
        max_acceleration=max_acceleration,
        max_excursion=max_excursion,
    )
    go_cue = trials["go_cue_time"].to_numpy(float)
    stop = trials["stop_time"].to_numpy(float)
    clean = valid & ~_any_between(artifacts, time, go_cue, stop)
    event = np.full(len(trials), np.nan)
    if align == "go_cue":
        event[clean] = go_cue[clean]
    else:
        speed = np.hypot(session.velocity[:, 0], session.velocity[:, 1])
        for i in np.flatnonzero(clean):
            event[i] = find_onset(time, speed, go_cue[i], stop[i], **thresholds)
    placed = clean & np.isfinite(event)
    inside = (
        placed & (event + window_s[0] >= time[0]) & (event + window_s[1] <= time[-1])
        if len(time) > 1
        else np.zeros(len(trials), bool)
    )
    in_window = np.zeros(len(trials), bool)
    in_window[inside] = _any_between(
        artifacts, time, event[inside] + window_s[0], event[inside] + window_s[1]
    )
    dropped = {
        "invalid": int((~valid).sum()),
        "artifact": int((valid & ~clean).sum() + in_window.sum()),
        "no_onset": int((clean & ~placed).sum()),
        "outside_kinematics": int((placed & ~inside).sum()),
    }
    keep = np.flatnonzero(inside & ~in_window)
    if len(keep) < min_trials:
        bounds = (
            f" (artifact bounds: acceleration {max_acceleration} cm/s², excursion "
            f"{max_excursion} cm from the centre hold; the workflow's motor.artifacts)"
            if dropped["artifact"]
            else ""
        )
        raise DataError(
            session.path,
            f"only {len(keep)} usable trials (need {min_trials}) of {len(trials)}: "
            + ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in dropped.items())
            + bounds,
        )
    edges = bin_edges(event[keep], bin_s, window_s)
    channels = tuple(session.channels)
    return TrialSet(
        session=session_name(session.path),
        subject=str(session.subject),
        date=session.date,
        counts=channel_counts(
            session.spike_times, np.asarray(session.unit_channel), len(channels), edges
        ),
        velocity=bin_velocity(time, session.velocity, edges),
        target=trials["target_id"].to_numpy(float)[keep].astype(np.int64),
        trial_id=keep.astype(np.int64),
        channels=channels,
        bin_s=float(bin_s),
        window_s=window_s,
        dropped=dropped,
        align=align,
        start=getattr(session, "start", None),  # optional, as the acceleration
    )


def save_trials(path, trials: TrialSet) -> None:
    """Write a :class:`TrialSet` as one ``.npz``, atomically."""
    meta = {
        "session": trials.session,
        "subject": trials.subject,
        "date": trials.date.isoformat(),
        "channels": list(trials.channels),
        "bin_s": trials.bin_s,
        "window_s": list(trials.window_s),
        "dropped": dict(trials.dropped),
        "align": trials.align,
        "start": trials.start.isoformat() if trials.start is not None else None,
    }
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(
                f,
                counts=trials.counts,
                velocity=trials.velocity,
                target=trials.target,
                trial_id=trials.trial_id,
                meta=np.array(json.dumps(meta)),
            )


def load_trials(path) -> TrialSet:
    """Read a :func:`save_trials` file; anything missing or inconsistent is a DataError."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in ("counts", "velocity", "target", "trial_id")}
            meta = json.loads(str(data["meta"]))
        trials = TrialSet(
            session=meta["session"],
            subject=meta["subject"],
            date=datetime.date.fromisoformat(meta["date"]),
            counts=arrays["counts"].astype(np.float32, copy=False),
            velocity=arrays["velocity"].astype(np.float32, copy=False),
            target=arrays["target"].astype(np.int64, copy=False),
            trial_id=arrays["trial_id"].astype(np.int64, copy=False),
            channels=tuple(meta["channels"]),
            bin_s=float(meta["bin_s"]),
            window_s=(float(meta["window_s"][0]), float(meta["window_s"][1])),
            dropped={str(k): int(v) for k, v in meta["dropped"].items()},
            align=str(meta.get("align", "movement_onset")),
            start=datetime.datetime.fromisoformat(meta["start"]) if meta.get("start") else None,
        )
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(path, f"not a trials file: {error}") from error
    n, b, c = trials.counts.shape
    if (
        trials.velocity.shape != (n, b, 2)
        or trials.target.shape != (n,)
        or trials.trial_id.shape != (n,)
        or len(trials.channels) != c
    ):
        raise DataError(
            path,
            f"inconsistent shapes: counts {trials.counts.shape}, velocity "
            f"{trials.velocity.shape}, target {trials.target.shape}, "
            f"{len(trials.channels)} channel names",
        )
    return trials


def load_cohort(paths) -> list[TrialSet]:
    """Every session of one cross-session comparison, read by :func:`load_trials`.

    They must be cut alike (bin width, window, alignment) and be distinct sessions: a
    decoder fitted on one session's bins is applied to another's, and a file written by
    hand or under another configuration would otherwise mix two cuttings without an error.
    The first file that differs from the first one is named. (The subject is the
    config's cohort, not checked here: a user's files may spell it differently.)
    """
    paths = list(paths)
    sessions = [load_trials(path) for path in paths]
    if not sessions:
        raise ValueError("no trials files given")
    first, first_path = sessions[0], paths[0]
    seen = {}
    for path, trials in zip(paths, sessions, strict=True):
        for name in ("bin_s", "window_s", "align"):
            if getattr(trials, name) != getattr(first, name):
                raise DataError(
                    path,
                    f"{name} {getattr(trials, name)!r} differs from {getattr(first, name)!r} "
                    f"in {first_path}: every session of a cohort must be binned alike",
                )
        if trials.session in seen:
            raise DataError(path, f"session {trials.session!r} is also {seen[trials.session]}")
        seen[trials.session] = path
    return sessions
