"""Download one mouse's Allen Brain Observatory NWB file (DANDI 000728), checked by hash.

The file lands in a persistent cache (size and sha256 verified, written whole or
not at all); the workflow's NWB path is a link into that cache, so the rest of
the chain reads real and simulated sessions the same way.
"""

import argparse
import os
from pathlib import Path

from brainlatent.datasets.download import download_files, read_manifest
from brainlatent.errors import DataError
from brainlatent.io import atomic_path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--session", required=True, help="the NWB file's path in the manifest")
    parser.add_argument("--cache", type=Path, default=Path("data/000728"))
    parser.add_argument("--nwb", type=Path, required=True)
    args = parser.parse_args(argv)
    manifest = read_manifest(args.manifest)
    files = manifest[manifest["path"] == args.session]
    if len(files) != 1:
        raise DataError(args.manifest, f"no file {args.session!r} (allen_calcium.sessions)")
    print(f"{args.session}: {files['size'].iloc[0] / 1e6:.0f} MB")
    (local,) = download_files(files, args.cache)
    with atomic_path(args.nwb) as tmp:
        os.symlink(Path(local).resolve(), tmp)


if __name__ == "__main__":
    main()
