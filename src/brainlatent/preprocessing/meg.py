"""MEG preprocessing for decoding, after Benchetrit et al. (2023).

Per run: found with MNE-BIDS and read with MNE (so a real CTF ``.ds`` and a simulated FIF go
through the same code), keep the MEG sensors, band-pass, epoch around image
onset, downsample, baseline-correct, robust-scale each channel and clip.
Runs are processed one at a time and written into a memory-mapped ``.npy``, so
a session's raw data is never all in memory at once.

Two implementations of the band-pass, epoching and downsampling give the same
epochs: :func:`epoch_run`, MNE's ``raw.filter`` (the paper's zero-phase FIR, 33 s
long at 0.1 Hz) then ``mne.Epochs(decim=...)``, the reference; and
:func:`epoch_recording`, the one the workflow uses, which evaluates the same
FIR filter only at the samples the epochs keep, through a multirate chain (see
:class:`~brainlatent.preprocessing.multirate.FilterChain`), reading the run a block of
channels at a time.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import mne
import numpy as np
import pandas as pd
from scipy.signal import fftconvolve
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from brainlatent.datasets import things_meg
from brainlatent.errors import DataError
from brainlatent.io import atomic_path, write_table
from brainlatent.preprocessing.multirate import (
    Padded,
    Sampler,
    decimate,
    filter_chain,
)
from brainlatent.preprocessing.recipe import Preprocessing


def run_trials(
    bids_root: Path, subject: str, session: str, run: str, stimuli: dict
) -> pd.DataFrame:
    """The image trials of one run, checked against the stimulus files."""
    path = things_meg.events_path(bids_root, subject, session, run)
    trials = things_meg.image_trials(things_meg.read_events(path))
    if trials.empty:
        raise DataError(path, "no image trials (trial_type exp or test) in this run's events")
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


@dataclass
class Recording:
    """One run's MEG sensors, opened lazily and read a block of channels at a time.

    ``picks`` index ``raw.ch_names`` (sorted); :meth:`blocks` yields their data as
    float64 in volts/tesla, exactly what ``raw.get_data(picks)`` returns.
    """

    raw: mne.io.BaseRaw
    picks: np.ndarray
    path: Path

    @property
    def ch_names(self) -> list[str]:
        return [self.raw.ch_names[p] for p in self.picks]

    @property
    def sfreq(self) -> float:
        return float(self.raw.info["sfreq"])

    @property
    def n_times(self) -> int:
        return int(self.raw.n_times)

    def block_rows(self) -> list[np.ndarray]:
        """Rows of ``picks`` read together: contiguous file ranges of ≤ CHANNEL_BLOCK channels.

        MNE reads a channel subset fast only when it is a contiguous range of the
        file's channels; any other subset (the bad sensor and the reference channels
        punch holes in the list) makes it convert each whole data block, all 310
        channels, to float64 first (3.4 GB at the peak for a CTF run; ``make bench``).
        """
        runs = np.split(np.arange(len(self.picks)), np.flatnonzero(np.diff(self.picks) != 1) + 1)
        return [rows for run in runs for rows in np.array_split(run, -(-len(run) // CHANNEL_BLOCK))]

    def read(self, rows: np.ndarray, centered: bool = False, out=None, reader=None) -> np.ndarray:
        """The data of ``picks[rows]`` (one of :meth:`block_rows`).

        float64, ``raw.get_data``'s values to the bit, or with ``centered`` float32
        minus each channel's mean (taken exactly, before the cast), written into
        ``out`` (float32, rows × n_times) when given. A CTF run stored as one block is
        read whole by every ``get_data`` call, so CTF channels are read straight from
        the ``.meg4`` (``reader``, from :func:`_ctf_reader`; one per thread).
        """
        picks = self.picks[rows]
        try:
            if reader is not None:
                return reader(picks, centered, out)
            data = self.raw.get_data(picks=picks, verbose=False)
            _check_finite(data, picks, self)
            if not centered:
                return data
            out = np.empty(data.shape, np.float32) if out is None else out
            return np.subtract(data, data.mean(axis=1, keepdims=True), out=out, casting="unsafe")
        except DataError:
            raise
        except Exception as error:  # MNE raises many types for a damaged file
            raise DataError(
                self.path, f"cannot read MEG recording ({type(error).__name__}: {error})"
            ) from error

    def blocks(self):
        """(rows, float64 data) for each of :meth:`block_rows`."""
        reader = _ctf_reader(self.raw)
        for rows in self.block_rows():
            yield rows, self.read(rows, reader=reader)


def _check_finite(data: np.ndarray, picks: np.ndarray, recording: Recording) -> None:
    bad = ~np.isfinite(data).all(axis=1)
    if bad.any():
        names = [recording.raw.ch_names[p] for p in picks[bad]]
        raise DataError(recording.path, f"NaN or infinite values in channels {names[:5]}")


def _ctf_reader(raw: mne.io.BaseRaw):
    """A reader of CTF channels straight from the ``.meg4``, or None where MNE must read.

    The ``.meg4`` holds, after an 8-byte header, trials of ``res4_nsamp`` samples,
    each channel after channel as big-endian int32; MNE's reader
    (``RawCTF._read_segment_file``) reads every channel of a whole trial per call
    and multiplies by the calibrations. This reads only the given channels' bytes
    (one contiguous range a trial, into a buffer kept between calls) and applies
    the same calibrations, so the float64 data are MNE's to the bit
    (``tests/unit/test_preprocess_meg.py``). Anything but a plain, uncompensated
    single-file CTF run goes through MNE.
    """
    from mne.io.ctf.constants import CTF

    if not isinstance(raw, mne.io.ctf.ctf.RawCTF) or len(raw.filenames) != 1:
        return None
    if raw._comp is not None or raw._projector is not None or raw.first_samp != 0:
        return None
    extras = raw._raw_extras[0]
    n_chan, nsamp = int(extras["n_chan"]), int(extras["res4_nsamp"])
    if int(extras["block_size"]) != nsamp or raw.n_times > int(extras["n_samp_tot"]):
        return None
    path, n_times, cals = Path(raw.filenames[0]), raw.n_times, raw._cals.ravel()
    file_channels = np.asarray(raw._read_picks[0])
    buffers = {}

    def read(picks: np.ndarray, centered: bool, out: np.ndarray | None) -> np.ndarray:
        channels = file_channels[picks]
        first, count = int(channels[0]), len(channels)
        if not np.array_equal(channels, np.arange(first, first + count)):
            raise ValueError("channels must be a contiguous range of the file")
        if count not in buffers:
            buffers.clear()
            buffers[count] = (np.empty((count, n_times), ">i4"), np.empty((count, nsamp), ">i4"))
        ints, trial = buffers[count]
        with open(path, "rb", buffering=0) as f:
            for start in range(0, n_times, nsamp):
                n = min(nsamp, n_times - start)
                f.seek(CTF.HEADER_SIZE + 4 * (start * n_chan + first * nsamp))
                whole = n == nsamp == n_times
                target = ints if whole else trial
                if f.readinto(memoryview(target).cast("B")) != target.nbytes:
                    raise DataError(path, "the .meg4 file ends before its last sample")
                if not whole:
                    ints[:, start : start + n] = trial[:, :n]
        native = ints.byteswap(inplace=True).view(np.int32)  # the same bytes, now native
        if not centered:
            out = np.empty((count, n_times)) if out is None else out
            return np.multiply(native, cals[picks, None], out=out)
        out = np.empty((count, n_times), np.float32) if out is None else out
        mean = native.sum(axis=1, dtype=np.int64, keepdims=True) // n_times
        np.subtract(native, mean, out=out, casting="unsafe")  # exact: int64, then cast
        out *= cals[picks, None].astype(np.float32)
        return out

    return read


def open_run(bids_root: Path, subject: str, session: str, run: str, sfreq: float) -> Recording:
    """Open one run's MEG sensors (no reference channels, no bad ones), checking its rate.

    MNE-BIDS finds the recording (CTF ``.ds`` or FIF); MNE opens it directly rather
    than through ``read_raw_bids``, because ds004212's ``channels.tsv`` types the
    gradiometers ``OTHER``, which MNE-BIDS turns into ``misc`` channels. Bad channels
    are the sidecar's ``bad`` status, the recording's own list (a CTF ``BadChannels``
    file, which MNE reads) and the dataset's known broken sensor. The
    data are read later, by :meth:`Recording.blocks`, which checks their values.
    """
    bids_path = things_meg.bids_path(bids_root, subject, session, run)
    matches = [m for m in bids_path.match() if m.extension in RECORDING_EXTENSIONS]
    fpath = matches[0].fpath if matches else bids_path.copy().update(extension=".ds").fpath
    if Path(fpath).suffix == ".ds":
        _check_ctf_signatures(Path(fpath))
    try:
        raw = mne.io.read_raw(fpath, verbose=False)
        bads = {*things_meg.bad_channels(bids_root, subject, session, run)}
        bads |= set(things_meg.KNOWN_BAD_CHANNELS) | set(raw.info["bads"])  # + the .ds's own
        raw.info["bads"] = sorted(bads & set(raw.ch_names))
        picks = mne.pick_types(raw.info, meg=True, ref_meg=False, exclude="bads")
    except Exception as error:  # MNE raises many types for a damaged file
        raise DataError(
            fpath, f"cannot read MEG recording ({type(error).__name__}: {error})"
        ) from error
    if len(picks) == 0:
        raise DataError(
            fpath, "no MEG sensor left: every one is marked bad (channels.tsv or BadChannels)"
        )
    if not np.isclose(raw.info["sfreq"], sfreq):
        raise DataError(
            fpath,
            f"sampling rate is {raw.info['sfreq']:g} Hz but the config says things_meg.sfreq = "
            f"{sfreq:g} Hz",
        )
    return Recording(raw, np.sort(np.asarray(picks, dtype=int)), Path(fpath))


def read_run(bids_root: Path, subject: str, session: str, run: str, sfreq: float) -> mne.io.BaseRaw:
    """One run's MEG sensors in memory (:func:`open_run`, then every block read), checked."""
    recording = open_run(bids_root, subject, session, run, sfreq)
    return _load(recording)


def _load(recording: Recording) -> mne.io.RawArray:
    """Every picked channel of a recording in one float64 array, as an MNE raw."""
    data = np.empty((len(recording.picks), recording.n_times))
    for rows, block in recording.blocks():
        data[rows] = block
    raw = recording.raw.copy().pick(recording.picks)
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


def _check_onsets(samples, lo: int, hi: int, n_times: int, sfreq: float, source) -> None:
    """Every epoch (raw samples ``lo..hi`` around each onset sample) inside the recording,
    and no two onsets on one sample (MNE would merge them into one epoch, one row fewer
    than the trials table)."""
    inside = (samples + lo >= 0) & (samples + hi < n_times)
    if not inside.all():
        raise DataError(source, f"{(~inside).sum()} events lie too close to the recording's edges")
    repeated = len(samples) - len(np.unique(samples))
    if repeated:
        raise DataError(
            source,
            f"{repeated} events fall on the sample of an earlier one (onsets under 1/{sfreq:g} s"
            " apart)",
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
    sfreq = raw.info["sfreq"]
    samples = np.round(onsets * sfreq).astype(int)
    first, last = int(round(params.tmin * sfreq)), int(round(params.tmax * sfreq))
    _check_onsets(samples, first, last, raw.n_times, sfreq, source)
    events = np.column_stack(
        [
            samples + raw.first_samp,
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
    if len(epochs) != len(onsets):  # checked above: MNE's rule for its edges is its own
        raise DataError(source, f"{len(onsets) - len(epochs)} epochs of {len(onsets)} not made")
    if decim == 1 and not np.isclose(ratio, 1):
        epochs.resample(params.sfreq, verbose=False)
    if params.baseline is not None:
        epochs.apply_baseline(tuple(params.baseline), verbose=False)
    data = epochs.get_data(copy=False)
    return robust_scale(data, params.clip)


#: Threads that read and decimate blocks of channels at once (:func:`epoch_recording`).
READ_THREADS = 2


def epoch_offsets(sfreq: float, params: Preprocessing) -> np.ndarray:
    """Raw-sample offsets from onset of the samples ``mne.Epochs(decim=...)`` keeps."""
    factor = int(round(sfreq / params.sfreq))
    offsets = np.arange(int(round(params.tmin * sfreq)), int(round(params.tmax * sfreq)) + 1)
    return offsets[offsets % factor == 0]


def epoch_times(sfreq: float, params: Preprocessing) -> np.ndarray:
    """Times (s from onset) of the epochs' samples from a recording at ``sfreq`` Hz.

    Decimation by a whole factor keeps the raw samples :func:`epoch_offsets` names (a
    ``tmin`` off that grid starts one kept sample later than ``tmin``); another ratio is
    :func:`epoch_run`'s ``Epochs.resample`` of the raw samples from ``tmin`` to ``tmax``:
    MNE keeps their first time and round(ratio × their number) samples.
    """
    ratio = sfreq / params.sfreq
    if np.isclose(ratio, round(ratio)):
        return epoch_offsets(sfreq, params) / sfreq
    first, last = int(round(params.tmin * sfreq)), int(round(params.tmax * sfreq))
    n_times = int(round((last - first + 1) * params.sfreq / sfreq))
    return first / sfreq + np.arange(n_times) / params.sfreq


def epoch_recording(
    recording: Recording, onsets: np.ndarray, params: Preprocessing, source: Path
) -> np.ndarray:
    """:func:`epoch_run`'s epochs from a recording read a block of channels at a time.

    The band-pass is MNE's, evaluated through :class:`FilterChain` at the kept
    samples only; without a chain (no band-pass, or a non-integer rate ratio) the run
    is loaded whole and goes through :func:`epoch_run`.
    """
    params.check_rate(recording.sfreq, recording.path)
    chain = filter_chain(recording.sfreq, params)
    if chain is None:
        return epoch_run(_load(recording), onsets, params, source)
    offsets = epoch_offsets(recording.sfreq, params)
    samples = np.round(onsets * recording.sfreq).astype(int)
    n_times = recording.n_times
    lo = int(round(params.tmin * recording.sfreq))
    hi = int(round(params.tmax * recording.sfreq))
    _check_onsets(samples, lo, hi, n_times, recording.sfreq, source)
    n_edge = max(min(chain.band_length, n_times) - 1, 0)
    positions = samples + n_edge
    step2 = chain.factor2 // chain.factor1
    window = None
    if params.baseline is not None:
        times = offsets / recording.sfreq
        window = (times >= params.baseline[0]) & (times <= params.baseline[1])
    fast = Sampler(chain.factor1, chain.kernel1, positions, offsets)
    slow = Sampler(chain.factor2, chain.interp2, positions, offsets) if chain.factor2 else None
    out = np.empty((len(onsets), len(recording.picks), len(offsets)), np.float32)
    local = threading.local()

    def work(rows: np.ndarray) -> None:
        """Every step for one block of channels, from reading to scaling, into ``out``.

        Each step treats channels independently, so the blocks share nothing but
        ``out`` (each writes its own rows).
        """
        if not hasattr(local, "padded"):  # buffers kept per thread across blocks
            local.padded = Padded(CHANNEL_BLOCK, n_times, n_edge, chain.factor1, chain.aa1)
            local.reader = _ctf_reader(recording.raw)
        full = local.padded
        # Each channel minus its mean: a constant leaves MNE's band-pass (gain 0 at DC),
        # and float32 keeps what is left to 1e-7.
        recording.read(rows, centered=True, out=full.middle(len(rows)), reader=local.reader)
        padded = full.padded(len(rows))
        if chain.factor1 > 1:  # z1: the channels at sfreq / factor1 (240 Hz)
            z1 = decimate(padded, full.block, full.n_ext, chain.aa1, chain.factor1)
        else:
            z1 = padded[:, full.block : full.block + full.n_ext]
        data = fast(z1)
        if slow is not None:  # z2: at sfreq / factor2 (20 Hz)
            part = Padded(len(rows), z1.shape[1], 0, step2, chain.aa2)
            part.middle(len(rows))[:] = z1
            z2 = decimate(part.padded(len(rows)), part.block, part.n_ext, chain.aa2, step2)
            # The long kernel over the whole 20 Hz copy (zero outside, as MNE's convolution).
            long = fftconvolve(z2, chain.long2[None].astype(np.float32), mode="same", axes=1)
            data += slow(long)
        if window is not None:
            data -= data[..., window].mean(axis=-1, keepdims=True)
        out[:, rows] = robust_scale(data, params.clip)

    # Blocks go through READ_THREADS threads, each on one BLAS thread: one reads while
    # another computes (numpy and file reads release the GIL).
    with threadpool_limits(1), ThreadPoolExecutor(READ_THREADS) as pool:
        list(pool.map(work, recording.block_rows()))
    return out


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
    zero_shot: bool = False,
) -> None:
    """Preprocess every run of a subject into ``epochs.npy``, ``trials.parquet`` and info.

    ``zero_shot``: the training images of the tested concepts are marked ``excluded`` in
    ``trials.parquet`` (:func:`~brainlatent.datasets.things_meg.exclude_test_concepts`);
    their epochs are still written.

    All events are checked before any recording is read, so a bad events file
    fails in seconds; the outputs appear only when every run has succeeded.
    """
    stimuli = things_meg.stimulus_index(stimuli_dir)
    per_run = [run_trials(bids_root, subject, ses, run, stimuli) for ses, run in runs]
    trials = pd.concat(per_run, ignore_index=True)
    if zero_shot:
        trials = things_meg.exclude_test_concepts(trials)
    times = epoch_times(raw_sfreq, params).round(6)
    n_times = len(times)
    with atomic_path(out_epochs) as tmp_epochs:
        start, names = 0, None
        todo = list(zip(runs, per_run, strict=True))
        for (session, run), run_table in tqdm(todo, desc=f"preprocess sub-{subject}"):
            recording = open_run(bids_root, subject, session, run, raw_sfreq)
            source = things_meg.events_path(bids_root, subject, session, run)
            data = epoch_recording(recording, run_table["onset"].to_numpy(), params, source)
            if names is None:
                names = recording.ch_names
                shape = (len(trials), len(names), n_times)
                np.lib.format.open_memmap(tmp_epochs, "w+", np.float32, shape).flush()
            if recording.ch_names != names or data.shape[2] != n_times:
                missing = sorted(set(names) - set(recording.ch_names))
                extra = sorted(set(recording.ch_names) - set(names))
                raise DataError(
                    source,
                    f"run {run}'s MEG channels or epoch length differ from the subject's "
                    f"first run: channels missing {missing[:5]}, extra {extra[:5]}, "
                    f"{data.shape[2]} samples vs {n_times} (a channel marked bad in one "
                    "run's channels.tsv but not another's? mark it in every run)",
                )
            # Mapped for this run only: written pages leave the process when it is unmapped,
            # so memory does not grow with the number of runs.
            epochs = np.load(tmp_epochs, mmap_mode="r+")
            epochs[start : start + len(data)] = data
            epochs.flush()
            start += len(data)
            del recording, data, epochs
        write_table(out_trials, trials)
        info = epochs_info(subject, names, times, params)
        with atomic_path(out_info) as tmp_info:
            tmp_info.write_text(json.dumps(info, indent=1))
