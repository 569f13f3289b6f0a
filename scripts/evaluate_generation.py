"""Generate one subject's test images from their MEG with each decoder, and score them."""

import argparse
from pathlib import Path

import joblib
import numpy as np
import torch

from brainlatent.datasets.things_meg import stimulus_files
from brainlatent.decoding.meg_generation import (
    evaluate_generation,
    high_level_features,
    latent_predictor,
)
from brainlatent.io import atomic_path, load_npy, read_table, write_table
from brainlatent.models.brain_module import BrainModuleDecoder
from brainlatent.models.daenr import DAENREstimator
from brainlatent.models.generator import load_images


def load_decoder(name: str, path: Path, subject: str):
    """(epochs → latents, device it was trained on) of a saved decoder."""
    if name == "brain_module":
        module = BrainModuleDecoder.load(path)
        return latent_predictor(module, subject, path), module.fit_device_
    return latent_predictor(joblib.load(path)), "cpu"  # ridge fits on the CPU


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subject", required=True)
    parser.add_argument("--epochs", type=Path, required=True)
    parser.add_argument("--trials", type=Path, required=True)
    parser.add_argument("--stimuli", type=Path, required=True, help="folder with stimuli.tsv")
    parser.add_argument("--generator", type=Path, required=True, help="saved autoencoder")
    parser.add_argument("--generator-kind", default="autoencoder")
    parser.add_argument("--latents", type=Path, required=True)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--decoders", nargs="+", choices=["ridge", "brain_module"], required=True)
    parser.add_argument("--models", nargs="+", type=Path, required=True, help="one per decoder")
    parser.add_argument("--high-level", required=True, help="image model of the high-level score")
    parser.add_argument("--weights", default="", help="its pretrained weights; empty for none")
    parser.add_argument("--shuffles", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--images", type=Path, required=True, help=".npz for the figure")
    args = parser.parse_args(argv)
    if len(args.decoders) != len(args.models):
        parser.error("--models needs one file per decoder, in the order of --decoders")
    torch.set_num_threads(args.threads)
    generator = DAENREstimator.load(args.generator)  # on the CPU, whatever it was trained on
    trials = read_table(args.trials)
    tested = np.unique(trials.loc[trials["split"] == "test", "image"].to_numpy(np.int64))
    seen = load_images(stimulus_files(args.stimuli, tested), generator.image_shape_[1])
    table, arrays = evaluate_generation(
        load_npy(args.epochs),
        trials,
        load_npy(args.latents),
        read_table(args.index),
        {
            name: load_decoder(name, path, args.subject)
            for name, path in zip(args.decoders, args.models, strict=True)
        },
        generator.decode,
        tested,
        seen,
        high_level_features(args.high_level, args.weights or None),
        args.high_level,
        shuffles=args.shuffles,
        seed=args.seed,
        generator_device=generator.fit_device_,
        source=args.latents,
        dataset="things_meg",
        subject=args.subject,
        image_model=args.generator_kind,
    )
    print(table.to_string())
    with atomic_path(args.images) as tmp, open(tmp, "wb") as f:
        np.savez(f, subject=np.asarray(args.subject), **arrays)
    write_table(args.metrics, table)


if __name__ == "__main__":
    main()
