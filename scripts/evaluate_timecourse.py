"""Ridge retrieval of one subject's test images in sliding windows over the epoch."""

import argparse
from pathlib import Path

import numpy as np

from brainlatent.evaluation import timecourse_rows
from brainlatent.io import load_npy, read_json, read_table, write_table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subject", required=True)
    parser.add_argument("--epochs", type=Path, required=True)
    parser.add_argument("--trials", type=Path, required=True)
    parser.add_argument("--info", type=Path, required=True)
    parser.add_argument("--image-models", nargs="+", required=True)
    parser.add_argument("--features", nargs="+", type=Path, required=True)
    parser.add_argument("--index", nargs="+", type=Path, required=True)
    parser.add_argument("--alphas", nargs="+", type=float, required=True)
    parser.add_argument("--window-length", type=float, default=0.25)
    parser.add_argument("--window-step", type=float, default=0.1)
    parser.add_argument("--top-k", nargs="+", type=int, default=[1, 5])
    parser.add_argument("--metrics", type=Path, required=True)
    args = parser.parse_args(argv)
    if not len(args.image_models) == len(args.features) == len(args.index):
        parser.error("--features and --index need one file per image model")

    trials = read_table(args.trials)
    epochs = load_npy(args.epochs)
    times = np.asarray(read_json(args.info, ["times"])["times"])
    models = {
        model: (load_npy(features), read_table(index))
        for model, features, index in zip(args.image_models, args.features, args.index, strict=True)
    }
    metrics = timecourse_rows(
        epochs,
        trials,
        times,
        models,
        alphas=args.alphas,
        length=args.window_length,
        step=args.window_step,
        top_k=args.top_k,
        trials_source=args.trials,
        feature_sources=dict(zip(args.image_models, args.features, strict=True)),
        dataset="things_meg",
        subject=args.subject,
    )
    print(metrics.query("metric == 'top5'").to_string())
    write_table(args.metrics, metrics)


if __name__ == "__main__":
    main()
