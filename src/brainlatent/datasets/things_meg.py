"""THINGS-MEG (OpenNeuro ds004212): layout, sensors and trial tables.

The real dataset's small files (events.tsv, channels.tsv, category matrix) ship
in ``resources/bids/things-meg``; they define the trial structure that
both the simulator and the preprocessing read, so both modes share one layout.
"""

from __future__ import annotations

from pathlib import Path

import mne
import numpy as np
import pandas as pd
from mne_bids import BIDSPath

from brainlatent.errors import DataError
from brainlatent.evaluation import exclude_concepts
from brainlatent.io import read_tsv

TASK = "main"
EVENT_COLUMNS = ["onset", "duration", "trial_type", "things_category_nr", "value", "sample"]
#: ``trial_type`` → split: ``exp`` images are seen once (training), ``test``
#: images are the 200 repeated ones (evaluation), ``catch`` trials have no image.
SPLITS = {"exp": "train", "test": "test"}
#: Schema of ``trials.parquet`` written by preprocessing.
TRIAL_COLUMNS = {
    "subject": "string",
    "session": "string",
    "run": "string",
    "trial": "int64",
    "onset": "float64",
    "image": "int64",
    "category": "int64",
    "trial_type": "string",
    "split": "string",
}


def bids_basename(subject: str, session: str, run: str) -> str:
    return f"sub-{subject}_ses-{session}_task-{TASK}_run-{run}"


def bids_path(bids_root: Path, subject: str, session: str, run: str) -> BIDSPath:
    """The MNE-BIDS path of one run's MEG recording (any format: FIF, CTF ``.ds``)."""
    return BIDSPath(
        subject=subject,
        session=session,
        task=TASK,
        run=run,
        datatype="meg",
        suffix="meg",
        root=bids_root,
    )


def events_path(bids_root: Path, subject: str, session: str, run: str) -> Path:
    return (
        Path(bids_root)
        / f"sub-{subject}"
        / f"ses-{session}"
        / "meg"
        / f"{bids_basename(subject, session, run)}_events.tsv"
    )


def bad_channels(bids_root: Path, subject: str, session: str, run: str) -> list[str]:
    """Channels marked ``bad`` in the run's ``channels.tsv`` (none when it is absent)."""
    path = events_path(bids_root, subject, session, run).with_name(
        f"{bids_basename(subject, session, run)}_channels.tsv"
    )
    if not path.exists():
        return []
    table = pd.read_csv(path, sep="\t")
    if "status" not in table or "name" not in table:
        return []
    return table.loc[table["status"].astype(str).str.lower() == "bad", "name"].tolist()


def read_events(path: Path) -> pd.DataFrame:
    """Read a THINGS-MEG ``events.tsv`` (real files write missing values as ``N/A``)."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "events file not found")
    events = read_tsv(path, na_values=["N/A", "n/a"], keep_default_na=True)
    missing = [c for c in ("onset", "trial_type", "things_category_nr", "value") if c not in events]
    if missing:
        raise DataError(path, f"missing columns {missing}")
    if events.empty:
        raise DataError(path, "no events: the table has a header but no rows")
    unknown = set(events["trial_type"]) - {"exp", "test", "catch"}
    if unknown:
        raise DataError(path, f"unknown trial_type values {sorted(unknown)}")
    for column in ("onset", "value", "things_category_nr"):
        events[column] = pd.to_numeric(events[column], errors="coerce")
    images = events["trial_type"].isin(list(SPLITS))
    codes = events.loc[images, ["value", "things_category_nr"]].to_numpy(np.float64)
    if not (np.isfinite(codes) & (codes == np.round(codes))).all():
        raise DataError(
            path, "an exp/test event has no image number (value) or category, or a non-integer one"
        )
    if not np.isfinite(events["onset"]).all():
        raise DataError(path, "an event has no onset")
    return events


def exclude_test_concepts(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials with every training image of a tested concept marked ``excluded``.

    THINGS-MEG's 200 test images each belong to a concept whose 12 ``exp`` images are also
    shown once. Benchetrit et al. (2023) leave those images out of training, so that test
    images are of concepts the decoder has never seen (zero-shot); training on them instead
    lets a decoder match a test image by its concept. The concepts are those of the test
    trials in ``trials`` (one participant's configured runs).
    """
    return exclude_concepts(trials, trials.loc[trials["split"] == "test", "category"])


def image_trials(events: pd.DataFrame) -> pd.DataFrame:
    """The trials that show an image (exp and test), with the project's column names."""
    trials = events[events["trial_type"].isin(list(SPLITS))].copy()
    return pd.DataFrame(
        {
            "trial": trials.index.to_numpy(dtype=np.int64),
            "onset": trials["onset"].to_numpy(dtype=np.float64),
            "image": trials["value"].to_numpy(dtype=np.int64),
            "category": trials["things_category_nr"].to_numpy(dtype=np.int64),
            "trial_type": trials["trial_type"].astype("string").to_numpy(),
            "split": trials["trial_type"].map(SPLITS).astype("string").to_numpy(),
        }
    )


#: Sensors broken in every THINGS-MEG recording (the dataset authors' preprocessing drops
#: MRO11 "based on experimenter notes"), so decoding uses 271 of the 272 sensors.
KNOWN_BAD_CHANNELS = ("MRO11-1609",)


def sensor_names(reference_bids: Path) -> list[str]:
    """The 272 CTF MEG sensor names of the real recordings (e.g. ``MLC11-1609``).

    The real channels.tsv types the axial gradiometers ``OTHER``; reference
    magnetometers and misc channels are left out.
    """
    files = sorted(Path(reference_bids).glob("sub-*/ses-*/meg/*_channels.tsv"))
    if not files:
        raise DataError(reference_bids, "no *_channels.tsv found")
    channels = pd.read_csv(files[0], sep="\t")
    names = channels.loc[channels["name"].str.match(r"^M[LRZ][A-Z]\d\d"), "name"].tolist()
    if len(names) != 272:
        raise DataError(files[0], f"expected 272 MEG sensors, found {len(names)}")
    return names


def sensor_positions(names: list[str]) -> np.ndarray:
    """2D positions in [0, 1]² of CTF sensors by name (``MLC11`` or ``MLC11-1609``).

    Taken from MNE's ``CTF275`` layout, matched by the name before the system
    suffix, so real CTF recordings and simulated FIF files get the same positions.
    """
    layout = mne.channels.read_layout("CTF275")
    index = {name: i for i, name in enumerate(layout.names)}
    short = [n.split("-")[0] for n in names]
    missing = [s for s in short if s not in index]
    if missing:
        raise ValueError(f"channels not in MNE's CTF275 layout: {missing[:5]}")
    rows = [index[s] for s in short]
    pos = layout.pos[rows, :2] + layout.pos[rows, 2:] / 2
    lo, hi = pos.min(axis=0), pos.max(axis=0)
    return ((pos - lo) / np.where(hi > lo, hi - lo, 1.0)).astype(np.float32)


def runs(sessions: list[int], runs_per_session: list[int]) -> list[tuple[str, str]]:
    """BIDS (session, run) labels, zero-padded as in ds004212."""
    return [(f"{s:02d}", f"{r:02d}") for s in sessions for r in runs_per_session]


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".JPG", ".JPEG", ".png", ".PNG")
THINGS_HELP = (
    "THINGS images need the THINGS licence: download the THINGS object images and metadata "
    "(https://osf.io/jum2f/, password from the THINGS initiative) and set things_meg.stimuli_dir "
    "to the folder"
)


def index_stimuli(images_dir: Path, images, categories=None) -> pd.DataFrame:
    """``stimuli.tsv`` rows (``image``, ``file``, absolute) for THINGS image numbers.

    ``images_dir`` holds either a ``stimuli.tsv`` (image, file) of its own, or the
    THINGS release: the images anywhere below it plus ``image_paths.csv`` (THINGS
    metadata: line *n* is the path of image number *n*), matched by file name.
    ``categories`` (each image's ``things_category_nr``, as the events give it) checks
    that numbering: the images of one category must sit in one concept folder, and
    different categories in different folders; one line off would pair every trial
    with its neighbour (the dataset documents ``value`` only as "THINGS image number").
    """
    images_dir = Path(images_dir)
    wanted = sorted({int(i) for i in images})
    if not images_dir.is_dir():
        raise DataError(images_dir, f"THINGS image folder not found. {THINGS_HELP}")
    own = images_dir / "stimuli.tsv"
    if own.exists():
        table = pd.read_csv(own, sep="\t")
        if not {"image", "file"} <= set(table.columns):
            raise DataError(own, "needs columns 'image' and 'file'")
        pairs = zip(table["image"], table["file"], strict=True)
        path_of = {int(i): (images_dir / f).resolve() for i, f in pairs}
    else:
        listings = sorted(images_dir.rglob("image_paths.csv"))
        if not listings:
            raise DataError(
                images_dir, f"neither stimuli.tsv nor THINGS' image_paths.csv found. {THINGS_HELP}"
            )
        entries = [line.strip() for line in listings[0].read_text().splitlines() if line.strip()]
        on_disk = {
            p.name: p.resolve()
            for p in images_dir.rglob("*")
            if p.suffix in IMAGE_SUFFIXES and p.is_file()
        }
        path_of = {
            n: on_disk[Path(entry).name]
            for n, entry in enumerate(entries, start=1)
            if Path(entry).name in on_disk
        }
        if categories is not None:
            _check_concepts(listings[0], entries, images, categories)
    missing = [i for i in wanted if i not in path_of or not Path(path_of[i]).exists()]
    if missing:
        raise DataError(
            images_dir,
            f"{len(missing)} of the {len(wanted)} THINGS images the events show are missing "
            f"(image numbers {missing[:5]}). {THINGS_HELP}",
        )
    return pd.DataFrame({"image": wanted, "file": [str(path_of[i]) for i in wanted]})


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


def stimulus_files(stimuli_dir: Path, images) -> list[Path]:
    """The stimulus file of each image number, in order, from ``stimuli.tsv``."""
    stimuli = stimulus_index(stimuli_dir)
    missing = sorted({int(i) for i in images} - set(stimuli))
    if missing:
        raise DataError(
            Path(stimuli_dir) / "stimuli.tsv",
            f"{len(missing)} image(s) of the trials are not listed (image numbers {missing[:5]})",
        )
    return [stimuli[int(i)] for i in images]


def _check_concepts(listing: Path, entries: list[str], images, categories) -> None:
    """Each events category must be one concept folder of ``image_paths.csv``, and back."""
    folders: dict[int, set[str]] = {}
    for image, category in zip(images, categories, strict=True):
        if 1 <= int(image) <= len(entries):
            folders.setdefault(int(category), set()).add(Path(entries[int(image) - 1]).parent.name)
    split = {c: sorted(f) for c, f in folders.items() if len(f) > 1}
    owners: dict[str, set[int]] = {}
    for category, names in folders.items():
        for name in names:
            owners.setdefault(name, set()).add(category)
    shared = {name: sorted(c) for name, c in owners.items() if len(c) > 1}
    if split or shared:
        example = (
            f"category {next(iter(split))} spans folders {next(iter(split.values()))}"
            if split
            else f"folder {next(iter(shared))!r} holds categories {next(iter(shared.values()))}"
        )
        raise DataError(
            listing,
            f"the events' image numbers do not follow this listing's lines ({example}): "
            "line n must be THINGS image number n (the release's image_paths.csv, unsorted)",
        )


def derivative_patterns(subjects) -> list[str]:
    """Manifest globs for reading the authors' preprocessed epochs instead of the CTF runs.

    Per subject (``1``, ``"BIGMEG1"`` or ``"sub-BIGMEG1"``): every split part of
    ``derivatives/preprocessed/preprocessed_P{n}-epo.fif`` (MNE follows ``-epo-1.fif``...
    and fails on a missing one) and all its ``events.tsv`` files, which give the trial
    table and check the epochs' order; plus the root files every BIDS reader needs.
    About 8 GB a subject instead of 65 GB of raw runs.
    """
    from brainlatent.datasets.manifest import THINGS_MEG_ROOT_FILES

    patterns = list(THINGS_MEG_ROOT_FILES)
    for subject in subjects:
        label = str(subject).removeprefix("sub-").removeprefix("BIGMEG")
        if not label.isdigit():
            raise ValueError(f"THINGS-MEG subjects are BIGMEG1..4, not {subject!r}")
        patterns.append(f"derivatives/preprocessed/preprocessed_P{int(label)}-epo*.fif")
        patterns.append(f"sub-BIGMEG{int(label)}/ses-*/meg/*_events.tsv")
    return patterns
