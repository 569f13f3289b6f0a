"""Pinned outputs: refactors of the torch estimators must not move a number.

The values were recorded on the code before ``TorchEstimator`` existed (CPU, one
thread, torch 2.13): the same seed must give the same weights, batches and
predictions, bit for bit on the machine that recorded them and up to another CPU's
rounding elsewhere (``tests.conftest.assert_pinned``).
The brain module's were re-pinned on 2026-12-02 when its linear front end was composed into
one map (``BrainModule.front``: the same function, other float32 rounding; after 3 epochs the
predictions moved by at most 7e-4, the losses by 1e-3).
"""

from __future__ import annotations

import numpy as np
import pytest

from brainlatent.models.brain_module import BrainModuleDecoder
from brainlatent.models.daenr import DAENREstimator

from ..conftest import assert_pinned

pytestmark = pytest.mark.usefixtures("one_torch_thread")
BRAIN_PREDICT = [
    [0.6367918848991394, 0.06137733906507492, 0.2629997730255127, 0.8048601746559143],
    [-0.469978004693985, 0.48908859491348267, 0.2521730959415436, 0.9250496029853821],
    [-0.3859831690788269, 0.4731939435005188, 0.2513853907585144, 0.934114933013916],
]
BRAIN_PREDICT_MSE = [
    [0.5305480360984802, -0.42927783727645874, 0.31394606828689575, -0.7539573311805725],
    [-0.6416593790054321, -0.41762807965278625, 0.26689791679382324, -0.3434896469116211],
    [-0.5633583664894104, -0.43196016550064087, 0.27279433608055115, -0.3810080587863922],
]
BRAIN_HISTORY = [
    [
        1.0,
        5.652750396728516,
        7.045093727111817,
        1.4757203340530396,
        2.2224035263061523,
        2.7937912940979004,
        0.5082392692565918,
        1.0,
    ],
    [
        2.0,
        5.011515712738037,
        6.2036487579345705,
        1.435116958618164,
        2.242293357849121,
        2.819713592529297,
        0.5100321769714355,
        1.0,
    ],
    [
        3.0,
        5.835879135131836,
        7.305876350402832,
        1.4258875131607056,
        2.253509998321533,
        2.834763526916504,
        0.5097492337226868,
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
    assert_pinned(est.predict(X[:3], subjects[:3]), BRAIN_PREDICT)
    assert_pinned(est.predict_mse(X[:3], subjects[:3]), BRAIN_PREDICT_MSE)
    assert_pinned(est.history_.to_numpy(), BRAIN_HISTORY)
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
    assert_pinned(est.encode(images[:3]), DAENR_ENCODE)
    assert_pinned(est.predict_responses(images[:2]), DAENR_RESPONSES)
    assert_pinned(est.history_.to_numpy(), DAENR_HISTORY)
