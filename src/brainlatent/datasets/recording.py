"""A user's own recording: neural activity plus behaviour, from NWB or ``.npz``.

The decoding chain below preprocessing is not dataset-specific; this reader is
its entry point. Two formats:

* **NWB** — the neural series (a TimeSeries, e.g. binned spike counts, or a
  RoiResponseSeries inside Fluorescence/DfOverF; or ``units``: the file's units
  table, each unit's spike times counted in bins of ``bin_s`` over the span the
  behaviour covers, as spike-sorted files hold them; ``units_query`` keeps the
  units a pandas query on the table's columns selects, e.g. ``quality == 'good'``)
  and one or more behaviour TimeSeries (e.g. a SpatialSeries inside Position)
  are looked up by name anywhere in the file: acquisition, any processing
  module, any container. A name may also be a path tail
  (``behavior/Position/position``) when a bare name is ambiguous, or one column
  of a multi-column series (``position_x`` of a 2-D ``position``: the x
  coordinate of a linear track tracked by a camera). When the behaviour is on
  another clock than the neural series, it is resampled to the neural
  timestamps: **linear** interpolation for continuous columns, **nearest**
  sample for discrete ones (so class codes stay codes); neural samples outside
  the behaviour's time span are dropped.
* **npz** — arrays ``neural`` (time × neurons) and ``behavior`` (time × d, or
  time), optional ``behavior_names``, ``discrete`` (names, or a boolean mask)
  and ``rate`` (Hz). Both arrays must already share one clock. Columns named
  ``<stem>_x``, ``<stem>_y`` (``_z``) are one position, as an NWB SpatialSeries'
  columns are.

Samples whose behaviour is NaN (tracking lost) are dropped, with a warning saying
how many and where. A running direction can be derived from a position column
(``direction_from``), since few files store one. Everything wrong with the input is a
:class:`~brainlatent.errors.DataError` that starts with the file's path.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainlatent.datasets.nwb import open_nwb, ragged
from brainlatent.errors import DataError

#: File suffixes the reader understands.
FORMATS = (".nwb", ".npz")
#: ``neural`` naming the NWB file's units table (spike times), binned by the reader.
UNITS = "units"
#: The column ``direction_from`` adds: 0 position increasing, 1 decreasing.
DIRECTION = "direction"


@dataclass(frozen=True)
class Recording:
    """Neural activity and behaviour on one clock.

    ``neural`` is float32 (time × neurons), ``behavior`` float64 (time × d)
    with column names ``behavior_names``; ``discrete`` names the columns that
    are class codes (integer-valued). ``timestamps`` (s) are the neural
    clock; ``resampling`` says how behaviour was brought onto it ("" when it
    already was); ``series`` the series each column came from (an NWB series' path;
    ``npz/<stem>`` for an npz's ``<stem>_x``/``_y`` columns).
    """

    neural: np.ndarray
    behavior: np.ndarray
    behavior_names: tuple[str, ...]
    discrete: tuple[str, ...]
    rate: float
    timestamps: np.ndarray
    path: Path
    resampling: str = ""
    series: tuple[str, ...] = ()  # the series of each column (empty: each its own)

    @property
    def is_discrete(self) -> np.ndarray:
        """Boolean mask over behaviour columns: True for discrete ones."""
        return np.array([name in self.discrete for name in self.behavior_names], dtype=bool)

    @property
    def position_groups(self) -> list[list[int]]:
        """The continuous columns by the series they came from (a 2-D position's x and y
        together), which the Bayesian decoder decodes jointly; in column order."""
        return position_groups(self.behavior_names, self.discrete, self.series)

    @property
    def distance_groups(self) -> dict[str, list[int]]:
        """The multi-column positions (an open field's x and y), label → columns
        (:func:`distance_groups`)."""
        return distance_groups(self.behavior_names, self.discrete, self.series)


def position_groups(
    names: Sequence[str], discrete: Sequence[str], series: Sequence[str] = ()
) -> list[list[int]]:
    """The continuous columns grouped by ``series`` (each column's series; empty: each
    column its own), in column order."""
    groups: dict[str, list[int]] = {}
    for j, (name, of) in enumerate(zip(names, series or names, strict=True)):
        if name not in discrete:
            groups.setdefault(of, []).append(j)
    return list(groups.values())


def distance_groups(
    names: Sequence[str], discrete: Sequence[str], series: Sequence[str] = ()
) -> dict[str, list[int]]:
    """The :func:`position_groups` of two or more columns, label → columns: each is also
    scored as one Euclidean error. The label is the series' name (``position``), or the
    columns' names joined by ``+`` where that is already a column's name."""
    series = series or names
    groups: dict[str, list[int]] = {}
    for group in position_groups(names, discrete, series):
        if len(group) < 2:
            continue
        label = series[group[0]].rsplit("/", 1)[-1]
        if label in names or label in groups:
            label = "+".join(names[j] for j in group)
        groups[label] = group
    return groups


def read_recording(
    path: str | Path,
    *,
    neural: str = "spike_counts",
    behavior: Sequence[str] = ("position", "direction"),
    behavior_names: Sequence[str] | None = None,
    discrete: Sequence[str] | None = None,
    rate: float | None = None,
    bin_s: float = 0.025,
    units_query: str | None = None,
    direction_from: str | None = None,
    direction_min_speed: float | None = None,
) -> Recording:
    """Read a recording from NWB (``neural``/``behavior`` are series names) or ``.npz``.

    ``behavior_names`` renames the behaviour columns (default: the file's
    names — series names for NWB, with ``_x``/``_y``/``_z`` or ``_<i>`` for
    multi-column series). ``discrete`` lists discrete columns by name
    (default: the npz's ``discrete`` entry, else none; its names, or its mask's positions,
    follow the renaming). ``rate`` (Hz) is
    needed when the file does not state it (an npz without ``rate``); when
    both do, they must agree. ``bin_s`` (s) is the bin of the spike counts when
    ``neural`` is :data:`UNITS`, and ``units_query`` (a :meth:`pandas.DataFrame.query`
    on the units table's one-value-per-unit columns) which units count.
    ``direction_from`` names a continuous column (a linear track's position) from which
    a discrete :data:`DIRECTION` column is derived, each sample the direction of the
    last run (:func:`~brainlatent.preprocessing.running.running_direction`, with
    ``direction_min_speed`` in the column's unit per second).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "recording file not found")
    suffix = path.suffix.lower()
    if suffix == ".nwb":
        nwb = _read_nwb(path, neural, behavior, bin_s, units_query)
        names, file_discrete, file_rate, series = nwb.names, (), nwb.rate, nwb.series
    elif suffix == ".npz":
        if units_query is not None:
            raise DataError(path, "units_query selects units of an NWB units table; npz has none")
        neural_data, behavior_data, names, file_discrete, file_rate = _read_npz(path)
        series = _npz_series(names)
    else:
        raise DataError(path, f"unknown recording format {suffix!r}; expected one of {FORMATS}")

    rate = _rate(path, file_rate, rate)
    if behavior_names is not None:
        behavior_names = tuple(str(n) for n in behavior_names)
        if len(behavior_names) != len(names):
            raise DataError(
                path,
                f"behavior_names has {len(behavior_names)} names but the behaviour has "
                f"{len(names)} columns ({', '.join(names)})",
            )
        if not isinstance(file_discrete, np.ndarray):  # names as the file names its columns
            renamed = dict(zip(names, behavior_names, strict=True))
            file_discrete = tuple(renamed.get(d, d) for d in file_discrete)
        names = behavior_names
    if isinstance(file_discrete, np.ndarray):  # an npz's mask: by position, after any renaming
        file_discrete = tuple(n for n, f in zip(names, file_discrete, strict=True) if f)
    if len(set(names)) != len(names):
        raise DataError(path, f"behaviour column names are not unique: {list(names)}")
    discrete = tuple(str(d) for d in (file_discrete if discrete is None else discrete))
    derived = (DIRECTION,) if direction_from is not None else ()
    if direction_from is not None:
        _check_direction_source(path, direction_from, names, discrete)
        discrete += tuple(d for d in derived if d not in discrete)
    unknown = [d for d in discrete if d not in (*names, *derived)]
    if unknown:
        raise DataError(
            path, f"discrete columns {unknown} are not behaviour columns; columns: {list(names)}"
        )
    note = ""
    if suffix == ".nwb":
        is_discrete = [n in discrete for n in names]
        neural_data, behavior_data, timestamps, note = _align(path, nwb, is_discrete)
        note = "; ".join(filter(None, [nwb.units_note, note]))
    else:
        timestamps = np.arange(len(neural_data), dtype=np.float64) / rate
    neural_data, behavior_data, timestamps, dropped = _without_missing_behaviour(
        path, neural_data, behavior_data, timestamps
    )
    note = "; ".join(filter(None, [note, dropped]))
    if direction_from is not None:
        behavior_data = np.column_stack(
            [
                behavior_data,
                _direction(path, behavior_data, names, direction_from, timestamps,
                           direction_min_speed),
            ]
        )  # fmt: skip
        names = (*names, DIRECTION)
        series = (*series, DIRECTION) if series else ()
    recording = Recording(
        neural=neural_data,
        behavior=behavior_data,
        behavior_names=tuple(names),
        discrete=discrete,
        rate=rate,
        timestamps=timestamps,
        path=path,
        resampling=note,
        series=tuple(series),
    )
    _validate(recording)
    return recording


def _check_direction_source(path: Path, column: str, names, discrete) -> None:
    """``direction_from`` must name a continuous column, and no column may be called
    :data:`DIRECTION` already."""
    if column not in names:
        raise DataError(
            path, f"direction_from {column!r} is not a behaviour column; columns: {list(names)}"
        )
    if column in discrete:
        raise DataError(path, f"direction_from {column!r} is a discrete column, not a position")
    if DIRECTION in names:
        raise DataError(
            path,
            f"the behaviour already has a {DIRECTION!r} column; leave it out of "
            "recording.behavior to derive it from the position, or set direction_from: null",
        )


def _direction(path: Path, behavior, names, column: str, timestamps, min_speed) -> np.ndarray:
    from brainlatent.preprocessing.running import running_direction

    try:
        return running_direction(
            behavior[:, list(names).index(column)], timestamps, min_speed=min_speed
        )
    except ValueError as error:
        raise DataError(path, f"direction from {column!r}: {error}") from None


def _without_missing_behaviour(path: Path, neural, behavior, timestamps):
    """Drop the samples whose behaviour is NaN (tracking lost: there is nothing to decode
    there), with a warning and a note saying how many and where; infinite values stay an
    error (:func:`_validate`)."""
    missing = np.isnan(behavior).any(axis=1)  # both readers give (time, d)
    if not missing.any() or len(missing) != len(neural):  # _validate names a length mismatch
        return neural, behavior, timestamps, ""
    if missing.all():
        raise DataError(path, "the behaviour is NaN at every sample: nothing to decode")
    edges = np.flatnonzero(np.diff(np.r_[0, missing.astype(np.int8), 0]))
    gaps = [
        (timestamps[a], timestamps[b - 1]) for a, b in zip(edges[::2], edges[1::2], strict=True)
    ]
    where = ", ".join(f"{a:.6g}-{b:.6g} s" for a, b in gaps[:3]) + (
        ", ..." if len(gaps) > 3 else ""
    )
    note = (
        f"{int(missing.sum())} of {len(missing)} samples dropped, their behaviour missing (NaN, "
        f"e.g. tracking lost) in {len(gaps)} gap(s): {where}"
    )
    warnings.warn(f"{path}: {note}", stacklevel=3)
    keep = ~missing
    return neural[keep], behavior[keep], timestamps[keep], note


def _rate(path: Path, file_rate: float | None, config_rate: float | None) -> float:
    if file_rate is None and config_rate is None:
        raise DataError(path, "no sampling rate: the file has none, so set recording.rate (Hz)")
    if file_rate is not None and config_rate is not None:
        if not np.isclose(file_rate, config_rate, rtol=1e-3):
            raise DataError(
                path,
                f"the file's sampling rate is {file_rate:g} Hz but the config says "
                f"{config_rate:g} Hz",
            )
    rate = float(file_rate if file_rate is not None else config_rate)
    if not np.isfinite(rate) or rate <= 0:
        raise DataError(path, f"sampling rate must be positive; got {rate}")
    return rate


def _validate(rec: Recording) -> None:
    """Shape, emptiness, finiteness and discreteness checks shared by both formats."""
    path, neural, behavior = rec.path, rec.neural, rec.behavior
    if neural.ndim != 2:
        raise DataError(path, f"neural must be 2D (time × neurons); got shape {neural.shape}")
    if behavior.ndim != 2:
        raise DataError(path, f"behavior must be 1D or 2D (time × d); got shape {behavior.shape}")
    if neural.shape[0] == 0 or neural.shape[1] == 0:
        raise DataError(path, f"neural is empty (shape {neural.shape})")
    if behavior.shape[1] == 0:
        raise DataError(path, "behavior has no columns")
    if len(neural) != len(behavior):
        raise DataError(
            path,
            f"neural has {len(neural)} samples but behavior has {len(behavior)}: "
            "they must be on the same clock",
        )
    bad = int((~np.isfinite(neural)).sum())
    if bad:
        raise DataError(
            path,
            f"neural contains {bad} NaN or infinite values (first at sample "
            f"{int(np.argwhere(~np.isfinite(neural))[0, 0])})",
        )
    for j, name in enumerate(rec.behavior_names):
        bad = int((~np.isfinite(behavior[:, j])).sum())
        if bad:
            raise DataError(
                path,
                f"behaviour column {name!r} contains {bad} infinite values; "
                "drop those samples or make them NaN (samples with NaN behaviour are dropped)",
            )
    for name in rec.discrete:
        column = behavior[:, rec.behavior_names.index(name)]
        if not np.array_equal(column, np.round(column)):
            raise DataError(path, f"discrete behaviour column {name!r} has non-integer values")
    constant = [n for j, n in enumerate(rec.behavior_names) if np.ptp(behavior[:, j]) == 0]
    if constant:
        raise DataError(
            path,
            f"behaviour column(s) {constant} never change: there is nothing to decode; "
            "leave them out (recording.behavior)",
        )


# --- npz -----------------------------------------------------------------------------------


def _member(archive, path: Path, key: str, dtype=None) -> np.ndarray:
    """One array of an npz, read now (members load lazily), or a DataError naming it."""
    try:
        return np.asarray(archive[key], dtype=dtype)
    except Exception as error:  # a damaged member, an object array, a value of the wrong type
        raise DataError(
            path, f"cannot read array {key!r} ({type(error).__name__}: {error})"
        ) from error


def _read_npz(path: Path):
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as error:  # zipfile and numpy raise several types for a damaged file
        raise DataError(path, f"cannot read npz ({type(error).__name__}: {error})") from error
    with archive:
        keys = set(archive.files)
        missing = [k for k in ("neural", "behavior") if k not in keys]
        if missing:
            raise DataError(path, f"missing arrays {missing}; the file has {sorted(keys)}")
        neural = _member(archive, path, "neural", np.float32)
        behavior = _member(archive, path, "behavior", np.float64)
        if behavior.ndim == 1:
            behavior = behavior[:, None]
        if behavior.ndim != 2:
            raise DataError(
                path, f"behavior must be 1D or 2D (time × d); got shape {behavior.shape}"
            )
        n_columns = behavior.shape[1]
        if "behavior_names" in keys:
            names = tuple(str(n) for n in np.atleast_1d(_member(archive, path, "behavior_names")))
            if len(names) != n_columns:
                raise DataError(
                    path, f"behavior_names has {len(names)} names for {n_columns} columns"
                )
        else:
            names = tuple(f"behavior_{j}" for j in range(n_columns))
        discrete: tuple[str, ...] | np.ndarray = ()
        if "discrete" in keys:
            flags = np.atleast_1d(_member(archive, path, "discrete"))
            if flags.dtype == bool:
                if len(flags) != n_columns:
                    raise DataError(
                        path, f"discrete mask has {len(flags)} entries for {n_columns} columns"
                    )
                discrete = flags  # by position: read_recording names them after behavior_names
            else:
                discrete = tuple(str(d) for d in flags)
        rate = None
        if "rate" in keys:
            value = _member(archive, path, "rate")
            if value.size != 1 or not np.issubdtype(value.dtype, np.number):
                raise DataError(path, f"rate must be one number (Hz); got {value!r}")
            rate = float(value.item())
    if neural.ndim != 2:
        raise DataError(path, f"neural must be 2D (time × neurons); got shape {neural.shape}")
    return neural, behavior, names, discrete, rate


def _npz_series(names: Sequence[str]) -> tuple[str, ...]:
    """The series of each npz column, as the NWB reader names a SpatialSeries' columns:
    ``<stem>_x``, ``<stem>_y`` (``_z``) of one stem are one position (series ``npz/<stem>``,
    a path as the NWB reader's are); any other column is its own. Empty when no stem has
    two such columns (each column its own series)."""
    axes = [_COLUMN.fullmatch(n) for n in names]
    stems = [m["series"] if m and m["column"] in "xyz" else None for m in axes]
    shared = {s for s in stems if s is not None and stems.count(s) > 1}
    if not shared:
        return ()
    return tuple(f"npz/{s}" if s in shared else n for s, n in zip(stems, names, strict=True))


# --- NWB -----------------------------------------------------------------------------------


def _series_path(series) -> str:
    """``module/container/name`` (``acquisition/name``, ``stimulus/name`` at the file's top):
    the series' place in the file, for messages and matching."""
    parts = [series.name]
    parent = series.parent
    while parent is not None and parent.parent is not None:  # stop below the NWBFile root
        parts.append(parent.name)
        parent = parent.parent
    if len(parts) == 1 and parent is not None:  # directly in the file: say which group
        for group in ("acquisition", "stimulus", "stimulus_template"):
            if series.name in getattr(parent, group, {}):
                parts.append(group)
                break
    return "/".join(reversed(parts))


def _all_series(nwbfile) -> dict[str, object]:
    """Every TimeSeries in the file (acquisition, processing, stimulus...) by path."""
    from pynwb import TimeSeries

    found = {}
    for obj in nwbfile.objects.values():
        if isinstance(obj, TimeSeries):
            found[_series_path(obj)] = obj
    return dict(sorted(found.items()))


def _find(path: Path, available: dict[str, object], name: str, role: str):
    matches = _matching(path, available, name)
    if not matches:
        listing = ", ".join(available) or "none"
        hint = f" (or {UNITS!r}: the units table's spike times)" if role == "neural" else ""
        raise DataError(
            path, f"no {role} series named {name!r}; series in the file: {listing}{hint}"
        )
    return available[matches[0]]


def _matching(path: Path, available: dict[str, object], name: str) -> list[str]:
    """The series ``name`` names (a name or a path tail); an error if it names several."""
    matches = [p for p in available if p == name or p.endswith("/" + name)]
    if len(matches) > 1:
        raise DataError(
            path,
            f"series name {name!r} is ambiguous ({', '.join(matches)}); "
            "give a longer path, e.g. the container too",
        )
    return matches


#: ``<series>_<column>``: one column of a multi-column behaviour series.
_COLUMN = re.compile(r"(?P<series>.+)_(?P<column>[xyz]|\d+)")


def _behaviour(path: Path, available: dict[str, object], name: str):
    """(series, column index or None): the behaviour series ``name`` names, or the one column
    of a multi-column series that ``<series>_x``/``_y``/``_z`` or ``<series>_<i>`` names."""
    column = _COLUMN.fullmatch(name)
    whole = _matching(path, available, name)
    if column is None:
        return _find(path, available, name, "behaviour"), None
    parents = [p for p in available if p == column["series"] or p.endswith("/" + column["series"])]
    wide = [p for p in parents if _width(available[p]) > 1]
    if whole and wide:
        raise DataError(
            path,
            f"behaviour {name!r} names both the series {whole[0]} and a column of the series "
            f"{wide[0]}; give a longer path, e.g. {whole[0]} or {wide[0]}_{column['column']}",
        )
    if whole or not parents:
        return _find(path, available, name, "behaviour"), None  # the error naming every series
    if len(parents) > 1:
        raise DataError(
            path,
            f"behaviour {name!r} is ambiguous "
            f"({', '.join(p + '_' + column['column'] for p in parents)}); give a longer path, "
            f"e.g. {parents[0]}_{column['column']}",
        )
    series = available[parents[0]]
    axis = column["column"]
    index = "xyz".index(axis) if axis in "xyz" else int(axis)
    shape = series.data.shape
    if len(shape) > 2:
        raise DataError(
            path, f"behaviour {name!r}: series {parents[0]} has shape {shape}, not (time, columns)"
        )
    width = _width(series)
    if width < 2 or index >= width:
        raise DataError(
            path,
            f"behaviour {name!r}: series {column['series']!r} has {width} column"
            f"{'s' if width != 1 else ''}, so it has no column {axis!r}; name the series itself",
        )
    return series, index


def _width(series) -> int:
    """Columns of a series' data: 1 for a 1-D series."""
    shape = series.data.shape
    return int(shape[1]) if len(shape) > 1 else 1


def _timestamps(path: Path, series, n: int) -> np.ndarray:
    if series.timestamps is not None:
        t = np.asarray(series.timestamps[:], dtype=np.float64)
        if len(t) != n:
            raise DataError(path, f"series {series.name!r} has {n} samples but {len(t)} timestamps")
        if not np.isfinite(t).all():
            first = int(np.flatnonzero(~np.isfinite(t))[0])
            raise DataError(path, f"series {series.name!r} has a NaN timestamp (sample {first})")
        if len(t) > 1 and not np.all(np.diff(t) > 0):
            first = int(np.flatnonzero(np.diff(t) <= 0)[0])
            raise DataError(
                path,
                f"series {series.name!r}: timestamps are not strictly increasing (sample "
                f"{first + 1} at {t[first + 1]:.6g} s after {t[first]:.6g} s: a repeated or "
                "reordered frame); NWB timestamps must increase",
            )
        return t
    if series.rate is None or not np.isfinite(series.rate) or series.rate <= 0:
        raise DataError(path, f"series {series.name!r} has neither timestamps nor a rate")
    return float(series.starting_time or 0.0) + np.arange(n, dtype=np.float64) / series.rate


def _columns(series, data: np.ndarray) -> list[str]:
    from pynwb.behavior import SpatialSeries

    if data.shape[1] == 1:
        return [series.name]
    if isinstance(series, SpatialSeries) and data.shape[1] <= 3:
        return [f"{series.name}_{axis}" for axis in "xyz"[: data.shape[1]]]
    return [f"{series.name}_{j}" for j in range(data.shape[1])]


@dataclass(frozen=True)
class _NWBSeries:
    """What :func:`_read_nwb` found: the neural series and each behaviour series on its clock."""

    neural: np.ndarray
    neural_time: np.ndarray
    behavior: list[np.ndarray]
    behavior_time: list[np.ndarray]
    names: tuple[str, ...]
    rate: float | None
    units_note: str = ""  # which units a units_query kept, which were observed in part
    series: tuple[str, ...] = ()  # the series of each behaviour column


def _read_nwb(
    path: Path,
    neural_name: str,
    behavior_names: Sequence[str],
    bin_s: float = 0.025,
    units_query: str | None = None,
) -> _NWBSeries:
    if isinstance(behavior_names, str):
        behavior_names = [behavior_names]
    if not behavior_names:
        raise DataError(path, "no behaviour series named: set recording.behavior")
    with open_nwb(path) as nwbfile:
        available = _all_series(nwbfile)
        columns, names, clocks, origins = [], [], [], []
        for name in behavior_names:
            b, column = _behaviour(path, available, name)
            # In the series' declared unit: a position stored in cm with conversion 0.01 and
            # unit "meters" is read in metres, as the decoders' errors are reported.
            data = _two_d(path, b.get_data_in_units(), np.float64, "behaviour", name, "d")
            if column is not None:
                data = data[:, [column]]
            columns.append(data)
            # a column is named as asked, less any path: Position/position_x -> position_x
            names += [name.rsplit("/", 1)[-1]] if column is not None else _columns(b, data)
            origins += [_series_path(b)] * data.shape[1]
            clocks.append(_timestamps(path, b, len(data)))
        units_note = ""
        if units_query is not None and neural_name != UNITS:
            raise DataError(
                path,
                f"units_query selects units of the units table, but neural is {neural_name!r}; "
                f"set neural: {UNITS} to bin the units' spike times",
            )
        if neural_name == UNITS:
            units = _unit_spike_times(path, nwbfile, units_query)
            times = units.times
            spikes = np.concatenate(times)
            first, last = float(spikes.min()), float(spikes.max())
            for name, clock in zip(behavior_names, clocks, strict=True):
                _check_same_unit(
                    path, name, clock, np.array([first, last]), UNIT_MISMATCH_SPIKES, "spikes"
                )
            start = max(float(c[0]) for c in clocks)
            stop = min(float(c[-1]) for c in clocks)
            if first > stop or last < start:
                raise DataError(
                    path,
                    f"no spike of the units table ({first:g}-{last:g} s) falls in the span the "
                    f"behaviour covers ({start:g}-{stop:g} s): are they on one clock (a session "
                    "start subtracted from one of them)?",
                )
            neural, t_neural = _binned(path, times, bin_s, start, stop, (first, last))
            partial = _partly_observed(path, units, t_neural, bin_s)
            units_note = "; ".join(filter(None, [units.note, partial]))
            rate = 1.0 / bin_s
        else:
            series = _find(path, available, neural_name, "neural")
            neural = _two_d(path, series.data[:], np.float32, "neural", neural_name, "neurons")
            t_neural = _timestamps(path, series, len(neural))
            rate = float(series.rate) if series.rate else _rate_from(t_neural)
            for name, clock in zip(behavior_names, clocks, strict=True):
                _check_same_unit(path, name, clock, t_neural)
    return _NWBSeries(
        neural, t_neural, columns, clocks, tuple(names), rate, units_note, tuple(origins)
    )


def _two_d(path: Path, values, dtype, role: str, name: str, columns: str) -> np.ndarray:
    """A series' data as (time, columns), a 1-D series as one column; not empty."""
    data = np.asarray(values, dtype=dtype)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2:
        raise DataError(
            path, f"{role} series {name!r} has shape {data.shape}; expected (time, {columns})"
        )
    if data.size == 0:
        raise DataError(path, f"{role} series {name!r} is empty")
    return data


@dataclass(frozen=True)
class _Units:
    """The units a query kept: spike times (s), ids, observation intervals (None: the table
    has none) and a note saying which were kept."""

    times: list[np.ndarray]
    ids: np.ndarray
    observed: list[np.ndarray] | None
    note: str


def _unit_spike_times(path: Path, nwbfile, query: str | None = None) -> _Units:
    """The units of the file's units table that ``query`` selects (all when None), at least
    one spike among them."""
    units = nwbfile.units
    if units is None:
        raise DataError(path, "neural is 'units' but the file has no units table")
    if "spike_times" not in units.colnames:
        raise DataError(
            path, f"units table has no 'spike_times' column; it has {list(units.colnames)}"
        )
    times = [np.asarray(t, dtype=np.float64) for t in ragged(units["spike_times"])]
    if not times:
        raise DataError(path, "the units table has no units")
    note, kept = "", np.arange(len(times))
    if query is not None:
        kept = _units_selected(path, units, query, len(times))
        note = f"units: {len(kept)} of {len(times)} kept by {query!r}"
        times = [times[i] for i in kept]
    bad = [i for i, t in enumerate(times) if not np.isfinite(t).all()]
    if bad:
        raise DataError(path, f"units {bad[:5]} have NaN or infinite spike times")
    if not any(len(t) for t in times):
        among = f" among the {len(times)} units_query {query!r} keeps" if query else ""
        raise DataError(path, f"no unit of the units table has a spike{among}")
    observed = None
    if "obs_intervals" in units.colnames:
        every = ragged(units["obs_intervals"])
        observed = [np.asarray(every[i], dtype=np.float64).reshape(-1, 2) for i in kept]
    return _Units(times, np.asarray(units.id.data[:])[kept], observed, note)


#: A unit observed over less than this share of the binned span is reported.
OBSERVED_SHARE = 0.99


def _partly_observed(path: Path, units: _Units, t_neural: np.ndarray, bin_s: float) -> str:
    """A warning and a note naming the units whose ``obs_intervals`` miss part of the bins
    (a unit lost to drift half-way): their counts there are zeros, not silence."""
    if units.observed is None:
        return ""
    a, b = t_neural[0] - bin_s / 2, t_neural[-1] + bin_s / 2
    share = np.array([_covered(iv, a, b) / (b - a) for iv in units.observed])
    partial = np.flatnonzero(share < OBSERVED_SHARE)
    if not len(partial):
        return ""
    ids = [int(i) for i in units.ids[partial]]
    shown = ", ".join(map(str, ids[:8])) + (", ..." if len(ids) > 8 else "")
    advice = (
        f"units_query can leave them out ('id not in {ids}')"
        if len(partial) < len(share)
        else "no unit covers it all: shorten the behaviour to where they were recorded"
    )
    note = (
        f"{len(partial)} of {len(share)} units were observed over only part of the binned span "
        f"(obs_intervals; ids {shown}: {share[partial].min():.0%}-{share[partial].max():.0%} of "
        f"it): their counts outside are zeros, not silence; {advice}"
    )
    warnings.warn(f"{path}: {note}", stacklevel=4)
    return note


def _covered(intervals: np.ndarray, a: float, b: float) -> float:
    """Seconds of [a, b] inside the union of ``intervals`` (rows start, stop; may overlap)."""
    intervals = intervals[np.argsort(intervals[:, 0])] if len(intervals) else intervals
    total, reach = 0.0, a
    for start, stop in intervals:
        start, stop = max(start, reach), min(stop, b)
        if stop > start:
            total += stop - start
            reach = stop
    return total


def _units_selected(path: Path, units, query: str, n: int) -> np.ndarray:
    """Rows of the units table that the pandas ``query`` keeps, from its one-value-per-unit
    columns (``quality``, ``firing_rate``, ``id``...; ragged ones such as spike times are left
    out: a query cannot compare them)."""
    import pandas as pd

    table = {"id": np.asarray(units.id.data[:])}
    for name in units.colnames:
        column = units[name]
        if hasattr(column, "target"):  # a VectorIndex: one list per unit
            continue
        values = np.asarray(column.data[:])
        if values.ndim == 1 and len(values) == n:
            table[name] = [v.decode() if isinstance(v, bytes) else v for v in values]
    frame = pd.DataFrame(table)
    try:
        kept = frame.query(query)
    except Exception as error:  # pandas raises whatever its parser or evaluator meets
        raise DataError(
            path,
            f"units_query {query!r} failed on the units table ({type(error).__name__}: "
            f"{error}); its columns: {', '.join(frame.columns)}",
        ) from None
    if not isinstance(kept, pd.DataFrame) or len(kept) == 0:
        summary = ", ".join(
            f"{c} {sorted(map(str, frame[c].unique()))[:6]}"
            for c in frame.columns
            if not pd.api.types.is_numeric_dtype(frame[c])
        )
        raise DataError(
            path,
            f"units_query {query!r} keeps none of the {n} units"
            + (f"; the table's text columns hold {summary}" if summary else ""),
        )
    return frame.index.get_indexer(kept.index)


def _binned(path: Path, times, bin_s: float, start: float, stop: float, spikes):
    """(counts, bin centres): every unit's spikes in bins of ``bin_s`` laid from ``start`` to
    ``stop``, the span every behaviour series covers (outside it nothing can be decoded), less
    the bins wholly before the first or after the last spike, ``spikes`` = (first, last): the
    units were not recorded there, and their counts would be zeros, not silence."""
    if not np.isfinite(bin_s) or bin_s <= 0:
        raise DataError(path, f"the bin of the units' spike counts must be positive; got {bin_s}")
    n_bins = int(np.floor((stop - start) / bin_s + 1e-9))
    if n_bins < 1:
        raise DataError(
            path, f"the behaviour spans {start:g}-{stop:g} s: not one bin of {bin_s:g} s"
        )
    first = max(0, int(np.floor((spikes[0] - start) / bin_s)))
    last = min(n_bins, int(np.floor((spikes[1] - start) / bin_s)) + 1)
    edges = start + bin_s * np.arange(first, last + 1)
    counts = np.stack([np.histogram(t, edges)[0] for t in times], axis=1).astype(np.float32)
    return counts, edges[:-1] + bin_s / 2


#: Spans this many times apart are taken for two clocks in different units (ms and s).
UNIT_MISMATCH = 100.0
#: The same for a units table's spikes, which may span a whole day around one session's
#: tracking (a 100 s run in 4 h of sleep recording: 144); ms against s is 1,000.
UNIT_MISMATCH_SPIKES = 300.0


def _check_same_unit(
    path: Path,
    name: str,
    clock: np.ndarray,
    t_neural: np.ndarray,
    limit: float = UNIT_MISMATCH,
    neural: str = "the neural series",
) -> None:
    """Stop when a behaviour clock and the neural one look like different time units.

    NWB timestamps are seconds, but files written by hand often carry a camera's or a
    behaviour rig's milliseconds. The spans still overlap (both start near 0), so the
    resampling would silently read the first thousandth of the behaviour.
    """
    spans = [float(c[-1] - c[0]) for c in (clock, t_neural) if len(c) > 1]
    if len(spans) < 2 or min(spans) <= 0:
        return
    ratio = spans[0] / spans[1]
    if ratio >= limit or ratio <= 1 / limit:
        raise DataError(
            path,
            f"behaviour series {name!r} spans {spans[0]:g} and {neural} {spans[1]:g} "
            f"in their timestamps ({ratio:.3g} times as long): one of the two clocks is in "
            "another unit (milliseconds?); NWB timestamps are seconds",
        )


def _rate_from(timestamps: np.ndarray) -> float | None:
    if len(timestamps) < 2:
        return None
    return float(1.0 / np.median(np.diff(timestamps)))


def _nearest(clock: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Index of the sample of ``clock`` (increasing) nearest to each of ``t``."""
    right = np.clip(np.searchsorted(clock, t), 1, len(clock) - 1)
    left = right - 1
    return np.where(np.abs(t - clock[left]) <= np.abs(clock[right] - t), left, right)


def _align(path: Path, nwb: _NWBSeries, is_discrete: Sequence[bool]):
    """(neural, behaviour, timestamps, note): behaviour resampled onto the neural clock.

    Nothing is resampled when every behaviour series already has the neural
    timestamps. Otherwise neural samples outside any behaviour series' span
    (± half its sampling interval) are dropped, continuous columns are
    linearly interpolated and discrete ones take the nearest sample.
    """
    t = nwb.neural_time
    if all(len(c) == len(t) and np.allclose(c, t, rtol=0, atol=1e-6) for c in nwb.behavior_time):
        if len(nwb.neural) != len(t):
            raise DataError(path, f"neural has {len(nwb.neural)} samples, {len(t)} timestamps")
        return nwb.neural, np.hstack(nwb.behavior), t, ""
    lo, hi = -np.inf, np.inf
    for clock in nwb.behavior_time:
        half = np.median(np.diff(clock)) / 2 if len(clock) > 1 else 0.0
        lo, hi = max(lo, clock[0] - half), min(hi, clock[-1] + half)
    keep = (t >= lo) & (t <= hi)
    if not keep.any():
        raise DataError(
            path,
            f"neural ({t[0]:g}-{t[-1]:g} s) and behaviour ({lo:g}-{hi:g} s) do not overlap in time",
        )
    tk = t[keep]
    resampled, j = [], 0
    for data, clock in zip(nwb.behavior, nwb.behavior_time, strict=True):
        for column in data.T:
            if is_discrete[j]:
                resampled.append(
                    column[_nearest(clock, tk)] if len(clock) > 1 else column[[0] * len(tk)]
                )
            else:
                resampled.append(np.interp(tk, clock, column))
            j += 1
    note = (
        f"behaviour resampled to the neural clock ({int(keep.sum())} of {len(t)} neural samples "
        "inside the behaviour's time span kept): linear interpolation for continuous columns, "
        "nearest sample for discrete ones"
    )
    return nwb.neural[keep], np.column_stack(resampled), tk, note
