"""Fault-tolerant computation with noisy neurons (brainlatent.fault_tolerance).

Monte Carlo with fixed seeds (no flakes) and margins, not equalities; each test a few seconds.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import yaml

from brainlatent import ConfigError
from brainlatent.config import validate_config
from brainlatent.fault_tolerance.biology import peak_spikes, poisson_sigma
from brainlatent.fault_tolerance.circuits import (
    GATES,
    grid_gate,
    multiplier_failure,
    rate_gate,
    xor_chain,
)
from brainlatent.fault_tolerance.code import GridCode
from brainlatent.fault_tolerance.experiment import COLUMNS, phase_transition
from brainlatent.fault_tolerance.scaling import fit_exponent, neurons_needed, predicted_neurons
from brainlatent.fault_tolerance.threshold import (
    coin_flip_slope,
    crossing,
    fixed_point,
    gate_errors,
    predicted_threshold,
    restoration_map,
    unprotected_failure,
)

REPO = Path(__file__).resolve().parents[2]
SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
TINY = yaml.safe_load((REPO / "config" / "tests" / "tiny_fault_tolerance.yaml").read_text())
CODE = GridCode((3.0, 4.0, 5.0), 4)
#: Relative tolerance between the threshold measured on the tiny config (a bundle of 21 wires,
#: depth 24) and the one predicted for an infinite bundle and depth.
THRESHOLD_TOLERANCE = 0.15


@pytest.mark.parametrize("name", sorted(GATES))
def test_noiseless_gates_compute_their_truth_tables(name):
    fan_in, truth = GATES[name]
    gen = np.random.default_rng(0)
    inputs = np.array(np.meshgrid(*[[0, 1]] * fan_in)).reshape(fan_in, -1)
    expected = np.asarray(truth)[inputs.sum(axis=0)]
    _, bits = grid_gate(name, [CODE.encode(b, 0.0, gen) for b in inputs], CODE, 0.0, gen)
    np.testing.assert_array_equal(bits, expected)
    _, bits = rate_gate(name, [b.astype(float) for b in inputs], 4, 0.0, gen)
    np.testing.assert_array_equal(bits, expected)


def test_noiseless_multiplier_multiplies():
    assert multiplier_failure(GridCode((3.0, 4.0, 5.0), 1), 0.0, 500, seed=0) == 0.0


def test_unprotected_failure_grows_with_depth_at_every_sigma():
    depths = 4 ** np.arange(9)  # 1 .. 65536
    exact = np.array([unprotected_failure(12, [0.3, 0.4, 0.5, 0.7], d, 21) for d in depths])
    growing = np.diff(exact, axis=0)
    assert np.all((growing > 0) | (exact[1:] > 0.5 - 1e-9))  # strictly, until a coin flip
    assert np.all(exact[-1] > 0.45)  # deep enough, a coin flip even at low noise
    sigmas = [0.5, 0.6, 0.7]
    simulated = xor_chain(CODE, sigmas, [2, 24], 21, 150, np.random.default_rng(1), False)
    assert np.all(simulated["failure"][:, 1] > simulated["failure"][:, 0] + 0.1)
    predicted = unprotected_failure(12, sigmas, np.array([[2], [24]]), 21).T
    np.testing.assert_allclose(simulated["failure"], predicted, atol=0.12)


def test_unprotected_failure_is_exact_for_copies_that_share_their_inputs():
    """The copies see the same true and fresh bits, so their errors are correlated: the
    formula must match a large simulation within its binomial error, where independent
    copies (a binomial of per-copy failures) are off by 5x at one layer."""
    sigmas, depths, trials = [0.6, 1.0], [1, 4, 32], 20000
    result = xor_chain(CODE, sigmas, depths, 21, trials, np.random.default_rng(5), False)
    exact = unprotected_failure(12, np.array(sigmas)[:, None], np.array(depths), 21)
    simulated = result["failure"]
    error = np.sqrt(np.maximum(exact * (1 - exact), 1e-4) / trials)
    assert np.all(np.abs(simulated - exact) < 4 * error), (simulated, exact)
    assert exact[1, 0] == pytest.approx(0.0198, abs=0.002)  # sigma 1, one layer


def test_protected_failure_is_bounded_below_threshold_and_fails_above():
    result = xor_chain(CODE, [0.35, 0.8], [2, 24], 21, 150, np.random.default_rng(2))
    below, above = result["failure"]
    assert below.max() <= 0.02  # bounded: no growth from depth 2 to 24
    assert above[1] >= 0.4 and above[1] > above[0]
    # the same neurons without the code fail at the noise the protected network survives
    plain = xor_chain(CODE, [0.5], [2, 24], 21, 150, np.random.default_rng(3), False)
    ours = xor_chain(CODE, [0.5], [2, 24], 21, 150, np.random.default_rng(3))
    assert plain["failure"][0, 1] > ours["failure"][0, 1] + 0.05


def test_predicted_threshold_is_where_the_small_fixed_point_meets_the_coin_flip():
    """The restoration map is symmetric about 1/2: its small fixed point rises with the noise
    and merges with the coin flip where the map's slope there falls to 1 (a pitchfork)."""
    sigma_star = predicted_threshold(CODE, high=2.0, tol=2e-3, n_samples=20000)
    assert 0.58 < sigma_star < 0.61  # 0.597 with these gates (the old "< 1/4" read 0.575)
    for sigma in (0.3, sigma_star - 0.02, sigma_star + 0.02):
        errors = [gate_errors(name, CODE, sigma, 20000) for name in ("xor", "maj")]
        step, h = restoration_map(*errors), 1e-6
        slope = (step(0.5 + h) - step(0.5 - h)) / (2 * h)
        assert coin_flip_slope(*errors) == pytest.approx(slope, abs=1e-6)
    below = fixed_point(CODE, sigma_star - 0.02, 20000, iterations=20000)
    above = fixed_point(CODE, sigma_star + 0.02, 20000, iterations=20000)
    assert 0.25 < below < 0.45 and above == pytest.approx(0.5, abs=1e-3)


@pytest.fixture(scope="module")
def tiny_phase():
    """The phase-transition table on the tiny config's settings, one seed."""
    settings = TINY["fault_tolerance"]
    return phase_transition(
        periods=[3, 4, 5], neurons=4, bundle=settings["bundle"], sigmas=settings["sigmas"],
        depths=settings["depths"], n_trials=settings["n_trials"], seeds=[0],
        gate_samples=settings["gate_samples"], bundles=settings["bundles"],
        biology={"fano": 1.0, "peak_rate_hz": [10, 30], "window_s": [0.1, 0.5]},
        progress=lambda _: None,
    )  # fmt: skip


def test_measured_threshold_matches_the_predicted_one_on_the_tiny_config(tiny_phase):
    assert list(tiny_phase.columns) == COLUMNS
    threshold = tiny_phase[
        (tiny_phase["metric"] == "threshold") & (tiny_phase["network"] == "protected")
    ].set_index("estimate")["value"]
    assert 0.3 < threshold["predicted"] < 0.9
    assert abs(threshold["simulated"] / threshold["predicted"] - 1) < THRESHOLD_TOLERANCE


def test_the_restoration_alone_gives_a_rate_code_a_higher_threshold(tiny_phase):
    """The fair control (docs/fault_tolerance.md): the rate code with the protected chain's
    restoring layers, on fewer neurons, has a threshold too, and a higher one than the grid
    code's here: in this reconstruction the threshold comes from von Neumann's restoration, not
    from the code."""
    simulated = tiny_phase[tiny_phase["estimate"] == "simulated"]
    threshold = simulated[simulated["metric"] == "threshold"].set_index("network")["value"]
    assert set(threshold.index) == {"protected", "restored_rate"}
    assert threshold["restored_rate"] > threshold["protected"] + 0.05
    failure = simulated[(simulated["metric"] == "failure") & (simulated["bundle"] == 21)]
    deep = failure[failure["depth"] == 24].pivot_table(
        index="sigma", columns="network", values="value"
    )
    assert deep.loc[0.5, "restored_rate"] <= 0.02 < 0.1 < deep.loc[0.5, "unprotected"]


def test_threshold_rises_toward_the_predicted_one_as_bundles_grow(tiny_phase):
    by_bundle = tiny_phase[tiny_phase["metric"] == "threshold_by_bundle"].set_index("bundle")
    assert sorted(by_bundle.index) == [5.0, 21.0]
    small, main = by_bundle.loc[5.0, "value"], by_bundle.loc[21.0, "value"]
    predicted = tiny_phase.query("metric == 'threshold' and estimate == 'predicted'")["value"]
    assert small < main - 0.05  # a small bundle is overwhelmed by its own fluctuations earlier
    assert main < float(predicted.iloc[0]) + 0.02  # finite bundles lie at or below the limit
    # the headline σ* is the main bundle's, the same number in both rows
    headline = tiny_phase.query(
        "metric == 'threshold' and estimate == 'simulated' and network == 'protected'"
    )
    assert headline["value"].tolist() == [main] and headline["bundle"].tolist() == [21.0]


def test_biological_noise_is_poisson_in_sigma_units(tiny_phase):
    assert poisson_sigma(2.0) == pytest.approx(1.0)  # 0..2 spikes: amplitude 1, variance 1
    assert poisson_sigma(4.0, fano=2.0) == pytest.approx(1.0)
    np.testing.assert_allclose(peak_spikes(poisson_sigma([1.0, 7.0, 50.0])), [1.0, 7.0, 50.0])
    with pytest.raises(ValueError, match="> 0"):
        poisson_sigma(0.0)
    rows = tiny_phase[tiny_phase["network"] == "biological"].set_index("metric")["value"]
    assert rows["biological_sigma_min"] == pytest.approx(np.sqrt(2 / (30 * 0.5)))
    assert rows["biological_sigma_max"] == pytest.approx(np.sqrt(2 / (10 * 0.1)))
    spikes = tiny_phase.query("metric == 'threshold_peak_spikes'").set_index("estimate")["value"]
    star = tiny_phase.query("metric == 'threshold' and network == 'protected'")
    star = star.set_index("estimate")["value"]
    np.testing.assert_allclose(spikes, 2 / star**2)


def test_crossing_interpolates_and_says_never():
    assert crossing([0.1, 0.2, 0.3], [0.0, 0.1, 0.4]) == pytest.approx(0.25)
    assert np.isnan(crossing([0.1, 0.2], [0.0, 0.1]))


def test_neurons_needed_grow_as_sigma_squared():
    code = GridCode((3.0, 4.0, 5.0), 1)
    sigmas = [0.5, 1.0, 2.0]
    needed = [neurons_needed(code, s, 0.02, 1500, seed=0, max_neurons=512)[1] for s in sigmas]
    assert all(n > 0 for n in needed) and needed == sorted(needed)
    assert fit_exponent(sigmas, needed) == pytest.approx(2.0, abs=0.15)
    law, _ = predicted_neurons(code, sigmas, 0.02, n_samples=10000)
    np.testing.assert_allclose(needed, law, rtol=0.25)


def with_value(key: str, value) -> dict:
    config = copy.deepcopy(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
    *parents, last = key.split(".")
    node = config
    for part in parents:
        node = node[part]
    assert last in node
    node[last] = value
    return config


BAD_VALUES = [
    ("fault_tolerance.sigmas", [-0.1, 0.5]),
    ("fault_tolerance.depths", [0, 4]),
    ("fault_tolerance.scaling.epsilon", 0),
    ("fault_tolerance.scaling.epsilon", 1.0),
    ("fault_tolerance.scaling.epsilon", 1.5),
    ("fault_tolerance.bundle", 4),
    ("fault_tolerance.bundles", [5, 10]),
    ("fault_tolerance.biology.fano", 0),
    ("fault_tolerance.biology.peak_rate_hz", [-1, 10]),
    ("fault_tolerance.biology.window_s", [0.1]),
    ("fault_tolerance.neurons", 0),
    ("fault_tolerance.periods", [1, 4]),
]


@pytest.mark.parametrize(("key", "value"), BAD_VALUES, ids=[f"{k}={v}" for k, v in BAD_VALUES])
def test_bad_setting_is_a_config_error_naming_the_key(key, value):
    with pytest.raises(jsonschema.ValidationError) as error:
        jsonschema.validate(with_value(key, value), SCHEMA)
    keys = [part for part in error.value.path if isinstance(part, str)]
    assert keys == key.split("."), error.value.message
    with pytest.raises(ConfigError, match=rf"^config {re.escape(key)}(\.\d+)?: "):
        validate_config(with_value(key, value), SCHEMA)  # what the workflow runs
