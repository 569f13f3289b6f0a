"""Simulated THINGS-MEG: BIDS/CTF runs from a forward model of image features.

Each image's latent vector (colour, orientation, spatial frequency, shape, size;
see :mod:`brainlatent.datasets.stimuli`) drives one evoked component per latent
dimension. A component has a temporal kernel that starts 50 ms after onset and peaks
at 100–110 ms (colour, orientation, spatial frequency) or 200–250 ms (shape, size) and
a subject-specific,
spatially smooth sensor pattern. A stimulus-independent evoked response, a 1/f
background from many sources anywhere under the helmet (brain noise, of nearly
full rank: 500 sources of cortical size need ~110 spatial components for 99 % of
their variance, where 20 posterior ones needed 17; drawn in the eigenbasis of their
spatial covariance, :func:`background_mixing`), line noise and white sensor
noise complete the recording. ``snr`` is the RMS of the image-specific signal in
the 0–500 ms after onset over the RMS of the background, broadband: in the
0.1–40 Hz band the decoders see it is about 1.5× higher, since the band-pass
removes most of the white sensor noise and none of the signal. The
stimulus-independent evoked response is scaled with it. When the image goes off (each
event's ``duration`` after onset: 0.5 s in ds004212) the same responses come again,
``offset_response`` times as large (default 0.5; Benchetrit et al. 2023 find retrieval
peaking after image onset and again after offset): single trials are decodable again
at 0.57 at 600 ms.

The defaults are set to THINGS-MEG's published statistics (Hebart et al. 2023,
eLife 82580), measured on the simulator's output as the paper measures the real
data (``benchmarks/meg_realism.py``): single-trial pairwise decoding of the 200
test images (LDA per time point, leave one session out) rises above chance at 80 ms
and peaks at 0.74 at 100 ms (real: from ~75–90 ms, "approaching 70–80 %" at ~100 ms),
and the noise ceiling of the 12-repetition mean peaks at 68–70 % (real: "up to 70 %"),
on both participants' test sets. The earlier defaults (snr 0.6, 20 posterior sources,
sensor noise 0.3, no onset latency) gave 0.996 at 140 ms, from 40 ms, and 98 %.
Forward model and latents are saved as ground truth, so decoders have a known
ceiling and chance level.

Runs are written as ds004212 distributes them: a CTF ``.ds`` folder per run with
the real system's 272 gradiometers, reference and misc channels (the names and
types of the real ``channels.tsv``), beside the real sidecars (``channels.tsv``,
``meg.json``, ``coordsystem.json``; sampling rate and duration set to the
simulation's) and the session's ``scans.tsv``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import fftconvolve
from tqdm import tqdm

from brainlatent.datasets import stimuli, things_meg
from brainlatent.datasets.ctf import write_ctf_ds
from brainlatent.errors import ConfigError
from brainlatent.io import atomic_path
from brainlatent.seeding import rng

#: Peak latency (s) of each latent's component: low-level features first. With
#: :data:`ONSET`, single trials are decodable from 80 ms and best at 100 ms, and stay above
#: chance to ~400 ms, as THINGS-MEG's images (Hebart et al. 2023: from ~75-90 ms, peak
#: ~100 ms); the peaks at 110-260 ms and no onset latency of before 2026-12-05 made them
#: decodable from 40 ms and best at 140-160 ms.
PEAKS = {
    "hue": 0.10,
    "orientation": 0.10,
    "spatial_frequency": 0.11,
    "shape": 0.20,
    "size": 0.25,
}
#: Latency (s) of every response: nothing reaches the sensors in the first 50 ms.
ONSET = 0.05
KERNEL_DURATION = 0.8


@dataclass(frozen=True)
class MEGSimulation:
    """Parameters of the forward model (documented in the config schema)."""

    sfreq: float = 240.0
    snr: float = 0.065
    n_noise_sources: int = 500
    noise_width: float | None = 0.06
    line_noise: float = 0.05
    sensor_noise: float = 1.5
    trial_gain_sd: float = 0.2
    offset_response: float = 0.5
    amplitude: float = 1e-13
    seed: int = 0

    def __post_init__(self):
        checks = {
            "snr": self.snr > 0,
            "n_noise_sources": self.n_noise_sources >= 1,
            "noise_width": self.noise_width is None or self.noise_width > 0,
            "sensor_noise": self.sensor_noise >= 0,
            "line_noise": self.line_noise >= 0,
            "trial_gain_sd": self.trial_gain_sd >= 0,
            "offset_response": self.offset_response >= 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            values = ", ".join(f"{name}={getattr(self, name)!r}" for name in bad)
            raise ConfigError(
                f"things_meg.simulate: {values} out of range (snr > 0, n_noise_sources >= 1, "
                "noise_width > 0 or null, the noise SDs and offset_response >= 0)"
            )


def _peak(name: str) -> float:
    return next(p for key, p in PEAKS.items() if name.startswith(f"z_{key}"))


def temporal_kernels(sfreq: float, latent_columns: list[str]) -> np.ndarray:
    """One gamma-shaped kernel per component: the evoked response, then each latent.

    Component 0 is the stimulus-independent response (a P100/N200-like
    biphasic wave); the others peak at :data:`PEAKS`.
    """
    t = np.arange(int(KERNEL_DURATION * sfreq)) / sfreq

    def bump(peak: float, shape: float = 4.0) -> np.ndarray:
        x = np.clip((t - ONSET) / (peak - ONSET), 0, None)
        return x**shape * np.exp(shape * (1 - x))

    kernels = [bump(0.1) - 0.8 * bump(0.2, 6.0)]
    kernels += [bump(_peak(name)) for name in latent_columns]
    return np.array(kernels)


def _dipole_patterns(
    positions: np.ndarray,
    n_patterns: int,
    gen: np.random.Generator,
    centres: tuple[list[float], list[float]],
    width: float,
) -> np.ndarray:
    """Unit-norm sensor patterns of two Gaussian lobes of opposite sign and SD ``width``.

    A dipole as axial gradiometers see it: one lobe centred uniformly in the box
    ``centres`` (low and high corners, layout units), the other a ``width``-sized step away.
    """
    patterns = np.zeros((n_patterns, len(positions)))
    for k in range(n_patterns):
        centre = gen.uniform(*centres)
        offset = gen.normal(0, width, size=2)
        for sign, c in ((1.0, centre), (-1.0, centre + offset)):
            d2 = ((positions - c) ** 2).sum(axis=1)
            patterns[k] += sign * np.exp(-d2 / (2 * width**2))
    return patterns / np.linalg.norm(patterns, axis=1, keepdims=True)


def spatial_patterns(
    positions: np.ndarray, n_components: int, seed: int, subject: str
) -> np.ndarray:
    """Smooth sensor patterns, one per component, specific to a subject: dipoles over the
    posterior sensors, where visual responses are."""
    gen = rng(seed, "patterns", subject)
    return _dipole_patterns(positions, n_components, gen, ([0.15, 0.0], [0.85, 0.55]), 0.12)


def background_patterns(
    positions: np.ndarray, n_sources: int, width: float, seed: int, subject: str
) -> np.ndarray:
    """Sensor patterns of background sources anywhere under the helmet.

    Dipoles as :func:`spatial_patterns`, but centred anywhere over the sensor array (brain
    noise comes from the whole cortex) and of SD ``width`` in layout units (0.06: about
    1.3 sensor spacings, ~2.5 cm, a source in superficial cortex), so that many sources
    span many spatial dimensions.
    """
    gen = rng(seed, "background", subject)
    return _dipole_patterns(positions, n_sources, gen, ([0.0, 0.0], [1.0, 1.0]), width)


def background_mixing(
    positions: np.ndarray, n_sources: int, width: float, seed: int, subject: str
) -> np.ndarray:
    """Sensors × rank mixing of independent 1/f components into the brain-noise background.

    Independent sources mixed by fixed fields make a Gaussian background whose only
    parameters are its spectrum and its spatial covariance ``PᵀP``; drawn in that
    covariance's eigenbasis (the square root, ``U√Λ``), the same background needs one
    component per sensor at most instead of one per source (272 draws for 500 sources).
    """
    patterns = background_patterns(positions, n_sources, width, seed, subject)
    variances, basis = np.linalg.eigh(patterns.T @ patterns)
    keep = variances > 1e-10 * variances.max()
    return basis[:, keep] * np.sqrt(variances[keep])


def pink_noise(n_sources: int, n_times: int, gen: np.random.Generator) -> np.ndarray:
    """Unit-variance noise with a 1/f power spectrum."""
    spectrum = gen.normal(size=(n_sources, n_times // 2 + 1)) + 1j * gen.normal(
        size=(n_sources, n_times // 2 + 1)
    )
    freqs = np.fft.rfftfreq(n_times)
    freqs[0] = freqs[1]
    noise = np.fft.irfft(spectrum / np.sqrt(freqs), n=n_times)
    return noise / noise.std(axis=1, keepdims=True)


def pink_components(n_components: int, n_times: int, gen: np.random.Generator) -> np.ndarray:
    """1/f noise of unit *expected* variance, float32 (components × samples).

    Unlike :func:`pink_noise`, each row is not rescaled by its own standard deviation: that
    is dominated by a run's few slowest cycles, so it would scale every component's in-band
    power by a random factor and distort the spatial covariance the components are mixed to.
    """
    n_freqs = n_times // 2 + 1
    spectrum = np.empty((n_components, n_freqs), np.complex64)
    spectrum.real = gen.standard_normal((n_components, n_freqs), dtype=np.float32)
    spectrum.imag = gen.standard_normal((n_components, n_freqs), dtype=np.float32)
    freqs = np.fft.rfftfreq(n_times)
    freqs[0] = freqs[1]
    amplitude = 1 / np.sqrt(freqs)
    # irfft's variance: the DC term and (n even) the Nyquist term count their real part
    # once, every other frequency twice over (its real part and its mirror).
    power = 4 * amplitude**2
    power[0] /= 4
    if n_times % 2 == 0:
        power[-1] /= 4
    spectrum *= (amplitude * n_times / np.sqrt(power.sum())).astype(np.float32)
    return np.fft.irfft(spectrum, n=n_times)


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
    n_times = n_samples(duration, sfreq)
    gen = rng(params.seed, "run", subject, run_key)
    latent_columns = [c for c in latents.columns if c.startswith("z_")]
    kernels = temporal_kernels(sfreq, latent_columns)
    patterns = spatial_patterns(positions, len(kernels), params.seed, subject)

    # Impulse trains: the evoked component for every trial, the latents for image trials;
    # the same again, ``offset_response`` times, when the image goes off (its OFF response).
    trains = np.zeros((len(kernels), n_times))
    onsets = np.round(events["onset"].to_numpy() * sfreq).astype(int)
    offsets = None
    if params.offset_response:
        shown = events["duration"].to_numpy(float) if "duration" in events else None
        if shown is None or not np.isfinite(shown).all():
            raise ValueError(
                "the offset response needs every event's duration (ds004212's events.tsv: "
                "0.5 s); offset_response: 0 simulates without it"
            )
        offsets = onsets + np.round(shown * sfreq).astype(int)
    gains = 1 + params.trial_gain_sd * gen.standard_normal(len(events))
    z = latents.set_index("image")[latent_columns]
    for k, (onset, gain, kind, image) in enumerate(
        zip(onsets, gains, events["trial_type"], events["value"], strict=True)
    ):
        response = np.zeros(len(kernels))
        response[0] = 1.0  # the evoked component, for every trial
        if kind in things_meg.SPLITS:
            response[1:] = z.loc[int(image)].to_numpy()
        trains[:, onset] += gain * response
        if offsets is not None and offsets[k] < n_times:
            trains[:, offsets[k]] += params.offset_response * gain * response
    components = fftconvolve(trains, kernels, axes=1)[:, :n_times]

    # Channels × samples arrays are 0.3 GB each at the default size: at most two at a time
    # (and a float32 half while the background is mixed), every step in place, in the order
    # (and so with the rounding) of the expression it stands for.
    if params.noise_width is None:  # the former background, draw for draw: posterior sources
        sources = pink_noise(params.n_noise_sources, n_times, gen)
        mixing = spatial_patterns(
            positions, params.n_noise_sources, params.seed, f"noise-{subject}"
        )
        background = mixing.T @ sources
    else:
        mixing = background_mixing(
            positions, params.n_noise_sources, params.noise_width, params.seed, subject
        )
        background = np.zeros((len(positions), n_times))
        for start in range(0, mixing.shape[1], 64):  # 64 components at a time: memory
            block = mixing[:, start : start + 64].astype(np.float32)
            background += block @ pink_components(block.shape[1], n_times, gen)
        background /= background.std()  # sensor_noise is relative to the 1/f background
    noise = gen.standard_normal(background.shape)
    noise *= params.sensor_noise
    background += noise
    del noise
    t = np.arange(n_times) / sfreq
    background += params.line_noise * np.sin(2 * np.pi * 60.0 * t + gen.uniform(0, 2 * np.pi))
    background /= background.std()

    specific = patterns[1:].T @ components[1:]
    window = np.zeros(n_times, dtype=bool)
    for onset in onsets[events["trial_type"].isin(list(things_meg.SPLITS)).to_numpy()]:
        window[onset : onset + int(0.5 * sfreq)] = True
    scale = params.snr / max(specific[:, window].std(), 1e-12)
    # amplitude · (scale · (specific + 2 · evoked) + background), evoked = outer(pattern, time
    # course) one channel at a time
    for row, weight in zip(specific, patterns[0], strict=True):
        evoked = weight * components[0]
        evoked *= 2
        row += evoked
    specific *= scale
    specific += background
    del background
    specific *= params.amplitude
    return specific


#: BIDS channel types of ds004212's channels.tsv → the CTF writer's.
BIDS_TYPES = {"MEGREFMAG": "ref_meg", "MEGREFGRADAXIAL": "ref_meg", "MISC": "misc"}


def _sidecar(reference_bids: Path, subject: str, session: str, run: str, suffix: str) -> Path:
    """A run's sidecar file in the reference dataset, e.g. ``meg.json`` (it may not exist)."""
    stem = things_meg.bids_basename(subject, session, run)
    return things_meg.events_path(reference_bids, subject, session, run).with_name(
        f"{stem}_{suffix}"
    )


def _channels(reference_bids: Path, subject: str, session: str, run: str) -> pd.DataFrame:
    """The run's real channel list (name, type), or the first one found."""
    path = _sidecar(reference_bids, subject, session, run, "channels.tsv")
    if not path.exists():
        path = sorted(Path(reference_bids).glob("sub-*/ses-*/meg/*_channels.tsv"))[0]
    return pd.read_csv(path, sep="\t")


def _write_run(
    folder: Path,
    stem: str,
    data: np.ndarray,
    names: list[str],
    positions: np.ndarray,
    channels: pd.DataFrame,
    sfreq: float,
    date: datetime,
    gen: np.random.Generator,
) -> None:
    """One run as a CTF ``.ds``: the MEG sensors simulated, reference channels a faint
    field noise, the system clock counting samples, other misc channels zero, in the
    order of the real channel list."""
    row = {name: k for k, name in enumerate(names)}
    types, signals = [], np.zeros((len(channels), data.shape[1]))
    for k, (name, kind) in enumerate(zip(channels["name"], channels["type"], strict=True)):
        if name in row:
            types.append("meg")
            signals[k] = data[row[name]]
        else:
            types.append(BIDS_TYPES.get(kind, "misc"))
            if types[-1] == "ref_meg":
                signals[k] = gen.normal(0, 1e-13, data.shape[1])
            elif name.startswith("SCLK"):  # the system clock: MNE reads samples while it counts
                signals[k] = np.arange(1, data.shape[1] + 1)
    del data  # simulate_dataset keeps no reference: one channels × samples array from here on
    xy = (positions - 0.5) * 1.8  # layout square → directions over the upper hemisphere
    z = np.sqrt(np.clip(1 - (xy**2).sum(axis=1), 0.05, None))
    directions = np.zeros((len(channels), 3))
    for name, (x, y), zz in zip(names, xy, z, strict=True):
        directions[channels.index[channels["name"] == name][0]] = (x, y, zz)
    write_ctf_ds(
        folder / f"{stem}_meg.ds",
        signals,
        channels["name"].tolist(),
        sfreq,
        ch_types=types,
        meas_date=date,
        sensor_positions=np.where(directions.any(axis=1, keepdims=True), directions, 1.0),
    )


#: Seconds recorded after the last event where the real run's length is not used.
TAIL = 2.0


def n_samples(duration: float, sfreq: float) -> int:
    """Samples of a run lasting ``duration`` seconds."""
    return int(np.ceil(duration * sfreq))


def _run_duration(
    reference_bids: Path, subject: str, session: str, run: str, events: pd.DataFrame, cut: bool,
) -> float:  # fmt: skip
    """The real run's length (its meg.json's ``RecordingDuration`` and one sample: 348 s, 6-10 s
    after the last event in every ds004212 run that has the sidecar, so the 0.1 Hz high-pass
    sees the tail it will see on the real files), or ``TAIL`` after the last event when the
    run is ``cut`` to its first events or has no meg.json (12 of the 480: BIGMEG4's session
    2, BIGMEG2's session 6 runs 9-10)."""
    last = float(events["onset"].max())
    sidecar = _sidecar(reference_bids, subject, session, run, "meg.json")
    if not cut and sidecar.exists():
        meta = json.loads(sidecar.read_text())
        recorded, sfreq = meta.get("RecordingDuration"), meta.get("SamplingFrequency")
        if all(isinstance(v, int | float) for v in (recorded, sfreq)) and recorded > last + TAIL:
            # the duration is the last sample's time: the file holds one sample more
            return (round(recorded * sfreq) + 1) / sfreq
    return last + TAIL


def _write_sidecars(
    reference_bids: Path, bids: Path, subject: str, session: str, run: str, sfreq: float,
    duration: float,
) -> None:  # fmt: skip
    """Copy the run's real sidecars, with the simulation's sampling rate and duration."""
    target = things_meg.events_path(bids, subject, session, run).parent
    stem = things_meg.bids_basename(subject, session, run)
    channels = _channels(reference_bids, subject, session, run)
    channels["sampling_frequency"] = sfreq
    channels["high_cutoff"] = sfreq / 2
    channels.to_csv(target / f"{stem}_channels.tsv", sep="\t", index=False, na_rep="n/a")
    for suffix in ("meg.json", "coordsystem.json"):
        real = _sidecar(reference_bids, subject, session, run, suffix)
        if not real.exists():
            candidates = sorted(Path(reference_bids).glob(f"sub-*/ses-*/meg/*_{suffix}"))
            real = candidates[0] if candidates else None
        if real is None:
            continue
        meta = json.loads(real.read_text())
        if suffix == "meg.json":
            # the last sample's time, as MNE-BIDS writes it
            last_sample = (n_samples(duration, sfreq) - 1) / sfreq
            meta.update(SamplingFrequency=sfreq, RecordingDuration=round(last_sample, 6))
        (target / f"{stem}_{suffix}").write_text(json.dumps(meta, indent=4))


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
    keeps the first events of each run. A whole run is as long as the real one; a
    cut one stops 2 s after its last event. All three outputs are written whole or not
    at all.
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
            cut = trials_per_run is not None and trials_per_run < len(events)
            if cut:
                events = events.iloc[:trials_per_run]
            plan.append((subject, session, run, cut, events.reset_index(drop=True)))
    shown = pd.concat([things_meg.image_trials(ev) for *_, ev in plan])
    latents = stimuli.image_parameters(shown, superordinate, params.seed)

    with (
        atomic_path(bids_root) as bids_tmp,
        atomic_path(stimuli_dir) as stim_tmp,
        atomic_path(truth_dir) as truth_tmp,
    ):
        stimuli.write_stimuli(stim_tmp, latents, image_size)
        scans: dict[tuple[str, str], list[dict]] = {}
        for subject, session, run, cut, events in tqdm(plan, desc="simulate runs", mininterval=2):
            duration = _run_duration(reference_bids, subject, session, run, events, cut)
            date = _acquisition_date(reference_bids, subject, session)
            events_file = things_meg.events_path(bids_tmp, subject, session, run)
            events_file.parent.mkdir(parents=True, exist_ok=True)
            stem = things_meg.bids_basename(subject, session, run)
            key = f"{session}-{run}"
            _write_run(  # the run's data handed over, not kept: freed once copied to channels
                events_file.parent, stem,
                simulate_run(events, latents, positions, duration, params, subject, key),
                names, positions,
                _channels(reference_bids, subject, session, run), params.sfreq, date,
                rng(params.seed, "references", subject, session, run),
            )  # fmt: skip
            _write_sidecars(reference_bids, bids_tmp, subject, session, run, params.sfreq, duration)
            _write_events(events_file, events, params.sfreq)
            scans.setdefault((subject, session), []).append(
                {"filename": f"meg/{stem}_meg.ds", "acq_time": date.strftime("%Y-%m-%dT%H:%M:%S")}
            )
        for (subject, session), rows in scans.items():
            path = (
                bids_tmp
                / f"sub-{subject}"
                / f"ses-{session}"
                / f"sub-{subject}_ses-{session}_scans.tsv"
            )
            pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
        for name in ("dataset_description.json", "participants.tsv", "participants.json", "README"):
            if (reference_bids / name).exists():
                shutil.copy(reference_bids / name, bids_tmp / name)
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
