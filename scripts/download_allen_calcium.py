"""Download one mouse's Allen Brain Observatory NWB file (DANDI 000728), checked by hash.

The file lands in a persistent cache (size and sha256 verified, written whole or
not at all); the workflow's NWB path is a link into that cache, so the rest of
the chain reads real and simulated sessions the same way.
"""

import argparse
from pathlib import Path

from brainlatent.datasets.download import download_linked


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--session", required=True, help="the NWB file's path in the manifest")
    parser.add_argument("--cache", type=Path, default=Path("data/000728"))
    parser.add_argument("--nwb", type=Path, required=True)
    args = parser.parse_args(argv)
    download_linked(args.manifest, args.session, args.cache, args.nwb, "allen_calcium.sessions")


if __name__ == "__main__":
    main()
