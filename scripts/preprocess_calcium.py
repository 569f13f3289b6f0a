"""Align one mouse's dF/F to the natural movie one frames: neural.npy, labels.parquet, info."""

import argparse
from pathlib import Path

from brainlatent.preprocessing.calcium import preprocess_mouse


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nwb", type=Path, required=True)
    parser.add_argument("--neural", type=Path, required=True)
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--info", type=Path, required=True)
    args = parser.parse_args(argv)
    result = preprocess_mouse(args.nwb, args.neural, args.labels, args.info)
    print(f"{result.neural.shape[0]} frames × {result.neural.shape[1]} neurons")


if __name__ == "__main__":
    main()
