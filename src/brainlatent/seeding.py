"""Seeds: every random choice takes its seed from the config, never a global RNG."""

from __future__ import annotations

import zlib

import numpy as np


def derive_seed(seed: int, *keys: object) -> int:
    """A stable child seed for ``keys`` (e.g. a subject name), independent of hash salting."""
    text = "/".join(str(k) for k in keys).encode()
    return int(np.random.SeedSequence([int(seed), zlib.crc32(text)]).generate_state(1)[0])


def rng(seed: int, *keys: object) -> np.random.Generator:
    """A NumPy generator seeded from ``seed`` and ``keys``."""
    return np.random.default_rng(derive_seed(seed, *keys))
