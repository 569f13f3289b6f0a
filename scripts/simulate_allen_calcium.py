"""Write one simulated Allen Brain Observatory 2P session (NWB) and its ground truth."""

import argparse
import json
from pathlib import Path

from brainlatent.datasets.simulate_calcium import CalciumSimulation, simulate_mouse


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mouse", required=True)
    parser.add_argument("--area", required=True)
    parser.add_argument("--nwb", type=Path, required=True)
    parser.add_argument("--truth", type=Path, required=True)
    parser.add_argument("--simulation", type=json.loads, default={}, help="JSON parameters")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    settings = dict(args.simulation)
    sizes = {
        k: settings.pop(k)
        for k in ("n_neurons", "n_movie_repeats", "n_scene_repeats", "image_size")
        if k in settings
    }
    simulate_mouse(
        args.nwb,
        args.mouse,
        args.area,
        seed=args.seed,
        params=CalciumSimulation(**settings),
        truth_path=args.truth,
        **sizes,
    )


if __name__ == "__main__":
    main()
