"""Monkey motor cortex during reaching (DANDI 000688, Perich, Miller et al.): layout and reader.

The data of Jude et al. 2022 (SABLE): sorted units on chronic Utah arrays
(96 electrodes each; electrode groups such as ``M1`` and ``PMd``) while a
monkey moves a cursor, recorded over months. The layout, which
:mod:`brainlatent.datasets.simulate_motor` writes too:

- file name ``sub-C/sub-C_ses-CO-20131003_behavior+ecephys.nwb``: subject,
  task (``CO`` center-out, ``RT`` random target) and date;
- ``units``: ragged ``spike_times`` (s) and ``electrodes``, a region into the
  ``electrodes`` table (one electrode per unit; the first is used if a unit
  lists several), whose ``group_name`` names the array (``electrode_group_M1``,
  ``electrode_group_PMd`` in the real files: read as ``M1``, ``PMd``);
- ``processing/behavior``: ``Position/cursor_pos`` (SpatialSeries, n × 2, cm),
  ``Velocity/cursor_vel`` (TimeSeries in a BehavioralTimeSeries, cm/s) and
  ``Acceleration/cursor_acc``, at 100 Hz with timestamps (read in cm whatever unit a
  file stores, see :func:`read_motor_session`);
- ``trials``: start/stop, ``target_on_time``, ``go_cue_time``, ``result``
  (R reward, A abort, F fail, I incomplete) and ``target_id`` (float, NaN when
  none).

A session's channels are all its electrodes, named ``"<group>/<electrode id>"``:
the only identity that persists across sessions of a chronic array, whatever
the spike sorting found. A file without ``cursor_vel`` but with ``cursor_pos``
gets its velocity as ``np.gradient`` of the position over the timestamps (a
choice: position is the measured quantity, and velocity in these files is
derived from it anyway); a file without ``cursor_pos`` is an error. ``cursor_acc``
is read when present (the quantity the artifact bound of
:func:`brainlatent.preprocessing.motor.cursor_artifacts` was set on); without it
the acceleration is the gradient of the velocity.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from brainlatent.datasets.nwb import open_nwb, ragged
from brainlatent.errors import ConfigError, DataError

#: ``sub-C/sub-C_ses-CO-20131003_behavior+ecephys.nwb`` (the directory is optional).
FILE_PATTERN = re.compile(
    r"(?:sub-(?P<dir>[A-Za-z0-9]+)/)?sub-(?P<subject>[A-Za-z0-9]+)_ses-(?P<task>[A-Za-z]+)-"
    r"(?P<date>\d{8})_behavior\+ecephys\.nwb"
)
#: Trials columns a session must have (``target_on_time`` is kept when present).
TRIAL_COLUMNS = ("start_time", "stop_time", "go_cue_time", "result", "target_id")
#: Spikes may outlast the kinematics by this much (s) before the file counts as truncated.
KINEMATICS_TOLERANCE_S = 1.0
POSITION, VELOCITY, ACCELERATION = "cursor_pos", "cursor_vel", "cursor_acc"
#: Centimetres per length unit: the kinematics are read in cm (cm/s, cm/s²), the unit the
#: onset and artifact thresholds of :mod:`brainlatent.preprocessing.motor` are set in.
CM_PER_UNIT = {"cm": 1.0, "mm": 0.1, "m": 100.0}
_LENGTH_NAMES = {
    **{name: "cm" for name in ("cm", "centimeter", "centimeters", "centimetre", "centimetres")},
    **{name: "mm" for name in ("mm", "millimeter", "millimeters", "millimetre", "millimetres")},
    **{name: "m" for name in ("m", "meter", "meters", "metre", "metres")},
}
#: What may follow the length in each series' unit ("" for none: a velocity labelled "cm"
#: is read as cm/s, as some files do).
_PER_TIME = {
    POSITION: ("",),
    VELOCITY: ("", "/s", "s^-1", "/sec"),
    ACCELERATION: ("", "/s^2", "/s2", "/s**2", "/s²", "s^-2", "/sec^2"),
}
_EXPECTED = {
    POSITION: "a length (cm, mm, m)",
    VELOCITY: "a length per second (cm/s, mm/s, m/s)",
    ACCELERATION: "a length per second squared (cm/s^2, mm/s^2, m/s^2)",
}


@dataclass(frozen=True)
class MotorSession:
    """One session: spikes per unit, the unit → channel map, cursor kinematics and trials."""

    path: Path
    subject: str
    date: datetime.date
    task: str
    spike_times: tuple[np.ndarray, ...]  # per unit, s, float64 sorted
    unit_channel: np.ndarray  # (units,) int64: index into ``channels``
    channels: tuple[str, ...]  # every electrode kept: "<group_name>/<electrode id>"
    kinematics_time: np.ndarray  # (n,) s
    position: np.ndarray  # (n, 2) cm
    velocity: np.ndarray  # (n, 2) cm/s
    trials: pd.DataFrame  # one row per trial of the file, in time order (start_time)
    acceleration: np.ndarray | None = None  # (n, 2) cm/s², the file's cursor_acc if it has one
    start: datetime.datetime | None = None  # session_start_time: orders sessions of one day

    @property
    def name(self) -> str:
        return session_name(self.path)


def _parse_name(path: str | Path) -> re.Match | None:
    path = Path(path)
    for candidate in (path.name, path.resolve().name if path.is_symlink() else None):
        if candidate and (match := FILE_PATTERN.fullmatch(candidate)):
            return match
    return None


def session_name(path: str | Path) -> str:
    """``sub-C_ses-CO-20131003`` from a DANDI 000688 file's path (or the file a link points
    to); any other file (your own sessions) is named by its stem, made safe for file names."""
    match = _parse_name(path)
    if match is None:
        return re.sub(r"[^A-Za-z0-9_\-]", "_", Path(path).name.split(".")[0])
    return f"sub-{match['subject']}_ses-{match['task']}-{match['date']}"


def read_motor_session(
    path: str | Path, groups: Sequence[str] | None = None, cursor_unit: str | None = None
) -> MotorSession:
    """Read one DANDI 000688 session; ``groups`` keeps only those electrode groups' units
    and channels (e.g. ``["M1"]``). Anything missing or inconsistent is a DataError.

    The kinematics come out in cm: with ``cursor_unit`` None, as the file says (each series'
    ``unit``, ``conversion`` and ``offset``, as NWB defines them); with ``"cm"``, ``"mm"`` or
    ``"m"``, the stored values are taken in that unit whatever the file says (a file whose
    ``unit`` is wrong, e.g. pynwb's default "meters" left on values in cm).
    """
    path = Path(path)
    if cursor_unit is not None and cursor_unit not in CM_PER_UNIT:
        raise ValueError(f"cursor_unit must be one of {sorted(CM_PER_UNIT)} or None")
    match = _parse_name(path)  # None: your own file, named anything (subject from the file)
    with open_nwb(path) as nwb:
        channels, group_of = _channels(path, nwb)
        spike_times, unit_electrode = _units(path, nwb)
        kinematics_time, position, velocity, acceleration = _kinematics(path, nwb, cursor_unit)
        trials = _trials(path, nwb)
        subject = _subject(path, nwb, match["subject"] if match else None)
        start = nwb.session_start_time
        date = start.date()
    if len(unit_electrode) and unit_electrode.max() >= len(channels):
        raise DataError(path, f"units refer to electrode rows beyond the {len(channels)} listed")
    keep = np.ones(len(channels), dtype=bool)
    if groups is not None:
        groups = [groups] if isinstance(groups, str) else list(groups)
        present = sorted({str(g) for g in group_of})
        unknown = [g for g in groups if g not in present]
        if unknown:
            raise DataError(path, f"no electrode group(s) {unknown}; the file has {present}")
        keep = np.isin(group_of, groups)
    new_index = np.cumsum(keep) - 1
    units = keep[unit_electrode]
    last_spike = max((t[-1] for t in spike_times if len(t)), default=-np.inf)
    if last_spike > kinematics_time[-1] + KINEMATICS_TOLERANCE_S:
        raise DataError(
            path,
            f"kinematics end at {kinematics_time[-1]:.2f} s but spikes go on to {last_spike:.2f} s "
            "(kinematics shorter than the spikes: truncated behaviour?)",
        )
    return MotorSession(
        path=path,
        subject=subject,
        date=date,
        task=match["task"] if match else "unknown",
        spike_times=tuple(t for t, u in zip(spike_times, units, strict=True) if u),
        unit_channel=new_index[unit_electrode[units]].astype(np.int64),
        channels=tuple(c for c, k in zip(channels, keep, strict=True) if k),
        kinematics_time=kinematics_time,
        position=position,
        velocity=velocity,
        trials=trials,
        acceleration=acceleration,
        start=start,
    )


#: The real files name their electrode groups ``electrode_group_M1`` and
#: ``electrode_group_PMd``; the arrays are called by their area (``M1``, ``PMd``).
GROUP_PREFIX = "electrode_group_"


def _channels(path: Path, nwb) -> tuple[tuple[str, ...], np.ndarray]:
    table = nwb.electrodes
    if table is None or len(table) == 0:
        raise DataError(path, "no electrodes table")
    if "group_name" in table.colnames:
        names = [_text(g) for g in table["group_name"].data[:]]
    elif "group" in table.colnames:
        names = [g.name for g in table["group"][:]]
    else:
        raise DataError(path, "electrodes table has neither 'group_name' nor 'group'")
    names = [name.removeprefix(GROUP_PREFIX) for name in names]
    ids = np.asarray(table.id.data[:])
    return tuple(f"{g}/{i}" for g, i in zip(names, ids, strict=True)), np.array(names)


def _units(path: Path, nwb) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    units = nwb.units
    if units is None:
        raise DataError(path, "no units table")
    for column in ("spike_times", "electrodes"):
        if column not in units.colnames:
            raise DataError(
                path, f"units table has no {column!r} column; it has {list(units.colnames)}"
            )
    times = ragged(units["spike_times"])
    electrodes = ragged(units["electrodes"])
    empty = [i for i, e in enumerate(electrodes) if len(e) == 0]
    if empty:
        raise DataError(path, f"unit(s) {empty[:5]} list no electrode")
    spike_times = tuple(np.sort(np.asarray(t, dtype=np.float64)) for t in times)
    bad = [i for i, t in enumerate(spike_times) if not np.isfinite(t).all()]
    if bad:
        raise DataError(path, f"units {bad[:5]} have NaN or infinite spike times")
    return spike_times, np.array([int(e[0]) for e in electrodes], dtype=np.int64)


def _series(module) -> dict[str, object]:
    """Every TimeSeries of a processing module, by name, inside containers or at top level."""
    found = {}
    for name, interface in module.data_interfaces.items():
        inner = getattr(interface, "spatial_series", None) or getattr(
            interface, "time_series", None
        )
        if inner:
            found.update(inner)
        elif hasattr(interface, "data"):
            found[name] = interface
    return found


def _kinematics(
    path: Path, nwb, cursor_unit: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """(time, position, velocity, acceleration or None) of the cursor, in cm, cm/s, cm/s²."""
    module = nwb.processing.get("behavior")
    if module is None:
        raise DataError(path, f"no 'behavior' processing module; modules: {sorted(nwb.processing)}")
    series = _series(module)
    if POSITION not in series:
        raise DataError(path, f"no {POSITION!r} in processing/behavior; series: {sorted(series)}")
    time, position = _read_series(path, series[POSITION], cursor_unit)
    velocity = _same_clock(path, series, VELOCITY, time, cursor_unit)
    if velocity is None:
        velocity = np.gradient(position, time, axis=0)
    return time, position, velocity, _same_clock(path, series, ACCELERATION, time, cursor_unit)


def _same_clock(
    path: Path, series: dict, name: str, time: np.ndarray, cursor_unit: str | None
) -> np.ndarray | None:
    """Series ``name`` (None if absent), which must share the position's timestamps."""
    if name not in series:
        return None
    other_time, data = _read_series(path, series[name], cursor_unit)
    if len(other_time) != len(time) or not np.allclose(other_time, time):
        raise DataError(path, f"{name!r} and {POSITION!r} have different timestamps")
    return data


def _in_cm(path: Path, series, data: np.ndarray, cursor_unit: str | None) -> np.ndarray:
    """``data`` of a cursor series in cm (per s, per s²): see :func:`read_motor_session`."""
    if cursor_unit is not None:
        return data * CM_PER_UNIT[cursor_unit]
    unit = str(series.unit or "").strip()
    compact = unit.lower().replace(" ", "")
    per_time = _PER_TIME[series.name]
    lengths = [n for n in _LENGTH_NAMES if compact.startswith(n) and compact[len(n) :] in per_time]
    if not lengths:
        raise DataError(
            path,
            f"{series.name!r} is in {unit!r}: expected {_EXPECTED[series.name]}; if the stored"
            " values are in cm, mm or m whatever the file says, set motor.cursor_unit",
        )
    length = _LENGTH_NAMES[max(lengths, key=len)]  # "mm…" also starts with "m"
    offset = float(getattr(series, "offset", 0.0) or 0.0)
    return (data * float(series.conversion) + offset) * CM_PER_UNIT[length]


def _read_series(
    path: Path, series, cursor_unit: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    data = np.asarray(series.data[:], dtype=np.float64)
    if data.ndim != 2 or data.shape[1] < 2 or len(data) < 2:
        raise DataError(
            path, f"{series.name!r} must be (time × 2) with ≥ 2 samples; got {data.shape}"
        )
    if series.timestamps is not None:
        time = np.asarray(series.timestamps[:], dtype=np.float64)
    elif series.rate:
        time = series.starting_time + np.arange(len(data)) / series.rate
    else:
        raise DataError(path, f"{series.name!r} has neither timestamps nor a rate")
    if len(time) != len(data):
        raise DataError(path, f"{series.name!r} has {len(data)} samples, {len(time)} timestamps")
    if not np.isfinite(time).all():
        raise DataError(
            path, f"{series.name!r} has NaN/inf in {int((~np.isfinite(time)).sum())} timestamps"
        )
    bad = ~np.isfinite(data[:, :2]).all(1)
    if bad.any():
        raise DataError(path, f"{series.name!r} has NaN/inf in {bad.sum()} of {len(data)} samples")
    if np.any(np.diff(time) <= 0):
        raise DataError(path, f"{series.name!r} timestamps are not strictly increasing")
    return time, _in_cm(path, series, data[:, :2], cursor_unit)


def _trials(path: Path, nwb) -> pd.DataFrame:
    if nwb.trials is None:
        raise DataError(path, "no trials table")
    columns = ["start_time", "stop_time", *nwb.trials.colnames]
    missing = [c for c in TRIAL_COLUMNS if c not in columns]
    if missing:
        raise DataError(path, f"trials table has no column(s) {missing}; it has {columns}")
    keep = [c for c in (*TRIAL_COLUMNS[:2], "target_on_time", *TRIAL_COLUMNS[2:]) if c in columns]
    table = pd.DataFrame({c: np.asarray(nwb.trials[c].data[:]) for c in keep})
    table["result"] = [_text(r) for r in table["result"]]
    for column in keep:
        if column != "result":
            table[column] = table[column].astype(np.float64)
    # In time order, which the calibration/evaluation split relies on (a trial's trial_id
    # downstream is its row here, the file's row when the file's table is in time order).
    return table.sort_values("start_time", kind="stable").reset_index(drop=True)


def _subject(path: Path, nwb, from_name: str | None) -> str:
    subject = nwb.subject.subject_id if nwb.subject is not None else None
    if not subject:
        if from_name is None:
            return "unknown"
        raise DataError(path, "no subject_id in the file")
    if from_name is not None and subject != from_name:
        raise DataError(path, f"subject_id {subject!r} differs from the file name's {from_name!r}")
    return subject


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# --------------------------------------------------------------------------- selection


def manifest_sessions(manifest: pd.DataFrame) -> pd.DataFrame:
    """The manifest's session files: ``path``, ``subject``, ``task``, ``date``; other rows
    (dandiset.yaml...) are dropped."""
    rows = []
    for path in manifest["path"]:
        match = FILE_PATTERN.fullmatch(path)
        if match and match["dir"] == match["subject"]:
            day = datetime.datetime.strptime(match["date"], "%Y%m%d").date()
            rows.append((path, match["subject"], match["task"], day))
    return pd.DataFrame(rows, columns=["path", "subject", "task", "date"])


def select_sessions(
    manifest: pd.DataFrame,
    subjects: Iterable[str] | str | None = None,
    tasks: Iterable[str] | str | None = ("CO",),
    dates: Sequence[str] | None = None,
) -> list[str]:
    """Manifest paths of the chosen sessions, sorted by subject then date.

    ``subjects``/``tasks``: None for all; ``dates``: ``[first, last]`` as
    ``"YYYY-MM-DD"``, inclusive, or None. An unknown subject or task, a bad date
    range or an empty selection is a ConfigError that says what exists.
    """
    table = manifest_sessions(manifest)
    if table.empty:
        raise ConfigError(
            "the manifest lists no session file (sub-<S>/sub-<S>_ses-<TASK>-<DATE>_...nwb)"
        )
    for column, wanted in (("subject", subjects), ("task", tasks)):
        if wanted is None:
            continue
        wanted = [wanted] if isinstance(wanted, str) else list(wanted)
        present = sorted(table[column].unique())
        unknown = [w for w in wanted if w not in present]
        if unknown or not wanted:
            raise ConfigError(
                f"unknown {column}(s) {unknown or wanted}; the manifest has {present}"
            )
        table = table[table[column].isin(wanted)]
    if dates is not None:
        first, last = _date_range(dates)
        available = table
        table = table[(table["date"] >= first) & (table["date"] <= last)]
        if table.empty:
            raise ConfigError(
                f"no session between {first} and {last}; the selected subjects/tasks have "
                f"sessions from {available['date'].min()} to {available['date'].max()}"
            )
    if table.empty:
        raise ConfigError("no session matches (subjects, tasks) in the manifest")
    return list(table.sort_values(["subject", "date", "task"])["path"])


def _date_range(dates: Sequence[str]) -> tuple[datetime.date, datetime.date]:
    if isinstance(dates, str) or len(dates) != 2:
        raise ConfigError(f"dates must be [first, last] ('YYYY-MM-DD'); got {dates!r}")
    try:
        first, last = (datetime.date.fromisoformat(str(d)) for d in dates)
    except ValueError as error:
        raise ConfigError(f"dates must be 'YYYY-MM-DD'; got {dates!r}") from error
    if first > last:
        raise ConfigError(f"dates: first {first} is after last {last}")
    return first, last
