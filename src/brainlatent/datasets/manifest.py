"""A dataset's manifest: every file with its size, checksum and versioned URL, read and checked,
and the files a config selects from it.

Each dataset's manifest (``workflow/manifests/<name>.tsv.gz``) is the published listing, byte
for byte. Where it gives no checksum, a committed supplement beside it (``<name>.hashes.tsv.gz``,
made by :mod:`brainlatent.datasets.manifest_hashes`) may give one, and :func:`read_manifest`
fills it in, so those files are checked by content and not by size alone. A workflow asks for a
subset with :func:`select_files` (e.g. with :func:`things_meg_patterns`), which
:func:`brainlatent.datasets.download.download_files` then fetches.
"""

from __future__ import annotations

import bisect
import gzip
import os
import re
import warnings
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from brainlatent.errors import DataError

__all__ = [
    "HASH_ALGORITHMS",
    "MANIFEST_COLUMNS",
    "SUPPLEMENT_COLUMNS",
    "THINGS_MEG_ROOT_FILES",
    "glob_to_regex",
    "read_manifest",
    "read_supplement",
    "select_files",
    "supplement_path",
    "things_meg_patterns",
]

MANIFEST_COLUMNS = ("path", "size", "hash_algorithm", "hash", "url")
#: Columns of a manifest's hash supplement (:func:`supplement_path`), in this order.
SUPPLEMENT_COLUMNS = ("path", "size", "hash_algorithm", "hash")
#: Hex digest length per supported algorithm; an empty algorithm means "size only".
HASH_ALGORITHMS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}

THINGS_MEG_ROOT_FILES = ("dataset_description.json", "participants.tsv", "task-main_events.json")
#: Folder under ``dest`` holding unfinished downloads as ``<path>.part``, kept across runs.
PARTIAL_DIR = ".partial"
UNSAFE_PATH = (
    "path must be relative, '/'-separated and without '.' or '..' parts "
    "(it must stay inside the download folder)"
)


# --------------------------------------------------------------------------- manifest


def read_manifest(path: str | os.PathLike, supplement: bool = True) -> pd.DataFrame:
    """Read and validate a dataset manifest (TSV, or gzipped TSV: path, size, hash_algorithm,
    hash, url).

    Parsed by hand rather than with ``pd.read_csv`` so that no quoting rule or NA
    guessing can alter a path, and so each problem is reported with its line
    number. Returns one row per file: ``size`` as int64, the other columns as
    strings (empty ``hash_algorithm``/``hash`` for files listed without a checksum).
    Extra columns are kept.

    With ``supplement`` (the default), empty hashes are filled from the hash
    supplement beside the manifest (:func:`supplement_path`), when there is one:
    the manifest file itself stays the published listing, byte for byte. A
    supplement row whose path is not in the manifest, whose size differs from the
    manifest's, or whose hash contradicts one the manifest gives is stale: a
    :class:`DataError` naming the supplement. ``supplement=False`` reads the
    manifest as published.
    """
    lines = _read_text(path, "manifest").splitlines()
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
    if supplement and (extra := supplement_path(path)).is_file():
        _fill_hashes(rows, header, extra)  # before the checks, which then cover its hashes
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

    size = table["size"]
    # [0-9], not \d, which also takes other scripts' digits (then read as numbers)
    fail(~size.str.fullmatch("[0-9]+"), "size must be a non-negative integer", "size")
    digits = size.str.lstrip("0")  # too big for int64: a line number here, not an OverflowError
    too_big = (digits.str.len() > len(_INT64_MAX)) | (
        (digits.str.len() == len(_INT64_MAX)) & (digits > _INT64_MAX)
    )
    fail(too_big, f"size must be at most {_INT64_MAX} (int64)", "size")
    table["size"] = size.astype("int64")

    paths = table["path"]
    problems = paths.map(path_problem)
    if problems.notna().any():
        fail(problems.notna(), problems.dropna().iloc[0])
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


_INT64_MAX = str(2**63 - 1)


def is_size(text: str) -> bool:
    """Whether ``text`` is ASCII digits only (``str.isdigit`` also takes superscripts, which
    ``int`` refuses, and other scripts' digits)."""
    return text.isascii() and text.isdigit()


def supplement_path(manifest: str | os.PathLike) -> Path:
    """The hash supplement of ``manifest``: ``things-meg.tsv.gz`` -> ``things-meg.hashes.tsv.gz``.

    A gzipped TSV with the columns :data:`SUPPLEMENT_COLUMNS` (path, size,
    hash_algorithm, hash), one row per file the manifest lists without a checksum;
    written by :mod:`brainlatent.datasets.manifest_hashes`.
    """
    manifest = Path(manifest)
    stem = manifest.name
    for suffix in (".tsv.gz", ".tsv"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return manifest.with_name(f"{stem}.hashes.tsv.gz")


def read_supplement(path: str | os.PathLike) -> pd.DataFrame:
    """Read and validate a hash supplement (exactly :data:`SUPPLEMENT_COLUMNS`, every hash set,
    lowercase hex), as a table with ``size`` as int64."""
    entries = _parse_supplement(path)
    for p, (lineno, *_) in entries.items():
        if problem := path_problem(p):
            raise DataError(path, f"line {lineno} ({p!r}): {problem}")
    columns = list(zip(*entries.values(), strict=True)) or [()] * 4
    return pd.DataFrame(
        {
            "path": pd.Series(list(entries), dtype=str),
            "size": pd.Series(columns[1], dtype="int64"),
            "hash_algorithm": pd.Series(columns[2], dtype=str),
            "hash": pd.Series(columns[3], dtype=str),
        }
    )


_SUPPLEMENT_ROW = re.compile(r"([^\t]+)\t([0-9]+)\t(md5|sha1|sha256|sha512)\t([0-9a-f]+)")


def _parse_supplement(path) -> dict[str, tuple[int, int, str, str]]:
    """``{path: (line number, size, hash_algorithm, hash)}`` of a supplement, validated.

    A regular expression per line, no table: it is read by every
    :func:`read_manifest` (about 4 ms for THINGS-MEG's 2411 rows).
    """
    text = _read_text(path, "hash supplement")
    lines = text.splitlines()
    header = tuple(lines[0].split("\t")) if lines else ()
    if header != SUPPLEMENT_COLUMNS:
        raise DataError(path, f"header must be {list(SUPPLEMENT_COLUMNS)}, got {list(header)}")
    entries: dict[str, tuple[int, int, str, str]] = {}
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        match = _SUPPLEMENT_ROW.fullmatch(line)
        if match is None or len(match[4]) != HASH_ALGORITHMS[match[3]]:
            raise DataError(path, f"line {lineno}: {_supplement_problem(line)}")
        if match[1] in entries:
            first = entries[match[1]][0]
            raise DataError(path, f"line {lineno} ({match[1]!r}): path listed twice (line {first})")
        entries[match[1]] = (lineno, int(match[2]), match[3], match[4])
    return entries


def _supplement_problem(line: str) -> str:
    """What is wrong with a supplement line the row pattern refused."""
    fields = line.split("\t")
    if len(fields) != len(SUPPLEMENT_COLUMNS):
        return f"{len(fields)} fields, header has {len(SUPPLEMENT_COLUMNS)}"
    path, size, algo, digest = fields
    if not path:
        return "empty path"
    if not is_size(size):
        return f"({path!r}) size must be a non-negative integer, got {size!r}"
    if not algo or not digest:
        return f"({path!r}) hash missing"
    if algo not in HASH_ALGORITHMS:
        return f"({path!r}) unknown hash algorithm (known: {sorted(HASH_ALGORITHMS)}), got {algo!r}"
    return f"({path!r}) hash is not a lowercase hex digest of the algorithm's length"


def _fill_hashes(rows: list[list[str]], header: list[str], supplement: Path) -> None:
    """Set the empty hashes of the manifest's ``rows`` (in place) from its ``supplement``.

    On the manifest's rows as read, before any table is built: about 7 ms for
    THINGS-MEG (2411 supplement rows, 19 787 manifest rows). The supplement's
    paths need no safety check: each must be one of the manifest's, which are
    checked. A supplement that does not fit the manifest raises (stale).
    """
    entries = _parse_supplement(supplement)
    at = {column: header.index(column) for column in SUPPLEMENT_COLUMNS}
    pi, si, ai, hi = at["path"], at["size"], at["hash_algorithm"], at["hash"]

    def stale(path: str, problem: str) -> DataError:
        return DataError(
            supplement,
            f"line {entries[path][0]} ({path!r}): {problem} "
            "(stale: regenerate with python -m brainlatent.datasets.manifest_hashes)",
        )

    pending = dict.fromkeys(entries)
    for row in rows:
        path = row[pi]
        if path not in pending:
            continue
        del pending[path]
        _, size, algo, digest = entries[path]
        if is_size(row[si]) and int(row[si]) != size:  # else the manifest's checks tell
            raise stale(path, f"size {size} differs from the manifest's {row[si]}")
        if (row[ai] or row[hi]) and (row[ai].lower(), row[hi].lower()) != (algo, digest):
            raise stale(path, f"{algo} {digest} differs from the manifest's {row[ai]} {row[hi]}")
        row[ai], row[hi] = algo, digest
    if pending:
        raise stale(next(iter(pending)), f"path not in the manifest ({len(pending)} such row(s))")


def _read_text(path, what: str) -> str:
    """The text of a file, gunzipped if it is gzipped."""
    try:
        raw = Path(path).read_bytes()
        if raw[:2] == b"\x1f\x8b":  # the project's copies are gzipped
            raw = gzip.decompress(raw)
        return raw.decode("utf-8-sig")
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as err:
        raise DataError(path, f"cannot read {what}: {err}") from err


def path_problem(path) -> str | None:
    """Why a manifest ``path`` is unsafe to join to the download folder, or None if it is safe.

    Paths come from remote listings; an absolute one or one with ``..`` would
    write outside the dataset, and one under :data:`PARTIAL_DIR` would collide
    with the downloader's own files.
    """
    if not isinstance(path, str) or not path:
        return "empty path"
    parts = path.split("/")
    if "\\" in path or any(part in ("", ".", "..") for part in parts):
        return UNSAFE_PATH
    if parts[0] == PARTIAL_DIR:
        return f"path must not start with {PARTIAL_DIR!r}, the folder of partial downloads"
    return None


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
