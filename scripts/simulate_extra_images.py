"""Simulate the extra retrieval candidates: unseen images of the test images' concepts."""

import argparse
from pathlib import Path

import pandas as pd

from brainlatent.datasets import stimuli, things_meg
from brainlatent.errors import DataError
from brainlatent.io import atomic_path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bids", type=Path, required=True, help="the simulated BIDS dataset")
    parser.add_argument("--number", type=int, required=True, help="extra images to draw")
    parser.add_argument("--seed", type=int, required=True, help="the simulation's seed")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--stimuli", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    events = sorted(args.bids.glob("sub-*/ses-*/meg/*_events.tsv"))
    if not events:
        raise DataError(args.bids, "no *_events.tsv found")
    trials = pd.concat([things_meg.image_trials(things_meg.read_events(p)) for p in events])
    test = trials[trials["split"] == "test"]
    superordinate = stimuli.superordinate_categories(
        args.bids / "sourcedata" / "category_mat_manual.tsv"
    )
    with atomic_path(args.stimuli) as out:
        params = stimuli.write_extra_stimuli(
            out, test, args.number, superordinate, args.seed, args.image_size
        )
    print(
        f"{len(params)} extra images of the {test['category'].nunique()} concepts of "
        f"{test['image'].nunique()} test images written to {args.stimuli}"
    )


if __name__ == "__main__":
    main()
