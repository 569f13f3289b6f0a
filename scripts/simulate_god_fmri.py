"""Write a simulated GOD (ds001246) BIDS dataset, its stimulus images and its ground truth."""

import argparse
import json
from pathlib import Path

from brainlatent.datasets.simulate_god import GODSimulation, simulate_dataset


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reference", type=Path, required=True, help="real ds001246 small files")
    parser.add_argument("--bids", type=Path, required=True)
    parser.add_argument("--stimuli", type=Path, required=True)
    parser.add_argument("--truth", type=Path, required=True)
    parser.add_argument("--subjects", nargs="+", required=True)
    parser.add_argument("--simulation", type=json.loads, default={}, help="JSON parameters")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    simulation = GODSimulation.from_config(args.simulation)
    simulate_dataset(
        args.reference, args.bids, args.stimuli, args.truth, args.subjects, simulation, args.seed
    )


if __name__ == "__main__":
    main()
