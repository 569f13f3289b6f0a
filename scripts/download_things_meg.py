"""Download the configured THINGS-MEG runs (ds004212) and lay them out as a BIDS folder.

Files land in a persistent cache (verified against the manifest's sizes and
hashes, each written whole or not at all), so an interrupted download resumes;
the BIDS output is a tree of links into that cache.
"""

import argparse
from pathlib import Path

from brainlatent.datasets import things_meg
from brainlatent.datasets.download import download_files, link_tree
from brainlatent.datasets.manifest import read_manifest, select_files, things_meg_patterns


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--bids", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=Path("data/ds004212"))
    parser.add_argument("--subjects", nargs="+", required=True)
    parser.add_argument("--sessions", nargs="+", type=int, required=True)
    parser.add_argument("--runs", nargs="+", type=int, required=True)
    parser.add_argument("--data", choices=["raw", "derivatives"], default="raw")
    args = parser.parse_args(argv)
    if args.data == "derivatives":
        patterns = things_meg.derivative_patterns(args.subjects)
    else:
        patterns = things_meg_patterns(args.subjects, args.sessions, args.runs)
    files = select_files(read_manifest(args.manifest), patterns)
    print(f"{len(files)} files, {files['size'].sum() / 1e9:.1f} GB")
    download_files(files, args.cache)
    link_tree(files["path"], args.cache, args.bids)


if __name__ == "__main__":
    main()
