"""Download a pretrained image network's default weights to the path the config names."""

import argparse
from pathlib import Path

from brainlatent.features.weights import WEIGHT_SOURCES, download_weights


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, choices=sorted(WEIGHT_SOURCES))
    parser.add_argument("--dest", type=Path, required=True)
    args = parser.parse_args(argv)
    print(f"{args.model}: {WEIGHT_SOURCES[args.model][1]} → {args.dest}")
    download_weights(args.model, args.dest)


if __name__ == "__main__":
    main()
