"""Write simulated monkey M1 reaching sessions (DANDI 000688 layout) and their ground truth.

Either ``--out DIR`` (``DIR/sub-<S>/...nwb`` and ``DIR/ground_truth/sub-<S>_truth.npz``)
or ``--nwb PATH... --truth PATH``: the sessions land at the given paths, matched by file
name (``sub-<S>_ses-CO-<YYYYMMDD>_behavior+ecephys.nwb``), as a workflow asks for them.
"""

import argparse
import json
import os
import tempfile
from pathlib import Path

from brainlatent.datasets.simulate_motor import simulate_motor_sessions


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, help="folder of sub-<S>/ and ground_truth/")
    parser.add_argument("--nwb", type=Path, nargs="+", help="where each session goes")
    parser.add_argument("--truth", type=Path, help="where the ground truth goes (with --nwb)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--simulation",
        type=json.loads,
        default={},
        help="JSON: simulate_motor_sessions keywords, e.g. subject, days (null: default)",
    )
    args = parser.parse_args(argv)
    if (args.out is None) == (args.nwb is None) or (args.nwb is None) != (args.truth is None):
        parser.error("give either --out, or --nwb and --truth")
    settings = {key: value for key, value in args.simulation.items() if value is not None}
    if "arrays" in settings:
        settings["arrays"] = tuple(settings["arrays"])
    if args.out is not None:
        paths = simulate_motor_sessions(args.out, seed=args.seed, **settings)
    else:
        args.truth.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=args.truth.parent, prefix=".simulate-") as tmp:
            made = simulate_motor_sessions(tmp, seed=args.seed, **settings)
            by_name = {path.name: path for path in made}
            wanted = sorted(path.name for path in args.nwb)
            if wanted != sorted(by_name):
                raise ValueError(
                    f"--nwb names {wanted} differ from the simulated {sorted(by_name)}"
                )
            for path in args.nwb:
                path.parent.mkdir(parents=True, exist_ok=True)
                os.replace(by_name[path.name], path)
            (truth,) = Path(tmp, "ground_truth").iterdir()
            os.replace(truth, args.truth)
        paths = args.nwb
    for path in paths:
        print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
