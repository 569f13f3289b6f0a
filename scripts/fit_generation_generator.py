"""Train the MEG chain's image generator on every subject's training images; write it and
every shown image's latents (the features format: latents.npy plus an index table)."""

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from brainlatent.datasets.things_meg import stimulus_files
from brainlatent.decoding.meg_generation import check_generator, generation_images
from brainlatent.device import add_device_argument, refuse_device_key
from brainlatent.features.image_models import INDEX_COLUMNS
from brainlatent.io import read_table, save_npy, write_table
from brainlatent.models.generator import fit_autoencoder, load_images


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stimuli", type=Path, required=True, help="folder with stimuli.tsv")
    parser.add_argument("--trials", type=Path, nargs="+", required=True, help="per subject")
    parser.add_argument("--generator", type=json.loads, required=True, help="JSON settings")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    add_device_argument(parser)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--latents", type=Path, required=True, help=".npy, one row per image")
    parser.add_argument("--index", type=Path, required=True, help="Parquet: image -> row")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = dict(args.generator)
    refuse_device_key(parser, settings, "--generator")
    check_generator(settings)
    images = generation_images([read_table(p) for p in args.trials], args.trials)
    files = stimulus_files(args.stimuli, images["image"])
    pixels = load_images(files, settings["image_size"])
    training = (images["split"] == "train").to_numpy()
    model = fit_autoencoder(pixels[training], settings, args.seed, device=args.device)
    print(
        f"autoencoder on the {training.sum()} training images of {len(args.trials)} subject(s) "
        f"({(~training).sum()} test images held out), {model.fit_device_}: "
        f"{model.history_.iloc[-1].to_dict()}"
    )
    index = pd.DataFrame(
        {
            "image": images["image"].to_numpy(np.int64),
            "row": np.arange(len(images), dtype=np.int64),
            "model": settings["kind"],
            "file": [str(f) for f in files],
        }
    ).astype(INDEX_COLUMNS)
    model.save(args.model)
    save_npy(args.latents, model.encode(pixels).astype(np.float32))
    write_table(args.index, index)


if __name__ == "__main__":
    main()
