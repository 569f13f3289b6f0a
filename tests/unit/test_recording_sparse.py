"""The ordering on a recording like a real sorted one (the sparse preset).

31 units at about 0.5 Hz, 427 s of running in 25 ms bins: the held-out last 20 % is decoded
by CEBRA-Behavior, PCA and kNN on the same input, and the field's standard decoders.
CEBRA-Behavior must beat PCA and kNN on its input, and come within ``FACTOR`` of the best
standard decoder (on this preset it is ahead of them: docs/recording.md).

The default suite fits CEBRA once, 500 iterations on input smoothed by 0.25 s (what the
validation choice picks on this preset; about 20 s); ``-m slow`` runs the workflow's default
path: width and iterations chosen on validation among the default candidates, 1,000
iterations at most (about 3 min).
"""

from __future__ import annotations

import numpy as np
import pytest

from brainlatent.datasets.recording import Recording
from brainlatent.datasets.simulate_place_cells import simulate_session, simulation_from_config
from brainlatent.decoding import behavior as bd
from brainlatent.decoding.selection import DEFAULT_SMOOTHINGS_S
from brainlatent.plan import RECORDING_CEBRA_PRESETS

#: CEBRA-Behavior's error may be at most this multiple of the best standard decoder's.
FACTOR = 1.1
METHODS = ["cebra_behavior", "pca", "raw", "bayesian", "knn_smoothed"]


def sparse_recording() -> Recording:
    session = simulate_session(simulation_from_config({"preset": "sparse"}))
    return Recording(
        neural=session.counts.astype(np.float32),
        behavior=np.column_stack([session.position, session.direction]).astype(np.float64),
        behavior_names=("position", "direction"),
        discrete=("direction",),
        rate=session.params.rate_hz,
        path="sparse preset",
        timestamps=session.time,
    )


def decode(**settings):
    params = {**RECORDING_CEBRA_PRESETS["quick"], "device": "cpu"}
    params.update(settings.pop("cebra", {}))
    result = bd.decode_behavior(
        sparse_recording(), METHODS, [0], params, log=lambda _: None, **settings
    )
    error = result.metrics[result.metrics["metric"] == "median_abs_error"]
    return result, error.groupby("method")["value"].mean()


def beats_pca_and_knn_on_its_input(error):
    assert error["cebra_behavior"] < 0.8 * error["pca"], error
    assert error["cebra_behavior"] < 0.8 * error["raw"], error
    assert error["cebra_behavior"] < 0.5 * error["chance"], error


def within_factor_of_the_best_standard_decoder(error):
    best = min(error["bayesian"], error["knn_smoothed"])
    assert error["cebra_behavior"] <= FACTOR * best, error


@pytest.fixture(scope="module")
def error():
    _, error = decode(input_smoothing_s=0.25, cebra={"max_iterations": 500})
    return error


def test_cebra_behavior_beats_pca_and_knn_on_its_input(error):
    beats_pca_and_knn_on_its_input(error)


def test_cebra_behavior_is_within_a_stated_factor_of_the_best_standard_decoder(error):
    within_factor_of_the_best_standard_decoder(error)


@pytest.mark.slow
def test_the_default_path_chooses_smoothing_and_keeps_the_ordering():
    result, error = decode(
        input_smoothing_s="auto", selection={"smoothings_s": list(DEFAULT_SMOOTHINGS_S)}
    )
    chosen = result.selection[result.selection["chosen"] & result.selection["criterion"]]
    chosen = chosen.set_index("method")["smoothing_s"]
    assert chosen["cebra_behavior"] > 0, result.selection
    beats_pca_and_knn_on_its_input(error)
    within_factor_of_the_best_standard_decoder(error)
