"""List every preprocessed calcium session (area, size, files) in one table.

The pseudo-mice read their sessions from it rather than from their command line (see
:func:`brainlatent.preprocessing.calcium.write_session_index`). Sessions are given by
id, with the pattern of their preprocessing folder, so the command stays short.
"""

import argparse
from pathlib import Path

from brainlatent.preprocessing.calcium import write_session_index

FILES = ("neural.npy", "labels.parquet", "info.json")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--folder", required=True, help="a session's preprocessing folder, with {session}"
    )
    parser.add_argument("--sessions", nargs="+", required=True, help="the sessions' ids")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if "{session}" not in args.folder:
        parser.error(f"--folder {args.folder!r} must contain {{session}}")
    folders = [Path(args.folder.format(session=session)) for session in args.sessions]
    table = write_session_index([tuple(f / n for n in FILES) for f in folders], args.out)
    areas = ", ".join(f"{a} ({n})" for a, n in table["area"].value_counts().items())
    print(f"{len(table)} sessions indexed: {areas}")


if __name__ == "__main__":
    main()
