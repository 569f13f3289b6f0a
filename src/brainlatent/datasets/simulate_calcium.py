"""Simulated Allen Visual Coding 2P sessions: NWB files from tuned neurons.

Stimuli. Natural movie one becomes a drifting Gabor patch whose position,
orientation and spatial frequency follow a smooth closed curve (the movie's
latent trajectory: 900 frames, 30 Hz); the 118 natural scenes become grey-scale
dead-leaves images (:mod:`brainlatent.datasets.dead_leaves`: occluding shapes
with power-law sizes, a 1/f spectrum, contrast varied per image). Stimuli depend
only on the seed, so every simulated mouse sees the same movie and images, as
real mice do.

Neurons. Each neuron's rate is a baseline plus a tuning curve over the four
features: Gaussian in position and log spatial frequency, von Mises in
orientation. "movie" neurons prefer the features of a random movie frame (they
tile the trajectory), "scene" neurons prefer random points of the scenes'
feature range, "untuned" neurons keep their baseline. Running multiplies rates
by a per-neuron gain. A flashed scene drives every tuned neuron through a V1
filter bank: the neuron is a complex cell, the energy of a quadrature pair of
Gabor filters at its preferred position, orientation and spatial frequency
(:func:`image_drive`), saturating, times ``flash_gain`` (its 250 ms are mostly
onset transient), so single scene presentations evoke measurable calcium events
and the scene responses are a known function of the pixels. Poisson spikes at
the imaging rate, convolved with a GCaMP6f kernel (instant rise, exponential decay
τ), plus Gaussian noise, give dF/F. The defaults follow the Allen data where a
published number exists (:mod:`brainlatent.preprocessing.calcium_statistics`
measures each on any session, real or simulated): τ 0.45 s, the Allen's own
half-decay of Emx1;Ai93 GCaMP6f, 315 ms (``l0_analysis.py`` of
``visual_coding_2p_analysis``); noise SD 0.057, CASCADE's standardised noise level
of 1 %·s^-1/2 that the Allen traces sit around (Rupprecht et al. 2021); one spike
0.04 dF/F, 0.7 noise SD, so that even an ideal detector knowing the spike times
finds a third of single spikes at 1 % false positives (Huang et al. 2021 find
16-21 % with a real detector in Ai93 GCaMP6f mice); half the cells tuned to
nothing shown (de Vries et al. 2020: the largest class responds reliably to no
stimulus), 30 % responsive to the movie by the Allen's criterion; mean rate
0.7 Hz during the movie (~2 Hz during the scenes: ``flash_gain``). Not
calibrated, for want of a published value here: the tuned cells' peak rate and
the fraction responsive per area. Before 2026-12-05 the defaults
were a clean case (τ 0.7 s, a spike 2 noise SDs, 3 cells in 4 movie-tuned:
frame decoding saturated near 1 from 300 cells).

Session. Grey screen, the movie repeated back to back, grey, the scenes in
random order with blank sweeps (grey) mixed in, grey; listed in ``epochs``. The
file has the DANDI 000728 layout (see :mod:`brainlatent.datasets.allen_calcium`),
with blank sweeps as gaps between presentations because an IndexSeries cannot
hold -1. Latents and tuning are saved beside the file as ``<stem>_truth.npz``.
Session types follow the real protocols as far as the reader cares: every type
shows natural movie one; only ``StimB`` has the natural scenes (presentations and
template), as in the dandiset. A mouse's sessions share its cells (same ids and
tuning) with independent noise, as a container imaged on three days.
"""

from __future__ import annotations

import json
import uuid
import warnings
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

from brainlatent.datasets import allen_calcium as ac
from brainlatent.datasets.dead_leaves import dead_leaves
from brainlatent.io import atomic_path
from brainlatent.seeding import derive_seed, rng

#: The stimulus features that neurons are tuned to, in latent-array column order.
FEATURES = ("x", "y", "orientation", "log2_sf")
POPULATIONS = ("untuned", "movie", "scene")
#: Visual response latency (s): rates follow the screen with this delay.
LATENCY = 0.066
ENVELOPE_SD = 0.18  # Gabor envelope, in image widths
#: Stream of the dead-leaves generator that the simulated scenes are drawn from.
SCENE_STREAM = "scenes"
DRIVE_C50 = 0.5  # semi-saturation energy of the V1 filter bank (image_drive)
RF_SCALE = 0.5  # envelope SD of a receptive field, in units of the neuron's position_sd


@dataclass(frozen=True)
class CalciumSimulation:
    """Parameters of the forward model; rates in Hz, dF/F in ΔF/F units."""

    imaging_rate: float = ac.IMAGING_RATE
    tau: float = 0.45
    spike_dff: float = 0.04
    noise_sd: float = 0.057
    base_rate: tuple[float, float] = (0.1, 0.5)
    peak_rate: float = 8.0
    flash_gain: float = 1.5
    frac_movie: float = 0.3
    frac_scene: float = 0.2
    running_gain_sd: float = 0.2
    scene_duration: float = 0.25
    grey: float = 5.0

    def __post_init__(self):
        if self.frac_movie + self.frac_scene > 1:
            raise ValueError(
                f"frac_movie + frac_scene must be at most 1 (the rest is untuned); got "
                f"{self.frac_movie} + {self.frac_scene}"
            )


def movie_latents(seed: int, n_frames: int = ac.N_MOVIE_FRAMES) -> np.ndarray:
    """The movie's latent trajectory, (frames × :data:`FEATURES`): a smooth closed curve.

    Position traces a figure of eight, orientation turns once through 180°
    (so the two lobes differ) and spatial frequency oscillates; phases come
    from the seed.
    """
    gen = rng(seed, "movie")
    phase = gen.uniform(0, 2 * np.pi, size=4)
    t = np.arange(n_frames) / n_frames
    x = 0.28 * np.sin(2 * np.pi * t + phase[0])
    y = 0.24 * np.sin(4 * np.pi * t + phase[1])
    orientation = np.mod(np.pi * t + 0.25 * np.sin(6 * np.pi * t + phase[2]), np.pi)
    log2_sf = 2.0 + 0.7 * np.sin(4 * np.pi * t + phase[3])
    return np.column_stack([x, y, orientation, log2_sf])


def scene_latents(seed: int, n_scenes: int = ac.N_SCENES) -> np.ndarray:
    """Feature values of the scenes, (scenes × :data:`FEATURES`), spanning the tuned range."""
    gen = rng(seed, "scenes")
    return np.column_stack(
        [
            gen.uniform(-0.35, 0.35, n_scenes),
            gen.uniform(-0.35, 0.35, n_scenes),
            gen.uniform(0, np.pi, n_scenes),
            gen.uniform(1.0, 3.0, n_scenes),
        ]
    )


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    g = (np.arange(size) + 0.5) / size - 0.5
    return np.meshgrid(g, -g)  # x to the right, y up


def _gabor(latents: np.ndarray, phase: np.ndarray, size: int) -> np.ndarray:
    """Gabor patches in [-1, 1], one per latent row: (n, size, size)."""
    xx, yy = _grid(size)
    x, y, ori, lsf = (latents[:, k, None, None] for k in range(4))
    envelope = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * ENVELOPE_SD**2))
    carrier = np.cos(
        2 * np.pi * 2.0**lsf * (xx * np.cos(ori) + yy * np.sin(ori)) + phase[:, None, None]
    )
    return envelope * carrier


def _to_uint8(images: np.ndarray) -> np.ndarray:
    return np.clip(np.round(127.5 + 127.5 * images), 0, 255).astype(np.uint8)


def render_movie(latents: np.ndarray, size: int, rate: float = ac.MOVIE_RATE) -> np.ndarray:
    """Movie frames (uint8): the latent Gabor drifting at 2 cycles/s."""
    phase = 2 * np.pi * 2.0 * np.arange(len(latents)) / rate
    return _to_uint8(0.9 * _gabor(latents, phase, size))


def render_scenes(size: int, seed: int, n_scenes: int = ac.N_SCENES) -> np.ndarray:
    """Scene images (uint8, n × size × size): dead leaves with natural-image statistics.

    The first ``n_scenes`` draws of the seed's ``scenes`` stream
    (:mod:`brainlatent.datasets.dead_leaves`); a pretraining corpus drawn from
    another stream of the same generator never contains them.
    """
    return np.round(255 * dead_leaves(n_scenes, size, seed, stream=SCENE_STREAM)).astype(np.uint8)


def receptive_fields(neurons: dict[str, np.ndarray], size: int) -> np.ndarray:
    """Each neuron's quadrature pair of Gabor filters, complex (neurons × size × size).

    A V1 complex cell at its preferred position, orientation and spatial
    frequency (the ``preferred`` columns of :data:`FEATURES`); the envelope SD is
    half the neuron's ``position_sd``. Real part: even filter, imaginary: odd.
    Each filter has zero mean and unit norm, so energies compare across neurons.
    """
    xx, yy = _grid(size)
    pref = neurons["preferred"]
    x, y, ori, lsf = (pref[:, k, None, None] for k in range(4))
    sd = (RF_SCALE * neurons["position_sd"])[:, None, None]
    envelope = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sd**2))
    carrier = np.exp(1j * 2 * np.pi * 2.0**lsf * (xx * np.cos(ori) + yy * np.sin(ori)))
    rf = envelope * carrier
    rf -= rf.mean(axis=(1, 2), keepdims=True) * envelope / envelope.mean(axis=(1, 2), keepdims=True)
    rf /= np.sqrt((np.abs(rf) ** 2).sum(axis=(1, 2), keepdims=True) / 2)
    return rf


def image_drive(images: np.ndarray, neurons: dict[str, np.ndarray]) -> np.ndarray:
    """Drive in [0, 1) of every neuron by every image (images × neurons): a V1 filter bank.

    The image's contrast (its deviation from mid-grey, uint8 or [0, 1] input)
    is projected on each neuron's quadrature pair (:func:`receptive_fields`);
    the phase-invariant energy goes through a Naka–Rushton saturation
    E / (E + c50) with c50 = :data:`DRIVE_C50`, as in complex cells.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"images must be (n, size, size); got {images.shape}")
    if images.max() > 1:
        images = images / 255.0
    contrast = (images - 0.5).reshape(len(images), -1)
    rf = receptive_fields(neurons, images.shape[1]).reshape(len(neurons["base_rate"]), -1)
    energy = np.abs(contrast @ rf.T.conj()) ** 2
    return energy / (energy + DRIVE_C50)


def neuron_parameters(
    n_neurons: int, movie: np.ndarray, params: CalciumSimulation, seed: int, mouse: str
) -> dict[str, np.ndarray]:
    """Tuning of one mouse's neurons (saved as ground truth)."""
    gen = rng(seed, "neurons", mouse)
    population = gen.choice(
        3,
        size=n_neurons,
        p=[1 - params.frac_movie - params.frac_scene, params.frac_movie, params.frac_scene],
    )
    preferred = scene_latents(derive_seed(seed, "preferred", mouse), n_neurons)
    on_movie = population == 1
    frames = gen.integers(0, len(movie), on_movie.sum())
    jitter = gen.normal(0, [0.03, 0.03, 0.1, 0.15], size=(on_movie.sum(), 4))
    preferred[on_movie] = movie[frames] + jitter
    preferred[:, 2] = np.mod(preferred[:, 2], np.pi)
    return {
        "population": population,
        "preferred": preferred,
        "position_sd": gen.uniform(0.12, 0.22, n_neurons),
        "kappa": gen.uniform(0.8, 2.5, n_neurons),
        "log2_sf_sd": gen.uniform(0.4, 0.8, n_neurons),
        "peak_rate": np.where(
            population > 0, params.peak_rate * gen.lognormal(0, 0.3, n_neurons), 0.0
        ),
        "base_rate": gen.uniform(*params.base_rate, n_neurons),
        "running_gain": gen.normal(0.3, params.running_gain_sd, n_neurons).clip(-0.5, None),
    }


def tuning(features: np.ndarray, neurons: dict[str, np.ndarray]) -> np.ndarray:
    """Rate (Hz) of every neuron for every feature row: (rows × neurons)."""
    pref = neurons["preferred"]
    d_pos = (features[:, None, 0] - pref[None, :, 0]) ** 2 + (
        features[:, None, 1] - pref[None, :, 1]
    ) ** 2
    position = np.exp(-d_pos / (2 * neurons["position_sd"] ** 2))
    orientation = np.exp(
        neurons["kappa"] * (np.cos(2 * (features[:, None, 2] - pref[None, :, 2])) - 1)
    )
    sf = np.exp(
        -((features[:, None, 3] - pref[None, :, 3]) ** 2) / (2 * neurons["log2_sf_sd"] ** 2)
    )
    return neurons["base_rate"] + neurons["peak_rate"] * position * orientation * sf


def running_speed(n: int, rate: float, gen: np.random.Generator) -> np.ndarray:
    """Running bouts (cm/s): a slow Ornstein–Uhlenbeck process, rectified."""
    alpha = np.exp(-1 / (3.0 * rate))
    drive = lfilter([np.sqrt(1 - alpha**2)], [1, -alpha], gen.standard_normal(n))
    return 20.0 * np.clip(drive - 0.3, 0, None) + np.abs(gen.normal(0, 0.3, n))


def session_plan(
    n_movie_repeats: int, n_scene_repeats: int, params: CalciumSimulation, seed: int, mouse: str
) -> dict[str, np.ndarray | float]:
    """Onsets of every movie frame and scene (blank sweeps: frame -1) and epoch bounds."""
    grey, dur = params.grey, params.scene_duration
    n_movie = n_movie_repeats * ac.N_MOVIE_FRAMES
    movie_start = grey + 1 / 60  # a monitor frame off the imaging clock
    movie_onsets = movie_start + np.arange(n_movie) / ac.MOVIE_RATE
    movie_end = movie_onsets[-1] + 1 / ac.MOVIE_RATE
    gen = rng(seed, "scene-order", mouse)
    order = gen.permutation(np.repeat(np.arange(-1, ac.N_SCENES), n_scene_repeats))
    scenes_start = movie_end + grey
    scene_onsets = scenes_start + dur * np.arange(len(order))
    scenes_end = scenes_start + dur * len(order)
    return {
        "movie_frames": np.tile(np.arange(ac.N_MOVIE_FRAMES), n_movie_repeats),
        "movie_onsets": movie_onsets,
        "scene_frames": order,
        "scene_onsets": scene_onsets,
        "epochs": np.array(
            [[0, movie_start], [movie_start, movie_end], [scenes_start, scenes_end]]
        ),
        "duration": scenes_end + grey,
    }


def simulate_activity(
    plan: dict,
    neurons: dict[str, np.ndarray],
    movie: np.ndarray,
    scene_drive: np.ndarray,
    params: CalciumSimulation,
    gen: np.random.Generator,
    scene_gen: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(timestamps, dF/F float32 (time × neurons), running speed) for one session.

    Movie frames drive the neurons through their tuning to the frame's latent
    features (:func:`tuning`); a flashed scene through the V1 filter bank,
    ``scene_drive`` (scenes × neurons, :func:`image_drive`), scaled by each
    neuron's peak rate and ``flash_gain``.

    Spikes and noise from the scene epoch on are drawn from ``scene_gen`` (default
    ``gen``), the rest from ``gen``: Poisson draws consume a rate-dependent amount
    of a stream, so with two streams a change to the scene responses leaves every
    earlier sample, the movie's included, bit for bit as it was.
    """
    dt = 1 / params.imaging_rate
    timestamps = np.arange(int(plan["duration"] / dt)) * dt
    # What is on screen at each sample (after the latency): row of the rate table.
    grey_row = len(movie) + len(scene_drive)
    onsets = np.concatenate([plan["movie_onsets"], plan["scene_onsets"]])
    rows = np.concatenate(
        [
            plan["movie_frames"],
            np.where(plan["scene_frames"] < 0, grey_row, len(movie) + plan["scene_frames"]),
        ]
    )
    stops = np.concatenate(
        [plan["movie_onsets"] + 1 / ac.MOVIE_RATE, plan["scene_onsets"] + params.scene_duration]
    )
    seen = timestamps - LATENCY
    k = np.searchsorted(onsets, seen, side="right") - 1
    showing = (k >= 0) & (seen < stops[np.clip(k, 0, None)])
    row = np.where(showing, rows[np.clip(k, 0, None)], grey_row)

    base = neurons["base_rate"]
    flashed = base + params.flash_gain * neurons["peak_rate"] * scene_drive
    table = np.vstack([tuning(movie, neurons), flashed, base]).astype(np.float32)
    speed = running_speed(len(timestamps), params.imaging_rate, gen)
    split = int(np.searchsorted(timestamps, plan["epochs"][2][0]))
    streams = ((gen, slice(0, split)), (scene_gen or gen, slice(split, len(timestamps))))
    decay = np.exp(-dt / params.tau)
    n_neurons = len(neurons["base_rate"])
    dff = np.empty((len(timestamps), n_neurons), dtype=np.float32)
    gain_speed = (speed / 20.0).astype(np.float32)[:, None]
    for start in range(0, n_neurons, 64):  # blocks bound memory for long sessions
        block = slice(start, min(start + 64, n_neurons))
        gain = np.clip(1 + neurons["running_gain"][block] * gain_speed, 0, None)
        rate = table[row, block] * gain * dt
        spikes = np.concatenate([g.poisson(rate[span]) for g, span in streams])
        calcium = lfilter([params.spike_dff], [1, -decay], spikes, axis=0)
        noise = np.concatenate([g.normal(0, params.noise_sd, spikes[s].shape) for g, s in streams])
        dff[:, block] = calcium + noise
    return timestamps, dff, speed


def simulate_mouse(
    path: str | Path,
    mouse_id: str,
    area: str,
    n_neurons: int,
    seed: int,
    *,
    n_movie_repeats: int = 10,
    n_scene_repeats: int = 50,
    image_size: int = 32,
    params: CalciumSimulation | None = None,
    truth_path: str | Path | None = None,
    session_type: str = ac.SCENES_SESSION_TYPE,
) -> Path:
    """Write one mouse's simulated session as NWB, and its ground truth; return the truth path.

    Both files are written whole or not at all. The truth (``<stem>_truth.npz``
    unless ``truth_path`` is given) holds the movie and scene latents
    (:data:`FEATURES` columns), each neuron's population and tuning, and the
    cell ids, in the dF/F's column order.
    """
    params = params or CalciumSimulation()
    if n_neurons < 1 or n_movie_repeats < 1 or n_scene_repeats < 0 or image_size < 8:
        raise ValueError(
            f"simulate_mouse needs n_neurons >= 1, n_movie_repeats >= 1, n_scene_repeats >= 0 "
            f"and image_size >= 8; got {n_neurons}, {n_movie_repeats}, {n_scene_repeats}, "
            f"{image_size}"
        )
    if session_type not in ac.SESSION_TYPES:
        raise ValueError(f"session_type {session_type!r} is not one of {ac.SESSION_TYPES}")
    with_scenes = session_type == ac.SCENES_SESSION_TYPE
    n_scene_repeats = n_scene_repeats if with_scenes else 0
    path = Path(path)
    truth_path = Path(truth_path) if truth_path else path.with_name(f"{path.stem}_truth.npz")
    movie = movie_latents(seed)
    scene_images = render_scenes(image_size, seed)
    neurons = neuron_parameters(n_neurons, movie, params, seed, mouse_id)
    drive = image_drive(scene_images, neurons)
    plan = session_plan(n_movie_repeats, n_scene_repeats, params, seed, mouse_id)
    # Sessions of one mouse differ by their key (StimB keeps the original one).
    key = ("activity", mouse_id, *([] if with_scenes else [session_type]))
    gen, scene_gen = rng(seed, *key), rng(seed, *key, "scene-epoch")
    timestamps, dff, speed = simulate_activity(plan, neurons, movie, drive, params, gen, scene_gen)
    cell_ids = 500_000_000 + rng(seed, "cell-ids", mouse_id).choice(
        10_000_000, n_neurons, replace=False
    )
    with atomic_path(path) as tmp_nwb, atomic_path(truth_path) as tmp_truth:
        _write_nwb(
            tmp_nwb,
            mouse_id,
            area,
            seed,
            timestamps,
            dff,
            speed,
            cell_ids,
            plan,
            render_movie(movie, image_size),
            scene_images if with_scenes else None,
            session_type,
        )
        with open(tmp_truth, "wb") as f:
            np.savez(
                f,
                features=np.array(FEATURES),
                movie_latents=movie,
                scene_drive=drive.astype(np.float32),
                populations=np.array(POPULATIONS),
                cell_ids=cell_ids,
                area=np.array(area),
                simulation=np.array(json.dumps(asdict(params))),
                **neurons,
            )
    return truth_path


def simulate_dataset(
    out_dir: str | Path,
    mice: list[str],
    areas: str | list[str],
    n_neurons: int | list[int],
    seed: int,
    **kwargs,
) -> list[Path]:
    """Simulate several mice into ``out_dir`` with the dandiset's layout; return the NWB paths.

    ``areas`` and ``n_neurons`` are one value for all mice or one per mouse;
    other keyword arguments go to :func:`simulate_mouse`.
    """
    areas = [areas] * len(mice) if isinstance(areas, str) else list(areas)
    counts = [n_neurons] * len(mice) if isinstance(n_neurons, int) else list(n_neurons)
    if len(areas) != len(mice) or len(counts) != len(mice):
        raise ValueError(
            f"areas ({len(areas)}) and n_neurons ({len(counts)}) must match mice ({len(mice)})"
        )
    paths = []
    for mouse, area, count in zip(mice, areas, counts, strict=True):
        path = Path(out_dir) / ac.nwb_relpath(mouse)
        simulate_mouse(path, mouse, area, count, seed, **kwargs)
        paths.append(path)
    return paths


def _write_nwb(
    path: Path,
    mouse: str,
    area: str,
    seed: int,
    timestamps: np.ndarray,
    dff: np.ndarray,
    speed: np.ndarray,
    cell_ids: np.ndarray,
    plan: dict,
    movie_frames: np.ndarray,
    scene_images: np.ndarray | None,
    session_type: str,
) -> None:
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.behavior import BehavioralTimeSeries
    from pynwb.file import Subject
    from pynwb.image import ImageSeries, IndexSeries
    from pynwb.ophys import DfOverF, ImageSegmentation, OpticalChannel, RoiResponseSeries

    start = datetime(2016, 1, 1, tzinfo=UTC)
    nwbfile = NWBFile(
        session_description="Simulated Allen Brain Observatory Visual Coding 2P session",
        identifier=str(uuid.UUID(int=derive_seed(seed, "identifier", mouse) << 64)),
        session_start_time=start,
        file_create_date=start,
        session_id=f"simulated-{session_type}",
        institution="brainlatent (simulated)",
        subject=Subject(subject_id=mouse, species="Mus musculus", description="simulated"),
    )
    display = nwbfile.create_device(name="StimulusDisplay", description="simulated monitor")
    microscope = nwbfile.create_device(name="Microscope", description="simulated 2P")
    plane = nwbfile.create_imaging_plane(
        name=ac.IMAGING_PLANE,
        optical_channel=OpticalChannel(
            name="OpticalChannel", description="green", emission_lambda=np.nan
        ),
        description="simulated imaging plane",
        device=microscope,
        excitation_lambda=910.0,
        indicator="GCaMP6f",
        location=area,
        imaging_rate=float(1 / np.median(np.diff(timestamps))),
    )

    # Stimuli: the movie as ImageSeries + linked IndexSeries (DANDI 000728's layout).
    template = ImageSeries(
        name=ac.MOVIE_TEMPLATE,
        description="Procedural stand-in for natural movie one.",
        data=movie_frames,
        unit="n.a.",
        starting_time=np.nan,
        rate=np.nan,
        device=display,
    )
    nwbfile.add_stimulus_template(template)
    nwbfile.add_stimulus(
        _legacy_index_series(
            IndexSeries,
            name=ac.MOVIE_PRESENTATION,
            description="Frame of natural movie one shown at each timestamp.",
            data=plan["movie_frames"].astype(np.uint32),
            indexed_timeseries=template,
            unit="N/A",
            timestamps=plan["movie_onsets"],
        )
    )
    if scene_images is not None:
        _add_scenes(nwbfile, scene_images, plan)
    nwbfile.add_epoch_column(name="stimulus_type", description="Type of visual stimuli.")
    kinds = ("spontaneous", ac.MOVIE_TEMPLATE, "natural_scenes")
    for (t0, t1), kind in zip(plan["epochs"], kinds, strict=True):
        if kind != "natural_scenes" or scene_images is not None:
            nwbfile.add_epoch(start_time=float(t0), stop_time=float(t1), stimulus_type=kind)

    # Processed ophys: segmentation, dF/F.
    ophys = nwbfile.create_processing_module(
        name=ac.OPHYS_MODULE, description="Contains processed optical physiology data."
    )
    segmentation = ImageSegmentation(name=ac.SEGMENTATION)
    ophys.add(segmentation)
    rois = segmentation.create_plane_segmentation(
        name=ac.PLANE_SEGMENTATION,
        description="Segmented regions of interest (ROI).",
        imaging_plane=plane,
    )
    rois.add_column(name="global_roi_id", description="The global ID of each ROI.")
    centres = rng(seed, "roi-centres", mouse).integers(8, 504, size=(len(cell_ids), 2))
    offsets = [(dx, dy) for dx in range(-2, 3) for dy in range(-2, 3) if dx * dx + dy * dy <= 4]
    for cell, (cx, cy) in zip(cell_ids, centres, strict=True):
        mask = [(int(cx + dx), int(cy + dy), 1.0) for dx, dy in offsets]
        rois.add_roi(id=int(cell), pixel_mask=mask, global_roi_id=int(cell))
    region = rois.create_roi_table_region(
        region=list(range(len(cell_ids))), description="All ROIs."
    )
    dff_container = DfOverF(name=ac.DFF)
    ophys.add(dff_container)  # before the series, so its ROI region shares an ancestor
    dff_container.add_roi_response_series(
        RoiResponseSeries(
            name=ac.DFF,
            description="Simulated ΔF/F: Poisson spikes * GCaMP6 kernel, plus noise.",
            data=dff,
            rois=region,
            unit="a.u.",
            timestamps=timestamps,
        )
    )

    behavior = nwbfile.create_processing_module(
        name=ac.BEHAVIOR_MODULE, description="Processed behavioral data."
    )
    behavior.add(
        BehavioralTimeSeries(
            name=ac.RUNNING_CONTAINER,
            time_series=TimeSeries(
                name=ac.RUNNING_SPEED,
                description="Simulated running speed on the 2P clock.",
                data=speed,
                timestamps=timestamps,
                unit="cm/s",
            ),
        )
    )
    with NWBHDF5IO(str(path), mode="w") as io:
        io.write(nwbfile)


def _add_scenes(nwbfile, scene_images: np.ndarray, plan: dict) -> None:
    """The scenes template (Images) and their presentations (IndexSeries), as in StimB files."""
    from pynwb.base import Image, Images
    from pynwb.image import IndexSeries

    # As DANDI 000728's converter writes them: plain Image objects, no order_of_images (the
    # reader orders them by the number in their names).
    images = [
        Image(name=f"{ac.SCENE_IMAGE_PREFIX}{k}", data=image, description="scene")
        for k, image in enumerate(scene_images)
    ]
    scenes_template = Images(
        name=ac.SCENES_TEMPLATE,
        description="Procedural stand-ins for the 118 natural scenes.",
        images=images,
    )
    nwbfile.add_stimulus_template(scenes_template)
    shown = plan["scene_frames"] >= 0
    if shown.any():
        nwbfile.add_stimulus(
            IndexSeries(
                name=ac.SCENES_PRESENTATION,
                description="Natural scene shown at each timestamp (blank sweeps omitted).",
                data=plan["scene_frames"][shown].astype(np.uint32),
                indexed_images=scenes_template,
                unit="N/A",
                timestamps=plan["scene_onsets"][shown],
            )
        )


def _legacy_index_series(cls, **kwargs):
    """An IndexSeries linked to an ImageSeries, as in the DANDI 000728 files.

    pynwb ≥ 3 refuses to *create* this deprecated form but still reads it; building
    the object the way pynwb does when reading lets the simulator write the
    layout that the real files have, so the reader is tested on it.
    """
    series = cls.__new__(cls, in_construct_mode=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        series.__init__(**kwargs)
    series._in_construct_mode = False
    return series
