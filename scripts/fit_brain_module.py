"""Train the brain module on every subject's training trials for one image embedding."""

import argparse
import json
from pathlib import Path

import numpy as np

from brainlatent.errors import DataError
from brainlatent.evaluation import feature_lookup, split_trials
from brainlatent.io import load_npy, read_table, write_table
from brainlatent.models.brain_module import BrainModuleDecoder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", nargs="+", type=Path, required=True, help="one per subject")
    parser.add_argument("--trials", nargs="+", type=Path, required=True, help="one per subject")
    parser.add_argument("--info", nargs="+", type=Path, required=True, help="one per subject")
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--hyperparameters", type=json.loads, default={})
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--history", type=Path, required=True)
    args = parser.parse_args(argv)
    if not len(args.epochs) == len(args.trials) == len(args.info):
        parser.error("--epochs, --trials and --info need one file per subject each")

    features, index = load_npy(args.features), read_table(args.index)
    X, Y, subjects, channels = [], [], [], None
    for number, (epochs, trials_path, info_path) in enumerate(
        zip(args.epochs, args.trials, args.info, strict=True)
    ):
        trials = read_table(trials_path)
        train, _ = split_trials(trials, trials_path)
        info = json.loads(info_path.read_text())
        if channels is None:
            channels, positions = info["channels"], np.asarray(info["positions"], np.float32)
        elif info["channels"] != channels:
            raise DataError(info_path, "channels differ from the first subject's")
        X.append(load_npy(epochs)[train])
        Y.append(feature_lookup(features, index, trials["image"][train], args.index))
        subjects.append(np.full(train.sum(), number))
    decoder = BrainModuleDecoder(
        **args.hyperparameters, random_state=args.seed, num_threads=args.threads
    )
    decoder.fit(np.concatenate(X), np.concatenate(Y), np.concatenate(subjects), positions)
    print(f"best epoch {decoder.best_epoch_} of {len(decoder.history_)}")
    decoder.save(args.model)
    write_table(args.history, decoder.history_)


if __name__ == "__main__":
    main()
