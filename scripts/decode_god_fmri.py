"""Decode one GOD subject's test images: ridge to the generator's latents, generate, score."""

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from brainlatent.decoding.fmri import decode_subject
from brainlatent.io import atomic_path, load_npy, load_npz, read_table, write_table
from brainlatent.models.daenr import DAENREstimator


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subject", required=True)
    parser.add_argument("--samples", type=Path, required=True)
    parser.add_argument("--trials", type=Path, required=True)
    parser.add_argument("--generator", type=Path, required=True, help="saved autoencoder")
    parser.add_argument("--latents", type=Path, required=True)
    parser.add_argument("--alphas", type=json.loads, required=True, help="JSON list")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--reconstructions", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    generator = DAENREstimator.load(args.generator)  # on the CPU, whatever it was trained on
    latents = load_npz(args.latents, ["image", "latent", "pixels"])
    table, arrays = decode_subject(
        args.subject,
        load_npy(args.samples, mmap=False),
        read_table(args.trials),
        latents,
        generator.decode,
        args.alphas,
        device=generator.fit_device_,
        trials_source=args.trials,
        latents_source=args.latents,
    )
    print(table.to_string(index=False))
    with atomic_path(args.reconstructions) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    write_table(args.metrics, table)


if __name__ == "__main__":
    main()
