"""Embed every stimulus image with one image model: <model>.npy plus an index table."""

import argparse
from pathlib import Path

from brainlatent.datasets.things_meg import stimulus_index
from brainlatent.features import write_features


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stimuli", type=Path, required=True, help="folder with stimuli.tsv")
    parser.add_argument("--model", required=True)
    parser.add_argument("--weights", default="", help="pretrained weights; empty for none")
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--index", type=Path, required=True)
    args = parser.parse_args(argv)
    stimuli = stimulus_index(args.stimuli)
    images = sorted(stimuli)
    write_features(
        args.features,
        args.index,
        images,
        [stimuli[i] for i in images],
        args.model,
        weights=args.weights or None,
    )


if __name__ == "__main__":
    main()
