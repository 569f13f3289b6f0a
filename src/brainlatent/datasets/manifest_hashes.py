"""Hash supplements for the manifest rows published without a checksum.

OpenNeuro's listings of ds004212 (THINGS-MEG) and ds001246 (GOD) give no checksum,
and an unversioned URL, for the small files kept in the dataset's git tree
(events.tsv, channels.tsv, JSON sidecars, scans.tsv, ...): only their size, so a
changed events.tsv of the same size (other trial-to-image labels) would pass the
download's check. The manifests ``workflow/manifests/<name>.tsv.gz`` stay byte for
byte the published listings; beside each, ``<name>.hashes.tsv.gz`` (columns
:data:`~brainlatent.datasets.manifest.SUPPLEMENT_COLUMNS`: path, size,
hash_algorithm, hash) gives the sha256 of each of those files, computed from the
copies vendored in ``resources/bids/<name>`` (the published files:
tests/unit/test_download.py compares them with shared/ when it is there), and
:func:`~brainlatent.datasets.manifest.read_manifest` fills the empty hashes from it.

Command line (run from anywhere; paths default to this checkout)::

    python -m brainlatent.datasets.manifest_hashes          # rewrite both supplements
    python -m brainlatent.datasets.manifest_hashes --check  # exit 1 if one is stale
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
from pathlib import Path, PurePosixPath

import pandas as pd

from brainlatent.datasets.download import file_digest, verify_file
from brainlatent.datasets.manifest import (
    SUPPLEMENT_COLUMNS,
    read_manifest,
    read_supplement,
    supplement_path,
)
from brainlatent.errors import DataError
from brainlatent.io import atomic_path

REPO = Path(__file__).resolve().parents[3]
#: The datasets whose published manifests leave hashes out, with vendored small files.
DATASETS = ("things-meg", "god-fmri")
ALGORITHM = "sha256"


def build_supplement(manifest: str | os.PathLike, bids: str | os.PathLike) -> pd.DataFrame:
    """The supplement of ``manifest``: one row per file under ``bids`` it lists without a hash.

    Every file under ``bids`` must be in the manifest with its size (and, if the
    manifest gives a hash, that hash), else a :class:`DataError` names it: the
    vendored copy is not the published file. Rows come in manifest order.
    """
    bids = Path(bids)
    table = read_manifest(manifest, supplement=False).set_index("path")
    local = sorted(p.relative_to(bids).as_posix() for p in bids.rglob("*") if p.is_file())
    unknown = [path for path in local if path not in table.index]
    if unknown:
        raise DataError(bids / unknown[0], f"not in {manifest} ({len(unknown)} such file(s))")
    rows = []
    for path in table.index.intersection(local, sort=False):
        row = table.loc[path]
        file = bids / PurePosixPath(path)
        verify_file(file, int(row["size"]), row["hash_algorithm"], row["hash"])  # names file
        if not row["hash_algorithm"]:
            rows.append((path, int(row["size"]), ALGORITHM, file_digest(file, ALGORITHM)))
    return pd.DataFrame(rows, columns=list(SUPPLEMENT_COLUMNS)).astype({"size": "int64"})


def write_supplement(table: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write ``table`` as a gzipped TSV, atomically; the same table gives the same bytes."""
    lines = ["\t".join(SUPPLEMENT_COLUMNS)]
    lines += [
        "\t".join(str(v) for v in row)
        for row in table[list(SUPPLEMENT_COLUMNS)].itertuples(index=False)
    ]
    data = gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=9, mtime=0)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def stale(name: str, repo: str | os.PathLike = REPO) -> str | None:
    """Why ``name``'s committed supplement does not match ``resources/bids/<name>``, or None."""
    repo = Path(repo)
    manifest = repo / "workflow" / "manifests" / f"{name}.tsv.gz"
    path = supplement_path(manifest)
    if not path.is_file():
        return f"{path} is missing"
    expected = build_supplement(manifest, repo / "resources" / "bids" / name)
    committed = read_supplement(path)
    if committed.equals(expected):
        return None
    merged = committed.merge(expected, how="outer", indicator=True)
    differ = sorted(set(merged.loc[merged["_merge"] != "both", "path"]))
    return f"{path}: {len(differ)} path(s) differ from resources/bids/{name}, e.g. {differ[:3]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("datasets", nargs="*", default=list(DATASETS), help="default: %(default)s")
    parser.add_argument("--repo", default=str(REPO), help="checkout root (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="only check, write nothing")
    args = parser.parse_args(argv)
    repo = Path(args.repo)
    status = 0
    for name in args.datasets:
        if args.check:
            problem = stale(name, repo)
            print(problem or f"{name}: up to date", file=sys.stderr if problem else sys.stdout)
            status |= problem is not None
            continue
        manifest = repo / "workflow" / "manifests" / f"{name}.tsv.gz"
        table = build_supplement(manifest, repo / "resources" / "bids" / name)
        write_supplement(table, supplement_path(manifest))
        print(f"{supplement_path(manifest)}: {len(table)} files")
    return status


if __name__ == "__main__":
    sys.exit(main())
