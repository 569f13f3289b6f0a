"""The image generator whose latent space fMRI is decoded into.

Ozcelik et al. (2022) decode into IC-GAN's latents (instance features + noise) and
let the GAN draw the image. The default here needs no downloaded weights: a
convolutional autoencoder trained on the training stimuli only, whose bottleneck
is the latent space and whose decoder is the generator (the DAE-NR network with
no neural term, :class:`~brainlatent.models.daenr.DAENREstimator` at ``beta = 0``).
Test images never shape the latent space, so decoding them is a fair test.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from PIL import Image

from brainlatent.errors import ConfigError

__all__ = ["GENERATORS", "check_generator", "fit_autoencoder", "load_images"]

GENERATORS = ("autoencoder", "icgan")
#: Keys of ``god_fmri.generator`` passed to the autoencoder (the device is not one: it is an
#: execution setting, given to :func:`fit_autoencoder` separately).
AUTOENCODER_KEYS = ("hidden_dim", "max_epochs", "lr", "batch_size", "weight_decay")


def check_generator(config: dict) -> None:
    """Fail at configuration time for a generator that cannot run here.

    IC-GAN is named so the config can say what the paper used, but it cannot be
    built: besides its weights it needs the authors' generator code and a SwAV
    instance encoder, neither of which is packaged.
    """
    kind = config["kind"]
    if kind == "autoencoder":
        return
    if kind == "icgan":
        raise ConfigError(
            "god_fmri.generator.kind 'icgan' cannot run: IC-GAN needs the "
            "facebookresearch/ic_gan generator code and a SwAV instance encoder, which "
            "brainlatent does not ship; use kind: autoencoder"
        )
    raise ConfigError(f"god_fmri.generator.kind must be one of {GENERATORS}; got {kind!r}")


def load_images(paths: Sequence[str | os.PathLike], size: int) -> np.ndarray:
    """RGB uint8 (n, size, size, 3): each image centre-cropped to a square, then resized."""
    from brainlatent.features.image_models import load_rgb

    out = np.empty((len(paths), size, size, 3), np.uint8)
    for n, path in enumerate(paths):
        rgb = load_rgb(path)
        h, w = rgb.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        square = Image.fromarray(rgb[top : top + side, left : left + side])
        if side != size:
            square = square.resize((size, size), Image.Resampling.BICUBIC)
        out[n] = np.asarray(square)
    return out


def fit_autoencoder(images: np.ndarray, config: dict, seed: int, device: str = "auto"):
    """Train the autoencoder on (n, H, W, 3) uint8 training images, on ``device``."""
    from brainlatent.models.daenr import DAENREstimator  # torch: only where a model is trained

    params = {k: config[k] for k in AUTOENCODER_KEYS if k in config}
    return DAENREstimator(beta=0.0, random_state=seed, progress=False, device=device, **params).fit(
        images
    )
