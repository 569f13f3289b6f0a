"""GOD fMRI: one sample per image from the block-design BOLD runs.

As in Horikawa & Kamitani (2017), the analysis of which Ozcelik et al. (2022)
reuse: each run's voxels are linearly detrended and z-scored (nilearn's
``signal.clean``), the volumes of each 9 s image block are averaged after shifting
by the haemodynamic delay (3 s), and the samples of the same image are averaged
(the test images' 35 presentations). The one-back repeat blocks (the participant's
button press) are left out (:func:`~brainlatent.datasets.god_fmri.stimulus_blocks`). The
voxels are those of the chosen ROIs; a voxel table records which ROIs each one is in.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from nilearn import signal

from brainlatent.datasets import god_fmri
from brainlatent.errors import DataError

__all__ = ["TRIAL_COLUMNS", "block_samples", "preprocess_subject"]

TRIAL_COLUMNS = {
    "row": "int64",
    "split": "string",
    "image": "int64",
    "stimulus_name": "string",
    "n_blocks": "int64",
}


def block_samples(
    data: np.ndarray, blocks: pd.DataFrame, tr: float, delay: float, path: os.PathLike
) -> np.ndarray:
    """(blocks × voxels): the mean of the volumes acquired in [onset, onset + duration) + delay.

    ``data`` is (volumes × voxels). A block whose window reaches past the last
    volume is an error naming ``path``: its sample would silently average fewer
    volumes than the others.
    """
    times = np.arange(len(data)) * tr
    samples = np.empty((len(blocks), data.shape[1]), np.float32)
    for b, (onset, duration) in enumerate(zip(blocks["onset"], blocks["duration"], strict=True)):
        start, stop = onset + delay, onset + duration + delay
        if stop > len(data) * tr + 1e-6:
            raise DataError(
                path,
                f"BOLD has {len(data)} volumes ({len(data) * tr:g} s) but the block at "
                f"{onset:g} s needs data until {stop:g} s",
            )
        volumes = (times >= start - 1e-6) & (times < stop - 1e-6)
        if not volumes.any():
            raise DataError(path, f"no volume falls in the block at {onset:g} s (TR {tr:g} s)")
        samples[b] = data[volumes].mean(axis=0)
    return samples


def _run_voxels(path: Path, selection: np.ndarray, n_volumes: int, grid) -> np.ndarray:
    """(volumes × selected voxels) of one run, float32, checked for grid and finiteness."""
    image = god_fmri.load_bold(path, n_volumes)
    god_fmri.check_same_grid(image, path, *grid)
    data = god_fmri.read_voxels(path, np.float32)[selection].T
    if not np.isfinite(data).all():
        raise DataError(path, "BOLD contains NaN or infinite values in the selected voxels")
    return data


def preprocess_subject(
    bids: str | os.PathLike,
    stimuli_dir: str | os.PathLike,
    subject: str,
    rois: list[str],
    delay: float = 3.0,
    runs: pd.DataFrame | None = None,
) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """Samples (images × voxels), trials table (one row per image) and voxel table.

    Training images come first, then test images, each in order of first
    presentation. ``rois`` choose the voxels (their union); the voxel table marks
    membership in every ROI of the dataset, for the weight analysis.
    """
    bids = Path(bids)
    stimuli = god_fmri.read_stimuli(stimuli_dir)
    runs = god_fmri.perception_runs(bids, subject) if runs is None else runs
    if runs.empty:
        raise DataError(bids, f"no perception runs with events for sub-{subject}")
    tr = god_fmri.repetition_time(bids)

    first_bold = god_fmri.bold_path(bids, subject, runs["session"].iloc[0], runs["run"].iloc[0])
    reference = god_fmri.load_bold(first_bold)
    all_rois = [*dict.fromkeys([*god_fmri.ROIS, *rois])]
    masks = god_fmri.load_roi_masks(bids, subject, all_rois, reference, first_bold)
    selection = np.logical_or.reduce([masks[r] for r in rois])
    voxels = god_fmri.roi_table({r: masks[r] for r in god_fmri.ROIS}, selection)

    samples, names, splits = [], [], []
    for run in runs.itertuples(index=False):
        events_file = god_fmri.events_path(bids, subject, run.session, run.run)
        blocks = god_fmri.stimulus_blocks(
            god_fmri.read_events(events_file), events_file, stimuli.index
        )
        if blocks.empty:
            raise DataError(events_file, "run has no stimulus blocks")
        bold = god_fmri.bold_path(bids, subject, run.session, run.run)
        needed = god_fmri.volumes_needed(blocks, tr, delay)
        data = _run_voxels(bold, selection, needed, (reference, first_bold))
        if (data.std(axis=0) == 0).any():
            raise DataError(bold, "a selected voxel is constant over the run (outside the brain?)")
        clean = signal.clean(data, detrend=True, standardize="zscore_sample", t_r=tr)
        samples.append(block_samples(clean, blocks, tr, delay, bold))
        names += list(blocks["stimulus_name"])
        splits += [run.split] * len(blocks)

    blocks = pd.DataFrame({"stimulus_name": names, "split": splits})
    both = blocks.groupby("stimulus_name")["split"].nunique()
    if (both > 1).any():
        raise DataError(bids, f"image {both.idxmax()} appears in both training and test runs")
    stacked = np.concatenate(samples)
    trials, rows = [], []
    for split in ("training", "test"):
        in_split = blocks[blocks["split"] == split]
        for name in dict.fromkeys(in_split["stimulus_name"]):
            index = in_split.index[in_split["stimulus_name"] == name]
            rows.append(stacked[index].mean(axis=0))
            trials.append(
                {
                    "split": split,
                    "image": int(stimuli.loc[name, "image"]),
                    "stimulus_name": name,
                    "n_blocks": len(index),
                }
            )
    trials = pd.DataFrame(trials)
    trials.insert(0, "row", np.arange(len(trials)))
    return np.stack(rows).astype(np.float32), trials.astype(TRIAL_COLUMNS), voxels
