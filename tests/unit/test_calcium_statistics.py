"""The Allen-data statistics of a 2P session, and the simulator's defaults held to them."""

from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy.stats import norm

from brainlatent.datasets import allen_calcium as ac
from brainlatent.datasets.simulate_calcium import CalciumSimulation, simulate_mouse
from brainlatent.preprocessing import calcium_statistics as cs
from brainlatent.preprocessing.calcium import movie_responses

RATE = 30.0


def _movie(responses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(repeats × frames × cells) to rows in presentation order with their labels."""
    n_rep, n_frames, n_cells = responses.shape
    return (
        responses.reshape(-1, n_cells),
        np.tile(np.arange(n_frames), n_rep),
        np.repeat(np.arange(n_rep), n_frames),
    )


def test_noise_level_of_white_noise_is_cascades_formula():
    sd = np.array([0.03, 0.06, 0.12])
    dff = np.random.default_rng(0).normal(0, sd, size=(200_000, 3))
    # Median |difference| of two N(0, sd²) samples is 0.954 sd; CASCADE divides by √rate.
    expected = 100 * 0.6745 * np.sqrt(2) * sd / np.sqrt(RATE)
    np.testing.assert_allclose(cs.noise_level(dff, RATE), expected, rtol=0.01)
    np.testing.assert_allclose(cs.noise_sd(dff), sd, rtol=0.01)


def test_noise_sd_ignores_slow_calcium_transients():
    gen = np.random.default_rng(1)
    spikes = gen.poisson(0.5 / RATE, size=(100_000, 1)).astype(float)
    calcium = np.zeros_like(spikes)
    decay = np.exp(-1 / (0.45 * RATE))
    for t in range(1, len(spikes)):
        calcium[t] = decay * calcium[t - 1] + 0.3 * spikes[t]
    dff = calcium + gen.normal(0, 0.05, size=spikes.shape)
    assert dff.std() > 0.07  # the transients inflate the plain SD ...
    np.testing.assert_allclose(cs.noise_sd(dff), 0.05, rtol=0.05)  # ... not this one


def test_reliability_is_one_for_identical_repeats_and_near_zero_for_noise():
    gen = np.random.default_rng(2)
    signal = gen.normal(size=(1, 900, 3)).repeat(10, axis=0)
    noise = gen.normal(size=(10, 900, 3))
    np.testing.assert_allclose(cs.reliability(*_movie(signal)), 1.0)
    assert np.abs(cs.reliability(*_movie(noise))).max() < 0.02
    # rows in any order give the same answer (the function places them by label)
    neural, frame, repeat = _movie(signal + noise)
    order = gen.permutation(len(neural))
    np.testing.assert_allclose(
        cs.reliability(neural[order], frame[order], repeat[order]),
        cs.reliability(neural, frame, repeat),
    )


def test_responsive_needs_events_at_the_peak_on_more_than_two_repeats():
    gen = np.random.default_rng(3)
    x = gen.normal(0, 0.05, size=(10, 900, 400))
    x[:3, 450, 0] += 0.5  # 3 of 10 repeats: responsive
    x[:2, 450, 1] += 2.0  # 2 of 10, however large: not
    flags = cs.responsive(*_movie(x), np.full(400, 0.05))
    assert flags[0] and not flags[1]
    assert flags[2:].mean() < 0.01  # pure noise: the peak frame's selection does not pass it


def test_rows_missing_a_frame_are_refused():
    neural, frame, repeat = _movie(np.zeros((2, 900, 1)))
    with pytest.raises(ValueError, match="every frame once per repeat"):
        cs.reliability(neural[1:], frame[1:], repeat[1:])


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """A default simulated StimA session of 300 cells, its movie matrix and ground truth."""
    path = tmp_path_factory.mktemp("stats") / "m.nwb"
    truth = simulate_mouse(path, "M1", "VISp", 300, seed=0, session_type="StimA")
    session = ac.read_session(path)
    return session, movie_responses(session, path), dict(np.load(truth))


def test_the_simulator_has_the_allen_datas_noise_and_responsiveness(simulated):
    session, movie, truth = simulated
    stats = cs.session_statistics(session.dff, RATE, movie.neural, movie.frame, movie.repeat)
    # CASCADE (Rupprecht et al. 2021): Allen Brain Observatory traces sit "around 1".
    assert 0.8 < stats["noise_level_median"] < 1.25
    # de Vries et al. 2020: the largest class responds reliably to no stimulus.
    assert 0.2 < stats["fraction_responsive"] < 0.45
    flags = cs.responsive(movie.neural, movie.frame, movie.repeat, cs.noise_sd(session.dff))
    untuned = truth["population"] == 0
    assert untuned.mean() > 0.4 and flags[untuned].mean() < 0.02


def test_a_single_spike_is_hard_to_see_as_in_ai93_gcamp6f_mice():
    """An ideal detector that knows each spike's time (a matched filter on the GCaMP kernel)
    finds under half of single spikes at 1 % false positives; Huang et al. (2021) find
    16–21 % in Ai93 GCaMP6f mice with a real detector, which cannot do better."""
    params = CalciumSimulation()
    kernel = np.exp(-np.arange(int(5 * params.tau * RATE)) / (params.tau * RATE))
    d_prime = params.spike_dff / params.noise_sd * np.linalg.norm(kernel)
    detected = norm.sf(norm.isf(0.01) - d_prime)
    assert 0.16 < detected < 0.5
    # the Allen's own half-decay for Ai93 GCaMP6f lines is 239-315 ms
    assert 0.239 < params.tau * np.log(2) < 0.315 + 1e-9


def test_more_tuned_cells_than_cells_is_refused():
    with pytest.raises(ValueError, match="frac_movie \\+ frac_scene must be at most 1"):
        CalciumSimulation(frac_movie=0.7, frac_scene=0.4)


def test_config_yaml_and_the_simulator_agree_on_the_defaults():
    """The defaults live twice (config.yaml sets every key; the dataclass serves the API)."""
    config = yaml.safe_load((Path(__file__).parents[2] / "config" / "config.yaml").read_text())
    simulate = config["allen_calcium"]["simulate"]
    defaults = {f.name: f.default for f in fields(CalciumSimulation)}
    shared = set(simulate) & set(defaults)
    assert shared >= {"tau", "spike_dff", "noise_sd", "peak_rate", "frac_movie", "frac_scene"}
    assert {k: simulate[k] for k in shared} == {k: defaults[k] for k in shared}
