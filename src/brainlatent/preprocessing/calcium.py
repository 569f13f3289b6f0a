"""Calcium preprocessing for frame decoding (CEBRA) and scene responses (DAE-NR).

Per mouse, the dF/F is aligned to the presentations of natural movie one: each
presented frame gets the mean dF/F of the 2P samples inside its interval (the
nearest sample when the interval holds none; both run at ~30 Hz). Rows stay in
presentation order, labelled by movie frame and repeat. Natural scenes get the
mean dF/F in a window after each onset.

Neurons with any NaN in the aligned matrix are dropped with a warning that
counts them: NaN is how a trace marks an ROI (or stretch of it) whose signal is
invalid, and one bad ROI must not sink a whole mouse. NaN samples outside the
aligned intervals are ignored. If every neuron has a NaN, the file is unusable
and a :class:`DataError` says so.

Mice are pooled into a pseudo-mouse as in Schneider et al. (2023): the same
movie frame in the same repeat is one row, and neurons from all mice become
columns, so decoding can be studied as a function of the number of neurons.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from brainlatent.datasets import allen_calcium as ac
from brainlatent.errors import DataError
from brainlatent.io import atomic_path, load_npy, read_table, write_table
from brainlatent.preprocessing.calcium_statistics import session_statistics
from brainlatent.seeding import rng

#: Schema of ``labels.parquet``: one row per presented movie frame.
LABEL_COLUMNS = {"frame": "int64", "repeat": "int64", "time": "float64"}
#: Window (s after onset) of the natural-scene response: 250 ms image plus GCaMP decay.
SCENE_WINDOW = (0.0, 0.5)


def check_movie(
    session: ac.CalciumSession, source_path: Path | None = None, n_frames: int = ac.N_MOVIE_FRAMES
) -> int:
    """Check that every repeat shows frames 0..n_frames-1 once; return the number of repeats."""
    source = source_path or session.path
    if session.movie_template is not None and len(session.movie_template) != n_frames:
        raise DataError(
            source,
            f"natural_movie_one template has {len(session.movie_template)} frames, "
            f"expected {n_frames}",
        )
    frame = session.movie["frame"].to_numpy()
    if len(frame) == 0 or frame.min() < 0 or frame.max() >= n_frames:
        raise DataError(
            source,
            f"natural_movie_one presentations show frames {frame.min() if len(frame) else '-'}.."
            f"{frame.max() if len(frame) else '-'}, expected 0..{n_frames - 1}",
        )
    counts = np.bincount(frame, minlength=n_frames)
    if len(frame) % n_frames or (counts != counts[0]).any():
        per_repeat = session.movie.groupby("repeat").size()
        raise DataError(
            source,
            f"natural_movie_one presentations do not show frames 0..{n_frames - 1} once per "
            f"repeat: {len(frame)} presentations, {counts.min()}–{counts.max()} per frame, "
            f"frames per repeat {per_repeat.to_dict()}",
        )
    return int(counts[0])


def interval_means(
    dff: np.ndarray,
    timestamps: np.ndarray,
    start: np.ndarray,
    stop: np.ndarray,
    source: Path | str = "dF/F",
) -> np.ndarray:
    """Mean dF/F over samples in [start, stop) per interval; the nearest sample if none.

    A NaN sample makes only the intervals that contain it NaN. The nearest sample must lie
    within 1.5 sampling periods of the interval's centre, or it is another moment: a
    stimulus table on another clock than the imaging, or imaging that stopped early, is a
    DataError naming ``source`` instead of every late presentation taking the last frame.
    """
    first = np.searchsorted(timestamps, start, side="left")
    last = np.searchsorted(timestamps, stop, side="left")
    lo, hi = max(int(first.min()) - 1, 0), min(int(last.max()) + 1, len(timestamps))
    count = (last - first)[:, None]
    empty = count[:, 0] == 0
    centre = (start[empty] + stop[empty]) / 2
    right = np.clip(np.searchsorted(timestamps, centre), 1, len(timestamps) - 1)
    nearest = np.where(
        centre - timestamps[right - 1] <= timestamps[right] - centre, right - 1, right
    )
    period = float(np.median(np.diff(timestamps))) if len(timestamps) > 1 else np.inf
    far = np.abs(timestamps[nearest] - centre) > 1.5 * period
    if far.any():
        i = int(np.flatnonzero(empty)[np.argmax(far)])
        raise DataError(
            source,
            f"{int(far.sum())} of {len(start)} stimulus intervals hold no imaging sample and "
            f"none within {1.5 * period:.3g} s (first: {start[i]:.3f}–{stop[i]:.3f} s; imaging "
            f"{timestamps[0]:.3f}–{timestamps[-1]:.3f} s): the stimulus table and the dF/F "
            "timestamps are on different clocks, or the imaging stopped early",
        )
    means = np.empty((len(start), dff.shape[1]), dtype=np.float32)
    for c0 in range(0, dff.shape[1], 64):  # column blocks bound the cumulative sums' memory
        block = slice(c0, c0 + 64)
        segment = np.asarray(dff[lo:hi, block], dtype=np.float64)
        missing = np.isnan(segment)
        total = np.zeros((len(segment) + 1, segment.shape[1]))
        np.cumsum(np.where(missing, 0.0, segment), axis=0, out=total[1:])
        n_missing = np.zeros(total.shape, dtype=np.int32)
        np.cumsum(missing, axis=0, out=n_missing[1:])
        with np.errstate(invalid="ignore", divide="ignore"):
            block_means = (total[last - lo] - total[first - lo]) / count
        block_means[(n_missing[last - lo] - n_missing[first - lo]) > 0] = np.nan
        block_means[empty] = dff[nearest, block]
        means[:, block] = block_means
    return means


def drop_nan_neurons(
    matrix: np.ndarray, source: Path | str, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """Drop columns with any NaN or ±inf (warning with the count); all bad is a DataError.

    Returns the clean matrix and the boolean mask of kept columns.
    """
    keep = np.isfinite(matrix).all(axis=0)
    if not keep.any():
        raise DataError(
            source, f"every one of {matrix.shape[1]} neurons has NaN or infinite dF/F in {what}"
        )
    if not keep.all():
        warnings.warn(
            f"{source}: dropped {int((~keep).sum())} of {matrix.shape[1]} neurons with NaN "
            f"or infinite dF/F in {what}",
            stacklevel=2,
        )
    return np.ascontiguousarray(matrix[:, keep]), keep


class MovieMatrix(NamedTuple):
    """dF/F per presented movie frame, its labels, and the cell ids of its columns."""

    neural: np.ndarray
    frame: np.ndarray
    repeat: np.ndarray
    time: np.ndarray
    cell_ids: np.ndarray


def movie_responses(
    session: ac.CalciumSession, source_path: Path | None = None, n_frames: int = ac.N_MOVIE_FRAMES
) -> MovieMatrix:
    """:func:`movie_matrix` plus each row's onset time and the kept neurons' cell ids."""
    source = Path(source_path or session.path)
    check_movie(session, source, n_frames)
    movie = session.movie
    neural = interval_means(
        session.dff,
        session.timestamps,
        movie["start_time"].to_numpy(),
        movie["stop_time"].to_numpy(),
        source,
    )
    neural, keep = drop_nan_neurons(neural, source, "natural_movie_one")
    return MovieMatrix(
        neural,
        movie["frame"].to_numpy(np.int64),
        movie["repeat"].to_numpy(np.int64),
        movie["start_time"].to_numpy(np.float64),
        np.asarray(session.cell_ids)[keep],
    )


def movie_matrix(
    session: ac.CalciumSession, source_path: Path | None = None, n_frames: int = ac.N_MOVIE_FRAMES
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dF/F per presented movie frame: (neural float32 (presentations × neurons), frame, repeat).

    Rows are in presentation order. Raises :class:`DataError` naming
    ``source_path`` (default: the session's file) when the presentations do not
    show every frame once per repeat or the template does not have ``n_frames``.
    """
    result = movie_responses(session, source_path, n_frames)
    return result.neural, result.frame, result.repeat


class PseudoMouse(NamedTuple):
    """Neurons pooled across mice; ``origin`` says where each column came from."""

    neural: np.ndarray
    frame: np.ndarray
    repeat: np.ndarray
    origin: np.ndarray  # (neurons, 2): mouse index and column of each pooled neuron
    draws: dict[int, np.ndarray] | None = None  # seed -> its drawn columns of ``neural``


def pseudo_mouse(
    matrices: list[np.ndarray],
    frames: list[np.ndarray],
    repeats: list[np.ndarray],
    n_neurons: int | None,
    seed: int | Sequence[int],
    cells: list[np.ndarray] | None = None,
) -> PseudoMouse:
    """Pool neurons across mice, rows aligned by (repeat, frame), as CEBRA's pseudo-mouse.

    Rows are the (repeat, frame) pairs that every mouse has, sorted by repeat
    then frame; ``n_neurons`` columns are drawn without replacement from all
    mice's neurons (all of them when None), in (mouse, column) order. With several
    seeds, each draws its own ``n_neurons`` from all the neurons and the pool keeps
    their union, with each seed's columns in ``draws``: a neuron-count sweep over
    seeds then samples every seed's cells from the whole population, as the
    paper, while the pool holds at most seeds × ``n_neurons`` cells. ``cells``
    (one array of hashable cell keys per matrix) pools a cell recorded in several
    sessions once, from its first session: Allen containers image the same
    cells on three days.
    """
    if not (len(matrices) == len(frames) == len(repeats)) or not matrices:
        raise ValueError(
            f"pseudo_mouse needs as many matrices, frames and repeats, at least one; got "
            f"{len(matrices)}, {len(frames)}, {len(repeats)}"
        )
    keys = [
        pd.MultiIndex.from_arrays([np.asarray(r), np.asarray(f)], names=["repeat", "frame"])
        for r, f in zip(repeats, frames, strict=True)
    ]
    for k, key in enumerate(keys):
        if key.has_duplicates:
            raise ValueError(f"mouse {k}: (repeat, frame) pairs are not unique")
    common = keys[0]
    for key in keys[1:]:
        common = common.intersection(key)
    if len(common) == 0:
        raise ValueError("pseudo_mouse: the mice share no (repeat, frame) pair")
    common = common.sort_values()
    origin = np.array(
        [(m, c) for m, x in enumerate(matrices) for c in range(x.shape[1])], dtype=np.int64
    ).reshape(-1, 2)
    if cells is not None:
        flat = pd.Series([cell for session in cells for cell in session])
        if len(flat) != len(origin):
            raise ValueError(f"{len(flat)} cell keys for {len(origin)} neurons")
        origin = origin[~flat.duplicated().to_numpy()]
    total = len(origin)
    seeds = [int(seed)] if np.ndim(seed) == 0 else [int(s) for s in seed]
    if not seeds:
        raise ValueError("pseudo_mouse needs at least one seed")
    draws = None
    if n_neurons is not None:
        if not 1 <= n_neurons <= total:
            raise ValueError(f"n_neurons = {n_neurons}, but the mice have {total} neurons in all")
        drawn = {
            s: np.sort(rng(s, "pseudo_mouse", n_neurons).choice(total, n_neurons, False))
            for s in seeds
        }
        chosen = np.unique(np.concatenate(list(drawn.values())))
        draws = {s: np.searchsorted(chosen, d) for s, d in drawn.items()}
        origin = origin[chosen]
    neural = np.empty((len(common), len(origin)), dtype=np.float32)
    for m, (matrix, key) in enumerate(zip(matrices, keys, strict=True)):
        columns = np.flatnonzero(origin[:, 0] == m)
        if len(columns):
            rows = key.get_indexer(common)
            neural[:, columns] = np.asarray(matrix)[np.ix_(rows, origin[columns, 1])]
    return PseudoMouse(
        neural,
        common.get_level_values("frame").to_numpy(np.int64),
        common.get_level_values("repeat").to_numpy(np.int64),
        origin,
        draws,
    )


def write_preprocessed(
    out_neural: Path,
    out_labels: Path,
    out_info: Path,
    neural: np.ndarray,
    frame: np.ndarray,
    repeat: np.ndarray,
    time: np.ndarray,
    area: str,
    **info,
) -> None:
    """Write ``neural.npy`` (float32), ``labels.parquet`` (:data:`LABEL_COLUMNS`) and info JSON.

    ``info`` holds the area plus any extra JSON-able keys (subject, cell ids,
    source). The three files appear together or not at all.
    """
    neural = np.asarray(neural, dtype=np.float32)
    labels = pd.DataFrame({"frame": frame, "repeat": repeat, "time": time}).astype(LABEL_COLUMNS)
    if len(labels) != len(neural):
        raise ValueError(f"{len(neural)} rows of neural data but {len(labels)} labels")
    meta = {"area": area, "n_samples": int(neural.shape[0]), "n_neurons": int(neural.shape[1])}
    meta.update({k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in info.items()})
    with atomic_path(out_neural) as tmp_neural, atomic_path(out_info) as tmp_info:
        with open(tmp_neural, "wb") as f:
            np.save(f, neural)
        tmp_info.write_text(json.dumps(meta, indent=1))
        write_table(out_labels, labels)


#: Columns of the session index (:func:`write_session_index`), one row per session.
INDEX_COLUMNS = ("subject", "area", "n_samples", "n_neurons", "neural", "labels", "info")


def write_session_index(sources: list[tuple[Path, Path, Path]], out: Path) -> pd.DataFrame:
    """List the preprocessed sessions, one row each: their area, size and three files.

    The pseudo-mice read their sessions from this table instead of from their command
    line: 1,518 Allen sessions' paths make a 360 kB command, past the 128 kB that Linux
    allows one argument (``bash -c``), and 27,000 input edges that Snakemake walks in
    every dry run; one index puts each session's files into the DAG once.
    """
    rows = []
    for neural, labels, info_path in sources:
        info = _read_info(info_path)
        rows.append(
            {
                "subject": str(info.get("subject", "")),
                "area": str(info["area"]),
                "n_samples": int(info.get("n_samples", -1)),
                "n_neurons": int(info.get("n_neurons", -1)),
                "neural": str(neural),
                "labels": str(labels),
                "info": str(info_path),
            }
        )
    if not rows:
        raise DataError(out, "no preprocessed session to index")
    table = pd.DataFrame(rows, columns=list(INDEX_COLUMNS))
    write_table(out, table)
    return table


def read_session_index(path: Path) -> list[tuple[Path, Path, Path]]:
    """The ``(neural.npy, labels.parquet, info.json)`` triples of a session index."""
    table = read_table(path, list(INDEX_COLUMNS))
    if table.empty:
        raise DataError(path, "the session index lists no session")
    return [
        (Path(n), Path(lab), Path(i))
        for n, lab, i in zip(table["neural"], table["labels"], table["info"], strict=True)
    ]


def write_pseudo_mouse(
    sources: list[tuple[Path, Path, Path]],
    out_neural: Path,
    out_labels: Path,
    out_info: Path,
    max_neurons: int | None = None,
    seed: int | Sequence[int] = 0,
    area: str | None = None,
) -> PseudoMouse:
    """Pool preprocessed sessions into one pseudo-mouse and write it.

    ``sources`` are ``(neural.npy, labels.parquet, info.json)`` triples as
    :func:`preprocess_mouse` writes them. Only sessions imaged in ``area`` are
    pooled (every session when None), as the paper's pseudo-mouse per area; a
    cell imaged in several sessions of its mouse enters once; each seed draws at
    most ``max_neurons`` neurons (the largest count any analysis needs) from all of
    them, and the pool keeps their union (:func:`pseudo_mouse`), so memory stays
    bounded however many sessions there are; ``info.json``'s ``draws`` gives each
    seed's columns (:func:`pool_columns`). Writes the same three files as
    :func:`preprocess_mouse`; the time column is NaN because pooled rows come from
    different sessions.
    """
    infos = [_read_info(info) for _, _, info in sources]
    chosen = [k for k, info in enumerate(infos) if area is None or info["area"] == area]
    if not chosen:
        found = pd.Series([info["area"] for info in infos]).value_counts()
        raise DataError(
            out_info,
            f"no session imaged in {area} among the {len(sources)} pooled; their areas: "
            + ", ".join(f"{a} ({n})" for a, n in found.items()),
        )
    matrices, frames, repeats, cells = [], [], [], []
    for k in chosen:
        neural_path, labels_path, _ = sources[k]
        neural = load_npy(neural_path)  # memory-mapped: only the drawn columns are read
        labels = read_table(labels_path, list(LABEL_COLUMNS))
        if len(labels) != len(neural):
            raise DataError(
                labels_path, f"{len(labels)} label rows but {neural_path} has {len(neural)} rows"
            )
        ids = infos[k].get("cell_ids")
        if ids is None or len(ids) != neural.shape[1]:
            raise DataError(sources[k][2], f"needs 'cell_ids', one per column of {neural_path}")
        matrices.append(neural)
        frames.append(labels["frame"].to_numpy())
        repeats.append(labels["repeat"].to_numpy())
        # Cells are one across sessions only by ids that name them there (cell_specimen_id):
        # row ids (0, 1, …) of two sessions' ROI tables are other cells.
        owner = infos[k].get("subject", "") if infos[k].get("cell_ids_persist", True) else k
        cells.append([(owner, cell) for cell in ids])
    total = len({cell for session in cells for cell in session})
    n_neurons = min(max_neurons, total) if max_neurons is not None else None
    pooled = pseudo_mouse(matrices, frames, repeats, n_neurons, seed, cells)
    pooled_cells = [cells[m][c] for m, c in pooled.origin]
    used = [sources[k] for k in chosen]
    write_preprocessed(
        out_neural,
        out_labels,
        out_info,
        pooled.neural,
        pooled.frame,
        pooled.repeat,
        np.full(len(pooled.frame), np.nan),
        area if area is not None else "+".join(sorted({infos[k]["area"] for k in chosen})),
        subject="pseudo",
        origin=pooled.origin,
        cell_ids=[int(cell) for _, cell in pooled_cells],
        cell_subjects=[infos[chosen[m]].get("subject", "") for m, _ in pooled.origin],
        n_available=total,
        sources=[str(n) for n, _, _ in used],
        **(
            {}
            if pooled.draws is None
            else {"draws": {str(k): v.tolist() for k, v in pooled.draws.items()}}
        ),
    )
    return pooled


def pool_columns(info: dict, seed: int, source="info.json") -> np.ndarray | None:
    """The columns of a pseudo-mouse that ``seed`` drew (:func:`write_pseudo_mouse`), or
    None for a recording or a pool of every cell (all its columns are the seed's)."""
    draws = info.get("draws")
    if draws is None:
        return None
    if str(seed) not in draws:
        raise DataError(
            source, f"the pool drew cells for seeds {sorted(draws, key=int)}, not for seed {seed}"
        )
    return np.asarray(draws[str(seed)], dtype=np.int64)


def _read_info(path: Path) -> dict:
    """A session's ``info.json`` as :func:`write_preprocessed` writes it."""
    try:
        info = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:  # unreadable, not UTF-8, not JSON
        raise DataError(path, f"cannot read session info ({error})") from error
    if not isinstance(info, dict) or "area" not in info:
        raise DataError(path, "not a session info: expected a JSON object with an 'area'")
    return info


def preprocess_mouse(
    nwb_path: Path, out_neural: Path, out_labels: Path, out_info: Path
) -> MovieMatrix:
    """Read one session, align dF/F to natural movie one, and write the three outputs.

    ``info.json`` also holds the session's ``statistics``
    (:func:`~brainlatent.preprocessing.calcium_statistics.session_statistics`: noise level,
    reliability, fraction responsive), to set simulated sessions beside real ones.
    """
    session = ac.read_session(nwb_path, templates=True)
    result = movie_responses(session, Path(nwb_path))
    kept = np.isin(np.asarray(session.cell_ids), result.cell_ids)
    rate = 1 / float(np.median(np.diff(session.timestamps)))
    statistics = session_statistics(
        session.dff[:, kept], rate, result.neural, result.frame, result.repeat
    )
    write_preprocessed(
        out_neural,
        out_labels,
        out_info,
        result.neural,
        result.frame,
        result.repeat,
        result.time,
        session.area,
        subject=session.subject,
        cell_ids=result.cell_ids,
        cell_ids_persist=session.cell_ids_persist,
        source=str(nwb_path),
        statistics=statistics,
    )
    return result
