"""Shared fixtures: where the real small files live, and a small simulated dataset."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RESOURCES = REPO / "resources" / "bids"  # the real small files, vendored (resources/README.md)


def shared_root() -> Path | None:
    """``shared/`` beside the checkout, or ``$BRAINLATENT_SHARED``; None in a plain clone.

    The workflow's own inputs are in the repository (``resources/``, ``workflow/manifests/``);
    ``shared/`` only serves tests that compare those copies with the published files.
    """
    for root in (os.environ.get("BRAINLATENT_SHARED"), REPO.parent / "shared", "/work/shared"):
        if root and (Path(root) / "datasets").is_dir():
            return Path(root)
    return None


@pytest.fixture(scope="session")
def reference_bids() -> Path:
    return RESOURCES / "things-meg"


@pytest.fixture(scope="session")
def simulated(tmp_path_factory, reference_bids):
    """One subject, two short runs of simulated THINGS-MEG (read-only for tests)."""
    from brainlatent.datasets.simulate_meg import MEGSimulation, simulate_dataset

    root = tmp_path_factory.mktemp("simulated")
    simulate_dataset(
        reference_bids,
        root / "bids",
        root / "stimuli",
        root / "truth",
        subjects=["BIGMEG1"],
        sessions=[1],
        runs=[1, 2],
        trials_per_run=60,
        params=MEGSimulation(sfreq=240.0, snr=0.5, seed=0),
        image_size=32,
    )
    return root


def merged(overlay: dict, base: dict) -> dict:
    """Snakemake's merge of a --configfile onto another (nested dicts update)."""
    out = copy.deepcopy(base)
    for key, value in (overlay or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(value, out[key])
        else:
            out[key] = value
    return out


@pytest.fixture
def one_torch_thread():
    """Torch on one thread for the test (fits pinned to recorded values), then restored."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


#: How far pinned fits may move between kinds of CPU (torch picks its kernels by instruction
#: set and vendor; float32 rounding then grows over a few epochs of training). Measured on an
#: AVX-512 AMD EPYC against values recorded elsewhere: at most 3.7e-4 absolute, 9.5e-4
#: relative (the brain module after 3 epochs; CEBRA and DAE-NR 1 ulp). A changed seed, batch
#: order, initialisation or model moves them by 0.1 or more.
PINNED_RTOL, PINNED_ATOL = 5e-3, 1e-3


def assert_pinned(actual, expected) -> None:
    """``actual`` equals the recorded ``expected`` up to the rounding of another CPU."""
    import numpy as np

    np.testing.assert_allclose(
        np.asarray(actual, dtype=np.float64),
        np.asarray(expected, dtype=np.float64),
        rtol=PINNED_RTOL,
        atol=PINNED_ATOL,
    )
