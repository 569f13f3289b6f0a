"""Simulate Generic Object Decoding (ds001246) in its real layout, with a known ground truth.

The real events (33 s rest, 9 s image blocks, TR 3 s; training runs show each image
once, test runs the 50 test images again and again) drive a small synthetic brain:
a grid of 3 mm voxels with the dataset's ROI masks, where V1-V3 voxels respond to
the low-level properties of each procedural image (hue, orientation, spatial
frequency), LOC/FFA/PPA/HVC voxels to its high-level ones (shape, size) and hV4
voxels to hue and shape. Responses are convolved with SPM's canonical HRF
(nilearn) on a voxel baseline, with scanner drift and AR(1) noise, and written as the
SPM-preprocessed NIfTI runs of ``derivatives/preproc-spm``. So decoding has a known
ceiling, and the per-ROI weight analysis a known answer.

The noise is not the clean case. Voxels are not equally informative: each voxel's
image-specific amplitude is log-normal across voxels (``signal`` is the median voxel's,
``signal_spread`` the SD of its log), so most voxels carry little image-specific signal and
a tail carries much; the image-specific response is a fraction of the response to any
image (``visual_response``); the noise is correlated in space (each volume's noise smoothed
with a Gaussian of ``noise_fwhm`` mm, then rescaled to the same SD per voxel) and partly
shared by all voxels (``noise_global``, a global-signal fluctuation); optionally, part of
each voxel's image-specific response is reliable but no function of the latents
(``signal_unexplained``), as real voxels respond to more than any decoded feature space.
The defaults give a single-block split-half reliability over the 50 test images (two test
runs' block samples correlated per voxel) with a median of about 0.1 in every ROI (ncsnr
about 0.34; NSD's single 3 s trials at 7 T: a median ncsnr of 0.26, cvnlab/nsddatapaper#1),
a quarter of the voxels over 0.2 and a third under 0.05, where the former simulator had
0.31 in every voxel. ``volume_shape: [24, 24, 16], signal: 0.01, signal_spread: 0,
noise_fwhm: 0, noise_global: 0`` give back the former simulation (every voxel alike,
independent noise) draw for draw.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from nilearn.glm.first_level import compute_regressor
from scipy import ndimage

from brainlatent.datasets import god_fmri
from brainlatent.datasets.stimuli import LATENT_NAMES, image_parameters, render_image
from brainlatent.errors import ConfigError, DataError
from brainlatent.io import atomic_path, write_table
from brainlatent.seeding import rng

__all__ = [
    "GODSimulation",
    "ground_truth_features",
    "roi_layout",
    "select_runs",
    "simulate_dataset",
]

LOW_LEVEL = tuple(n for n in LATENT_NAMES if n.startswith(("hue", "orientation", "spatial")))
HIGH_LEVEL = tuple(n for n in LATENT_NAMES if n.startswith(("shape", "size")))
#: Latents each ROI's voxels are tuned to (hV4: colour and form).
ROI_TUNING = {
    "low": LOW_LEVEL,
    "mid": tuple(n for n in LATENT_NAMES if n.startswith(("hue", "shape"))),
    "high": HIGH_LEVEL,
}
VOXEL_SIZE = 3.0  # mm, as the real EPI
N_SUPERORDINATE = 28  # classes the synsets are drawn into (fixes shape and hue family)


@dataclass(frozen=True)
class GODSimulation:
    """What the simulated scanner and brain look like (config ``god_fmri.simulate``)."""

    volume_shape: tuple[int, int, int] = (34, 34, 22)  # VC 3,852 voxels (real: 3,444-6,237)
    training_runs: int | None = 6
    test_runs: int | None = 5
    signal: float = 0.004  # the median voxel's image-specific response SD, fraction of baseline
    signal_spread: float = 0.7  # SD over voxels of the log image-specific amplitude
    signal_unexplained: float = 0.0  # share of it that is no function of the latents
    visual_response: float = 0.01  # response to any image, fraction of baseline
    noise: float = 0.01  # AR(1) noise SD per volume, fraction of baseline
    noise_ar: float = 0.3
    noise_fwhm: float = 4.0  # mm, spatial smoothness of the noise (0: independent voxels)
    noise_global: float = 0.1  # fraction of the noise variance shared by every voxel
    drift: float = 0.02  # amplitude of the slow drift, fraction of baseline
    image_size: int = 32

    def __post_init__(self):
        if self.signal_spread < 0 or self.noise_fwhm < 0:
            raise ConfigError("god_fmri.simulate.signal_spread and noise_fwhm must be >= 0")
        if not 0 <= self.signal_unexplained <= 1:
            raise ConfigError(
                "god_fmri.simulate.signal_unexplained must be in [0, 1]; "
                f"got {self.signal_unexplained}"
            )
        if not 0 <= self.noise_global < 1:
            raise ConfigError(
                f"god_fmri.simulate.noise_global must be in [0, 1); got {self.noise_global}"
            )

    @classmethod
    def from_config(cls, config: dict) -> GODSimulation:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(config) - known)
        if unknown:
            raise ConfigError(f"god_fmri.simulate: unknown keys {unknown}; known: {sorted(known)}")
        values = dict(config)
        if "volume_shape" in values:
            values["volume_shape"] = tuple(int(v) for v in values["volume_shape"])
        return cls(**values)


def _box(u, v, w, a_range=None, v_range=None, w_range=None):
    a = np.abs(u)
    inside = np.ones(u.shape, bool)
    for coord, bounds in ((a, a_range), (v, v_range), (w, w_range)):
        if bounds is not None:
            inside &= (coord >= bounds[0]) & (coord < bounds[1])
    return inside


def roi_layout(shape: tuple[int, int, int]) -> dict[tuple[str, str], np.ndarray]:
    """Masks ``(hemisphere, part)`` → boolean volume, laid out like the occipital lobe.

    Voxel axes are (left→right, posterior→anterior, inferior→superior). Early areas
    sit medially at the occipital pole, V1-V3 split dorsal/ventral at mid height;
    LOC lies lateral, FFA and PPA ventral and anterior; HVC covers LOC, FFA, PPA and
    the cortex between them, as in the real masks.
    """
    nx, ny, nz = shape
    if min(shape) < 8:
        raise ConfigError(
            f"god_fmri.simulate.volume_shape must be at least 8 per axis; got {shape}"
        )
    i, j, k = np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij")
    u = (i + 0.5) / nx - 0.5  # signed distance from the midline
    v = (j + 0.5) / ny  # 0 = occipital pole
    w = (k + 0.5) / nz
    cortex = (w >= 0.2) & (w < 0.8) & (np.abs(u) >= 1.0 / nx) & _brain(shape)
    ventral, dorsal = w < 0.5, w >= 0.5
    early = {"V1": (0.0, 0.12), "V2": (0.12, 0.2), "V3": (0.2, 0.28)}
    regions = {}
    for name, v_range in early.items():
        area = cortex & _box(u, v, w, a_range=(0, 0.22), v_range=v_range)
        regions[f"{name}d"] = area & dorsal
        regions[f"{name}v"] = area & ventral
    regions["hV4"] = cortex & ventral & _box(u, v, w, a_range=(0, 0.22), v_range=(0.28, 0.36))
    regions["LOC"] = cortex & _box(u, v, w, a_range=(0.27, 0.42), v_range=(0.12, 0.36))
    regions["FFA"] = cortex & ventral & _box(u, v, w, a_range=(0.16, 0.3), v_range=(0.36, 0.48))
    regions["PPA"] = cortex & ventral & _box(u, v, w, a_range=(0, 0.16), v_range=(0.36, 0.48))
    between = cortex & _box(u, v, w, a_range=(0.3, 0.42), v_range=(0.36, 0.48))
    regions["HVC"] = regions["LOC"] | regions["FFA"] | regions["PPA"] | between
    masks = {}
    for hemisphere, side in (("LH", u < 0), ("RH", u >= 0)):
        for part, region in regions.items():
            masks[(hemisphere, part)] = region & side
    return masks


def select_runs(reference_bids: Path, subject: str, sim: GODSimulation) -> pd.DataFrame:
    """The first ``training_runs`` and ``test_runs`` perception runs of the real dataset."""
    runs = god_fmri.perception_runs(reference_bids, subject)
    if runs.empty:
        raise DataError(reference_bids, f"no perception runs with events for sub-{subject}")
    chosen = []
    for split, limit in (("training", sim.training_runs), ("test", sim.test_runs)):
        available = runs[runs["split"] == split]
        if limit is not None and limit > len(available):
            raise ConfigError(
                f"god_fmri.simulate.{split}_runs is {limit} but sub-{subject} has "
                f"{len(available)} {split} runs"
            )
        chosen.append(available if limit is None else available.head(limit))
    return pd.concat(chosen, ignore_index=True)


def _synset(stimulus_name: str) -> int:
    return int(stimulus_name.split("_")[0].lstrip("n"))


def stimulus_table(names: list[str], seed: int) -> pd.DataFrame:
    """Procedural parameters per GOD image: synsets act as concepts, drawn into superordinate
    classes (shape, hue family); the grating phase is fixed so pixels are recoverable."""
    synsets = sorted({_synset(n) for n in names})
    superordinate = {s: int(rng(seed, "god-synset", s).integers(N_SUPERORDINATE)) for s in synsets}
    images = pd.DataFrame(
        {
            "stimulus_name": names,
            "image": [god_fmri.image_id(n) for n in names],
            "category": [_synset(n) for n in names],
        }
    )
    params = image_parameters(images[["image", "category"]], superordinate, seed)
    params["phase"] = 0.0
    return images.merge(params, on=["image", "category"], validate="one_to_one")


def _voxel_tuning(
    masks: dict[tuple[str, str], np.ndarray], latents: np.ndarray, gen: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-voxel weights on the latents (zero outside the ROIs) and the responsive voxels.

    A voxel in several ROIs (HVC overlaps LOC, FFA, PPA) takes the tuning of the first
    that claims it; weights are scaled so each voxel's image-specific response has unit SD
    over the images.
    """
    shape = next(iter(masks.values())).shape
    weights = np.zeros((*shape, len(LATENT_NAMES)), np.float32)
    responsive = np.zeros(shape, bool)
    for (_, part), mask in masks.items():
        todo = mask & ~responsive
        if not todo.any():
            continue
        level = god_fmri.ROI_LEVELS[god_fmri.PART_ROI[part]]
        columns = [LATENT_NAMES.index(n) for n in ROI_TUNING[level]]
        w = np.zeros((int(todo.sum()), len(LATENT_NAMES)))
        w[:, columns] = gen.normal(size=(len(w), len(columns)))
        sd = (latents @ w.T).std(axis=0)
        weights[todo] = (w / np.where(sd > 0, sd, 1.0)[:, None]).astype(np.float32)
        responsive |= todo
    return weights, responsive


def _regressors(blocks: pd.DataFrame, n_volumes: int, tr: float) -> np.ndarray:
    """(volumes × blocks) BOLD response to each block: boxcar ⊛ SPM canonical HRF."""
    frame_times = np.arange(n_volumes) * tr
    columns = []
    for onset, duration in zip(blocks["onset"], blocks["duration"], strict=True):
        condition = np.array([[onset], [duration], [1.0]])
        regressor, _ = compute_regressor(condition, "spm", frame_times, oversampling=16)
        columns.append(regressor[:, 0])
    return np.column_stack(columns)


def _spatial_smoother(brain: np.ndarray, fwhm: float):
    """(volumes × brain voxels) → the same, each volume smoothed in space with a Gaussian of
    ``fwhm`` mm (zero outside the brain) and divided by its SD, so every voxel's variance
    stays that of the white noise put in while neighbours correlate."""
    sigma = fwhm / math.sqrt(8 * math.log(2)) / VOXEL_SIZE  # in voxels
    radius = int(4.0 * sigma + 0.5)  # gaussian_filter's support at truncate=4
    delta = np.zeros((2 * radius + 1,) * 3)
    delta[radius, radius, radius] = 1.0
    kernel = ndimage.gaussian_filter(delta, sigma, mode="constant", truncate=4.0)
    variance = ndimage.convolve(brain.astype(float), kernel**2, mode="constant")
    inside = np.nonzero(brain)
    scale = 1.0 / np.sqrt(variance[inside])

    def smooth(white: np.ndarray) -> np.ndarray:
        grid = np.zeros((len(white), *brain.shape))
        grid[(slice(None), *inside)] = white
        grid = ndimage.gaussian_filter(
            grid, (0, sigma, sigma, sigma), mode="constant", truncate=4.0
        )
        return grid[(slice(None), *inside)] * scale

    return smooth


def _simulate_run(
    blocks: pd.DataFrame,
    n_volumes: int,
    tr: float,
    latents: np.ndarray,
    weights: np.ndarray,
    visual: np.ndarray,
    baseline: np.ndarray,
    sim: GODSimulation,
    gen: np.random.Generator,
    smooth=None,
    shared: np.random.Generator | None = None,
    unexplained: np.ndarray | None = None,
) -> np.ndarray:
    """One run of the voxels in ``baseline``'s order: (voxels × volumes) float32.

    ``smooth`` (from :func:`_spatial_smoother`) correlates the noise in space; ``shared``
    draws the global noise time course (``sim.noise_global`` of the variance);
    ``unexplained`` (blocks × voxels) is each block's image-specific response that no
    latent predicts (``sim.signal_unexplained`` of its variance)."""
    design = _regressors(blocks, n_volumes, tr)  # (T, B)
    specific = latents @ weights.T  # (B, V)
    if unexplained is not None:
        u = sim.signal_unexplained
        specific = math.sqrt(1 - u) * specific + math.sqrt(u) * unexplained
    amplitude = sim.signal * specific + sim.visual_response * visual  # (B, V)
    signal = design @ amplitude  # (T, V)
    t = np.linspace(0, 1, n_volumes)[:, None]
    drift = sim.drift * (
        gen.normal(size=len(baseline)) * (t - 0.5)
        + gen.normal(size=len(baseline)) * np.cos(np.pi * t) / 2
    )
    noise = np.empty_like(signal)
    innovation = gen.normal(size=signal.shape)
    if smooth is not None:
        innovation = smooth(innovation)
    if sim.noise_global > 0:
        common = shared.normal(size=(n_volumes, 1))
        innovation = (
            math.sqrt(1 - sim.noise_global) * innovation + math.sqrt(sim.noise_global) * common
        )
    innovation *= sim.noise * math.sqrt(1 - sim.noise_ar**2)
    noise[0] = innovation[0] / math.sqrt(1 - sim.noise_ar**2)
    for step in range(1, n_volumes):
        noise[step] = sim.noise_ar * noise[step - 1] + innovation[step]
    return (baseline * (1 + signal + drift + noise)).T.astype(np.float32)


def _affine(shape: tuple[int, int, int]) -> np.ndarray:
    affine = np.diag([VOXEL_SIZE, VOXEL_SIZE, VOXEL_SIZE, 1.0])
    affine[:3, 3] = -VOXEL_SIZE * (np.asarray(shape) - 1) / 2
    return affine


def _save_nifti(path: Path, data: np.ndarray, affine: np.ndarray, tr: float | None = None) -> None:
    image = nib.Nifti1Image(data, affine)
    image.header.set_xyzt_units("mm", "sec")
    if tr is not None:
        image.header["pixdim"][4] = tr
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(image, path)


def simulate_subject(
    bids: Path,
    reference_bids: Path,
    subject: str,
    runs: pd.DataFrame,
    stimuli: pd.DataFrame,
    sim: GODSimulation,
    tr: float,
    seed: int,
) -> dict[str, np.ndarray]:
    """Write one subject's masks, events and BOLD runs; return its ground truth."""
    gen = rng(seed, "god-subject", subject)
    shape = sim.volume_shape
    affine = _affine(shape)
    masks = roi_layout(shape)
    for (hemisphere, part), mask in masks.items():
        _save_nifti(
            god_fmri.mask_path(bids, subject, hemisphere, part), mask.astype(np.uint8), affine
        )

    latent_columns = [f"z_{n}" for n in LATENT_NAMES]
    table = stimuli.set_index("stimulus_name")
    weights, responsive = _voxel_tuning(masks, table[latent_columns].to_numpy(), gen)
    # Heterogeneity and correlated noise draw from their own stream, so that with
    # signal_spread = noise_fwhm = noise_global = 0 the former simulation comes back exactly.
    extra = rng(seed, "god-subject-noise", subject)
    gain = np.exp(sim.signal_spread * extra.normal(size=shape)) * responsive
    weights *= gain[..., None].astype(np.float32)
    brain = _brain(shape)
    baseline = np.where(brain, 800 + 400 * gen.random(shape), 0).astype(np.float32)
    visual = responsive * (0.5 + gen.random(shape))
    inside = np.nonzero(brain)
    smooth = _spatial_smoother(brain, sim.noise_fwhm) if sim.noise_fwhm > 0 else None
    responses = {}  # image → its unexplained response (the same at every showing)

    def unexplained(names) -> np.ndarray | None:
        if sim.signal_unexplained == 0:
            return None
        for name in set(names) - set(responses):
            draw = rng(seed, "god-unexplained", subject, name).normal(size=len(inside[0]))
            responses[name] = draw * gain[inside]
        return np.stack([responses[n] for n in names])

    for run in runs.itertuples(index=False):
        source = god_fmri.events_path(reference_bids, subject, run.session, run.run)
        target = god_fmri.events_path(bids, subject, run.session, run.run)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        events = god_fmri.read_events(target)
        blocks = god_fmri.stimulus_blocks(events, target, table.index, repeats=True)
        end = float((events["onset"] + events["duration"]).max())
        n_volumes = max(math.ceil(end / tr - 1e-9), god_fmri.volumes_needed(blocks, tr, tr))
        latents = table.loc[blocks["stimulus_name"], latent_columns].to_numpy()
        data = np.zeros((*shape, n_volumes), np.float32)
        data[inside] = _simulate_run(
            blocks, n_volumes, tr, latents, weights[inside], visual[inside],
            baseline[inside], sim, gen, smooth, extra,
            unexplained(list(blocks["stimulus_name"])),
        )  # fmt: skip
        _save_nifti(god_fmri.bold_path(bids, subject, run.session, run.run), data, affine, tr)
    labels = np.full(shape, "", dtype=object)
    for (_, part), mask in masks.items():
        labels[mask & (labels == "")] = part
    return {
        "weights": weights[responsive],
        "ijk": np.argwhere(responsive).astype(np.int64),
        "part": labels[responsive].astype(str),
        "visual": visual[responsive].astype(np.float32),
        "gain": gain[responsive].astype(np.float32),
    }


def _brain(shape: tuple[int, int, int]) -> np.ndarray:
    """An ellipsoid filling the volume: voxels outside it stay 0, as in masked SPM output."""
    grid = np.meshgrid(*[(np.arange(n) + 0.5) / n - 0.5 for n in shape], indexing="ij")
    return sum(g**2 for g in grid) <= 0.5**2 * 1.3


def simulate_dataset(
    reference_bids: str | os.PathLike,
    bids: str | os.PathLike,
    stimuli_dir: str | os.PathLike,
    truth_dir: str | os.PathLike,
    subjects: list[str],
    sim: GODSimulation,
    seed: int,
) -> None:
    """Write the BIDS dataset, the stimulus images and the ground truth, each atomically."""
    reference_bids = Path(reference_bids)
    tr = god_fmri.repetition_time(reference_bids)
    runs = {s: select_runs(reference_bids, s, sim) for s in subjects}
    names = set()
    for subject, table in runs.items():
        for run in table.itertuples(index=False):
            path = god_fmri.events_path(reference_bids, subject, run.session, run.run)
            events = god_fmri.read_events(path)
            names |= set(events.loc[events["event_type"] == "stimulus", "stimulus_name"])
    stimuli = stimulus_table(sorted(names), seed)

    with atomic_path(stimuli_dir) as out:
        out.mkdir(parents=True)
        for row in stimuli.to_dict("records"):
            render_image(row, sim.image_size).save(out / f"{row['stimulus_name']}.png")
        index = stimuli[["image", "stimulus_name", "category"]].copy()
        index["file"] = index["stimulus_name"] + ".png"
        index.to_csv(out / "stimuli.tsv", sep="\t", index=False)

    with atomic_path(bids) as out, atomic_path(truth_dir) as truth:
        out.mkdir(parents=True)
        truth.mkdir(parents=True)
        for name in ("dataset_description.json", "README", "CHANGES", "task-perception_bold.json"):
            if (reference_bids / name).exists():
                shutil.copyfile(reference_bids / name, out / name)
        if (reference_bids / "sourcedata" / "README").exists():
            (out / "sourcedata").mkdir()
            shutil.copyfile(reference_bids / "sourcedata" / "README", out / "sourcedata" / "README")
        for subject in subjects:
            gt = simulate_subject(
                out, reference_bids, subject, runs[subject], stimuli, sim, tr, seed
            )
            np.savez(truth / f"sub-{subject}_voxels.npz", latent_names=np.array(LATENT_NAMES), **gt)
        write_table(truth / "images.parquet", stimuli)
        (truth / "simulation.json").write_text(
            json.dumps({"seed": seed, "subjects": subjects, **sim.__dict__}, indent=2, default=list)
        )


def ground_truth_features(images: pd.DataFrame, level: str) -> tuple[np.ndarray, np.ndarray]:
    """Image ids and the simulated latents of one level (``low``: hue, orientation, spatial
    frequency; ``high``: shape, size) from the ground truth's ``images.parquet``: the
    features whose ROI weights the simulation fixes, for checking the weight analysis."""
    if level not in ("low", "high"):
        raise ValueError(f"level must be 'low' or 'high'; got {level!r}")
    names = LOW_LEVEL if level == "low" else HIGH_LEVEL
    columns = [f"z_{n}" for n in names]
    return images["image"].to_numpy(np.int64), images[columns].to_numpy(np.float32)
