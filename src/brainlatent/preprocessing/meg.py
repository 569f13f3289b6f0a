"""MEG preprocessing for decoding, after Benchetrit et al. (2023).

Per run: found with MNE-BIDS and read with MNE (so a real CTF ``.ds`` and a simulated FIF go
through the same code), keep the MEG sensors, band-pass, epoch around image
onset, downsample, baseline-correct, robust-scale each channel and clip.
Runs are processed one at a time and written into a memory-mapped ``.npy``, so
a session's raw data is never all in memory at once.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import mne
import numpy as np
import pandas as pd
from tqdm import tqdm

from brainlatent.datasets import things_meg
from brainlatent.errors import ConfigError, DataError
from brainlatent.io import atomic_path, read_tsv, write_table


@dataclass(frozen=True)
class Preprocessing:
    """The preprocessing recipe (see ``things_meg.preprocess`` in the config schema)."""

    l_freq: float | None = 0.1
    h_freq: float | None = 40.0
    tmin: float = -0.5
    tmax: float = 1.0
    sfreq: float = 120.0
    baseline: tuple[float, float] | None = (-0.5, 0.0)
    clip: float | None = 20.0

    @classmethod
    def from_config(cls, recipe: dict) -> Preprocessing:
        """From ``things_meg.preprocess`` (JSON gives the baseline as a list)."""
        recipe = dict(recipe)
        if recipe.get("baseline") is not None:
            recipe["baseline"] = tuple(recipe["baseline"])
        return cls(**recipe)

    def __post_init__(self):
        if self.tmax <= self.tmin:
            raise ConfigError(f"preprocess.tmax ({self.tmax}) must exceed tmin ({self.tmin})")
        if self.l_freq is not None and self.h_freq is not None and self.l_freq >= self.h_freq:
            raise ConfigError(
                f"preprocess.l_freq ({self.l_freq} Hz) must be below h_freq ({self.h_freq} Hz); "
                "MNE would silently make it a band-stop filter"
            )
        if self.h_freq is not None and self.h_freq >= self.sfreq / 2:
            raise ConfigError(
                f"preprocess.h_freq ({self.h_freq} Hz) must be below half of preprocess.sfreq "
                f"({self.sfreq} Hz), or the downsampled epochs alias"
            )
        if self.baseline is not None and not (
            self.tmin <= self.baseline[0] < self.baseline[1] <= self.tmax
        ):
            raise ConfigError(f"preprocess.baseline {self.baseline} must lie within tmin..tmax")


def stimulus_index(stimuli_dir: Path) -> dict[int, Path]:
    """Image number → stimulus file, from ``stimuli.tsv`` in the stimuli folder."""
    table_path = Path(stimuli_dir) / "stimuli.tsv"
    if not table_path.exists():
        raise DataError(table_path, "stimulus index not found")
    table = read_tsv(table_path)
    if not {"image", "file"} <= set(table.columns):
        raise DataError(table_path, "needs columns 'image' and 'file'")
    if table.empty:
        raise DataError(table_path, "stimulus index lists no images")
    image = pd.to_numeric(table["image"], errors="coerce")
    if table["file"].isna().any() or not (np.isfinite(image) & (image == image.round())).all():
        raise DataError(table_path, "every row needs an integer 'image' and a 'file'")
    return {
        int(i): Path(stimuli_dir) / f for i, f in zip(table["image"], table["file"], strict=True)
    }


def run_trials(
    bids_root: Path, subject: str, session: str, run: str, stimuli: dict
) -> pd.DataFrame:
    """The image trials of one run, checked against the stimulus files."""
    path = things_meg.events_path(bids_root, subject, session, run)
    trials = things_meg.image_trials(things_meg.read_events(path))
    for image in trials["image"].unique():
        if int(image) not in stimuli or not stimuli[int(image)].exists():
            raise DataError(path, f"image {image} has no stimulus file in the stimuli folder")
    trials.insert(0, "run", run)
    trials.insert(0, "session", session)
    trials.insert(0, "subject", subject)
    return trials.astype(things_meg.TRIAL_COLUMNS)


#: MEG recordings MNE-BIDS may find for a run: CTF (ds004212) or FIF.
RECORDING_EXTENSIONS = (".ds", ".fif")
#: Channels read and filtered per call: bounds MNE's per-call working memory.
CHANNEL_BLOCK = 32
#: First bytes of every CTF (v4 and later) .res4 header and .meg4 sample file.
CTF_SIGNATURE = b"MEG4"


def epochs_info(subject: str, names: list[str], times, params: Preprocessing, **extra) -> dict:
    """The ``epochs.json`` of a subject: what later steps need to read ``epochs.npy``."""
    times = np.asarray(times, dtype=float)
    return {
        "subject": subject,
        "channels": list(names),
        "positions": things_meg.sensor_positions(names).tolist(),
        "sfreq": params.sfreq,
        "tmin": float(times[0]),
        "n_times": len(times),
        "times": times.tolist(),
        "preprocessing": asdict(params),
        **extra,
    }


def read_run(bids_root: Path, subject: str, session: str, run: str, sfreq: float) -> mne.io.BaseRaw:
    """Read one run's MEG sensors (no reference channels, no bad ones), checking rate and values.

    MNE-BIDS finds the recording (CTF ``.ds`` or FIF); MNE reads it directly rather
    than through ``read_raw_bids``, because ds004212's ``channels.tsv`` types the
    gradiometers ``OTHER``, which MNE-BIDS turns into ``misc`` channels. Bad channels
    are the sidecar's ``bad`` status plus the dataset's known broken sensor.
    """
    bids_path = things_meg.bids_path(bids_root, subject, session, run)
    matches = [m for m in bids_path.match() if m.extension in RECORDING_EXTENSIONS]
    fpath = matches[0].fpath if matches else bids_path.copy().update(extension=".ds").fpath
    if Path(fpath).suffix == ".ds":
        _check_ctf_signatures(Path(fpath))
    try:
        raw = mne.io.read_raw(fpath, verbose=False)
        bads = {*things_meg.bad_channels(bids_root, subject, session, run)}
        bads |= set(things_meg.KNOWN_BAD_CHANNELS)
        raw.info["bads"] = sorted(bads & set(raw.ch_names))
        raw = _load_channels(raw, mne.pick_types(raw.info, meg=True, ref_meg=False, exclude="bads"))
    except Exception as error:  # MNE raises many types for a damaged file
        raise DataError(
            fpath, f"cannot read MEG recording ({type(error).__name__}: {error})"
        ) from error
    if not np.isclose(raw.info["sfreq"], sfreq):
        raise DataError(
            fpath,
            f"sampling rate is {raw.info['sfreq']:g} Hz but the config says things_meg.sfreq = "
            f"{sfreq:g} Hz",
        )
    bad = ~np.isfinite(raw._data).all(axis=1)  # in place: no copy of a 3 GB run
    if bad.any():
        names = [raw.ch_names[i] for i in np.flatnonzero(bad)]
        raise DataError(fpath, f"NaN or infinite values in {len(names)} channels: {names[:5]}")
    return raw


def _load_channels(raw: mne.io.BaseRaw, picks: np.ndarray) -> mne.io.RawArray:
    """Channels ``picks`` of a lazily opened run, in memory, read in bounded pieces.

    MNE reads a channel subset fast only when it is a contiguous range of the
    file's channels; any other subset (the bad sensor and the reference channels
    punch holes in the list) makes it convert each whole data block, all 310
    channels, to float64 first: 1 GB beside the output for a CTF run stored as one
    block (3.4 GB at the peak; ``make bench``). So the picks are read as contiguous
    ranges of at most :data:`CHANNEL_BLOCK` channels into one float64 array.
    """
    picks = np.sort(np.asarray(picks, dtype=int))
    data = np.empty((len(picks), raw.n_times))
    runs = np.split(np.arange(len(picks)), np.flatnonzero(np.diff(picks) != 1) + 1)
    for run in runs:
        for rows in np.array_split(run, -(-len(run) // CHANNEL_BLOCK)):
            data[rows] = raw.get_data(picks=picks[rows], verbose=False)
    raw.pick(picks)
    return mne.io.RawArray(data, raw.info, first_samp=raw.first_samp, copy="info", verbose=False)


def _check_ctf_signatures(ds: Path) -> None:
    """MNE reads a CTF ``.ds`` whatever its files' signatures; a damaged one must not pass."""
    for suffix in (".res4", ".meg4"):
        part = ds / f"{ds.stem}{suffix}"
        if part.is_file():
            with open(part, "rb") as f:
                head = f.read(len(CTF_SIGNATURE))
            if head != CTF_SIGNATURE:
                raise DataError(
                    ds, f"{part.name} does not start with the CTF signature {CTF_SIGNATURE!r}"
                )


def epoch_run(
    raw: mne.io.BaseRaw, onsets: np.ndarray, params: Preprocessing, source: Path
) -> np.ndarray:
    """Filter, epoch, downsample, baseline and robust-scale one run: (trials, channels, times)."""
    # A block of channels at a time: the same result as one call (channels are filtered
    # independently) without MNE's working copy of half the run (make bench).
    n_channels = len(raw.ch_names)
    for start in range(0, n_channels, CHANNEL_BLOCK):
        picks = np.arange(start, min(start + CHANNEL_BLOCK, n_channels))
        raw.filter(params.l_freq, params.h_freq, picks=picks, verbose=False)
    events = np.column_stack(
        [
            np.round(onsets * raw.info["sfreq"]).astype(int) + raw.first_samp,
            np.zeros(len(onsets), int),
            np.ones(len(onsets), int),
        ]
    )
    ratio = raw.info["sfreq"] / params.sfreq
    decim = int(round(ratio)) if np.isclose(ratio, round(ratio)) else 1
    epochs = mne.Epochs(
        raw,
        events,
        tmin=params.tmin,
        tmax=params.tmax,
        baseline=None,
        decim=decim,
        preload=True,
        reject_by_annotation=False,
        event_repeated="merge",
        verbose=False,
    )
    if len(epochs) != len(onsets):
        raise DataError(
            source, f"{len(onsets) - len(epochs)} events lie too close to the recording's edges"
        )
    if decim == 1 and not np.isclose(ratio, 1):
        epochs.resample(params.sfreq, verbose=False)
    if params.baseline is not None:
        epochs.apply_baseline(tuple(params.baseline), verbose=False)
    data = epochs.get_data(copy=False)
    return robust_scale(data, params.clip)


def robust_scale(data: np.ndarray, clip: float | None) -> np.ndarray:
    """Per-channel median/IQR scaling over trials and times, then clipping (float32)."""
    flat = data.transpose(1, 0, 2).reshape(data.shape[1], -1)
    q25, median, q75 = np.percentile(flat, [25, 50, 75], axis=1)
    iqr = np.where(q75 > q25, q75 - q25, 1.0)
    scaled = (data - median[None, :, None]) / iqr[None, :, None]
    if clip is not None:
        np.clip(scaled, -clip, clip, out=scaled)
    return scaled.astype(np.float32)


def preprocess_subject(
    bids_root: Path,
    stimuli_dir: Path,
    subject: str,
    runs: list[tuple[str, str]],
    raw_sfreq: float,
    params: Preprocessing,
    out_epochs: Path,
    out_trials: Path,
    out_info: Path,
) -> None:
    """Preprocess every run of a subject into ``epochs.npy``, ``trials.parquet`` and info.

    All events are checked before any recording is read, so a bad events file
    fails in seconds; the outputs appear only when every run has succeeded.
    """
    stimuli = stimulus_index(stimuli_dir)
    per_run = [run_trials(bids_root, subject, ses, run, stimuli) for ses, run in runs]
    trials = pd.concat(per_run, ignore_index=True)
    n_times = int(np.floor((params.tmax - params.tmin) * params.sfreq + 1e-9)) + 1
    with atomic_path(out_epochs) as tmp_epochs:
        start, names = 0, None
        for (session, run), run_table in tqdm(
            list(zip(runs, per_run, strict=True)), desc=f"preprocess sub-{subject}", mininterval=2
        ):
            raw = read_run(bids_root, subject, session, run, raw_sfreq)
            source = things_meg.events_path(bids_root, subject, session, run)
            data = epoch_run(raw, run_table["onset"].to_numpy(), params, source)
            if names is None:
                names = list(raw.ch_names)
                shape = (len(trials), len(names), n_times)
                np.lib.format.open_memmap(tmp_epochs, "w+", np.float32, shape).flush()
            if list(raw.ch_names) != names or data.shape[2] != n_times:
                raise DataError(
                    source, "channels or epoch length differ from the subject's first run"
                )
            # Mapped for this run only: written pages leave the process when it is unmapped,
            # so memory does not grow with the number of runs.
            epochs = np.load(tmp_epochs, mmap_mode="r+")
            epochs[start : start + len(data)] = data
            epochs.flush()
            start += len(data)
            del raw, data, epochs
        write_table(out_trials, trials)
        times = (params.tmin + np.arange(n_times) / params.sfreq).round(6)
        info = epochs_info(subject, names, times, params)
        with atomic_path(out_info) as tmp_info:
            tmp_info.write_text(json.dumps(info, indent=1))
