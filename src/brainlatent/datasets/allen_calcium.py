"""Allen Brain Observatory Visual Coding 2P (DANDI 000728): layout and reader.

The NWB 2 files on DANDI were converted from the Allen Institute's NWB 1 files
by CatalystNeuro (github.com/catalystneuro/visual-coding-to-nwb-v2, August
2024). Their layout, which the simulator writes too:

- ``processing/ophys/DfOverF/DfOverF``: RoiResponseSeries, (time × ROIs), with
  timestamps (linked to ``Fluorescence/Corrected``); ``DfOverFEvents`` beside it
  in some files.
- ``processing/ophys/ImageSegmentation/PlaneSegmentation``: one row per ROI;
  row ids and the ``global_roi_id`` column hold the cell specimen ids.
- ``general/optophysiology/ImagingPlane``: ``location`` is the targeted area
  (VISp, VISl, VISal, VISpm, VISam, VISrl).
- ``stimulus/presentation/natural_movie_one_stimulus``: IndexSeries, movie
  frame (uint32) per presentation with onset timestamps, linked to the
  ImageSeries ``stimulus/templates/natural_movie_one`` (900 frames, NaN rate).
- ``stimulus/presentation/natural_scenes_stimulus``: IndexSeries into the
  Images ``natural_scenes_template`` (``NaturalScene0`` … ``NaturalScene117``,
  no ``order_of_images``); only in three_session_B (``StimB``) files.
- ``processing/behavior/BehavioralTimeSeries/running_speed``: cm/s on the 2P
  clock.

Stop times are not stored (the NWB 1 ``frame_duration`` was dropped in
conversion), so a presentation ends at the next onset, capped at the median
onset interval so that a gap before a grey screen is not counted.
``repeat`` numbers a frame's presentations in order; when every repeat is
complete this equals the AllenSDK's position // 900.

Also recognised inside an NWB 2 HDF5 file, because other releases of the same data
use them: the AllenSDK's convention (``intervals/natural_movie_one_presentations``
TimeIntervals with start_time, stop_time, frame; a ``running`` module), the NWB 1
pipeline module name ``brain_observatory_pipeline``, and the movie template as Images
with ``order_of_images`` (the Zarr re-release's). NWB 1 files and Zarr stores
themselves are not opened (:func:`brainlatent.datasets.nwb.open_nwb` reads HDF5).

Natural-scene blank sweeps: the AllenSDK marks them frame -1, and the conversion
behind DANDI 000728 cast the frames to uint32 through h5py, which clips -1 to 0
(the converter's ``_natural_scenes_stimulus.py``; reproduced with h5py 3.11 and
3.16), so there the grey screens read as image 0, beside image 0's own 50
showings, and nothing tells them apart. An image 0 shown far more often than the
others is therefore marked :data:`SCENE_ZERO_OR_BLANK` (with a warning) and left out
of the scene responses; frames at or above the number of scenes become -1 (blank).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from brainlatent.datasets.nwb import open_nwb
from brainlatent.errors import ConfigError, DataError

#: Frames in natural movie one (30 s at 30 Hz) and images in natural scenes.
N_MOVIE_FRAMES = 900
MOVIE_RATE = 30.0
N_SCENES = 118
#: Nominal 2P frame rate (Hz) of the Visual Coding rigs.
IMAGING_RATE = 30.0

MOVIE_PRESENTATION = "natural_movie_one_stimulus"
MOVIE_TEMPLATE = "natural_movie_one"
MOVIE_INTERVALS = "natural_movie_one_presentations"
SCENES_PRESENTATION = "natural_scenes_stimulus"
SCENES_TEMPLATE = "natural_scenes_template"
SCENES_INTERVALS = "natural_scenes_presentations"
SCENE_IMAGE_PREFIX = "NaturalScene"

OPHYS_MODULE = "ophys"
#: Processing modules searched for dF/F, in order (DANDI 000728, then NWB 1 naming).
OPHYS_MODULES = (OPHYS_MODULE, "brain_observatory_pipeline")
DFF = "DfOverF"
SEGMENTATION = "ImageSegmentation"
PLANE_SEGMENTATION = "PlaneSegmentation"
IMAGING_PLANE = "ImagingPlane"
BEHAVIOR_MODULE = "behavior"
#: Modules searched for running speed (DANDI 000728, AllenSDK NWB 2, NWB 1).
BEHAVIOR_MODULES = (BEHAVIOR_MODULE, "running", "brain_observatory_pipeline")
RUNNING_CONTAINER = "BehavioralTimeSeries"
RUNNING_SPEED = "running_speed"

MOVIE_COLUMNS = {
    "start_time": "float64",
    "stop_time": "float64",
    "frame": "int64",
    "repeat": "int64",
}
SCENE_COLUMNS = {"start_time": "float64", "stop_time": "float64", "frame": "int64"}
#: Scene ``frame`` of a presentation that is image 0 or a blank sweep clipped to 0 (see the
#: module docstring); -1 is a blank sweep.
SCENE_ZERO_OR_BLANK = -2
#: Session label of simulated files: StimB is the session type with both stimuli.
SIMULATED_SESSION = "simulated-StimB"
#: The three_session_A/B/C/C2 protocols, as the dandiset's file names spell them.
#: Natural movie one is in all four; natural scenes only in StimB.
SESSION_TYPES = ("StimA", "StimB", "StimC", "StimC2")
SCENES_SESSION_TYPE = "StimB"
#: Targeted areas of the Visual Coding 2P survey (``ImagingPlane.location``).
AREAS = ("VISp", "VISl", "VISal", "VISpm", "VISam", "VISrl")
#: What :func:`session_key` returns, as a regular expression (a Snakemake wildcard
#: constraint: listing 1,518 keys instead slows the DAG build tenfold).
SESSION_KEY_PATTERN = r"[0-9A-Za-z]+_ses-[^/_]+-Stim[A-Z0-9]+"
_SESSION_PATH = re.compile(
    r"^sub-(?P<subject>[^/_]+)/sub-(?P=subject)_ses-(?P<session>[^_/]+?)-(?P<type>Stim[A-Z0-9]+)"
    r"_behavior\+image\+ophys\.nwb$"
)


def nwb_relpath(subject: str, session: str = SIMULATED_SESSION) -> Path:
    """A session's path inside the dandiset, as in the manifest."""
    return Path(f"sub-{subject}") / f"sub-{subject}_ses-{session}_behavior+image+ophys.nwb"


def session_key(path: str) -> str:
    """The workflow's name of a session file: ``<subject>_ses-<session>-<type>``.

    Results go to ``sub-<key>/``, so a session's outputs are named as its file
    (``sub-491604967_ses-496908818-StimB``); a mouse has one key per session.
    """
    match = _SESSION_PATH.match(str(path))
    if match is None:
        raise ConfigError(
            f"allen_calcium.sessions: {path!r} is not a DANDI 000728 session file "
            "(sub-<id>/sub-<id>_ses-<id>-<StimA|StimB|StimC|StimC2>_behavior+image+ophys.nwb)"
        )
    return f"{match['subject']}_ses-{match['session']}-{match['type']}"


def session_type(key_or_path: str) -> str:
    """``StimA`` … ``StimC2`` from a session key or file path."""
    match = re.search(r"-(Stim[A-Z0-9]+)(?:_behavior\+image\+ophys\.nwb)?$", str(key_or_path))
    if match is None:
        raise ValueError(f"no session type in {key_or_path!r}")
    return match.group(1)


def select_sessions(
    paths: list[str] | pd.Series, selection: list[str] | dict, manifest: str | Path = "manifest"
) -> dict[str, str]:
    """Session files chosen by ``allen_calcium.sessions``: ``{key: manifest path}``.

    ``selection`` is a list of manifest paths, or a filter ``{session_types:
    [...], subjects: [...] | null}`` over every session file in the manifest
    (null subjects: all of them), in manifest order. Raises :class:`ConfigError`
    naming the paths or filter values that match nothing.
    """
    listed = [p for p in map(str, paths) if _SESSION_PATH.match(p)]
    if isinstance(selection, dict):
        types = list(selection.get("session_types") or SESSION_TYPES)
        unknown = sorted(set(types) - set(SESSION_TYPES))
        if unknown:
            raise ConfigError(
                f"allen_calcium.sessions.session_types: unknown {unknown}; "
                f"use {list(SESSION_TYPES)}"
            )
        subjects = selection.get("subjects")
        chosen = [
            p
            for p in listed
            if session_type(p) in types
            and (subjects is None or _SESSION_PATH.match(p)["subject"] in map(str, subjects))
        ]
        if subjects is not None:
            found = {_SESSION_PATH.match(p)["subject"] for p in chosen}
            missing = sorted(set(map(str, subjects)) - found)
            if missing:
                raise ConfigError(
                    f"allen_calcium.sessions.subjects: no {types} session of {missing} "
                    f"in {manifest}"
                )
        if not chosen:
            raise ConfigError(f"allen_calcium.sessions: no session of types {types} in {manifest}")
    else:
        missing = sorted(set(map(str, selection)) - set(listed))
        if missing:
            raise ConfigError(
                f"allen_calcium.sessions: {len(missing)} path(s) not in {manifest}, e.g. "
                f"{missing[0]!r}"
            )
        chosen = list(selection)
    keys = {session_key(p): p for p in chosen}
    if len(keys) != len(chosen):
        raise ConfigError("allen_calcium.sessions: a session is listed twice")
    return keys


@dataclass(frozen=True)
class CalciumSession:
    """What the calcium pipeline needs from one session file.

    ``dff`` is float32 (time × neurons) on ``timestamps`` (s); ``running_speed``
    (cm/s) is on the same clock, NaN where the file has none. ``movie`` and
    ``scenes`` are presentation tables (:data:`MOVIE_COLUMNS`,
    :data:`SCENE_COLUMNS`; ``scenes`` is empty in sessions without natural
    scenes). Templates are uint8 (frames × height × width) or None.
    """

    dff: np.ndarray
    timestamps: np.ndarray
    cell_ids: np.ndarray
    area: str
    movie: pd.DataFrame
    scenes: pd.DataFrame
    running_speed: np.ndarray
    movie_template: np.ndarray | None
    scenes_template: np.ndarray | None
    subject: str
    path: Path
    #: ``cell_ids`` name cells across sessions (``cell_specimen_id``, ``global_roi_id``);
    #: False: the ROI table's row ids or positions, which only this file's ROIs share.
    cell_ids_persist: bool = True


def read_session(path: str | Path, templates: bool = True) -> CalciumSession:
    """Read one Visual Coding 2P NWB file (real or simulated) with pynwb.

    ``templates=False`` skips the stimulus images (166 MB for a real movie).
    Raises :class:`DataError` naming the file when it is missing or unreadable,
    has no natural_movie_one presentations, or has no dF/F.
    """
    path = Path(path)
    with open_nwb(path) as nwbfile:
        dff, timestamps, cell_ids, persist, area = _read_dff(nwbfile, path)
        movie = _movie_table(nwbfile, path)
        movie_template = _template(nwbfile, MOVIE_TEMPLATE) if templates else None
        scenes_template = _template(nwbfile, SCENES_TEMPLATE) if templates else None
        n_scenes = len(scenes_template) if scenes_template is not None else N_SCENES
        scenes = _scene_table(nwbfile, path, n_scenes)
        running = _running_speed(nwbfile, timestamps)
        subject = nwbfile.subject.subject_id if nwbfile.subject is not None else ""
    return CalciumSession(
        dff=dff,
        timestamps=timestamps,
        cell_ids=cell_ids,
        cell_ids_persist=persist,
        area=area,
        movie=movie,
        scenes=scenes,
        running_speed=running,
        movie_template=movie_template,
        scenes_template=scenes_template,
        subject=str(subject or ""),
        path=path,
    )


def _read_dff(nwbfile, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    series = None
    for name in OPHYS_MODULES:
        module = nwbfile.processing.get(name)
        if module is not None and DFF in module.data_interfaces:
            container = module[DFF]
            named = container.roi_response_series
            series = named.get(DFF)
            if series is None:  # NWB 1 naming: imaging_plane_1
                series = next((s for k, s in named.items() if not k.endswith("Events")), None)
            break
    if series is None:
        raise DataError(
            path, f"no dF/F: no {DFF} RoiResponseSeries in processing modules {OPHYS_MODULES}"
        )
    data = np.asarray(series.data[:], dtype=np.float32)
    timestamps = _timestamps(series, len(data))
    if not np.isfinite(timestamps).all() or (np.diff(timestamps) < 0).any():
        raise DataError(path, "dF/F timestamps are not finite and increasing")
    if data.ndim != 2:
        raise DataError(path, f"dF/F has shape {data.shape}; expected (time, ROIs)")
    if data.shape[0] != len(timestamps) and data.shape[1] == len(timestamps):
        data = np.ascontiguousarray(data.T)  # NWB 1 stored (ROIs, time)
    if data.shape[0] != len(timestamps):
        raise DataError(path, f"dF/F has {data.shape[0]} samples but {len(timestamps)} timestamps")
    cell_ids, persist = np.arange(data.shape[1], dtype=np.int64), False
    area = ""
    rois = getattr(series, "rois", None)
    if rois is not None:
        table = rois.table
        rows = np.asarray(rois.data[:], dtype=np.int64)
        for column in ("cell_specimen_id", "global_roi_id"):
            if column in table.colnames:
                cell_ids = np.asarray(table[column].data[:], dtype=np.int64)[rows]
                persist = True
                break
        else:
            cell_ids = np.asarray(table.id.data[:], dtype=np.int64)[rows]
        plane = getattr(table, "imaging_plane", None)
        area = plane.location if plane is not None else ""
    if not area and nwbfile.imaging_planes:
        plane = nwbfile.imaging_planes.get(IMAGING_PLANE)
        if plane is None:
            plane = next(iter(nwbfile.imaging_planes.values()))
        area = plane.location
    if len(cell_ids) != data.shape[1]:
        raise DataError(path, f"dF/F has {data.shape[1]} ROIs but its table {len(cell_ids)}")
    return data, timestamps, cell_ids, persist, area_name(str(area))


def area_name(location: str) -> str:
    """The survey's area name in an imaging plane's location (``"VISp, 175 um"`` → ``VISp``).

    Pseudo-mice are pooled by this name, so a location that only mentions the
    area still pools with the others; one naming no survey area is kept as is.
    """
    found = re.findall(r"\b(" + "|".join(AREAS) + r")\b", location)
    return found[0] if len(set(found)) == 1 else location


def _timestamps(series, n: int) -> np.ndarray:
    if series.timestamps is not None:
        return np.asarray(series.timestamps[:], dtype=np.float64)
    return series.starting_time + np.arange(n, dtype=np.float64) / series.rate


def _presentations(nwbfile, path: Path, index_name: str, intervals_name: str):
    """(start, stop, frame) of one stimulus, from TimeIntervals or an IndexSeries."""
    intervals = nwbfile.intervals or {}
    if intervals_name in intervals:
        table = intervals[intervals_name].to_dataframe()
        frame = pd.to_numeric(table["frame"], errors="coerce").fillna(-1)
        start = table["start_time"].to_numpy(np.float64)
        stop = table["stop_time"].to_numpy(np.float64)
        frame = frame.to_numpy().astype(np.int64)
    else:
        series = nwbfile.stimulus.get(index_name)
        if series is None:
            return None
        frame = np.asarray(series.data[:]).astype(np.int64).ravel()
        start = _timestamps(series, len(frame))
        if len(start) != len(frame):
            raise DataError(
                path, f"{index_name} has {len(frame)} frames but {len(start)} timestamps"
            )
        order = np.argsort(start, kind="stable")
        start, frame = start[order], frame[order]
        gaps = np.diff(start)
        typical = float(np.median(gaps)) if len(gaps) else 1.0 / MOVIE_RATE
        stop = start + np.minimum(np.append(gaps, typical), typical)
    if not (np.isfinite(start).all() and np.isfinite(stop).all()):
        raise DataError(path, f"{index_name} presentation times are NaN or infinite")
    backwards = stop < start
    if backwards.any():
        i = int(np.argmax(backwards))
        raise DataError(
            path,
            f"{index_name}: {int(backwards.sum())} presentations stop before they start "
            f"(first: row {i}, {start[i]:.3f} to {stop[i]:.3f} s)",
        )
    return start, stop, frame


def _movie_table(nwbfile, path: Path) -> pd.DataFrame:
    found = _presentations(nwbfile, path, MOVIE_PRESENTATION, MOVIE_INTERVALS)
    if found is None or len(found[0]) == 0:
        raise DataError(
            path,
            f"no natural_movie_one presentations (looked for stimulus/{MOVIE_PRESENTATION} "
            f"and intervals/{MOVIE_INTERVALS})",
        )
    start, stop, frame = found
    table = pd.DataFrame({"start_time": start, "stop_time": stop, "frame": frame})
    table["repeat"] = table.groupby("frame").cumcount()
    return table.astype(MOVIE_COLUMNS)


def _scene_table(nwbfile, path: Path, n_scenes: int) -> pd.DataFrame:
    found = _presentations(nwbfile, path, SCENES_PRESENTATION, SCENES_INTERVALS)
    if found is None:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in SCENE_COLUMNS.items()})
    start, stop, frame = found
    frame = np.where((frame < 0) | (frame >= n_scenes), -1, frame)
    counts = np.bincount(frame[frame >= 0], minlength=n_scenes)
    if counts[0] > 1.5 * max(np.median(counts[1:]), 1) + 2:
        warnings.warn(
            f"{path}: natural scene 0 is shown {counts[0]} times, the others a median of "
            f"{np.median(counts[1:]):g}; blank sweeps (-1) were probably stored as 0, so "
            "image 0 is left out of the scene responses",
            stacklevel=3,
        )
        frame = np.where(frame == 0, SCENE_ZERO_OR_BLANK, frame)
    table = pd.DataFrame({"start_time": start, "stop_time": stop, "frame": frame})
    return table.astype(SCENE_COLUMNS)


def _template(nwbfile, name: str) -> np.ndarray | None:
    """A stimulus template as uint8 (frames, height, width), from ImageSeries or Images."""
    template = nwbfile.stimulus_template.get(name)
    if template is None:
        return None
    if hasattr(template, "images"):  # Images: ordered, or NaturalScene<k> by k
        order = getattr(template, "order_of_images", None)
        if order is not None:
            images = list(order.data)
        else:
            images = sorted(template.images.values(), key=lambda im: _trailing_int(im.name))
        stack = np.stack([np.asarray(im.data[:]) for im in images])
    else:
        stack = np.asarray(template.data[:])
    if stack.dtype != np.uint8:
        stack = np.clip(np.round(stack), 0, 255).astype(np.uint8)
    return stack


def _trailing_int(name: str) -> int:
    match = re.search(r"(\d+)$", name)
    return int(match.group(1)) if match else -1


def _running_speed(nwbfile, timestamps: np.ndarray) -> np.ndarray:
    """Running speed on the dF/F clock (linear interpolation), NaN when absent."""
    series = None
    for name in BEHAVIOR_MODULES:
        module = nwbfile.processing.get(name)
        if module is None:
            continue
        interfaces = module.data_interfaces
        if RUNNING_CONTAINER in interfaces:
            series = interfaces[RUNNING_CONTAINER].time_series.get(RUNNING_SPEED)
        for key in (RUNNING_SPEED, "speed"):  # AllenSDK NWB 2: running/speed
            if series is None:
                series = interfaces.get(key)
        if series is not None:
            break
    if series is None:
        return np.full(len(timestamps), np.nan)
    speed = np.asarray(series.data[:], dtype=np.float64).ravel()
    times = _timestamps(series, len(speed))
    if len(times) == len(timestamps) and np.allclose(times, timestamps):
        return speed
    return np.interp(timestamps, times, speed, left=np.nan, right=np.nan)
