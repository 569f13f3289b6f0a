"""Generic Object Decoding (OpenNeuro ds001246): paths, events, BOLD runs and ROI masks.

The layout is the real dataset's: events in ``sub-XX/ses-*/func``, SPM-preprocessed
BOLD in ``derivatives/preproc-spm/output``, ROI masks in ``sourcedata/sub-XX/anat``.
Every reader checks what later steps silently rely on (a mask on the BOLD's grid,
events that name known images, enough volumes for the last block) and raises
:class:`~brainlatent.errors.DataError` naming the file, so a bad input never turns
into a wrong number.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from brainlatent.errors import DataError
from brainlatent.io import read_tsv

__all__ = [
    "EVENT_COLUMNS",
    "HEMISPHERES",
    "ROIS",
    "ROI_LEVELS",
    "bold_path",
    "check_same_grid",
    "download_patterns",
    "index_stimuli",
    "events_path",
    "image_id",
    "load_bold",
    "load_roi_masks",
    "mask_path",
    "perception_runs",
    "read_events",
    "read_stimuli",
    "read_voxels",
    "repetition_time",
    "stimulus_blocks",
    "volumes_needed",
]

#: The dataset's ROIs. V1-V3 are split into dorsal and ventral masks on disk.
ROIS = ("V1", "V2", "V3", "hV4", "LOC", "FFA", "PPA", "HVC")
ROI_PARTS = {"V1": ("V1d", "V1v"), "V2": ("V2d", "V2v"), "V3": ("V3d", "V3v")}
#: Mask file part (``V1d``, ``LOC``, ...) → ROI.
PART_ROI = {part: roi for roi in ROIS for part in ROI_PARTS.get(roi, (roi,))}
#: "VC" (visual cortex) is the union of every ROI, as in Horikawa & Kamitani (2017).
VISUAL_CORTEX = "VC"
#: The feature level each ROI is known to prefer (retinotopic vs category-selective).
ROI_LEVELS = {
    "V1": "low",
    "V2": "low",
    "V3": "low",
    "hV4": "mid",
    "LOC": "high",
    "FFA": "high",
    "PPA": "high",
    "HVC": "high",
}
HEMISPHERES = ("LH", "RH")
EVENT_COLUMNS = ("onset", "duration", "event_type", "stimulus_id", "stimulus_name")
TASK = "perception"
#: GOD's TR (task-perception_bold.json), used when no sidecar is found.
DEFAULT_TR = 3.0
#: Tolerance (mm) when comparing a mask's affine with the BOLD's.
AFFINE_ATOL = 1e-3


def _label(value: str | int, width: int = 2) -> str:
    text = str(value)
    return text.zfill(width) if text.isdigit() else text


def events_path(root: os.PathLike, subject: str, session: str, run: int | str) -> Path:
    """``sub-XX/ses-YY/func/sub-XX_ses-YY_task-perception_run-ZZ_events.tsv``."""
    sub, run = _label(subject), _label(run)
    name = f"sub-{sub}_ses-{session}_task-{TASK}_run-{run}_events.tsv"
    return Path(root) / f"sub-{sub}" / f"ses-{session}" / "func" / name


def bold_path(root: os.PathLike, subject: str, session: str, run: int | str) -> Path:
    """The SPM-preprocessed run in ``derivatives/preproc-spm/output`` (as distributed)."""
    sub, run = _label(subject), _label(run)
    name = f"sub-{sub}_ses-{session}_task-{TASK}_run-{run}_bold_preproc.nii.gz"
    return (
        (Path(root) / "derivatives" / "preproc-spm" / "output" / f"sub-{sub}" / f"ses-{session}")
        / "func"
        / name
    )


def mask_path(root: os.PathLike, subject: str, hemisphere: str, part: str) -> Path:
    """``sourcedata/sub-XX/anat/sub-XX_mask_{LH,RH}_{ROI}.nii.gz``."""
    sub = _label(subject)
    return (
        Path(root)
        / "sourcedata"
        / f"sub-{sub}"
        / "anat"
        / f"sub-{sub}_mask_{hemisphere}_{part}.nii.gz"
    )


def repetition_time(root: os.PathLike) -> float:
    """TR in seconds from the top-level ``task-perception_bold.json``."""
    sidecar = Path(root) / f"task-{TASK}_bold.json"
    if not sidecar.exists():
        return DEFAULT_TR
    try:
        tr = float(json.loads(sidecar.read_text())["RepetitionTime"])
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(sidecar, f"no valid RepetitionTime ({exc})") from exc
    if not (math.isfinite(tr) and tr > 0):
        raise DataError(sidecar, f"RepetitionTime must be a finite number > 0; got {tr}")
    return tr


def perception_runs(root: os.PathLike, subject: str) -> pd.DataFrame:
    """Every perception run with events: columns ``session``, ``run``, ``split``.

    ``split`` is ``training`` for the perceptionTraining sessions (each image once)
    and ``test`` for perceptionTest (the 50 test images, repeated across runs).
    Runs are in session then run order, which is acquisition order.
    """
    sub = _label(subject)
    rows = []
    for path in sorted(Path(root).glob(f"sub-{sub}/ses-perception*/func/*_events.tsv")):
        session = path.parent.parent.name.removeprefix("ses-")
        label = path.name.split("_run-")[1].split("_")[0] if "_run-" in path.name else ""
        if not label.isascii() or not label.isdigit():
            raise DataError(path, f"the file name's run label {label!r} is not a number")
        run = int(label)
        split = "training" if session.startswith("perceptionTraining") else "test"
        rows.append({"session": session, "run": run, "split": split})
    return pd.DataFrame(rows, columns=["session", "run", "split"])


def read_events(path: os.PathLike) -> pd.DataFrame:
    """One run's events, checked: the columns, finite onsets, and a name per stimulus block."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "events file not found")
    events = read_tsv(path, na_values="n/a", keep_default_na=False)
    missing = [c for c in EVENT_COLUMNS if c not in events.columns]
    if missing:
        raise DataError(path, f"events table lacks columns {missing}")
    for column in ("onset", "duration"):
        values = pd.to_numeric(events[column], errors="coerce")
        if not np.isfinite(values).all():
            raise DataError(path, f"column {column!r} has missing or non-numeric values")
        events[column] = values.astype(float)
    if (events["duration"] < 0).any():
        raise DataError(path, "negative event duration")
    stimulus = events["event_type"] == "stimulus"
    unnamed = stimulus & events["stimulus_name"].isna()
    if unnamed.any():
        raise DataError(
            path, f"stimulus event on row {int(np.argmax(unnamed)) + 2} has no stimulus_name"
        )
    return events


def stimulus_blocks(
    events: pd.DataFrame, path: os.PathLike, known: Iterable[str], repeats: bool = False
) -> pd.DataFrame:
    """The image blocks (``onset``, ``duration``, ``stimulus_name``), each naming a known image.

    Every perception run has 55 stimulus blocks: 50 images and 5 one-back repeats of the
    block before (the participant's task: a button press, in ``response_time``). The
    repeats are left out unless ``repeats`` (the simulator, which must drive the BOLD of
    every block shown): as in the dataset's own samples, 1,200 training images shown once
    and 50 test images 35 times each, with no motor response and no overlap with the
    previous block's response in a sample.
    """
    blocks = events.loc[events["event_type"] == "stimulus", ["onset", "duration", "stimulus_name"]]
    if not repeats:
        blocks = blocks[blocks["stimulus_name"].ne(blocks["stimulus_name"].shift())]
    known = set(known)
    unknown = sorted(set(blocks["stimulus_name"]) - known)
    if unknown:
        raise DataError(
            path,
            f"{len(unknown)} stimulus block(s) show images with no stimulus file "
            f"(first: {unknown[0]}); expected one file per stimulus_name in the stimuli folder",
        )
    return blocks.reset_index(drop=True)


def volumes_needed(blocks: pd.DataFrame, tr: float, delay: float) -> int:
    """Volumes a run must have so every block, shifted by ``delay`` seconds, is covered."""
    if blocks.empty:
        return 0
    end = float((blocks["onset"] + blocks["duration"]).max()) + delay
    return math.ceil(end / tr - 1e-9)


def image_id(stimulus_name: str) -> int:
    """A stable integer per ImageNet image: ``n02766534_15976`` → 2766534015976.

    The same number as the events' ``stimulus_id`` (2766534.015976) × 10⁶, without
    the float round trip.
    """
    try:
        synset, number = stimulus_name.split("_")
        return int(synset.removeprefix("n")) * 1_000_000 + int(number)
    except (ValueError, AttributeError):
        raise ValueError(f"not an ImageNet image name (nXXXXXXXX_N): {stimulus_name!r}") from None


def read_stimuli(stimuli_dir: os.PathLike) -> pd.DataFrame:
    """``stimuli.tsv`` of a stimuli folder, indexed by ``stimulus_name``; files must exist."""
    stimuli_dir = Path(stimuli_dir)
    table_path = stimuli_dir / "stimuli.tsv"
    if not table_path.exists():
        raise DataError(
            table_path,
            "stimulus index not found: the folder needs stimuli.tsv with columns "
            "image, stimulus_name, file (one row per GOD image)",
        )
    table = read_tsv(table_path)
    missing = [c for c in ("image", "stimulus_name", "file") if c not in table.columns]
    if missing:
        raise DataError(table_path, f"stimulus index lacks columns {missing}")
    if table.empty:
        raise DataError(table_path, "stimulus index lists no images")
    if table[["image", "stimulus_name", "file"]].isna().any(axis=None):
        raise DataError(table_path, "stimulus index has empty image, stimulus_name or file fields")
    absent = [f for f in table["file"] if not (stimuli_dir / f).exists()]
    if absent:
        raise DataError(
            table_path, f"{len(absent)} listed image file(s) missing (first: {absent[0]})"
        )
    duplicated = table["stimulus_name"].duplicated()
    if duplicated.any():
        name = table.loc[duplicated, "stimulus_name"].iloc[0]
        raise DataError(table_path, f"stimulus_name {name} is listed more than once")
    table["path"] = [str(stimuli_dir / f) for f in table["file"]]
    return table.set_index("stimulus_name")


def load_bold(path: os.PathLike, n_volumes: int | None = None) -> nib.Nifti1Image:
    """A 4-D BOLD run (lazy: no voxel data read), with at least ``n_volumes`` volumes."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "BOLD run not found")
    try:
        image = nib.load(path)
    except Exception as exc:  # nibabel raises several unrelated types for corrupt files
        raise DataError(path, f"cannot read NIfTI ({exc})") from exc
    if image.ndim != 4:
        raise DataError(path, f"BOLD must be 4-D (x, y, z, time); got shape {image.shape}")
    if n_volumes is not None and image.shape[3] < n_volumes:
        raise DataError(
            path,
            f"BOLD has {image.shape[3]} volumes but its events need {n_volumes} "
            "(last block + haemodynamic delay); the run is truncated or the events belong "
            "to another run",
        )
    return image


def read_voxels(path: os.PathLike, dtype=None) -> np.ndarray:
    """Every voxel of a NIfTI file, with a ``.gz``'s checksum verified.

    nibabel reads a gzipped image's voxels and stops before the gzip trailer, so a
    flipped bit that leaves the deflate stream valid reads silently as other values
    (measured: one bit, 39 voxels); decompressing the whole member checks its CRC-32
    and length, at the cost of holding the decompressed file once more.
    """
    path = Path(path)
    try:
        if path.name.endswith(".gz"):
            image = type(nib.load(path)).from_bytes(gzip.decompress(path.read_bytes()))
        else:
            image = nib.load(path)
        return np.asarray(image.dataobj, dtype=dtype)
    except (OSError, EOFError, ValueError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise DataError(path, f"cannot read NIfTI data ({exc})") from exc


def check_same_grid(image: nib.spatialimages.SpatialImage, path, reference, reference_path) -> None:
    """A mask and a BOLD run must share voxel grid and affine: no silent resampling."""
    shape, ref_shape = tuple(image.shape[:3]), tuple(reference.shape[:3])
    if shape != ref_shape:
        raise DataError(
            path, f"mask shape {shape} does not match the BOLD grid {ref_shape} of {reference_path}"
        )
    if not np.allclose(image.affine, reference.affine, atol=AFFINE_ATOL):
        raise DataError(
            path,
            f"mask affine does not match the BOLD affine of {reference_path} "
            f"(max difference {np.abs(image.affine - reference.affine).max():.3g} mm)",
        )


def load_roi_masks(
    root: os.PathLike,
    subject: str,
    rois: Iterable[str],
    reference: nib.spatialimages.SpatialImage,
    reference_path: os.PathLike,
) -> dict[str, np.ndarray]:
    """Boolean 3-D mask per ROI (both hemispheres; dorsal + ventral for V1-V3).

    ``"VC"`` is the union of all :data:`ROIS`. Every mask file must be on the
    ``reference`` BOLD's grid.
    """
    cache: dict[Path, np.ndarray] = {}

    def part_mask(hemisphere: str, part: str) -> np.ndarray:
        path = mask_path(root, subject, hemisphere, part)
        if path not in cache:
            if not path.exists():
                raise DataError(path, "ROI mask not found")
            try:
                image = nib.load(path)
            except Exception as exc:
                raise DataError(path, f"cannot read NIfTI mask ({exc})") from exc
            check_same_grid(image, path, reference, reference_path)
            data = read_voxels(path)
            if data.ndim != 3:
                raise DataError(path, f"mask must be 3-D; got shape {data.shape}")
            if not np.isfinite(data).all():
                raise DataError(path, "mask contains NaN or infinite values")
            cache[path] = data > 0.5
        return cache[path]

    def roi_mask(roi: str) -> np.ndarray:
        if roi == VISUAL_CORTEX:
            return np.logical_or.reduce([roi_mask(r) for r in ROIS])
        if roi not in ROIS:
            raise ValueError(f"unknown ROI {roi!r}; expected one of {(*ROIS, VISUAL_CORTEX)}")
        parts = ROI_PARTS.get(roi, (roi,))
        return np.logical_or.reduce([part_mask(h, p) for h in HEMISPHERES for p in parts])

    masks = {}
    for roi in rois:
        masks[roi] = roi_mask(roi)
        if not masks[roi].any():
            paths = [
                mask_path(root, subject, h, p)
                for r in (ROIS if roi == VISUAL_CORTEX else (roi,))
                for h in HEMISPHERES
                for p in ROI_PARTS.get(r, (r,))
            ]
            raise DataError(
                paths[0].parent,
                f"ROI {roi} has no voxels in its masks {', '.join(p.name for p in paths)}",
            )
    return masks


def roi_table(masks: Mapping[str, np.ndarray], selection: np.ndarray) -> pd.DataFrame:
    """Voxel table of the selected voxels: ``voxel``, ``i``, ``j``, ``k``, one boolean per ROI."""
    i, j, k = np.nonzero(selection)
    table = pd.DataFrame({"voxel": np.arange(len(i)), "i": i, "j": j, "k": k}).astype("int64")
    for roi, mask in masks.items():
        table[roi] = mask[i, j, k]
    return table


#: Root files every reader of the dataset needs.
ROOT_FILES = ("dataset_description.json", "README", "CHANGES", f"task-{TASK}_bold.json")
IMAGE_SUFFIXES = (".JPEG", ".jpeg", ".jpg", ".JPG", ".png", ".PNG")


def download_patterns(subjects: Iterable[str]) -> list[str]:
    """Manifest globs for the perception runs of ``subjects``: events, preproc-spm BOLD, masks.

    The raw BOLD, anatomy and imagery sessions are left out: the chain reads the
    SPM-preprocessed runs, as Horikawa & Kamitani and Ozcelik et al. did.
    """
    patterns = [*ROOT_FILES, "sourcedata/README"]
    for subject in subjects:
        sub = f"sub-{_label(subject)}"
        patterns += [
            f"{sub}/ses-perception*/func/{sub}_ses-perception*_task-{TASK}_run-*_events.tsv",
            f"derivatives/preproc-spm/output/{sub}/ses-perception*/func/*_bold_preproc.nii.gz",
            f"sourcedata/{sub}/anat/{sub}_mask_*.nii.gz",
        ]
    return patterns


def index_stimuli(names: Iterable[str], images_dir: os.PathLike) -> pd.DataFrame:
    """``stimuli.tsv`` rows (image, stimulus_name, file) for the GOD images found in ``images_dir``.

    GOD's stimuli are ImageNet images, which cannot be redistributed: the Kamitani
    lab shares them on request (github.com/KamitaniLab/GenericObjectDecoding), as
    ``images/training/<name>.JPEG`` and ``images/test/<name>.JPEG``. Any folder
    layout works: files are found by name anywhere below ``images_dir``.
    """
    images_dir = Path(images_dir)
    names = sorted(set(names))
    if not images_dir.is_dir():
        raise DataError(
            images_dir,
            f"GOD stimulus folder not found; it must hold the {len(names)} ImageNet images the "
            "events name (e.g. images/training/n01518878_5958.JPEG), which the Kamitani lab "
            "shares on request (github.com/KamitaniLab/GenericObjectDecoding)",
        )
    found = {
        path.stem: path.resolve()
        for path in images_dir.rglob("*")
        if path.suffix in IMAGE_SUFFIXES and path.is_file()
    }
    missing = [n for n in names if n not in found]
    if missing:
        shown = ", ".join(f"{n}.JPEG" for n in missing[:5])
        raise DataError(
            images_dir,
            f"{len(missing)} of the {len(names)} stimulus images the events name are missing "
            f"(e.g. {shown}); put GOD's images/training and images/test folders here "
            "(ImageNet images, shared on request by the Kamitani lab)",
        )
    return pd.DataFrame(
        {
            "image": [image_id(n) for n in names],
            "stimulus_name": names,
            "file": [str(found[n]) for n in names],
        }
    )
