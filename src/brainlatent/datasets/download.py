"""Fetch the files a dataset's manifest lists, verified, never half-written.

:func:`download_files` fetches the rows of a manifest (:mod:`brainlatent.datasets.manifest`:
read, checked and selected there) that are missing, a few files at a time. A file appears
under its final name only once its size and checksum match the manifest, so a killed or
failed download can never be mistaken for data by Snakemake or a later step; its bytes wait
in ``<dest>/.partial/<path>.part`` and the next attempt or run resumes them with an HTTP
Range request. pooch was considered, but it neither resumes with Range nor checks sizes, so
plain requests is used.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import sys
import threading
import time
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from pathlib import Path, PurePosixPath

import pandas as pd

from brainlatent.datasets.manifest import (
    HASH_ALGORITHMS,
    PARTIAL_DIR,
    is_size,
    path_problem,
    read_manifest,
)
from brainlatent.errors import DataError
from brainlatent.io import atomic_path

__all__ = [
    "DownloadError",
    "download_files",
    "download_linked",
    "is_retried_status",
    "link_tree",
    "verify_file",
]

CHUNK_SIZE = 1 << 20
#: HTTP statuses worth retrying: the server is busy or failed, not the request wrong (and
#: every other 5xx but :data:`FINAL_SERVER_STATUSES`: a CDN's 520-524, 507).
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
#: Server errors that say the request can never work: not implemented, HTTP version.
FINAL_SERVER_STATUSES = frozenset({501, 505})


def is_retried_status(status: int) -> bool:
    """Whether an HTTP answer with this status is asked again: a busy or failed server."""
    return status in RETRY_STATUSES or (status >= 500 and status not in FINAL_SERVER_STATUSES)


class DownloadError(DataError):
    """A file could not be fetched (HTTP error, or network failures after retries).

    A :class:`DataError` so callers that catch bad-data errors also catch this;
    the message names the destination file and the URL.
    """


class _Refused(DownloadError):
    """This one file failed, the others may not: the server refused it (an HTTP 4xx other
    than a busy status, 501, 505), or another run holds it."""


#: How many of the files that failed on their own a batch's error lists by name.
LISTED_FAILURES = 10


def _stops_the_batch(exc: BaseException) -> bool:
    """Whether a failure says the other files will fail too.

    A file the server refuses (a stale URL's 404) or whose bytes do not match the manifest
    (a :class:`DataError` that is no :class:`DownloadError`) is that file's problem: the
    others are still fetched. A network that keeps failing after the retries, or a disk
    that refuses writes, would fail every file in turn: the batch stops at once.
    """
    if isinstance(exc, _Refused):
        return False
    return not isinstance(exc, DataError) or isinstance(exc, DownloadError)


# --------------------------------------------------------------------------- verification


def _check(path, size: int, hash_algorithm: str, expected: str, got_size: int, got_hash, url=""):
    """Raise :class:`DataError` unless size and hash match; ``url``, where the bytes came from,
    is named so the user can tell a changed upstream file from a broken transfer."""
    source = f" (downloaded from {url})" if url else ""
    if got_size < size:
        raise DataError(path, f"truncated: {got_size} of {size} bytes{source}")
    if got_size != size:
        raise DataError(path, f"wrong size: {got_size} bytes, expected {size}{source}")
    if hash_algorithm and got_hash is not None and got_hash != expected.lower():
        raise DataError(
            path, f"{hash_algorithm} mismatch: expected {expected.lower()}, got {got_hash}{source}"
        )


def _hasher(hash_algorithm: str | None):
    if not hash_algorithm:
        return None
    name = hash_algorithm.lower()
    if name not in HASH_ALGORITHMS:
        raise ValueError(f"unknown hash algorithm {hash_algorithm!r}")
    return hashlib.new(name)


def verify_file(
    path: str | os.PathLike,
    size: int,
    hash_algorithm: str | None = None,
    hash: str | None = None,
) -> None:
    """Raise :class:`DataError` naming ``path`` unless it has the manifest's size and hash.

    The size is checked first (free, and catches the usual truncated download);
    the hash is then streamed in 1 MiB chunks so multi-GB recordings need no
    memory. An empty ``hash_algorithm`` checks the size only.
    """
    path = Path(path)
    try:
        got_size = path.stat().st_size
    except OSError as err:
        raise DataError(path, f"cannot read: {err}") from err
    _check(path, size, hash_algorithm or "", hash or "", got_size, None)
    if hash_algorithm:
        _check(path, size, hash_algorithm, hash or "", got_size, file_digest(path, hash_algorithm))


def file_digest(path: str | os.PathLike, hash_algorithm: str) -> str:
    """The hex digest of a file's bytes, read in 1 MiB chunks (multi-GB files need no memory)."""
    hasher = _hasher(hash_algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            hasher.update(chunk)
    return hasher.hexdigest()


# --------------------------------------------------------------------------- download


class _Transient(Exception):
    """A failure that may go away if retried (network error, busy server).

    ``retry_after``: the seconds a busy server asked for (its ``Retry-After``), if any.
    """

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


#: The longest wait a server's ``Retry-After`` gets (s): rate limits ask for seconds to
#: minutes; an hour's wait is better spent failing with the file named, resumable later.
RETRY_AFTER_MAX = 300.0


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta-seconds or an HTTP date), or None.

    Unparsable values are ignored (None); a date in the past is 0.
    """
    if not value:
        return None
    value = value.strip()
    if is_size(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class _Cancelled(Exception):
    """Another file failed (or the user interrupted): stop now, keeping the partial bytes."""


def _partial_path(dest: Path, path: str) -> Path:
    return dest / PARTIAL_DIR / PurePosixPath(f"{path}.part")


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _size(f) -> int:
    """Bytes in the open file ``f`` (flushed first, should it be buffered)."""
    f.flush()
    return os.fstat(f.fileno()).st_size


def _progress(progress: bool, **kwargs):
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is a dependency, but progress bars are not worth a crash
        tqdm = None
    if tqdm is None or not progress:
        return _NoBar()
    return tqdm(file=sys.stderr, dynamic_ncols=True, **kwargs)


class _NoBar:
    def update(self, n=1):
        pass

    def set_postfix_str(self, s):
        pass

    def close(self):
        pass


def download_linked(manifest, path: str, cache, link, setting: str) -> Path:
    """Download the manifest file ``path`` into ``cache`` and point ``link`` at it.

    The workflow's copy of a session is a symlink into the persistent, hash-checked
    cache, written atomically, so real and simulated sessions sit at the same paths.
    ``setting`` names the config key that chose ``path`` (for the error).
    """
    files = read_manifest(manifest)
    files = files[files["path"] == path]
    if len(files) != 1:
        raise DataError(manifest, f"no file {path!r} ({setting})")
    print(f"{path}: {files['size'].iloc[0] / 1e6:.0f} MB")
    (local,) = download_files(files, cache)
    with atomic_path(link) as tmp:
        os.symlink(Path(local).resolve(), tmp)
    return Path(local)


def download_files(
    files: pd.DataFrame,
    dest: str | os.PathLike,
    retries: int = 3,
    timeout: float = 60,
    progress: bool = True,
    backoff: float = 2.0,
    rehash_existing: bool = True,
    workers: int = 4,
) -> list[Path]:
    """Fetch the manifest rows ``files`` into ``dest/<path>``; return the local paths.

    Every path is checked first: one that is absolute, has ``.``/``..`` parts or
    a backslash raises :class:`DataError` before anything is written. A file
    already present is verified, not fetched again (with
    ``rehash_existing=False`` only its size is checked, to avoid re-reading
    hundreds of GB on every run); if it does not match, a :class:`DataError` is
    raised rather than overwriting data someone may rely on.

    Missing files are streamed into ``dest/.partial/<path>.part``, which is kept
    across attempts and runs: the next attempt asks for the rest with an HTTP
    ``Range`` request (and starts over if the server ignores it), so a network
    drop during a multi-GB file costs only the bytes in flight. Once complete,
    the file is renamed into place only if its size and checksum match; wrong
    content deletes the partial file and raises :class:`DataError`. Network
    errors (a body without Content-Length that ends short counts as one), an HTML
    page or a wrong length answering a resume, and busy-server statuses (5xx, 408,
    429) are retried ``retries`` times with exponential backoff (``backoff`` s,
    doubling, or longer when a busy server's ``Retry-After`` asks, up to
    :data:`RETRY_AFTER_MAX`), keeping the partial bytes; an attempt that brought bytes restarts
    that count, up to 100 attempts a file. Other HTTP errors fail at once. A failed
    write (disk full, file too large) raises :class:`DownloadError` naming the
    partial file and ``dest``, keeping what was written. ``workers`` files are
    fetched at a time (one HTTP session each). A file the server refuses (HTTP 4xx) or
    whose bytes do not match the manifest does not stop the others: they are fetched, and
    then one error names every such file. Any other error (the network still failing after
    the retries, a failed write) stops the others at once and is raised. Progress (files
    and bytes) goes to stderr.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    dest = Path(dest)
    targets = _targets(files, dest)
    rows = files.to_dict("records")
    missing = [row for row, target in zip(rows, targets, strict=True) if not target.exists()]
    partial_bytes = [
        min(_file_size(_partial_path(dest, row["path"])), int(row["size"])) for row in missing
    ]
    files_bar = _progress(progress, total=len(rows), unit="file", desc="files", position=0)
    bytes_bar = _progress(
        progress,
        total=sum(int(row["size"]) for row in missing),
        initial=sum(partial_bytes),
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc="bytes",
        position=1,
        leave=False,
    )
    downloader = _Downloader(dest, retries, timeout, backoff, rehash_existing, bytes_bar)
    try:
        _run_all(downloader.obtain, rows, workers, files_bar, downloader.stop)
    finally:
        downloader.close()
        bytes_bar.close()
        files_bar.close()
        _prune_empty(dest / PARTIAL_DIR)
    return targets


def _targets(files: pd.DataFrame, dest: Path) -> list[Path]:
    """Each row's final path, refusing unsafe or repeated paths before anything is fetched.

    Checked here as well as in :func:`read_manifest` because callers may build
    the table by hand.
    """
    targets, seen = [], set()
    for label, path in files["path"].items():
        problem = path_problem(path) or ("path listed twice" if path in seen else None)
        if problem:
            raise DataError(dest, f"manifest row {label} ({path!r}): {problem}; nothing downloaded")
        seen.add(path)
        targets.append(dest / PurePosixPath(path))
    return targets


def _run_all(task, rows: list[dict], workers: int, files_bar, stop: threading.Event) -> None:
    """Run ``task`` on every row, ``workers`` at a time; raise once all ended or stopped.

    A failure that is the file's own (:func:`_stops_the_batch`) lets the others go on, and
    the error raised at the end names every such file. Any other sets ``stop``: files not
    started yet are skipped and running transfers stop at their next chunk (keeping their
    partial bytes), so a doomed run ends quickly and reports the error that caused it. (The
    pool's own ``cancel_futures`` is not used: its cancelled futures never reach
    ``as_completed``, which then waits forever.)
    """
    fatal, failed = None, []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="download") as pool:
        futures = {pool.submit(task, row): row["path"] for row in rows}
        try:
            for future in as_completed(futures):
                exc = future.exception()
                if exc is None:
                    files_bar.set_postfix_str(futures[future][-60:])
                    files_bar.update(1)
                elif isinstance(exc, _Cancelled):
                    continue
                elif _stops_the_batch(exc):
                    if fatal is None:
                        fatal = exc
                        stop.set()
                else:
                    failed.append(exc)
        except BaseException:  # e.g. Ctrl-C: make the workers stop rather than wait for them
            stop.set()
            raise
    if fatal is not None:
        if failed:  # the rerun meets them again: say so now
            fatal.add_note(
                f"Before the batch stopped, {len(failed)} file(s) had failed on their own: "
                + _listed(failed, LISTED_FAILURES)
            )
        raise fatal
    if failed:
        first = failed[0]
        if len(failed) == 1:
            raise first
        raise type(first)(
            first.path,
            f"{first.problem}. {len(failed) - 1} other file(s) failed on their own too, the rest "
            f"downloaded: {_listed(failed[1:], LISTED_FAILURES - 1)}",
        ) from first


def _listed(failed: list[DataError], limit: int) -> str:
    """'name: problem' of the first ``limit`` files, and how many more."""
    named = [f"{Path(e.path).name}: {e.problem}" for e in failed[:limit]]
    more = len(failed) - limit
    return "; ".join(named) + (f"; and {more} more" if more > 0 else "")


def _prune_empty(folder: Path) -> None:
    """Remove the empty folders under ``folder`` (and it), so a finished cache holds only data.

    Another process sharing the cache may just have made one of them for a partial
    file it has not created yet; :func:`_open_partial` makes it again.
    """
    for root, _, _ in os.walk(folder, topdown=False):
        with contextlib.suppress(OSError):
            os.rmdir(root)


#: flock errors meaning the filesystem has no locks, not that the file is locked: Lustre
#: mounted without ``flock`` (ENOSYS), NFS without lockd (ENOLCK), some FUSE mounts (EOPNOTSUPP).
_NO_LOCKS = frozenset({errno.ENOSYS, errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP})
_warned_unlocked: set[Path] = set()  # download folders already warned about
_warned_guard = threading.Lock()


def _lock(f, target: Path, dest: Path) -> None:
    """Refuse to write a partial file another process is writing (two runs sharing a cache).

    Where the filesystem has no locks the download goes on unlocked, with one
    warning per folder: failing every download there would be worse than the
    rare clash of two runs fetching the same file at once (which the size and
    hash checks then catch).
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        return
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as err:  # this file only: the batch goes on with the others
        raise _Refused(
            target, f"another process is downloading this file into {f.name}; rerun once it ends"
        ) from err
    except OSError as err:
        if err.errno not in _NO_LOCKS:
            raise DownloadError(
                target, f"cannot lock {f.name} (download folder {dest}): {err.strerror or err}"
            ) from err
        with _warned_guard:
            if dest in _warned_unlocked:
                return
            _warned_unlocked.add(dest)
        warnings.warn(
            f"{dest}: the filesystem refuses file locks ({err.strerror or err}), so downloads "
            "there are not locked: runs sharing this folder must not fetch the same files at "
            "the same time",
            RuntimeWarning,
            stacklevel=2,
        )


def _is_at(f, path: Path) -> bool:
    """Whether the open file ``f`` is still the file at ``path`` (not moved away or replaced)."""
    try:
        there = os.stat(path)
    except FileNotFoundError:
        return False
    here = os.fstat(f.fileno())
    return (here.st_ino, here.st_dev) == (there.st_ino, there.st_dev)


#: Most requests for one file in one run, even if each brought bytes (see `_Downloader._attempts`).
_MAX_ATTEMPTS = 100


def _gave_up(attempts: int, err: Exception | str, url: str, capped: bool = False) -> str:
    if capped:  # attempts kept bringing bytes, so the retries never ran out, but the limit did
        err = (
            f"{err}; the transfer kept breaking off, and {attempts} is the most a run tries a file"
        )
    return (
        f"download failed after {attempts} attempt{'s' if attempts > 1 else ''}: {err} for {url}. "
        "Check the connection (or proxy) and rerun the same command: finished files are kept "
        "and the partial file resumes."
    )


def _hash_start(row, f, n: int):
    """A hasher for ``row``'s algorithm fed with the first ``n`` bytes of ``f`` (None if unhashed).

    A resumed file is hashed as a whole, so the bytes from earlier attempts are
    re-read from disk rather than trusted.
    """
    hasher = _hasher(row["hash_algorithm"] or "")
    if hasher is not None and n:
        f.seek(0)
        while n > 0 and (chunk := f.read(min(CHUNK_SIZE, n))):
            hasher.update(chunk)
            n -= len(chunk)
    return hasher


def _get(session, url: str, start: int, timeout: float):
    # identity: the manifest's size and hash are of the stored bytes, so no
    # transparent gzip; raw reads below also keep requests from decoding.
    headers = {"Accept-Encoding": "identity"}
    if start:
        headers["Range"] = f"bytes={start}-"
    return session.get(url, stream=True, timeout=timeout, headers=headers)


def _open_stream(session, url: str, have: int, timeout: float):
    """GET ``url`` from byte ``have``; return the response, the offset its body starts at, and
    whether it answers the request to resume (the ``have`` partial bytes still count as good).

    A server without Range support answers 200 with the whole file (offset 0).
    A 416, or a 206 starting elsewhere, means the partial bytes do not fit the
    resource (already whole, longer, or changed), so the file is asked for again
    from zero (and the answer is not a resume).
    """
    response = _get(session, url, have, timeout)
    if not have or response.status_code not in (206, 416):
        return response, 0, bool(have)
    content_range = response.headers.get("Content-Range", "")
    if response.status_code == 206 and content_range.startswith(f"bytes {have}-"):
        return response, have, True
    response.close()
    return _get(session, url, 0, timeout), 0, False


def _check_response(
    response, start: int, size: int, target: Path, url: str, resuming: bool
) -> int | None:
    """Raise unless ``response`` is a success whose announced length completes the file.

    Returns the announced body length (None when the server announces none).
    Nothing of the body is written yet, so the partial bytes stay as they are
    when this raises. An HTML page for a file that is not one (a proxy's or
    gateway's error page sent as 200) is retried (:class:`_Transient`), with or
    without a length. So is a wrong length when ``resuming``: an answer to a
    Range request that is not the rest of the file says nothing against the bytes
    already on disk. A wrong length for a fresh download means the server's copy
    does not match the manifest: a :class:`DataError`.
    """
    status = response.status_code
    if is_retried_status(status):
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        asked = f" (Retry-After: {wait:.0f} s)" if wait is not None else ""
        raise _Transient(f"HTTP {response.status_code} {response.reason}{asked}", wait)
    if response.status_code >= 400:
        raise _Refused(
            target, f"download failed: HTTP {response.status_code} {response.reason} for {url}"
        )
    announced = response.headers.get("Content-Length")
    length = int(announced) if announced and is_size(announced) else None
    kind = response.headers.get("Content-Type") or "no Content-Type"
    if kind.split(";")[0].strip().lower() == "text/html" and not _is_html(target.name):
        sent = f"{length} bytes" if length is not None else "no Content-Length"
        raise _Transient(
            f"HTTP {response.status_code} answered with a page (Content-Type: {kind}, {sent}) "
            "instead of the file"
        )
    if length is not None and start + length != size:
        # Fail before fetching gigabytes that cannot match.
        total = start + length
        sends = f"server sends {total} bytes (Content-Type: {kind}), manifest expects {size}"
        stated = _range_total(response.headers.get("Content-Range", ""))
        if resuming and (stated is None or stated == size):
            raise _Transient(f"asked to resume, HTTP {response.status_code}: {sends}")
        if resuming:  # the server's whole file is another size: the bytes kept cannot help
            sends = f"server's file is {stated} bytes, manifest expects {size}"
        raise DataError(target, f"{'truncated' if total < size else 'wrong size'}: {sends} ({url})")
    return length


def _range_total(content_range: str) -> int | None:
    """The whole file's size a ``Content-Range: bytes a-b/TOTAL`` states, or None (``*``)."""
    total = content_range.rpartition("/")[2].strip()
    return int(total) if content_range.startswith("bytes ") and is_size(total) else None


def _sync(f, target: Path, dest: Path) -> None:
    """Flush ``f``'s bytes to the disk before they are checked and moved into place: NFS
    with quotas reports a failed write (EDQUOT, EIO) only at fsync or close. A failure is a
    DownloadError that keeps the partial file, whose size the next run checks again."""
    try:
        os.fsync(f.fileno())
    except OSError as err:
        raise DownloadError(target, _cannot_write(err, target, dest, _size(f))) from err


def _is_html(name: str) -> bool:
    return name.lower().endswith((".html", ".htm"))


def _open_partial(partial: Path, target: Path, dest: Path):
    """Open ``partial`` to append (unbuffered), making its folder first.

    Processes sharing a cache prune its empty folders (:func:`_prune_empty`) when
    their runs end, so the folder just made here may vanish before the file is
    created in it; the two steps are then simply repeated. Once the file exists
    its folder is not empty and stays. Unbuffered, so a failed write leaves no
    bytes pending in Python that a later flush or close would raise about again.
    """
    for attempt in range(_OPEN_ATTEMPTS):
        try:
            partial.parent.mkdir(parents=True, exist_ok=True)
            return open(partial, "a+b", buffering=0)
        except FileNotFoundError as err:  # the folder was pruned in between: again
            if attempt == _OPEN_ATTEMPTS - 1:
                raise DownloadError(target, _cannot_write(err, partial, dest, 0)) from err
        except OSError as err:
            raise DownloadError(target, _cannot_write(err, partial, dest, 0)) from err
    raise AssertionError("unreachable")


_OPEN_ATTEMPTS = 100


def _cannot_write(err: OSError, path: Path, dest: Path, kept: int) -> str:
    """The message for a failed write (disk full, file too large, read-only...)."""
    keep = f"; the {kept} bytes already written are kept and resume" if kept else ""
    return (
        f"cannot write {path} (download folder {dest}): {err.strerror or err}. "
        f"Free space there (or lift the file-size limit, or fix the permissions) and rerun{keep}"
    )


def _write_all(f, data: bytes) -> None:
    """Append all of ``data`` to the unbuffered file ``f`` (a raw write may write less)."""
    view = memoryview(data)
    while view:
        view = view[f.write(view) :]


@dataclass
class _Downloader:
    """What all transfers share: the settings, the byte bar, a stop flag, a session per thread."""

    dest: Path
    retries: int
    timeout: float
    backoff: float
    rehash_existing: bool
    bytes_bar: object
    stop: threading.Event = field(default_factory=threading.Event)
    _local: threading.local = field(default_factory=threading.local)
    _sessions: list = field(default_factory=list)

    def session(self):
        """This thread's Session: one is not thread-safe, but reusing it keeps connections open."""
        import requests

        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            self._sessions.append(session)
        return session

    def close(self) -> None:
        for session in self._sessions:
            session.close()

    def obtain(self, row: dict) -> None:
        """Verify ``row``'s file if present (no request), else download it.

        Looked at again whenever another run sharing the cache finished the file
        while this one was opening its partial file (:meth:`_download`).
        """
        target = self.dest / PurePosixPath(row["path"])
        partial = _partial_path(self.dest, row["path"])
        for _ in range(_OPEN_ATTEMPTS):
            if self.stop.is_set():
                raise _Cancelled
            if target.exists():
                self._verify_present(row, target)
                return
            if self._download(row, target, partial):
                return
        raise DownloadError(target, f"other runs kept replacing {partial}; rerun once they end")

    def _verify_present(self, row: dict, target: Path) -> None:
        algo = row["hash_algorithm"] if self.rehash_existing else ""
        try:
            verify_file(target, int(row["size"]), algo, row["hash"])
        except DataError as err:  # not overwritten: someone may rely on it
            raise DataError(
                target,
                f"{err.problem}; it was already in place, so it is kept: delete it to download "
                f"it again from {row['url']}",
            ) from err

    def _download(self, row: dict, target: Path, partial: Path) -> bool:
        """Fill ``partial`` (kept across attempts and runs), verify it, move it to ``target``.

        Returns False, having fetched nothing, when another run finished the file
        first: the file opened is no longer the one at ``partial`` once locked (that
        run moved it to ``target``; writing it, or moving what is now at ``partial``,
        would spoil ``target``), or ``target`` appeared meanwhile.
        """
        with _open_partial(partial, target, self.dest) as f:
            _lock(f, target, self.dest)
            if not _is_at(f, partial):
                return False
            if target.exists():  # moved into place before this partial file was made
                if _size(f) == 0:
                    partial.unlink(missing_ok=True)
                return False
            try:
                hasher = self._attempts(row, f, target)
                _sync(f, target, self.dest)  # a network filesystem reports write errors here
                digest = None if hasher is None else hasher.hexdigest()
                algo, expected = row["hash_algorithm"] or "", row["hash"] or ""
                _check(target, int(row["size"]), algo, expected, _size(f), digest, row["url"])
            except BaseException as err:
                wrong = isinstance(err, DataError) and not isinstance(err, DownloadError)
                if wrong or _size(f) == 0:  # wrong bytes, or none: nothing worth resuming
                    partial.unlink(missing_ok=True)
                raise
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(partial, target)
            except OSError as err:  # the verified partial stays; the next run only renames it
                raise DownloadError(target, _cannot_write(err, target, self.dest, 0)) from err
        return True

    def _attempts(self, row: dict, f, target: Path):
        """:meth:`_fetch` until it succeeds, backing off after transient failures.

        ``retries`` counts failures in a row that added no bytes: one that got
        further than the last restarts the count and the backoff, so a connection
        dropping every few MB still completes a multi-GB file. :data:`_MAX_ATTEMPTS`
        caps the whole, or a server trickling a byte per request would never let
        the run end; the partial file resumes in the next run.
        """
        limit = max(_MAX_ATTEMPTS, self.retries + 1)
        failures = 0  # in a row, the first of them possibly with progress
        for attempt in range(1, limit + 1):
            before = _size(f)
            try:
                return self._fetch(row, f, target)
            except _Transient as err:
                failures = 1 if _size(f) > before else failures + 1
                if failures > self.retries or attempt == limit:
                    capped = failures <= self.retries
                    message = _gave_up(attempt, err, row["url"], capped)
                    raise DownloadError(target, message) from err
                wait = self.backoff * 2 ** (failures - 1)
                if err.retry_after is not None:  # the server knows when it will be free
                    wait = max(wait, min(err.retry_after, RETRY_AFTER_MAX))
            if self.stop.wait(wait):
                raise _Cancelled
        raise AssertionError("unreachable")

    def _fetch(self, row: dict, f, target: Path):
        """Make one request that completes the partial file ``f``, resuming from its bytes.

        Returns a hasher fed with the whole file (None without a checksum).
        Errors name ``target``, the final path, which is what a user will look
        for. Raises :class:`_Transient` for errors worth retrying (the bytes
        received so far stay in ``f``): network errors, a body without
        Content-Length that ends short (a closed connection looks the same as the
        end of such a body), an HTML page, a wrong length answering a resume. Raises
        :class:`DownloadError` for a permanent HTTP error or a failed write (the
        bytes written stay), :class:`DataError` when the server announces the
        wrong size for a fresh download.
        """
        import requests
        import urllib3

        url, size = row["url"], int(row["size"])
        have = _size(f)
        if size and have == size:  # complete, from a run killed before its rename
            return _hash_start(row, f, have)
        try:
            response, start, resuming = _open_stream(self.session(), url, have, self.timeout)
            with response:
                length = _check_response(response, start, size, target, url, resuming)
                if start < have:  # starting over: no Range support, or the bytes did not fit
                    self._write(f, target, f.truncate, 0)
                    self.bytes_bar.update(-min(have, size))
                hasher = _hash_start(row, f, start)
                for chunk in response.raw.stream(CHUNK_SIZE, decode_content=False):
                    if self.stop.is_set():
                        raise _Cancelled
                    self._write(f, target, _write_all, f, chunk)  # "a+b": appends
                    self.bytes_bar.update(len(chunk))
                    if hasher is not None:
                        hasher.update(chunk)
        except (
            requests.ConnectionError,
            requests.Timeout,
            urllib3.exceptions.HTTPError,
            ConnectionError,  # socket errors not wrapped by urllib3
            TimeoutError,
        ) as err:
            raise _Transient(f"{type(err).__name__}: {err}") from err
        except requests.RequestException as err:
            raise DownloadError(target, f"download failed: {err} for {url}") from err
        got = _size(f)
        if length is None and got < size:
            raise _Transient(
                f"connection closed after {got} of {size} bytes (no Content-Length announced)"
            )
        return hasher

    def _write(self, f, target: Path, write, *args) -> None:
        """``write(*args)`` on the partial file ``f``; an OSError becomes a DownloadError."""
        try:
            write(*args)
        except OSError as err:
            kept = _size(f)
            raise DownloadError(target, _cannot_write(err, Path(f.name), self.dest, kept)) from err


def link_tree(paths: Iterable[str], cache: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Lay out downloaded files as ``dest/<path>`` links into ``cache``, whole or not at all.

    The workflow's dataset folder is then a tree of links: the cache keeps the bytes (and
    resumes), the links give every later step the dataset's own layout.
    """
    cache = Path(cache)
    with atomic_path(dest) as tmp:
        for path in paths:
            link = tmp / PurePosixPath(path)
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink((cache / PurePosixPath(path)).resolve(), link)
