"""Pool preprocessed sessions into a pseudo-mouse (rows: the same frame of the same repeat).

The sessions are those of the session index (``index_calcium_sessions``). With ``--area``,
only the sessions imaged in that area (read from each session's info.json, i.e. from its
NWB imaging plane) are pooled.
"""

import argparse
from pathlib import Path

from brainlatent.preprocessing.calcium import read_session_index, write_pseudo_mouse


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=Path, required=True, help="the session index")
    parser.add_argument("--area", default=None, help="pool only this area (default: all)")
    parser.add_argument(
        "--max-neurons", type=int, default=None, help="each seed draws at most this many"
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="one draw of cells per seed"
    )
    parser.add_argument("--out-neural", type=Path, required=True)
    parser.add_argument("--out-labels", type=Path, required=True)
    parser.add_argument("--out-info", type=Path, required=True)
    args = parser.parse_args(argv)
    pooled = write_pseudo_mouse(
        read_session_index(args.sessions),
        args.out_neural,
        args.out_labels,
        args.out_info,
        max_neurons=args.max_neurons,
        seed=args.seeds,
        area=args.area,
    )
    sessions = len(set(pooled.origin[:, 0].tolist()))
    print(
        f"pseudo-mouse ({args.area or 'all areas'}): {pooled.neural.shape[0]} rows × "
        f"{pooled.neural.shape[1]} neurons from {sessions} sessions"
    )


if __name__ == "__main__":
    main()
