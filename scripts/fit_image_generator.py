"""Train the image generator on the training stimuli; write it and every image's latents."""

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from brainlatent.datasets.god_fmri import read_stimuli
from brainlatent.device import add_device_argument, refuse_device_key
from brainlatent.io import atomic_path, read_table
from brainlatent.models.generator import check_generator, fit_autoencoder, load_images


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stimuli", type=Path, required=True)
    parser.add_argument("--trials", type=Path, nargs="+", required=True, help="per subject")
    parser.add_argument("--generator", type=json.loads, required=True, help="JSON settings")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    add_device_argument(parser)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--latents", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = dict(args.generator)
    refuse_device_key(parser, settings, "--generator")
    check_generator(settings)
    trials = pd.concat([read_table(p) for p in args.trials])
    images = trials.drop_duplicates("stimulus_name").sort_values(["split", "image"])
    stimuli = read_stimuli(args.stimuli)
    pixels = load_images(stimuli.loc[images["stimulus_name"], "path"], settings["image_size"])
    training = (images["split"] == "training").to_numpy()
    model = fit_autoencoder(pixels[training], settings, args.seed, device=args.device)
    print(
        f"autoencoder on {training.sum()} training images, {model.fit_device_}: "
        f"{model.history_.iloc[-1].to_dict()}"
    )
    model.save(args.model)
    with atomic_path(args.latents) as tmp, open(tmp, "wb") as f:
        np.savez(
            f,
            image=images["image"].to_numpy(np.int64),
            stimulus_name=images["stimulus_name"].to_numpy(str),
            split=images["split"].to_numpy(str),
            pixels=pixels,
            latent=model.encode(pixels),
        )


if __name__ == "__main__":
    main()
