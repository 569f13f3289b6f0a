"""Generation quality of one subject's test images from a ridge fitted on each sliding window."""

import argparse
from pathlib import Path

import numpy as np
import torch

from brainlatent.datasets.things_meg import stimulus_files
from brainlatent.decoding.meg_generation import generation_timecourse, high_level_features
from brainlatent.io import load_npy, read_json, read_table, write_table
from brainlatent.models.daenr import DAENREstimator
from brainlatent.models.generator import load_images


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subject", required=True)
    parser.add_argument("--epochs", type=Path, required=True)
    parser.add_argument("--trials", type=Path, required=True)
    parser.add_argument("--info", type=Path, required=True)
    parser.add_argument("--stimuli", type=Path, required=True, help="folder with stimuli.tsv")
    parser.add_argument("--generator", type=Path, required=True, help="saved autoencoder")
    parser.add_argument("--generator-kind", default="autoencoder")
    parser.add_argument("--latents", type=Path, required=True)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--high-level", required=True, help="image model of the high-level score")
    parser.add_argument("--weights", default="", help="its pretrained weights; empty for none")
    parser.add_argument("--alphas", nargs="+", type=float, required=True)
    parser.add_argument("--window-length", type=float, default=0.25)
    parser.add_argument("--window-step", type=float, default=0.1)
    parser.add_argument("--shuffles", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--metrics", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    generator = DAENREstimator.load(args.generator)
    trials = read_table(args.trials)
    tested = np.unique(trials.loc[trials["split"] == "test", "image"].to_numpy(np.int64))
    seen = load_images(stimulus_files(args.stimuli, tested), generator.image_shape_[1])
    metrics = generation_timecourse(
        load_npy(args.epochs),
        trials,
        np.asarray(read_json(args.info, ["times"])["times"]),
        load_npy(args.latents),
        read_table(args.index),
        generator.decode,
        tested,
        seen,
        high_level_features(args.high_level, args.weights or None),
        args.high_level,
        alphas=args.alphas,
        length=args.window_length,
        step=args.window_step,
        shuffles=args.shuffles,
        seed=args.seed,
        source=args.latents,
        dataset="things_meg",
        subject=args.subject,
        image_model=args.generator_kind,
    )
    print(metrics[["window_start", "metric", "value", "chance"]].to_string())
    write_table(args.metrics, metrics)


if __name__ == "__main__":
    main()
