"""Fit DAE-NR with and without the neural term on the pooled scenes; score held-out images.

The metrics table has :data:`brainlatent.models.daenr_scenes.METRIC_COLUMNS` (its last,
``device``, says where the models were trained).
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from brainlatent.device import add_device_argument, refuse_device_key, resolve_device
from brainlatent.io import atomic_path, write_table
from brainlatent.models.daenr_scenes import fit_scenes
from brainlatent.preprocessing.scenes import pool_scenes, read_scenes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--scenes", type=Path, nargs="+", required=True, help="scenes.npz per mouse"
    )
    parser.add_argument("--daenr", type=json.loads, required=True, help="JSON allen_calcium.daenr")
    parser.add_argument("--seed", type=int, default=0, help="seed of the train/test split")
    parser.add_argument("--threads", type=int, default=1)
    add_device_argument(parser)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--reconstructions", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = dict(args.daenr)
    refuse_device_key(parser, settings, "--daenr")
    device = str(resolve_device(args.device))
    betas, seeds = settings.pop("betas"), settings.pop("seeds")
    n_test = settings.pop("n_test_images")
    pretraining = settings.pop("pretrain", None)
    settings.pop("image_size", None)  # applied by preprocess_scenes
    scenes = pool_scenes([read_scenes(p) for p in args.scenes], args.scenes)
    print(f"pseudo-mouse: {scenes.responses.shape[0]} images × {scenes.responses.shape[1]} neurons")
    table, recon = fit_scenes(
        scenes, betas, seeds, n_test, args.seed, pretraining=pretraining, device=device, **settings
    )
    summary = table.groupby(["metric", "beta"])["value"].agg(["mean", "min", "max"])
    print(summary.to_string())
    with atomic_path(args.reconstructions) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **recon)
    write_table(args.metrics, table)


if __name__ == "__main__":
    main()
