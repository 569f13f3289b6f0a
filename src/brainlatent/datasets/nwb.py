"""Open NWB files with errors that name the file, whatever h5py or hdmf raised."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from brainlatent.errors import DataError


@contextlib.contextmanager
def open_nwb(path: str | Path) -> Iterator:
    """Yield the ``NWBFile`` of ``path``, read lazily; the file stays open inside the block.

    A missing, truncated or otherwise unreadable file is a :class:`DataError`
    naming it (h5py and hdmf raise many exception types for a damaged file).
    """
    from pynwb import NWBHDF5IO

    path = Path(path)
    if not path.is_file():
        raise DataError(path, "NWB file not found")
    try:
        io = NWBHDF5IO(str(path), mode="r", load_namespaces=True)
    except Exception as error:
        raise DataError(path, f"cannot read NWB file ({type(error).__name__}: {error})") from error
    with io:
        try:
            nwbfile = io.read()
        except Exception as error:
            raise DataError(
                path, f"cannot read NWB file ({type(error).__name__}: {error})"
            ) from error
        yield nwbfile
