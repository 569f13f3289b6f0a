"""Fit the ridge baseline of one subject to one image embedding (training trials only)."""

import argparse
from pathlib import Path

import joblib

from brainlatent.evaluation import feature_lookup, split_trials
from brainlatent.io import atomic_path, load_npy, read_table
from brainlatent.models.ridge import RidgeDecoder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=Path, required=True)
    parser.add_argument("--trials", type=Path, required=True)
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--alphas", nargs="+", type=float, required=True)
    parser.add_argument("--model", type=Path, required=True)
    args = parser.parse_args(argv)
    trials = read_table(args.trials)
    train, _ = split_trials(trials, args.trials)
    X = load_npy(args.epochs)[train]
    Y = feature_lookup(
        load_npy(args.features), read_table(args.index), trials["image"][train], args.index
    )
    decoder = RidgeDecoder(alphas=tuple(args.alphas)).fit(X, Y)
    print(f"fitted on {train.sum()} trials; alphas per dimension: {decoder.alpha_.tolist()}")
    with atomic_path(args.model) as tmp:
        joblib.dump(decoder, tmp)


if __name__ == "__main__":
    main()
