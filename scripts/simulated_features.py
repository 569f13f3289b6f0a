"""The simulated GOD images' low- or high-level latents, written as image features."""

import argparse
from pathlib import Path

import pandas as pd

from brainlatent.datasets.simulate_god import ground_truth_features
from brainlatent.features.image_models import INDEX_COLUMNS
from brainlatent.io import read_table, save_npy, write_table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--truth", type=Path, required=True, help="ground_truth/images.parquet")
    parser.add_argument("--level", choices=["low", "high"], required=True)
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--index", type=Path, required=True)
    args = parser.parse_args(argv)
    images, features = ground_truth_features(read_table(args.truth), args.level)
    index = pd.DataFrame(
        {"image": images, "row": range(len(images)), "model": f"simulated_{args.level}"}
    )
    index["file"] = str(args.truth)
    save_npy(args.features, features)
    write_table(args.index, index.astype(INDEX_COLUMNS))


if __name__ == "__main__":
    main()
