"""One subject's preprocessed ds004212 epochs into epochs.npy, trials.parquet and epochs.json.

The derivative mode of scripts/preprocess_meg.py: same outputs, read from
derivatives/preprocessed/preprocessed_P{n}-epo.fif instead of the raw CTF runs.
"""

import argparse
import json
from pathlib import Path

from brainlatent.datasets.things_meg import runs
from brainlatent.preprocessing.meg_derivatives import preprocess_derivative
from brainlatent.preprocessing.recipe import Preprocessing


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--derivative", type=Path, required=True, help="preprocessed_P{n}-epo.fif")
    parser.add_argument("--bids", type=Path, required=True)
    parser.add_argument("--stimuli", type=Path, required=True)
    parser.add_argument("--subject", required=True)
    parser.add_argument("--sessions", nargs="+", type=int, required=True)
    parser.add_argument("--runs", nargs="+", type=int, required=True)
    parser.add_argument("--recipe", type=json.loads, default={}, help="JSON recipe")
    parser.add_argument("--chunk", type=int, default=500, help="epochs read at a time")
    parser.add_argument("--epochs", type=Path, required=True)
    parser.add_argument("--trials", type=Path, required=True)
    parser.add_argument("--info", type=Path, required=True)
    parser.add_argument(
        "--zero-shot",
        action="store_true",
        help="leave the tested concepts' training images out (Benchetrit et al.)",
    )
    args = parser.parse_args(argv)
    preprocess_derivative(
        args.derivative,
        args.bids,
        args.stimuli,
        args.subject,
        runs(args.sessions, args.runs),
        Preprocessing.from_config(args.recipe),
        args.epochs,
        args.trials,
        args.info,
        chunk=args.chunk,
        zero_shot=args.zero_shot,
    )


if __name__ == "__main__":
    main()
