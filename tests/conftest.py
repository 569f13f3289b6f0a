"""Shared fixtures: where the real small files live, and a small simulated dataset."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

#: Under pytest-xdist (``make test``: one worker per core) each worker runs one test at a time,
#: so BLAS, OpenMP and torch get one thread each: more only oversubscribe the cores the other
#: worker is using (unit tests 202 -> 193 s on 2 cores back to back, 2026-12-04; every pinned
#: value equal). Set before numpy or torch is imported; Snakemake's jobs get their rule's
#: threads anyway.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_name, "1")

REPO = Path(__file__).resolve().parents[1]
RESOURCES = REPO / "resources" / "bids"  # the real small files, vendored (resources/README.md)


#: Test modules in decreasing order of run time (two pytest-xdist workers, 2026-12-03). Under
#: ``make test`` (``-n 2``) whole modules go to the workers, these first, then the rest in file
#: order, so both workers finish near together. Back to back in two clones the same day: this
#: order 16 min 1 s, file order (``()``) 16 min 56 s, where the workflow modules, last in the
#: alphabet, run side by side at the end. A path missing here only loses its place in the
#: queue; tests/unit/test_parallel_schedule.py checks that each still names a test module.
LONGEST_FIRST = (
    "tests/workflow/test_workflow.py",  # with test_slurm_profile.py, see SAME_WORKER
    "tests/workflow/test_real_tiny.py",
    "tests/unit/test_motor_ordering.py",
    "tests/workflow/test_recording_workflow.py",
    "tests/workflow/test_motor_workflow.py",
    "tests/workflow/test_fmri_workflow.py",
    "tests/unit/test_recording_sparse.py",
    "tests/workflow/test_real_config.py",
    "tests/workflow/test_slurm_cluster.py",
    "tests/workflow/test_fault_tolerance_workflow.py",
)
#: Modules run by the same worker as another because they share a session fixture, which a
#: worker builds once: the tiny config's run (``tiny_project``, over a minute).
SAME_WORKER = {"tests/workflow/test_slurm_profile.py": "tests/workflow/test_workflow.py"}


def _module(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return SAME_WORKER.get(path, path)


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist, the longest modules first (:data:`LONGEST_FIRST`); else unchanged."""
    if not hasattr(config, "workerinput"):
        return
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(_module(item.nodeid), len(rank)))  # stable


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """One module (and its :data:`SAME_WORKER` companions) per unit of work, in collection order.

    A module's fixtures (a module-scoped Snakemake run, the motor ordering's table) are then
    built once, on one worker, as in a serial run; xdist's own ``--dist load`` would split a
    module between workers and build them twice.
    """
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _module(nodeid)

    config.option.loadscopereorder = False  # keep the longest-first order of the collection
    return ByModule(config, log)


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
