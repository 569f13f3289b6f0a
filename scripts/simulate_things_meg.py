"""Write a simulated THINGS-MEG BIDS dataset, its stimuli and its ground truth."""

import argparse
import json
from pathlib import Path

from brainlatent.datasets.simulate_meg import MEGSimulation, simulate_dataset


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reference", type=Path, required=True, help="real ds004212 small files")
    parser.add_argument("--bids", type=Path, required=True)
    parser.add_argument("--stimuli", type=Path, required=True)
    parser.add_argument("--truth", type=Path, required=True)
    parser.add_argument("--subjects", nargs="+", required=True)
    parser.add_argument("--sessions", nargs="+", type=int, required=True)
    parser.add_argument("--runs", nargs="+", type=int, required=True)
    parser.add_argument("--trials-per-run", type=int, default=0, help="0 keeps every event")
    parser.add_argument("--sfreq", type=float, required=True)
    parser.add_argument("--simulation", type=json.loads, default={}, help="JSON parameters")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    settings = dict(args.simulation)
    image_size = settings.pop("image_size", 64)
    params = MEGSimulation(sfreq=args.sfreq, seed=args.seed, **settings)
    simulate_dataset(
        args.reference,
        args.bids,
        args.stimuli,
        args.truth,
        args.subjects,
        args.sessions,
        args.runs,
        args.trials_per_run or None,
        params,
        image_size=image_size,
    )


if __name__ == "__main__":
    main()
