"""Write small CTF ``.ds`` recordings that MNE-Python reads back.

THINGS-MEG (OpenNeuro ds004212) ships raw CTF ``.ds`` folders, and without a real one at hand
the code that reads them could not be tested on the real format. This module writes the
smallest honest CTF dataset: the ``.res4`` header, the ``.meg4`` samples and the ``.hc``
head-coil file. The byte layout follows MNE's reader (``mne/io/ctf/res4.py``,
``hc.py``, ``ctf.py``), which serves as the specification: everything is big-endian, lengths in
``.res4`` and ``.hc`` are centimetres, and the whole recording is stored as one trial.

Geometry, in CTF dewar coordinates (which face the nose along (1, 1, 0) / sqrt(2), which is
why MNE rotates them by 45 degrees): the head centre (midpoint of the ear coils) is at
``HEAD_CENTRE``, the helmet is a sphere of radius ``HELMET_RADIUS`` centred 4 cm above it, and
each axial gradiometer has a pickup coil on that sphere and a second, oppositely wound coil
``GRADIOMETER_BASELINE`` further out along the same normal.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from brainlatent.io import atomic_path

#: Magic strings at the start of the header and sample files.
RES4_MAGIC = b"MEG41RS\x00"
MEG4_MAGIC = b"MEG41CP\x00"
#: Fixed offset where the run description and filter list start (name from MNE / read_res4.c).
FUNNY_POS = 1844
#: Channel names are stored in 32-byte NUL-terminated fields.
CHANNEL_NAME_BYTES = 32
#: Every channel record reserves room for this many coils, in dewar and in head coordinates.
CTFV_MAX_COILS = 8
#: Balancing (synthetic gradiometer) coefficient sets name up to this many reference channels.
CTFV_MAX_BALANCING = 50
#: Sensor type codes (``sensor_type_index``) as CTF writes them.
CTFV_REF_MAG_CH = 0
CTFV_MEG_CH = 5
CTFV_STIM_CH = 11
CTFV_ADC_CH = 18  # analogue input in volts; MNE reads every unknown code as "misc"
SENSOR_TYPES = {
    "meg": CTFV_MEG_CH,
    "ref_meg": CTFV_REF_MAG_CH,
    "misc": CTFV_ADC_CH,
    "stim": CTFV_STIM_CH,
}

#: Balancing coefficient sets, identified by their names read as big-endian int32 codes.
BALANCING_TYPES = (b"G1BR", b"G2BR", b"G3BR")
#: Default channel type: CTF MEG sensors are named like ``MLC11-1609`` (left/right/midline).
MEG_NAME = re.compile(r"^M[LRZ][A-Z]\d\d")
#: Samples are quantised so the largest value per channel uses 30 of the 31 magnitude bits.
FULL_SCALE = 2**30
#: Geometry in metres, CTF dewar coordinates (see the module docstring).
HEAD_CENTRE = np.array([0.0, 0.0, -0.25])
HELMET_CENTRE = HEAD_CENTRE + np.array([0.0, 0.0, 0.04])
HELMET_RADIUS = 0.10
REFERENCE_RADIUS = 0.20
GRADIOMETER_BASELINE = 0.05
COIL_AREA_CM2 = np.pi * 0.9**2  # 1.8 cm diameter pickup loops
_ANTERIOR = np.array([1.0, 1.0, 0.0]) / np.sqrt(2.0)
_LEFT = np.array([-1.0, 1.0, 0.0]) / np.sqrt(2.0)
#: Fiducial (head-localisation) coils in dewar coordinates, as written to the ``.hc`` file.
FIDUCIALS = {
    "nasion": HEAD_CENTRE + 0.09 * _ANTERIOR,
    "left ear": HEAD_CENTRE + 0.07 * _LEFT,
    "right ear": HEAD_CENTRE - 0.07 * _LEFT,
}


def write_ctf_ds(
    path: str | os.PathLike,
    data: np.ndarray,
    ch_names: Sequence[str],
    sfreq: float,
    *,
    ch_types: Sequence[str] | None = None,
    meas_date: dt.datetime | None = None,
    sensor_positions: np.ndarray | None = None,
) -> Path:
    """Write ``data`` as a CTF dataset folder at ``path`` (must end with ``.ds``); return it.

    ``data`` is (n_channels, n_times) in tesla for MEG channels and volts for the rest.
    ``ch_types`` holds one of "meg" (axial gradiometer), "ref_meg" (reference magnetometer),
    "misc" or "stim" per channel; by default names like ``MLC11-1609`` are "meg" and others
    "misc". Stim channels must hold integers. ``meas_date`` (naive means UTC) is stored to the
    second; without it the header has no date and MNE reports 1970-01-01. ``sensor_positions``
    gives, per channel, a direction from the helmet centre in dewar coordinates (normalised;
    rows of misc and stim channels are ignored); by default sensors are spread over the upper
    hemisphere. The folder is built beside ``path`` and renamed into place when complete.
    """
    path = Path(path)
    if path.suffix != ".ds":
        raise ValueError(f"a CTF dataset folder must end with '.ds', got {path.name!r}")
    data = np.asarray(data, dtype=float)
    ch_names = [str(name) for name in ch_names]
    if data.ndim != 2 or data.shape[0] != len(ch_names) or data.shape[1] == 0:
        raise ValueError(f"data {data.shape} does not match {len(ch_names)} channel names")
    if not np.isfinite(data).all():
        raise ValueError("data contain NaN or infinite values")
    if not sfreq > 0:
        raise ValueError(f"sfreq must be positive, got {sfreq}")
    _check_names(ch_names)
    if ch_types is None:
        ch_types = ["meg" if MEG_NAME.match(name) else "misc" for name in ch_names]
    ch_types = list(ch_types)
    if len(ch_types) != len(ch_names) or not set(ch_types) <= set(SENSOR_TYPES):
        raise ValueError(f"ch_types must be {len(ch_names)} of {sorted(SENSOR_TYPES)}")
    directions = _directions(ch_types, sensor_positions)
    steps = _quantisation_steps(data, ch_types, ch_names)
    samples = np.empty(data.shape, dtype=">i4")
    for row, values, step in zip(samples, data, steps, strict=True):  # no full-size float copy
        row[:] = np.round(values / step)

    stem = path.name[: -len(".ds")]
    with atomic_path(path) as tmp:
        tmp.mkdir()
        header = _res4_header(data.shape[1], len(ch_names), float(sfreq), meas_date)
        records = [
            _channel_record(SENSOR_TYPES[kind], step, _coils(kind, direction))
            for kind, step, direction in zip(ch_types, steps, directions, strict=True)
        ]
        names = b"".join(_text(name, CHANNEL_NAME_BYTES) for name in ch_names)
        no_filters = struct.pack(">h", 0)
        balancing = _balancing(ch_names, ch_types)
        (tmp / f"{stem}.res4").write_bytes(
            header + no_filters + names + b"".join(records) + balancing
        )
        with open(tmp / f"{stem}.meg4", "wb") as meg4:
            meg4.write(MEG4_MAGIC)
            meg4.write(memoryview(samples).cast("B"))  # C-contiguous: the bytes, uncopied
        (tmp / f"{stem}.hc").write_text(_hc_text())
    return path


def _check_names(ch_names: list[str]) -> None:
    """Names must fit the fixed-width field; MNE itself keeps only the first 15 characters."""
    for name in ch_names:
        if not name or not name.isascii() or len(name) >= CHANNEL_NAME_BYTES:
            raise ValueError(f"channel name {name!r} must be 1-31 ASCII characters")
    if len(set(ch_names)) != len(ch_names):
        raise ValueError("channel names are not unique")


def _quantisation_steps(data: np.ndarray, ch_types: list[str], ch_names: list[str]) -> np.ndarray:
    """Value of one int32 count per channel: stim channels store codes as they are."""
    steps = np.maximum(data.max(axis=1), -data.min(axis=1)) / FULL_SCALE  # max |x|, no copy
    steps[steps == 0] = 1.0
    for i, kind in enumerate(ch_types):
        if kind == "stim":
            if not np.array_equal(data[i], np.round(data[i])) or np.abs(data[i]).max() >= 2**31:
                raise ValueError(f"stim channel {ch_names[i]} must hold int32 codes")
            steps[i] = 1.0
    return steps


def _directions(ch_types: list[str], sensor_positions: np.ndarray | None) -> np.ndarray:
    """Unit outward direction of every channel's sensor (zeros for channels without one)."""
    sensors = np.isin(ch_types, ["meg", "ref_meg"])
    directions = np.zeros((len(ch_types), 3))
    if sensor_positions is None:
        for kind in ("meg", "ref_meg"):
            rows = np.flatnonzero(np.asarray(ch_types) == kind)
            directions[rows] = _upper_hemisphere(len(rows))
        return directions
    given = np.asarray(sensor_positions, dtype=float)
    if given.shape != directions.shape:
        raise ValueError(f"sensor_positions must have shape {directions.shape}, got {given.shape}")
    norms = np.linalg.norm(given[sensors], axis=1)
    if not np.isfinite(given[sensors]).all() or (norms == 0).any():
        raise ValueError("sensor_positions of MEG and reference channels must be finite, nonzero")
    directions[sensors] = given[sensors] / norms[:, None]
    return directions


def _upper_hemisphere(n: int) -> np.ndarray:
    """``n`` deterministic, evenly spread unit vectors with z > 0 (a Fibonacci spiral)."""
    k = np.arange(n) + 0.5
    z = 1.0 - k / max(n, 1)
    phi = k * np.pi * (3.0 - np.sqrt(5.0))
    ring = np.sqrt(1.0 - z**2)
    return np.column_stack([ring * np.cos(phi), ring * np.sin(phi), z])


def _coils(kind: str, direction: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(position in m, normal) of each coil, in dewar coordinates.

    The stored normals point inwards: with the positive gain written by ``_channel_record``,
    readers flip them (MNE and FieldTrip use ``-sign(proper_gain) * normal``), so the sensing
    direction comes out pointing away from the head, as for a real helmet. The second coil of a
    gradiometer is wound the other way round, hence its opposite normal.
    """
    if kind == "meg":
        pickup = HELMET_CENTRE + HELMET_RADIUS * direction
        return [(pickup, -direction), (pickup + GRADIOMETER_BASELINE * direction, direction)]
    if kind == "ref_meg":
        return [(HELMET_CENTRE + REFERENCE_RADIUS * direction, -direction)]
    return []


def _channel_record(sensor_type: int, step: float, coils: list) -> bytes:
    """One 1328-byte channel record: gains, then coils in dewar and in head coordinates.

    A reader turns counts into physical units by dividing by ``proper_gain * qgain``; we keep
    ``proper_gain`` at 1 so that ``qgain`` is simply counts per tesla (or volt).
    """
    proper_gain, qgain, io_gain, io_offset = 1.0, 1.0 / step, 1.0, 0.0
    coil_type = grad_order_no = original_run_no = 0  # unbalanced (no synthetic gradiometry)
    record = struct.pack(
        ">hhiddddhhi",
        sensor_type,
        original_run_no,
        coil_type,
        proper_gain,
        qgain,
        io_gain,
        io_offset,
        len(coils),
        grad_order_no,
        0,  # padding
    )
    origin, rotation = _head_frame()
    in_dewar = [_coil_record(pos, normal) for pos, normal in coils]
    in_head = [_coil_record(rotation @ (pos - origin), rotation @ normal) for pos, normal in coils]
    empty = [_coil_record(np.zeros(3), np.zeros(3), turns=0, area_cm2=0.0)]
    padding = empty * (CTFV_MAX_COILS - len(coils))
    return record + b"".join(in_dewar + padding + in_head + padding)


def _coil_record(
    pos_m: np.ndarray, normal: np.ndarray, turns: int = 1, area_cm2: float = COIL_AREA_CM2
) -> bytes:
    """One 80-byte coil: position (cm) and normal as padded 4-vectors, turns, area (cm²)."""
    x, y, z = 100.0 * np.asarray(pos_m)
    nx, ny, nz = normal
    return struct.pack(">4d4dhihd", x, y, z, 0.0, nx, ny, nz, 0.0, turns, 0, 0, area_cm2)


def _balancing(ch_names: list[str], ch_types: list[str]) -> bytes:
    """Zero balancing coefficients of every MEG channel on the references, for each grade.

    Real files always carry these (MNE 1.13 fails on a file with MEG channels and none). The
    data are stored unbalanced (grade 0) and the coefficients are zero, so applying any grade
    of compensation leaves the data unchanged.
    """
    refs = [name for name, kind in zip(ch_names, ch_types, strict=True) if kind == "ref_meg"]
    if len(refs) > CTFV_MAX_BALANCING:
        raise ValueError(f"at most {CTFV_MAX_BALANCING} reference channels, got {len(refs)}")
    sensors = b"".join(_text(name, CHANNEL_NAME_BYTES - 1) for name in refs)
    sensors = sensors.ljust((CHANNEL_NAME_BYTES - 1) * CTFV_MAX_BALANCING, b"\x00")
    coeffs = np.zeros(CTFV_MAX_BALANCING)
    megs = [name for name, kind in zip(ch_names, ch_types, strict=True) if kind == "meg"]
    records = [
        struct.pack(
            f">{CHANNEL_NAME_BYTES}siih{len(sensors)}s{CTFV_MAX_BALANCING}d",
            _text(name, CHANNEL_NAME_BYTES),
            int.from_bytes(kind, "big"),
            0,  # padding
            len(refs),
            sensors,
            *coeffs,
        )
        for kind in BALANCING_TYPES
        for name in megs
    ]
    return struct.pack(">h", len(records)) + b"".join(records)


def _res4_header(n_times: int, n_channels: int, sfreq: float, meas_date) -> bytes:
    """The fixed-layout header up to ``FUNNY_POS``: one trial holding the whole recording."""
    if n_times >= 2**31 or n_channels >= 2**15:
        raise ValueError("too many samples or channels for one CTF trial")
    date = time = ""
    if meas_date is not None:
        if meas_date.tzinfo is not None:
            meas_date = meas_date.astimezone(dt.UTC)
        date, time = meas_date.strftime("%d/%m/%Y"), meas_date.strftime("%H:%M:%S")
    header = bytearray(FUNNY_POS)
    # (offset, struct format, value); gaps in between are alignment padding.
    fields = [
        (0, "8s", RES4_MAGIC),
        (8, "256s", _text("brainlatent", 256)),  # appname
        (776, ">h", 0),  # no_trials_avgd: raw data, not an average
        (778, "255s", _text(time, 255)),  # data_time
        (1033, "255s", _text(date, 255)),  # data_date
        (1288, ">i", n_times),  # samples per trial
        (1292, ">h", n_channels),
        (1296, ">d", sfreq),
        (1304, ">d", n_times / sfreq),  # epoch_time
        (1312, ">h", 1),  # no_trials
        (1316, ">i", 0),  # pre_trig_pts
        (1320, ">h", 1),  # no_trials_done
        (1324, ">i", 1),  # save_trials
        (1836, ">i", 0),  # run description length: none
    ]
    for offset, fmt, value in fields:
        struct.pack_into(fmt, header, offset, value)
    return bytes(header)


def _head_frame() -> tuple[np.ndarray, np.ndarray]:
    """CTF head coordinates from the fiducials: origin between the ears, x to the nasion, z up."""
    nasion, left, right = (FIDUCIALS[k] for k in ("nasion", "left ear", "right ear"))
    origin = (left + right) / 2
    ex = (nasion - origin) / np.linalg.norm(nasion - origin)
    ez = np.cross(ex, left - right)
    ez /= np.linalg.norm(ez)
    return origin, np.vstack([ex, np.cross(ez, ex), ez])


def _hc_text() -> str:
    """Head-coil file: standard and measured positions in dewar, measured in head coordinates.

    "Standard" (the nominal head position) is written equal to the measured one.
    """
    origin, rotation = _head_frame()
    blocks = []
    for prefix, frame in (("standard", "dewar"), ("measured", "dewar"), ("measured", "head")):
        for coil, pos in FIDUCIALS.items():
            r = pos if frame == "dewar" else rotation @ (pos - origin)
            xyz = "".join(f"\t{axis} = {100.0 * v:.5f}\n" for axis, v in zip("xyz", r, strict=True))
            blocks.append(f"{prefix} {coil} coil position relative to {frame} (cm):\n{xyz}")
    return "".join(blocks)


def _text(value: str, size: int) -> bytes:
    """A NUL-padded fixed-width ASCII field."""
    raw = value.encode("ascii")
    if len(raw) >= size:
        raise ValueError(f"{value!r} does not fit a {size}-byte field")
    return raw.ljust(size, b"\x00")
