"""THINGS-MEG from the dataset authors' preprocessed epochs instead of the raw CTF runs.

ds004212 ships each participant's epochs as ``derivatives/preprocessed/
preprocessed_P{n}-epo.fif`` plus split parts ``-epo-1.fif``... (~8 GB a participant,
33 GB in all, against 261 GB of CTF runs). The authors' pipeline (THINGS-data,
``MEG/step1_preprocessing.py``) dropped MRO11-1609, band-passed 0.1-40 Hz, cut
-0.1..1.3 s around the photodiode onsets, z-scored each epoch on its -0.1..0 s
baseline, concatenated sessions 1-12 x runs 1-10 in order, decimated to 200 Hz and
stored the events.tsv ``value`` (THINGS image number, catch trials 999999) in
``events[:, 2]``.

:func:`preprocess_derivative` turns such a file into the same ``epochs.npy``,
``trials.parquet`` and ``epochs.json`` as :func:`meg.preprocess_subject`, so every
later step is unchanged. It applies the parts of the recipe that still make sense
(crop, resample, robust scaling, clip) and says which it cannot (an earlier tmin,
another band, another baseline). Epochs are read a chunk at a time into a
memory-mapped ``.npy``, so a subject's 8 GB never sit in memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import mne
import numpy as np
import pandas as pd
from scipy.signal import resample_poly

from brainlatent.datasets import things_meg
from brainlatent.errors import ConfigError, DataError
from brainlatent.io import atomic_path, write_table
from brainlatent.preprocessing.meg import epochs_info, run_trials
from brainlatent.preprocessing.recipe import Preprocessing

#: ``events[:, 2]`` of a catch trial (events.tsv ``value`` n/a) in the derivative.
CATCH_VALUE = 999999
#: The band the authors filtered with; a recipe asking for another one gets a note.
DERIVATIVE_BAND = (0.1, 40.0)
#: Tolerance (s) when comparing recipe times with the derivative's sample times.
TIME_TOLERANCE = 1e-6


def read_derivative(epochs_path: Path) -> mne.BaseEpochs:
    """Open the derivative without loading it (MNE follows the split parts)."""
    try:
        return mne.read_epochs(epochs_path, preload=False, verbose="error")
    except Exception as error:  # MNE raises many types for a damaged or incomplete file
        raise DataError(
            epochs_path,
            f"cannot read derivative epochs ({type(error).__name__}: {error}); its split parts "
            "(-epo-1.fif, -epo-2.fif...) must sit beside it",
        ) from error


def run_events(bids_root: Path, subject: str, sessions_runs) -> pd.DataFrame:
    """Every event of the given runs in order, with the code the derivative should hold."""
    tables = []
    for session, run in sessions_runs:
        events = things_meg.read_events(things_meg.events_path(bids_root, subject, session, run))
        tables.append(
            pd.DataFrame(
                {
                    "session": session,
                    "run": run,
                    "trial": np.arange(len(events)),
                    # As in step1: value n/a becomes 999999, whatever the trial type.
                    "code": events["value"].fillna(CATCH_VALUE).to_numpy(np.int64),
                }
            )
        )
    return pd.concat(tables, ignore_index=True)


def check_alignment(epochs_path: Path, codes: np.ndarray, expected: pd.DataFrame) -> None:
    """Fail unless the derivative holds exactly the given runs' events, in order."""
    if len(codes) != len(expected):
        n_runs = len(expected[["session", "run"]].drop_duplicates())
        raise DataError(
            epochs_path,
            f"{len(codes)} epochs but the events.tsv of the {n_runs} given runs list "
            f"{len(expected)} events; the derivative holds sessions 1-12 x runs 1-10 of one "
            "participant, so things_meg.sessions/runs must name all of them",
        )
    wrong = np.flatnonzero(np.asarray(codes, np.int64) != expected["code"].to_numpy())
    if len(wrong):
        row = expected.iloc[wrong[0]]
        raise DataError(
            epochs_path,
            f"{len(wrong)} epochs disagree with the events.tsv; first: epoch {wrong[0]} has "
            f"value {codes[wrong[0]]} but session {row['session']} run {row['run']} trial "
            f"{row['trial']} has {row['code']}",
        )


def epoch_index(expected: pd.DataFrame, per_run: list[pd.DataFrame]) -> np.ndarray:
    """Each kept trial's epoch in the derivative: its run's first epoch plus its events row."""
    sizes = expected.groupby(["session", "run"], sort=False).size().to_numpy()
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return np.concatenate(
        [start + run["trial"].to_numpy() for start, run in zip(starts, per_run, strict=True)]
    )


def meg_channels(info: mne.Info) -> tuple[np.ndarray, list[str]]:
    """Indices and names of the MEG sensors to keep: no references, no known bad ones."""
    drop = set(things_meg.KNOWN_BAD_CHANNELS) | set(info["bads"])
    picks = mne.pick_types(info, meg=True, ref_meg=False, exclude=[])
    picks = np.array([p for p in picks if info["ch_names"][p] not in drop], dtype=int)
    return picks, [info["ch_names"][p] for p in picks]


@dataclass(frozen=True)
class TimePlan:
    """How derivative samples become output samples: resample from ``start``, keep a window.

    Resampling starts a whole number of ``down`` input samples before the first
    kept one, as early as the derivative allows: that sample then falls exactly on
    the output grid (the output starts at an input sample's time, as in raw mode),
    and the resampler's edge effect stays before it wherever the epochs have data.
    """

    start: int  # first input sample fed to the resampler
    up: int
    down: int
    skip: int  # output samples dropped before the window
    n_times: int
    tmin: float  # time of the first kept sample
    sfreq: float

    @property
    def times(self) -> np.ndarray:
        return (self.tmin + np.arange(self.n_times) / self.sfreq).round(6)


def time_plan(times: np.ndarray, sfreq_in: float, params: Preprocessing) -> TimePlan:
    """Plan the crop to [max(tmin, first sample), tmax] and the resampling to ``params.sfreq``."""
    ratio = Fraction(params.sfreq / sfreq_in).limit_denominator(1000)
    if not np.isclose(float(ratio) * sfreq_in, params.sfreq):
        raise ConfigError(
            f"preprocess.sfreq {params.sfreq:g} Hz is no simple fraction of the derivative's "
            f"{sfreq_in:g} Hz"
        )
    if params.tmax > times[-1] + TIME_TOLERANCE or params.tmax < times[0]:
        raise ConfigError(
            f"preprocess.tmax ({params.tmax:g} s) must lie within the derivative's epochs "
            f"({times[0]:g}..{times[-1]:g} s)"
        )
    if params.tmin < times[0] - TIME_TOLERANCE:
        print(
            f"note: preprocess.tmin {params.tmin:g} s precedes the derivative's epochs; "
            f"they start at {times[0]:g} s"
        )
    first = int(np.searchsorted(times, params.tmin - TIME_TOLERANCE))
    up, down = ratio.numerator, ratio.denominator
    start = first % down
    skip = (first - start) // down * up
    tmin = round(float(times[first]), 6)
    n_times = int(np.floor((params.tmax - tmin) * params.sfreq + 1e-9)) + 1
    available = -(-(len(times) - start) * up // down) - skip
    return TimePlan(start, up, down, skip, min(n_times, available), tmin, params.sfreq)


def baseline_window(params: Preprocessing, plan: TimePlan) -> tuple[float, float] | None:
    """The recipe's baseline if the output covers it; else None, with a note."""
    if params.baseline is None:
        return None
    times = plan.times
    lo, hi = params.baseline
    if lo < times[0] - TIME_TOLERANCE or hi > times[-1] + TIME_TOLERANCE:
        print(
            f"note: baseline {lo:g}..{hi:g} s lies outside the epochs ({times[0]:g}.."
            f"{times[-1]:g} s) and is ignored; the derivative is z-scored on -0.1..0 s already"
        )
        return None
    return float(lo), float(hi)


def transform(data: np.ndarray, plan: TimePlan, baseline: tuple[float, float] | None) -> np.ndarray:
    """Resample (polyphase, edges padded along a line), keep the window, subtract the baseline.

    No band-pass: the derivative is filtered 0.1-40 Hz already, and the resampler's
    own low-pass guards the new Nyquist frequency.
    """
    data = data[..., plan.start :]
    if plan.up != plan.down:
        data = resample_poly(data, plan.up, plan.down, axis=-1, padtype="line")
    data = data[..., plan.skip : plan.skip + plan.n_times]
    if baseline is not None:
        times = plan.times
        inside = (times >= baseline[0] - TIME_TOLERANCE) & (times <= baseline[1] + TIME_TOLERANCE)
        data = data - data[..., inside].mean(axis=-1, keepdims=True)
    return data


def read_chunk(epochs: mne.BaseEpochs, picks: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The given epochs' data (float64), read from disk; the only place data are read."""
    try:
        return epochs.get_data(picks=picks, item=index, copy=True, verbose="error")
    except Exception as error:  # a truncated file opens lazily, then fails here (ValueError...)
        raise DataError(
            epochs.filename, f"cannot read epochs data ({type(error).__name__}: {error})"
        ) from error


def session_blocks(sessions: pd.Series) -> list[tuple[int, int]]:
    """(start, stop) rows of each run of consecutive equal session labels."""
    labels = sessions.to_numpy()
    edges = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    bounds = [0, *edges.tolist(), len(labels)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def scale_in_place(
    array: np.ndarray, start: int, stop: int, clip: float | None, chunk: int
) -> None:
    """Robust-scale rows start:stop of ``array`` per channel, as ``meg.robust_scale`` does.

    Quartiles are taken over a few channels at a time and scaling goes a chunk
    of trials at a time, so memory stays near one read chunk whatever the session size.
    """
    n, n_channels, n_times = stop - start, array.shape[1], array.shape[2]
    step = max(1, chunk * n_channels // max(n, 1))
    quartiles = np.empty((3, n_channels))
    for c0 in range(0, n_channels, step):
        block = np.asarray(array[start:stop, c0 : c0 + step], dtype=np.float64)
        flat = block.transpose(1, 0, 2).reshape(block.shape[1], n * n_times)
        quartiles[:, c0 : c0 + step] = np.percentile(flat, [25, 50, 75], axis=1)
    q25, median, q75 = quartiles
    iqr = np.where(q75 > q25, q75 - q25, 1.0)
    for a in range(start, stop, chunk):
        b = min(a + chunk, stop)
        scaled = (np.asarray(array[a:b], np.float64) - median[None, :, None]) / iqr[None, :, None]
        if clip is not None:
            np.clip(scaled, -clip, clip, out=scaled)
        array[a:b] = scaled.astype(np.float32)


def preprocess_derivative(
    epochs_path: Path,
    bids_root: Path,
    stimuli_dir: Path,
    subject: str,
    sessions_runs: list[tuple[str, str]],
    params: Preprocessing,
    out_epochs: Path,
    out_trials: Path,
    out_info: Path,
    chunk: int = 500,
    zero_shot: bool = False,
) -> None:
    """Write ``epochs.npy``, ``trials.parquet`` and ``epochs.json`` from the authors' epochs.

    The given (session, run) list must be the derivative's content in order: its
    events.tsv are checked against ``events[:, 2]`` before any data are read. Exp
    and test trials are kept (catch dropped), cropped to [max(tmin, -0.1 s), tmax]
    and resampled to ``params.sfreq``; the band-pass is not redone (the derivative is
    0.1-40 Hz), and the recipe's baseline is applied only if the epochs cover it.
    Robust scaling and clipping go per session, not per run as in raw mode: runs
    of a session share one head position, and the derivative's per-epoch z-scoring
    already removed the slow drifts per-run scaling guards against. ``chunk`` epochs
    are read at a time (~0.5 GB of working memory for 500).
    """
    if chunk < 1:
        raise ConfigError(f"chunk must be positive, got {chunk}")
    stimuli = things_meg.stimulus_index(stimuli_dir)
    epochs = read_derivative(epochs_path)
    expected = run_events(bids_root, subject, sessions_runs)
    check_alignment(epochs_path, epochs.events[:, 2], expected)
    per_run = [run_trials(bids_root, subject, ses, run, stimuli) for ses, run in sessions_runs]
    trials = pd.concat(per_run, ignore_index=True)
    if zero_shot:  # as the raw mode: the tested concepts' training images are left out
        trials = things_meg.exclude_test_concepts(trials)
    keep = epoch_index(expected, per_run)
    picks, names = meg_channels(epochs.info)
    sfreq_in = float(epochs.info["sfreq"])
    band = (epochs.info["highpass"], epochs.info["lowpass"])
    if (params.l_freq, params.h_freq) != DERIVATIVE_BAND:
        print(
            f"note: the band-pass {params.l_freq}-{params.h_freq} Hz is not applied; the "
            f"derivative is filtered {band[0]:g}-{band[1]:g} Hz"
        )
    plan = time_plan(epochs.times, sfreq_in, params)
    baseline = baseline_window(params, plan)
    with atomic_path(out_epochs) as tmp_epochs:
        array = np.lib.format.open_memmap(
            tmp_epochs, mode="w+", dtype=np.float32, shape=(len(keep), len(names), plan.n_times)
        )
        for a in range(0, len(keep), chunk):
            data = read_chunk(epochs, picks, keep[a : a + chunk])
            finite = np.isfinite(data).all(axis=(1, 2))
            if not finite.all():
                bad = keep[a + int(np.flatnonzero(~finite)[0])]
                raise DataError(epochs_path, f"NaN or infinite values in epoch {bad}")
            array[a : a + len(data)] = transform(data, plan, baseline)
            del data
        for start, stop in session_blocks(trials["session"]):
            scale_in_place(array, start, stop, params.clip, chunk)
        array.flush()
        del array
        write_table(out_trials, trials)
        info = epochs_info(
            subject,
            names,
            plan.times,
            params,
            source="derivatives",
            derivative=Path(epochs_path).name,
            band_pass=[float(band[0]), float(band[1])],
            baseline_applied=list(baseline) if baseline else None,
            scaling="session",
        )
        with atomic_path(out_info) as tmp_info:
            tmp_info.write_text(json.dumps(info, indent=1))
