"""Index the THINGS images the downloaded runs show (number → file), or say which are missing."""

import argparse
from pathlib import Path

from brainlatent.datasets import things_meg
from brainlatent.io import atomic_path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bids", type=Path, required=True)
    parser.add_argument("--images", type=Path, required=True, help="things_meg.stimuli_dir")
    parser.add_argument("--stimuli", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    shown, categories = [], []
    for path in sorted(args.bids.glob("sub-*/ses-*/meg/*_events.tsv")):
        trials = things_meg.image_trials(things_meg.read_events(path))
        shown += trials["image"].tolist()
        categories += trials["category"].tolist()
    index = things_meg.index_stimuli(args.images, shown, categories)
    print(f"{len(index)} THINGS images indexed from {args.images}")
    with atomic_path(args.stimuli) as out:
        out.mkdir(parents=True)
        index.to_csv(out / "stimuli.tsv", sep="\t", index=False)


if __name__ == "__main__":
    main()
