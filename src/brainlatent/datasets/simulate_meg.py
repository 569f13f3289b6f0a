"""Simulated THINGS-MEG: BIDS/FIF runs from a forward model of image features.

Each image's latent vector (colour, orientation, spatial frequency, shape, size;
see :mod:`brainlatent.datasets.stimuli`) drives one evoked component per latent
dimension. A component has a temporal kernel peaking 100–300 ms after onset
(low-level features earlier, shape and size later) and a subject-specific,
spatially smooth sensor pattern. A stimulus-independent evoked response, a 1/f
background from mixed sources, line noise and white sensor noise complete the
recording. ``snr`` is the RMS of the image-specific signal in the 0–500 ms after
onset over the RMS of the background. Forward model and latents are saved as
ground truth, so decoders have a known ceiling and chance level.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import mne
import numpy as np
import pandas as pd
from mne_bids import BIDSPath, write_raw_bids
from scipy.signal import fftconvolve
from tqdm import tqdm

from brainlatent.datasets import stimuli, things_meg
from brainlatent.io import atomic_path
from brainlatent.seeding import rng

#: Peak latency (s) of each latent's component: low-level features first.
PEAKS = {
    "hue": 0.11,
    "orientation": 0.13,
    "spatial_frequency": 0.15,
    "shape": 0.22,
    "size": 0.26,
}
KERNEL_DURATION = 0.8


@dataclass(frozen=True)
class MEGSimulation:
    """Parameters of the forward model (documented in the config schema)."""

    sfreq: float = 240.0
    snr: float = 0.6
    n_noise_sources: int = 20
    line_noise: float = 0.05
    sensor_noise: float = 0.3
    trial_gain_sd: float = 0.2
    amplitude: float = 1e-13
    seed: int = 0


def _peak(name: str) -> float:
    return next(p for key, p in PEAKS.items() if name.startswith(f"z_{key}"))


def temporal_kernels(sfreq: float, latent_columns: list[str]) -> np.ndarray:
    """One gamma-shaped kernel per component: the evoked response, then each latent.

    Component 0 is the stimulus-independent response (a P100/N200-like
    biphasic wave); the others peak at :data:`PEAKS`.
    """
    t = np.arange(int(KERNEL_DURATION * sfreq)) / sfreq

    def bump(peak: float, shape: float = 4.0) -> np.ndarray:
        x = np.clip(t / peak, 0, None)
        return x**shape * np.exp(shape * (1 - x))

    kernels = [bump(0.1) - 0.8 * bump(0.2, 6.0)]
    kernels += [bump(_peak(name)) for name in latent_columns]
    return np.array(kernels)


def spatial_patterns(
    positions: np.ndarray, n_components: int, seed: int, subject: str
) -> np.ndarray:
    """Smooth unit-norm sensor patterns, one per component, specific to a subject.

    Each pattern is two Gaussian blobs of opposite sign (a dipole seen by axial
    gradiometers), centred over posterior sensors where visual responses are.
    """
    gen = rng(seed, "patterns", subject)
    patterns = np.zeros((n_components, len(positions)))
    for k in range(n_components):
        centre = gen.uniform([0.15, 0.0], [0.85, 0.55])
        offset = gen.normal(0, 0.12, size=2)
        for sign, c in ((1.0, centre), (-1.0, centre + offset)):
            d2 = ((positions - c) ** 2).sum(axis=1)
            patterns[k] += sign * np.exp(-d2 / (2 * 0.12**2))
    return patterns / np.linalg.norm(patterns, axis=1, keepdims=True)


def pink_noise(n_sources: int, n_times: int, gen: np.random.Generator) -> np.ndarray:
    """Unit-variance noise with a 1/f power spectrum."""
    spectrum = gen.normal(size=(n_sources, n_times // 2 + 1)) + 1j * gen.normal(
        size=(n_sources, n_times // 2 + 1)
    )
    freqs = np.fft.rfftfreq(n_times)
    freqs[0] = freqs[1]
    noise = np.fft.irfft(spectrum / np.sqrt(freqs), n=n_times)
    return noise / noise.std(axis=1, keepdims=True)


def simulate_run(
    events: pd.DataFrame,
    latents: pd.DataFrame,
    positions: np.ndarray,
    duration: float,
    params: MEGSimulation,
    subject: str,
    run_key: str,
) -> np.ndarray:
    """Sensor data (channels × samples, tesla) for one run's events."""
    sfreq = params.sfreq
    n_times = int(np.ceil(duration * sfreq))
    gen = rng(params.seed, "run", subject, run_key)
    latent_columns = [c for c in latents.columns if c.startswith("z_")]
    kernels = temporal_kernels(sfreq, latent_columns)
    patterns = spatial_patterns(positions, len(kernels), params.seed, subject)

    # Impulse trains: the evoked component for every trial, the latents for image trials.
    trains = np.zeros((len(kernels), n_times))
    onsets = np.round(events["onset"].to_numpy() * sfreq).astype(int)
    gains = 1 + params.trial_gain_sd * gen.standard_normal(len(events))
    z = latents.set_index("image")[latent_columns]
    for onset, gain, kind, image in zip(
        onsets, gains, events["trial_type"], events["value"], strict=True
    ):
        trains[0, onset] += gain
        if kind in things_meg.SPLITS:
            trains[1:, onset] += gain * z.loc[int(image)].to_numpy()
    components = fftconvolve(trains, kernels, axes=1)[:, :n_times]
    specific = patterns[1:].T @ components[1:]
    evoked = np.outer(patterns[0], components[0])

    sources = pink_noise(params.n_noise_sources, n_times, gen)
    mixing = spatial_patterns(positions, params.n_noise_sources, params.seed, f"noise-{subject}")
    background = mixing.T @ sources
    background += params.sensor_noise * gen.standard_normal(background.shape)
    t = np.arange(n_times) / sfreq
    background += params.line_noise * np.sin(2 * np.pi * 60.0 * t + gen.uniform(0, 2 * np.pi))
    background /= background.std()

    window = np.zeros(n_times, dtype=bool)
    for onset in onsets[events["trial_type"].isin(list(things_meg.SPLITS)).to_numpy()]:
        window[onset : onset + int(0.5 * sfreq)] = True
    scale = params.snr / max(specific[:, window].std(), 1e-12)
    data = scale * (specific + 2 * evoked) + background
    return params.amplitude * data


def _raw(
    data: np.ndarray, names: list[str], positions: np.ndarray, sfreq: float, date
) -> mne.io.RawArray:
    info = mne.create_info(names, sfreq, "mag")
    # 2D layout positions lifted onto a 10 cm hemisphere: plausible helmet geometry.
    xy = (positions - 0.5) * 0.18
    z = np.sqrt(np.clip(0.1**2 - (xy**2).sum(axis=1), 1e-6, None))
    for ch, (x, y), zz in zip(info["chs"], xy, z, strict=True):
        ch["loc"][:3] = (x, y, zz)
        ch["loc"][9:12] = np.array([x, y, zz]) / np.linalg.norm([x, y, zz])
    info["line_freq"] = 60.0
    raw = mne.io.RawArray(data, info, verbose=False)
    raw.set_meas_date(date)
    return raw


def simulate_dataset(
    reference_bids: Path,
    bids_root: Path,
    stimuli_dir: Path,
    truth_dir: Path,
    subjects: list[str],
    sessions: list[int],
    runs: list[int],
    trials_per_run: int | None,
    params: MEGSimulation,
    image_size: int = 64,
) -> None:
    """Write the simulated BIDS dataset, its stimuli and its ground truth.

    Trial structure (onsets, trial types, image and category numbers) is read
    from the real events.tsv of each (subject, session, run); ``trials_per_run``
    keeps the first events of each run, and the recording stops 2 s after the
    last one. All three outputs are written whole or not at all.
    """
    reference_bids = Path(reference_bids)
    names = things_meg.sensor_names(reference_bids)
    positions = things_meg.sensor_positions(names)
    superordinate = stimuli.superordinate_categories(
        reference_bids / "sourcedata" / "category_mat_manual.tsv"
    )
    plan = []
    for subject in subjects:
        for session, run in things_meg.runs(sessions, runs):
            path = things_meg.events_path(reference_bids, subject, session, run)
            events = things_meg.read_events(path)
            if trials_per_run is not None:
                events = events.iloc[:trials_per_run]
            plan.append((subject, session, run, events.reset_index(drop=True)))
    shown = pd.concat([things_meg.image_trials(ev) for *_, ev in plan])
    latents = stimuli.image_parameters(shown, superordinate, params.seed)

    with (
        atomic_path(bids_root) as bids_tmp,
        atomic_path(stimuli_dir) as stim_tmp,
        atomic_path(truth_dir) as truth_tmp,
        tempfile.TemporaryDirectory() as scratch,
    ):
        stimuli.write_stimuli(stim_tmp, latents, image_size)
        for subject, session, run, events in tqdm(plan, desc="simulate runs", mininterval=2):
            duration = float(events["onset"].max()) + 2.0
            data = simulate_run(
                events, latents, positions, duration, params, subject, f"{session}-{run}"
            )
            date = _acquisition_date(reference_bids, subject, session)
            fif = Path(scratch) / f"sub-{subject}_ses-{session}_run-{run}_raw.fif"
            _raw(data, names, positions, params.sfreq, date).save(
                fif, overwrite=True, verbose=False
            )
            raw = mne.io.read_raw_fif(fif, verbose=False)
            bids_path = things_meg.bids_path(bids_tmp, subject, session, run)
            with warnings.catch_warnings(), mne.utils.use_log_level("error"):
                # events.tsv is written just below, in ds004212's own columns.
                warnings.filterwarnings("ignore", message="No events found")
                write_raw_bids(raw, bids_path, overwrite=True, verbose="error")
            _match_sidecar(bids_path, reference_bids)
            _write_events(
                things_meg.events_path(bids_tmp, subject, session, run), events, params.sfreq
            )
            fif.unlink()
        shutil.copy(reference_bids / "task-main_events.json", bids_tmp / "task-main_events.json")
        (bids_tmp / "sourcedata").mkdir(exist_ok=True)
        shutil.copy(
            reference_bids / "sourcedata" / "category_mat_manual.tsv",
            bids_tmp / "sourcedata" / "category_mat_manual.tsv",
        )
        truth_tmp.mkdir(parents=True, exist_ok=True)
        latents.to_parquet(truth_tmp / "latents.parquet", index=False)
        latent_columns = [c for c in latents.columns if c.startswith("z_")]
        np.savez(
            truth_tmp / "forward_model.npz",
            kernels=temporal_kernels(params.sfreq, latent_columns),
            components=np.array(["evoked", *latent_columns]),
            sensor_names=np.array(names),
            positions=positions,
            **{
                f"patterns_{s}": spatial_patterns(
                    positions, len(latent_columns) + 1, params.seed, s
                )
                for s in subjects
            },
        )
        (truth_tmp / "simulation.json").write_text(json.dumps(asdict(params), indent=2))


def _write_events(path: Path, events: pd.DataFrame, sfreq: float) -> None:
    """Write events.tsv exactly as ds004212 does (``N/A`` for catch trials)."""
    out = events[things_meg.EVENT_COLUMNS[:-1]].copy()
    out["sample"] = np.round(out["onset"] * sfreq).astype(int)
    out.to_csv(path, sep="\t", index=False, na_rep="N/A")


def _match_sidecar(bids_path: BIDSPath, reference_bids: Path) -> None:
    """Give the simulated ``*_meg.json`` the real system's description (CTF, 275 helmet)."""
    sidecar = bids_path.copy().update(suffix="meg", extension=".json").fpath
    meta = json.loads(sidecar.read_text())
    reference = sorted(reference_bids.glob("sub-*/ses-*/meg/*_meg.json"))
    if reference:
        real = json.loads(reference[0].read_text())
        meta.update({k: real[k] for k in ("Manufacturer", "DewarPosition") if k in real})
    sidecar.write_text(json.dumps(meta, indent=4))


def _acquisition_date(reference_bids: Path, subject: str, session: str) -> datetime:
    scans = (
        reference_bids
        / f"sub-{subject}"
        / f"ses-{session}"
        / f"sub-{subject}_ses-{session}_scans.tsv"
    )
    if scans.exists():
        table = pd.read_csv(scans, sep="\t")
        return datetime.fromisoformat(table["acq_time"].iloc[0]).replace(tzinfo=UTC)
    return datetime(2019, 1, 1, tzinfo=UTC)
