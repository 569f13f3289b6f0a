"""The ordering on a recording like a real sorted one (the sparse preset), as the workflow runs it.

31 units at about 0.5 Hz, 427 s of running in 25 ms bins: the held-out last 20 % is decoded
by CEBRA-Behavior (input smoothing and iterations chosen on the training block's validation
tail), PCA and kNN on the same input, and the field's standard decoders. CEBRA-Behavior must
beat PCA and kNN on its input, and come within ``FACTOR`` of the best standard decoder (on
this preset it is ahead of them: README, "Your own recording").
"""

from __future__ import annotations

import numpy as np
import pytest

from brainlatent.datasets.recording import Recording
from brainlatent.datasets.simulate_place_cells import simulate_session, simulation_from_config
from brainlatent.decoding import behavior as bd
from brainlatent.plan import RECORDING_CEBRA_PRESETS

#: CEBRA-Behavior's error may be at most this multiple of the best standard decoder's.
FACTOR = 1.1


@pytest.fixture(scope="module")
def sparse():
    session = simulate_session(simulation_from_config({"preset": "sparse"}))
    recording = Recording(
        neural=session.counts.astype(np.float32),
        behavior=np.column_stack([session.position, session.direction]).astype(np.float64),
        behavior_names=("position", "direction"),
        discrete=("direction",),
        rate=session.params.rate_hz,
        path="sparse preset",
        timestamps=session.time,
    )
    result = bd.decode_behavior(
        recording,
        ["cebra_behavior", "pca", "raw", "bayesian", "knn_smoothed"],
        [0],
        {**RECORDING_CEBRA_PRESETS["quick"], "device": "cpu"},
        input_smoothing_s="auto",
        selection={"smoothings_s": [0.0, 0.25], "eval_every": 250},
        log=lambda _: None,
    )
    error = result.metrics[result.metrics["metric"] == "median_abs_error"]
    return result, error.groupby("method")["value"].mean()


def test_smoothing_is_chosen_for_sparse_counts(sparse):
    result, _ = sparse
    chosen = result.selection[result.selection["chosen"] & result.selection["criterion"]]
    assert chosen["smoothing_s"].item() == 0.25, result.selection


def test_cebra_behavior_beats_pca_and_knn_on_its_input(sparse):
    _, error = sparse
    assert error["cebra_behavior"] < 0.8 * error["pca"], error
    assert error["cebra_behavior"] < 0.8 * error["raw"], error
    assert error["cebra_behavior"] < 0.5 * error["chance"], error


def test_cebra_behavior_is_within_a_stated_factor_of_the_best_standard_decoder(sparse):
    _, error = sparse
    best = min(error["bayesian"], error["knn_smoothed"])
    assert error["cebra_behavior"] <= FACTOR * best, error
