"""Whole-or-nothing file writing, and the project's table and array formats.

Every output is first written next to its destination under a temporary name
and renamed into place only when complete, so a failed step never leaves a
half-written file that a later step (or Snakemake) could mistake for a result.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import io
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path; move it onto ``path`` only if the block succeeds.

    Works for files and directories: the caller writes whatever it likes at the
    yielded path. On error the temporary is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A run killed mid-write (SIGKILL: no cleanup) leaves its temporary folder; one writer
    # per output (Snakemake's guarantee) makes any such folder stale, so it goes now.
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*"):
        if stale.is_dir() and re.fullmatch(r"[a-z0-9_]{8}", stale.name[len(path.name) + 2 :]):
            shutil.rmtree(stale, ignore_errors=True)  # mkdtemp's 8 random characters
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent)) / path.name
    try:
        yield tmp
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except OSError as error:
        # A full disk or quota fails deep inside a writer (numpy, h5py, a raw write) with
        # no file named; say which output it was.
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OSError(error.errno, f"{error.strerror} while writing {path}") from error
        raise
    finally:
        shutil.rmtree(tmp.parent, ignore_errors=True)


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Save an array as ``.npy`` (memory-mappable), atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, np.asarray(array))


def load_npy(path: str | os.PathLike, mmap: bool = True) -> np.ndarray:
    """Load a ``.npy`` file, memory-mapped by default; an unreadable file is a DataError."""
    from brainlatent.errors import DataError

    try:
        return np.load(path, mmap_mode="r" if mmap else None)
    except (OSError, EOFError, ValueError) as error:  # truncated, not .npy, or pickled
        raise DataError(
            path, f"cannot read .npy array ({type(error).__name__}: {error})"
        ) from error


class RowStack:
    """Chosen rows of several arrays (memory-mapped epochs) read as one array, never copied whole.

    ``RowStack(arrays, rows)`` behaves, for reading, like
    ``np.concatenate([a[r] for a, r in zip(arrays, rows)])``: ``shape``, ``dtype``, ``len``,
    and indexing of the first axis by an integer, a slice, an index array or a mask (further
    axes by integers and slices), each returning a new ndarray of just the rows asked for;
    ``np.asarray`` reads them all. A joint decoder trained on every participant's epochs then
    holds one batch at a time, not every training trial (~16 GB at THINGS-MEG's full scale):
    the files' pages stay in the page cache, which the kernel can reclaim.
    """

    def __init__(self, arrays, rows):
        if len(arrays) != len(rows) or not arrays:
            raise ValueError("RowStack needs one row index per array, and at least one array")
        trailing = {tuple(a.shape[1:]) for a in arrays}
        if len(trailing) != 1 or len({a.dtype for a in arrays}) != 1:
            raise ValueError(f"arrays differ beyond the first axis or in dtype: {trailing}")
        self._arrays = list(arrays)
        self._row = np.concatenate([np.asarray(r, dtype=np.intp).reshape(-1) for r in rows])
        self._source = np.concatenate(
            [np.full(len(r), k, dtype=np.intp) for k, r in enumerate(rows)]
        )
        self.shape = (len(self._row), *trailing.pop())
        self.dtype = self._arrays[0].dtype
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        rows = self[:]
        return rows if dtype is None else rows.astype(dtype, copy=False)

    def __getitem__(self, key):
        rest = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
            if any(not isinstance(k, int | np.integer | slice) for k in rest):
                raise TypeError("RowStack indexes axes after the first by integers and slices")
        positions = np.arange(len(self))[key]
        out = np.empty((np.size(positions), *self.shape[1:]), self.dtype)
        flat = np.atleast_1d(positions)
        sources, rows = self._source[flat], self._row[flat]
        for k, array in enumerate(self._arrays):
            take = np.flatnonzero(sources == k)
            if len(take):
                out[take] = array[rows[take]]
        if np.ndim(positions) == 0:
            return out[0][rest]
        return out[(slice(None), *rest)]


def write_table(path: str | os.PathLike, table: pd.DataFrame) -> None:
    """Write a table as Parquet (pyarrow), atomically, without the index."""
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, engine="pyarrow", index=False)


def read_table(path: str | os.PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a Parquet table, checking that the requested columns exist."""
    import pyarrow as pa

    from brainlatent.errors import DataError

    try:
        table = pd.read_parquet(path, engine="pyarrow")
    except (OSError, ValueError, pa.ArrowException) as error:  # truncated or not Parquet
        raise DataError(
            path, f"cannot read Parquet table ({type(error).__name__}: {error})"
        ) from error
    if columns is not None:
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise DataError(path, f"missing columns {missing}; found {list(table.columns)}")
        table = table[columns]
    return table


def load_npz(path: str | os.PathLike, keys=()) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` (no pickles), which must hold ``keys``; an unreadable or
    incomplete file is a DataError."""
    from brainlatent.errors import DataError

    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(path, f"cannot read .npz ({type(error).__name__}: {error})") from error
    missing = [key for key in keys if key not in arrays]
    if missing:
        raise DataError(path, f"lacks arrays {missing}")
    return arrays


def read_json(path: str | os.PathLike, keys=()) -> dict:
    """Read a JSON object that must hold ``keys``; a bad or incomplete file is a DataError."""
    from brainlatent.errors import DataError

    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(path, f"cannot read JSON ({type(error).__name__}: {error})") from error
    if not isinstance(data, dict):
        raise DataError(path, f"expected a JSON object, found {type(data).__name__}")
    missing = [key for key in keys if key not in data]
    if missing:
        raise DataError(path, f"lacks keys {missing}")
    return data


def read_tsv(path: str | os.PathLike, **kwargs) -> pd.DataFrame:
    """Read a tab-separated table (``pd.read_csv`` keywords); a bad file is a DataError.

    Every row must have as many fields as the header (BIDS requires it): a short
    row is what a truncated file ends with, and pandas would fill it with NaN.
    """
    from brainlatent.errors import DataError

    try:
        text = Path(path).read_text(encoding="utf-8-sig")
        table = pd.read_csv(io.StringIO(text), sep="\t", **kwargs)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DataError(path, f"cannot read table ({type(error).__name__}: {error})") from error
    lines = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    n_fields = lines[0][1].count("\t") + 1
    for number, line in lines[1:]:
        fields = line.count("\t") + 1
        if fields != n_fields:
            raise DataError(
                path,
                f"line {number} has {fields} fields but the header has {n_fields}: "
                "the file is truncated or malformed",
            )
    return table
