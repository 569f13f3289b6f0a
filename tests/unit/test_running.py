"""Running direction from a linear track's position, held through pauses."""

from __future__ import annotations

import numpy as np
import pytest

from brainlatent.datasets import simulate_place_cells as sim
from brainlatent.preprocessing.running import running_direction


@pytest.fixture(scope="module")
def dense():
    return sim.simulate_session(sim.simulation_from_config({"preset": "dense"}))


def test_direction_holds_through_pauses_where_the_velocity_sign_flickers(dense):
    """The dense rat pauses at each end a third of the time; with 3 mm of tracking jitter a
    velocity sign is right in ~84 % of samples, the held direction in ≥ 97 %."""
    noisy = dense.position + np.random.default_rng(0).normal(0, 0.003, len(dense.position))
    derived = running_direction(noisy, dense.time)
    velocity_sign = (np.gradient(noisy) < 0).astype(int)
    assert derived.dtype == np.int64 and set(np.unique(derived)) == {0, 1}
    assert (derived == dense.direction).mean() >= 0.97
    assert (velocity_sign == dense.direction).mean() <= 0.87
    paused = dense.speed < 0.05
    assert (derived[paused] == dense.direction[paused]).mean() >= 0.97


def test_direction_needs_no_unit_and_respects_gaps():
    """cm or m give the same codes (the default threshold is relative); pauses cut out of the
    clock are gaps, smoothed across by nothing."""
    session = sim.simulate_session(sim.simulation_from_config({"preset": "sparse"}))
    metres = running_direction(session.position, session.time)
    np.testing.assert_array_equal(running_direction(100 * session.position, session.time), metres)
    assert (metres == session.direction).mean() >= 0.975
    assert np.diff(session.time).max() > 1.0  # the sparse preset drops its pauses


def test_direction_of_a_bad_position_is_a_clear_error():
    t = np.arange(100) / 40
    with pytest.raises(ValueError, match="the position never changes"):
        running_direction(np.ones(100), t)
    with pytest.raises(ValueError, match="never moves faster than 5"):
        running_direction(np.linspace(0, 1, 100), t, min_speed=5)
    with pytest.raises(ValueError, match="1-D with one timestamp per sample"):
        running_direction(np.ones((100, 2)), t)
    with pytest.raises(ValueError, match="at least 3 samples"):
        running_direction([0.0, 1.0], [0.0, 0.1])
    with pytest.raises(ValueError, match="the position has 1 NaN or infinite"):
        running_direction(np.r_[np.linspace(0, 1, 99), np.inf], t)


def test_a_looped_track_or_a_glitch_is_refused():
    """A circular track's wrap (1.6 m back to 0 in one frame) would read as a fast run the
    wrong way, its label held through the next pause: an error naming where."""
    t = np.arange(400) / 40
    lap = np.r_[np.linspace(0, 1.6, 200), np.linspace(0, 1.6, 200)]
    with pytest.raises(ValueError, match=r"jumps by 1\.6 \(100% of its range\) between 4\.975"):
        running_direction(lap, t)


def test_a_run_across_a_tracking_gap_is_no_glitch():
    """Tracking lost for 1 s while the rat runs 31 % of the track: the samples dropped leave a
    gap in the clock, and the stretches on either side are each a clean run, so the step across
    the gap is no jump; the same step between two adjacent samples still is."""
    rate = 40.0
    t = np.arange(0, 20, 1 / rate)
    position = 0.8 + 0.8 * np.sin(2 * np.pi * t / 10)  # up to 0.5 m/s on a 1.6 m track
    i = int(4.5 * rate)
    kept = np.r_[0:i, i + int(rate) : len(t)]  # the second after 4.5 s dropped, mid-run
    step = abs(position[i + int(rate)] - position[i - 1])
    assert step / np.ptp(position) > 0.3
    derived = running_direction(position[kept], t[kept])
    truth = (np.gradient(position, t) < 0).astype(int)[kept]
    moving = np.abs(np.gradient(position, t))[kept] > 0.1
    assert (derived[moving] == truth[moving]).all()
    with pytest.raises(
        ValueError, match=r"jumps by 0\.506 \(32% of its range\) between 4\.475 and 4\.5 s"
    ):
        running_direction(position[kept], np.arange(len(kept)) / rate)  # no gap in the clock
