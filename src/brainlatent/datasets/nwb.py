"""Open NWB files with errors that name the file, whatever h5py or hdmf raised."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from brainlatent.errors import DataError

#: Seconds the file's metadata (namespaces, attributes, small datasets: what ``io.read()``
#: loads) may take before the process is ended. HDF5 never returns from some damaged files (a
#: global heap collection whose objects were zeroed: reading a string in it spins, holding the
#: GIL), so no exception can be raised; a real file's metadata takes seconds.
METADATA_TIMEOUT_S = 300.0

# A separate process watches, since no thread of a process stuck in C with the GIL runs: it
# waits on its stdin, which the reader closes when done (or the kernel, if the reader dies).
_WATCHDOG = """
import os, select, signal, sys, time
pid, timeout, message = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
if not select.select([sys.stdin], [], [], timeout)[0]:
    os.write(2, message.encode())
    os.kill(pid, signal.SIGTERM)
    for _ in range(50):  # a SIGTERM handler of its own cannot run either: then SIGKILL
        time.sleep(0.1)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
    else:
        os.kill(pid, signal.SIGKILL)
"""


@contextlib.contextmanager
def _ended_if_stuck(path: Path, timeout_s: float) -> Iterator[None]:
    """End this process with a DataError's message naming ``path`` if the block outlasts
    ``timeout_s`` (SIGTERM; every output is written atomically, so none is half-written).
    Not on Windows, whose ``select`` cannot wait on a pipe."""
    if sys.platform == "win32":
        yield
        return
    message = (
        f"brainlatent.errors.DataError: {path}: reading the NWB file's metadata did not finish "
        f"in {timeout_s:g} s: HDF5 loops forever on some damaged files (e.g. a zeroed block of "
        "its global heap); check its size and checksum, or download it again\n"
    )
    watchdog = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", _WATCHDOG, str(os.getpid()), str(timeout_s), message],
        stdin=subprocess.PIPE,
    )
    try:
        yield
    finally:
        watchdog.stdin.close()
        watchdog.wait()


@contextlib.contextmanager
def open_nwb(path: str | Path) -> Iterator:
    """Yield the ``NWBFile`` of ``path``, read lazily; the file stays open inside the block.

    A missing, truncated or otherwise unreadable file is a :class:`DataError`
    naming it (h5py and hdmf raise many exception types for a damaged file); one on which
    HDF5 hangs ends the process with that message after :data:`METADATA_TIMEOUT_S`.
    """
    from pynwb import NWBHDF5IO

    path = Path(path)
    if not path.is_file():
        raise DataError(path, "NWB file not found")
    with _ended_if_stuck(path, METADATA_TIMEOUT_S):
        try:
            io = NWBHDF5IO(str(path), mode="r", load_namespaces=True)
        except Exception as error:
            raise DataError(
                path, f"cannot read NWB file ({type(error).__name__}: {error})"
            ) from error
        try:
            nwbfile = io.read()
        except Exception as error:
            io.close()
            raise DataError(
                path, f"cannot read NWB file ({type(error).__name__}: {error})"
            ) from error
    with io:
        yield nwbfile


def ragged(column) -> list[np.ndarray]:
    """A ragged DynamicTable column (e.g. a units table's ``spike_times``) as one array per
    row, read in two whole reads (row by row, hdmf reads each row on its own)."""
    if hasattr(column, "target"):  # VectorIndex over VectorData
        flat = np.asarray(column.target.data[:])
        ends = np.asarray(column.data[:], dtype=np.int64)
        return np.split(flat, ends[:-1]) if len(ends) else []
    return [np.atleast_1d(v) for v in np.asarray(column.data[:])]
