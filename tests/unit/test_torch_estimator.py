"""Pinned outputs: refactors of the torch estimators must not move a number.

The values were recorded on the code before ``TorchEstimator`` existed (CPU, one
thread, torch 2.13): the same seed must give the same weights, batches and
predictions bit for bit, since the workflow's metrics tables are compared bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from brainlatent.models.brain_module import BrainModuleDecoder
from brainlatent.models.daenr import DAENREstimator

pytestmark = pytest.mark.usefixtures("one_torch_thread")
BRAIN_PREDICT = [
    [0.6366506218910217, 0.061367765069007874, 0.2629833519458771, 0.8045002818107605],
    [-0.4697960317134857, 0.4890991449356079, 0.25215160846710205, 0.9250628352165222],
    [-0.38529548048973083, 0.4729123115539551, 0.25145044922828674, 0.9341444373130798],
]
BRAIN_PREDICT_MSE = [
    [0.5306079387664795, -0.42917877435684204, 0.31409093737602234, -0.753736138343811],
    [-0.6414903998374939, -0.4176759719848633, 0.2669351398944855, -0.3435713052749634],
    [-0.5626761317253113, -0.43202054500579834, 0.27280479669570923, -0.3812747001647949],
]
BRAIN_HISTORY = [
    [
        1.0,
        5.652750062942505,
        7.045093154907226,
        1.4757205247879028,
        2.222883701324463,
        2.7944138050079346,
        0.5082927346229553,
        1.0,
    ],
    [
        2.0,
        5.011514949798584,
        6.203647613525391,
        1.4351170063018799,
        2.243001699447632,
        2.8206276893615723,
        0.5101231336593628,
        1.0,
    ],
    [
        3.0,
        5.835877895355225,
        7.305875205993653,
        1.4258872628211976,
        2.2542564868927,
        2.8357224464416504,
        0.5098583102226257,
        1.0,
    ],
]
DAENR_ENCODE = [
    [-1.2042051553726196, 0.805453896522522, -0.2851579487323761],
    [-1.664430022239685, 1.1699281930923462, -0.4204140305519104],
    [-1.4847230911254883, 1.0501495599746704, -0.2591031491756439],
]
DAENR_RESPONSES = [
    [0.20929130911827087, 0.12395705282688141, 0.13904277980327606],
    [0.3012143075466156, 0.22337554395198822, 0.33543863892555237],
]
DAENR_HISTORY = [
    [1.0, 1.263220226764679, 0.08986312747001649, 1.1733570992946625],
    [2.0, 1.0801382452249526, 0.08532646000385284, 0.9948117852210998],
    [3.0, 1.1147653430700302, 0.08329831659793854, 1.0314670264720918],
]


def brain_problem():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((24, 6, 10)).astype(np.float32)
    Y = np.repeat(rng.standard_normal((12, 4)).astype(np.float32), 2, axis=0)
    subjects = np.tile([0, 1], 12)
    positions = rng.uniform(0, 1, (6, 2))
    return rng, X, Y, subjects, positions


def test_brain_module_predictions_are_pinned():
    _, X, Y, subjects, positions = brain_problem()
    est = BrainModuleDecoder(
        n_spatial=4,
        hidden=4,
        n_blocks=1,
        n_freqs=2,
        batch_size=8,
        max_epochs=3,
        patience=5,
        val_fraction=0.2,
        device="cpu",
        num_threads=1,
        random_state=7,
        progress=False,
    ).fit(X, Y, subjects, positions)
    np.testing.assert_array_equal(
        est.predict(X[:3], subjects[:3]), np.array(BRAIN_PREDICT, np.float32)
    )
    np.testing.assert_array_equal(
        est.predict_mse(X[:3], subjects[:3]), np.array(BRAIN_PREDICT_MSE, np.float32)
    )
    np.testing.assert_array_equal(est.history_.to_numpy(), np.array(BRAIN_HISTORY))
    assert est.best_epoch_ == 1


def test_daenr_predictions_are_pinned():
    rng = brain_problem()[0]
    images = (rng.uniform(0, 1, (10, 8, 8)) * 255).astype(np.uint8)
    responses = rng.standard_normal((10, 3))
    est = DAENREstimator(
        hidden_dim=3,
        beta=1.0,
        lr=1e-2,
        max_epochs=3,
        batch_size=4,
        device="cpu",
        random_state=5,
        progress=False,
    ).fit(images, responses)
    np.testing.assert_array_equal(est.encode(images[:3]), np.array(DAENR_ENCODE, np.float32))
    np.testing.assert_array_equal(
        est.predict_responses(images[:2]), np.array(DAENR_RESPONSES, np.float32)
    )
    np.testing.assert_array_equal(est.history_.to_numpy(), np.array(DAENR_HISTORY))
