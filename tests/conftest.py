"""Shared fixtures: where the real small files live, and a small simulated dataset."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_root() -> Path:
    """``shared/`` beside the checkout (developers and CI), or ``$BRAINLATENT_SHARED``."""
    for root in (os.environ.get("BRAINLATENT_SHARED"), REPO.parent / "shared", "/work/shared"):
        if root and (Path(root) / "datasets" / "things-meg" / "bids").is_dir():
            return Path(root)
    raise FileNotFoundError(
        "shared/datasets/things-meg/bids not found beside the checkout; set BRAINLATENT_SHARED"
    )


@pytest.fixture(scope="session")
def reference_bids() -> Path:
    return shared_root() / "datasets" / "things-meg" / "bids"


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
