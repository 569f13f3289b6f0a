"""Train the brain module on every subject's training trials for one image embedding."""

import argparse
import json
from pathlib import Path

from brainlatent.device import add_device_argument, refuse_device_key
from brainlatent.evaluation import training_set
from brainlatent.io import load_npy, read_table, write_table
from brainlatent.models.brain_module import BrainModuleDecoder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--subjects", nargs="+", required=True, help="subject names, in the order of --epochs"
    )
    parser.add_argument("--epochs", nargs="+", type=Path, required=True, help="one per subject")
    parser.add_argument("--trials", nargs="+", type=Path, required=True, help="one per subject")
    parser.add_argument("--info", nargs="+", type=Path, required=True, help="one per subject")
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--hyperparameters", type=json.loads, default={})
    parser.add_argument(
        "--zero-shot",
        action="store_true",
        help="leave out the training images of every concept any subject is tested on",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    add_device_argument(parser)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--history", type=Path, required=True)
    args = parser.parse_args(argv)
    if not len(args.epochs) == len(args.trials) == len(args.info):
        parser.error("--epochs, --trials and --info need one file per subject each")
    if len(args.subjects) != len(args.epochs):
        parser.error(
            f"--subjects names {len(args.subjects)} subjects but --epochs has "
            f"{len(args.epochs)} files: give one name per file, in the same order"
        )
    if len(set(args.subjects)) != len(args.subjects):
        parser.error(f"--subjects has repeated names: {args.subjects}")
    refuse_device_key(parser, args.hyperparameters, "--hyperparameters")

    X, Y, subjects, positions = training_set(
        args.epochs,
        args.trials,
        args.info,
        load_npy(args.features),
        read_table(args.index),
        source=args.features,
        zero_shot=args.zero_shot,
    )
    decoder = BrainModuleDecoder(
        **args.hyperparameters, device=args.device, random_state=args.seed, num_threads=args.threads
    )
    decoder.fit(X, Y, subjects, positions, subject_names=args.subjects)
    print(
        f"best epoch {decoder.best_epoch_} of {len(decoder.history_)} on {decoder.fit_device_}"
        f" ({decoder.fit_precision_})"
    )
    decoder.save(args.model)
    write_table(args.history, decoder.history_)


if __name__ == "__main__":
    main()
