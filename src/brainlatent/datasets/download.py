"""Fetch the files of a public dataset listed in its manifest, verified, never half-written.

Each dataset under ``shared/datasets/<name>/manifest.tsv`` lists every file with
its size, an optional checksum and a versioned URL. A workflow asks for a subset
(:func:`select_files`, e.g. with :func:`things_meg_patterns`), and
:func:`download_files` fetches what is missing. A file appears under its final
name only once its size and checksum match the manifest, so a killed or failed
download can never be mistaken for data by Snakemake or a later step.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import re
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

import pandas as pd

from brainlatent.errors import DataError
from brainlatent.io import atomic_path

__all__ = [
    "HASH_ALGORITHMS",
    "MANIFEST_COLUMNS",
    "DownloadError",
    "download_files",
    "glob_to_regex",
    "read_manifest",
    "select_files",
    "things_meg_patterns",
    "verify_file",
]

MANIFEST_COLUMNS = ("path", "size", "hash_algorithm", "hash", "url")
#: Hex digest length per supported algorithm; an empty algorithm means "size only".
HASH_ALGORITHMS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}
CHUNK_SIZE = 1 << 20
#: HTTP statuses worth retrying: the server is busy or failed, not the request wrong.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
THINGS_MEG_ROOT_FILES = ("dataset_description.json", "participants.tsv", "task-main_events.json")


class DownloadError(DataError):
    """A file could not be fetched (HTTP error, or network failures after retries).

    A :class:`DataError` so callers that catch bad-data errors also catch this;
    the message names the destination file and the URL.
    """


# --------------------------------------------------------------------------- manifest


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Read and validate a dataset manifest (TSV: path, size, hash_algorithm, hash, url).

    Parsed by hand rather than with ``pd.read_csv`` so that no quoting rule or NA
    guessing can alter a path, and so each problem is reported with its line
    number. Returns one row per file: ``size`` as int64, the other columns as
    strings (empty ``hash_algorithm``/``hash`` for files listed without a checksum).
    Extra columns are kept.
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(path, f"cannot read manifest: {err}") from err
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise DataError(path, "empty manifest: no header line")
    header = lines[0].split("\t")
    missing = [c for c in MANIFEST_COLUMNS if c not in header]
    if missing:
        raise DataError(path, f"missing column(s) {missing}; header is {header}")
    if len(set(header)) != len(header):
        raise DataError(path, f"duplicate column names in header {header}")

    rows = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise DataError(path, f"line {lineno}: {len(fields)} fields, header has {len(header)}")
        rows.append(fields)
    table = (
        pd.DataFrame(rows, columns=header, dtype=str)
        if rows
        else pd.DataFrame({c: pd.Series([], dtype=str) for c in header})
    )

    def fail(mask: pd.Series, problem: str, column: str | None = None) -> None:
        if mask.any():
            first = int(mask.to_numpy().nonzero()[0][0])
            row = table.iloc[first]
            got = f", got {row[column]!r}" if column else ""
            raise DataError(
                path,
                f"line {first + 2} ({row['path']!r}): {problem}{got} "
                f"({int(mask.sum())} row(s) affected)",
            )

    fail(~table["size"].str.fullmatch(r"\d+"), "size must be a non-negative integer", "size")
    table["size"] = table["size"].astype("int64")

    paths = table["path"]
    fail(paths == "", "empty path")
    fail(
        paths.str.startswith("/")
        | paths.str.contains("\\", regex=False)
        | paths.str.contains(r"(?:^|/)\.{1,2}(?:/|$)")
        | paths.str.contains("//", regex=False)
        | paths.str.endswith("/"),
        "path must be relative, '/'-separated and without '.' or '..' parts",
    )
    fail(paths.duplicated(), "path listed twice")

    algo = table["hash_algorithm"] = table["hash_algorithm"].str.lower()
    digest = table["hash"] = table["hash"].str.lower()
    known = algo.isin(list(HASH_ALGORITHMS)) | (algo == "")
    fail(~known, f"unknown hash algorithm (known: {sorted(HASH_ALGORITHMS)})", "hash_algorithm")
    fail((algo == "") != (digest == ""), "hash_algorithm and hash must be both given or both empty")
    expected_len = algo.map(HASH_ALGORITHMS).fillna(0).astype("int64")
    fail(
        (algo != "") & ((digest.str.len() != expected_len) | ~digest.str.fullmatch("[0-9a-f]*")),
        "hash is not a hex digest of the algorithm's length",
    )
    fail(~table["url"].str.match(r"https?://[^/\s]+"), "url must be an http(s) URL")
    return table


# --------------------------------------------------------------------------- selection


def glob_to_regex(pattern: str) -> str:
    """Translate a path glob to a regex: ``*``/``?``/``[..]`` stay within one folder.

    Unlike plain :mod:`fnmatch` (where ``*`` also matches ``/``), ``*.json``
    matches only top-level files and ``**`` is needed to cross folders:
    ``a/**`` is everything below ``a``, ``**/x`` is ``x`` in any folder
    (including the top), ``a/**/x`` is ``x`` anywhere below ``a``. Patterns are
    anchored: they must match the whole manifest path.
    """
    out = []
    parts = pattern.split("/")
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            out.append(".*" if last else "(?:[^/]+/)*")
            continue
        out.append(_translate_segment(part))
        if not last:
            out.append("/")
    return "".join(out)


def _translate_segment(segment: str) -> str:
    out = []
    i, n = 0, len(segment)
    while i < n:
        c = segment[i]
        i += 1
        if c == "*":
            while i < n and segment[i] == "*":
                i += 1
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = i
            if j < n and segment[j] in "!^":
                j += 1
            if j < n and segment[j] == "]":
                j += 1
            while j < n and segment[j] != "]":
                j += 1
            if j >= n:  # unclosed: a literal bracket, as in fnmatch
                out.append(re.escape(c))
                continue
            body = segment[i:j].replace("\\", "\\\\")
            i = j + 1
            if body[:1] in ("!", "^"):
                out.append(f"[^/{body[1:]}]")
            else:
                out.append(f"[{body}]")
        else:
            out.append(re.escape(c))
    return "".join(out)


def _literal_prefix(pattern: str) -> str:
    match = re.search(r"[*?\[]", pattern)
    return pattern if match is None else pattern[: match.start()]


def _match_patterns(sorted_paths: list[str], patterns: Iterable[str]) -> tuple[set[str], list[str]]:
    """Paths matching any pattern, and the patterns that matched nothing.

    Each pattern is only tried on the paths sharing its literal prefix (found by
    bisection), so thousands of per-run patterns on a 20 000-row manifest stay fast.
    """
    matched: set[str] = set()
    unmatched: list[str] = []
    for pattern in patterns:
        regex = re.compile(glob_to_regex(pattern))
        prefix = _literal_prefix(pattern)
        start = bisect.bisect_left(sorted_paths, prefix)
        hit = False
        for p in sorted_paths[start:]:
            if not p.startswith(prefix):
                break
            if regex.fullmatch(p):
                matched.add(p)
                hit = True
        if not hit:
            unmatched.append(pattern)
    return matched, unmatched


def select_files(
    manifest: pd.DataFrame,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Rows of ``manifest`` whose path matches an ``include`` glob and no ``exclude`` glob.

    Globs follow :func:`glob_to_regex` (``*`` stays in one folder, ``**`` crosses
    folders), so a config can ask for ``sub-BIGMEG1/ses-01/**`` plus ``*.json``
    (top-level sidecars only). ``include=None`` means every file. An include
    pattern that matches nothing is warned about, because it is almost always a
    typo in a config and would otherwise silently fetch less data than intended.
    Manifest order is kept; the index is reset.
    """
    if isinstance(include, str) or isinstance(exclude, str):
        raise TypeError("include/exclude must be lists of patterns, not a single string")
    paths = manifest["path"].astype(str)
    sorted_paths = sorted(paths)
    if include is None:
        keep = pd.Series(True, index=manifest.index)
    else:
        matched, unmatched = _match_patterns(sorted_paths, include)
        if unmatched:
            shown = ", ".join(repr(p) for p in unmatched[:5])
            more = f" and {len(unmatched) - 5} more" if len(unmatched) > 5 else ""
            warnings.warn(
                f"{len(unmatched)} include pattern(s) match no file: {shown}{more}", stacklevel=2
            )
        keep = paths.isin(matched)
    if exclude:
        dropped, _ = _match_patterns(sorted_paths, exclude)
        keep &= ~paths.isin(dropped)
    return manifest.loc[keep].reset_index(drop=True)


def _bids_label(value: int | str | None, key: str, width: int = 2) -> str:
    """``1`` / ``"01"`` / ``"ses-01"`` -> ``"ses-01"``; ``None`` -> ``"ses-*"``."""
    if value is None:
        return f"{key}-*"
    text = str(value)
    if text.startswith(f"{key}-"):
        text = text[len(key) + 1 :]
    if text.isdigit():
        text = text.zfill(width)
    return f"{key}-{text}"


def things_meg_patterns(
    subjects: Sequence[int | str] | None,
    sessions: Sequence[int | str] | None,
    runs: Sequence[int | str] | None,
    eyetracking: bool = False,
) -> list[str]:
    """Include globs for the THINGS-MEG (ds004212) files needed to read the given runs.

    Per run: the whole CTF ``.ds`` folder (MNE needs it intact: res4, meg4,
    markers, head coils...), its events/channels/meg.json/coordsystem sidecars,
    the session's scans.tsv; plus the root files every BIDS reader needs. The
    eye-tracking physio files (~25 MB a run) only with ``eyetracking=True``.
    Subjects are ``1``, ``"BIGMEG1"`` or ``"sub-BIGMEG1"``; sessions/runs are
    numbers or labels. ``None`` means all (the empty-room recordings excluded).

    Some sidecars are absent upstream (so :func:`select_files` warns): no
    channels/meg.json/coordsystem for any run of sub-BIGMEG4 ses-02, no
    meg.json/coordsystem for sub-BIGMEG2 ses-06 runs 09-10, no coordsystem for
    sub-BIGMEG1 ses-03 run-01.
    """
    if subjects is None:
        subject_labels = ["sub-BIGMEG*"]
    else:
        subject_labels = []
        for s in subjects:
            text = str(s).removeprefix("sub-")
            subject_labels.append(f"sub-BIGMEG{text}" if text.isdigit() else f"sub-{text}")
    session_labels = (
        [_bids_label(None, "ses")]
        if sessions is None
        else [_bids_label(s, "ses") for s in sessions]
    )
    run_labels = (
        [_bids_label(None, "run")] if runs is None else [_bids_label(r, "run") for r in runs]
    )
    suffixes = ["meg.ds/**", "events.tsv", "channels.tsv", "meg.json", "coordsystem.json"]
    if eyetracking:
        suffixes += ["recording-eyetracking_physio.json", "recording-eyetracking_physio.tsv.gz"]
    patterns = list(THINGS_MEG_ROOT_FILES)
    for sub in subject_labels:
        for ses in session_labels:
            patterns.append(f"{sub}/{ses}/{sub}_{ses}_scans.tsv")
            for run in run_labels:
                stem = f"{sub}/{ses}/meg/{sub}_{ses}_task-main_{run}_"
                patterns.extend(stem + suffix for suffix in suffixes)
    return patterns


# --------------------------------------------------------------------------- verification


def _check(path, size: int, hash_algorithm: str, expected: str, got_size: int, got_hash):
    if got_size < size:
        raise DataError(path, f"truncated: {got_size} of {size} bytes")
    if got_size != size:
        raise DataError(path, f"wrong size: {got_size} bytes, expected {size}")
    if hash_algorithm and got_hash is not None and got_hash != expected.lower():
        raise DataError(
            path, f"{hash_algorithm} mismatch: expected {expected.lower()}, got {got_hash}"
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
    hasher = _hasher(hash_algorithm)
    if hasher is None:
        return
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            hasher.update(chunk)
    _check(path, size, hash_algorithm, hash or "", got_size, hasher.hexdigest())


# --------------------------------------------------------------------------- download


class _Transient(Exception):
    """A failure that may go away if retried (network error, busy server)."""


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


def _fetch(session, url: str, tmp: Path, target: Path, row, timeout: float, bytes_bar) -> None:
    """Stream ``url`` into ``tmp`` and verify it against the manifest row.

    Errors name ``target``, the final path, which is what a user will look for.

    Raises :class:`_Transient` for errors worth retrying, :class:`DownloadError`
    for a permanent HTTP error, :class:`DataError` when the content is wrong.
    """
    import requests
    import urllib3

    size = int(row["size"])
    algo = row["hash_algorithm"] or ""
    expected = row["hash"] or ""
    hasher = _hasher(algo)
    written = 0
    try:
        # identity: the manifest's size and hash are of the stored bytes, so no
        # transparent gzip; raw reads below also keep requests from decoding.
        with session.get(
            url, stream=True, timeout=timeout, headers={"Accept-Encoding": "identity"}
        ) as response:
            if response.status_code in RETRY_STATUSES:
                raise _Transient(f"HTTP {response.status_code} {response.reason}")
            if response.status_code >= 400:
                raise DownloadError(
                    target,
                    f"download failed: HTTP {response.status_code} {response.reason} for {url}",
                )
            announced = response.headers.get("Content-Length")
            if announced and announced.isdigit() and int(announced) != size:
                # Fail before fetching gigabytes that cannot match.
                raise DataError(
                    target,
                    f"{'truncated' if int(announced) < size else 'wrong size'}: server sends "
                    f"{announced} bytes, manifest expects {size} ({url})",
                )
            with open(tmp, "wb") as f:
                for chunk in response.raw.stream(CHUNK_SIZE, decode_content=False):
                    f.write(chunk)
                    written += len(chunk)
                    bytes_bar.update(len(chunk))
                    if hasher is not None:
                        hasher.update(chunk)
    except (requests.ConnectionError, requests.Timeout, urllib3.exceptions.HTTPError) as err:
        bytes_bar.update(-written)
        raise _Transient(f"{type(err).__name__}: {err}") from err
    except requests.RequestException as err:
        raise DownloadError(target, f"download failed: {err} for {url}") from err
    except (ConnectionError, TimeoutError) as err:  # socket errors not wrapped by urllib3
        bytes_bar.update(-written)
        raise _Transient(f"{type(err).__name__}: {err}") from err
    _check(target, size, algo, expected, written, None if hasher is None else hasher.hexdigest())


def download_files(
    files: pd.DataFrame,
    dest: str | os.PathLike,
    retries: int = 3,
    timeout: float = 60,
    progress: bool = True,
    backoff: float = 2.0,
    rehash_existing: bool = True,
) -> list[Path]:
    """Fetch the manifest rows ``files`` into ``dest/<path>``; return the local paths.

    A file already present is verified, not fetched again (with
    ``rehash_existing=False`` only its size is checked, to avoid re-reading
    hundreds of GB on every run); if it does not match, a :class:`DataError` is
    raised rather than overwriting data someone may rely on. Missing files are
    streamed into a temporary folder beside the destination, verified, then
    renamed, so a partial file never appears under the final name. Network
    errors and busy-server statuses (5xx, 408, 429) are retried ``retries``
    times with exponential backoff (``backoff`` s, doubling); other HTTP errors
    and wrong content fail at once. Progress (files and bytes) goes to stderr.
    """
    import requests

    dest = Path(dest)
    rows = files.to_dict("records")
    targets = [dest / PurePosixPath(row["path"]) for row in rows]
    present = [t.exists() for t in targets]
    missing_bytes = sum(int(r["size"]) for r, p in zip(rows, present, strict=True) if not p)

    files_bar = _progress(progress, total=len(rows), unit="file", desc="files", position=0)
    bytes_bar = _progress(
        progress,
        total=missing_bytes,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc="bytes",
        position=1,
        leave=False,
    )
    try:
        with requests.Session() as session:
            for row, target, exists in zip(rows, targets, present, strict=True):
                files_bar.set_postfix_str(row["path"][-60:])
                if exists:
                    algo = row["hash_algorithm"] if rehash_existing else ""
                    verify_file(target, int(row["size"]), algo, row["hash"])
                else:
                    _download_one(session, row, target, retries, timeout, backoff, bytes_bar)
                files_bar.update(1)
    finally:
        bytes_bar.close()
        files_bar.close()
    return targets


def _download_one(session, row, target: Path, retries, timeout, backoff, bytes_bar) -> None:
    url = row["url"]
    for attempt in range(retries + 1):
        try:
            with atomic_path(target) as tmp:
                _fetch(session, url, tmp, target, row, timeout, bytes_bar)
            return
        except _Transient as err:
            if attempt == retries:
                raise DownloadError(
                    target, f"download failed after {retries + 1} attempts: {err} for {url}"
                ) from err
            time.sleep(backoff * 2**attempt)
