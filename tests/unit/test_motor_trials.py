"""Motor trials: movement onset, binning per channel, the trials file."""

from __future__ import annotations

import datetime
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from brainlatent.errors import DataError
from brainlatent.preprocessing import motor

NAME = "sub-T_ses-CO-20240108"


def bell(t: np.ndarray, centre: float, peak: float = 30.0, width: float = 0.08) -> np.ndarray:
    return peak * np.exp(-0.5 * ((t - centre) / width) ** 2)


def hand_made_session(n_trials: int = 4, spikes=None, unit_channel=(0, 2, 2)) -> SimpleNamespace:
    """Trials every 3 s: go cue at +1 s, a bell-shaped reach peaking at +1.5 s (onset ≈ +1.34 s)."""
    t = np.arange(0, 3.0 * n_trials + 1, 0.01)
    start = 1.0 + 3.0 * np.arange(n_trials)
    speed = sum(bell(t, s + 1.5) for s in start)
    velocity = np.stack([speed, np.zeros_like(speed)], 1)
    trials = pd.DataFrame(
        {
            "start_time": start,
            "stop_time": start + 2.5,
            "target_on_time": start + 0.3,
            "go_cue_time": start + 1.0,
            "result": ["R"] * n_trials,
            "target_id": np.arange(n_trials, dtype=float) % 8,
        }
    )
    if spikes is None:
        spikes = (np.array([]), np.array([]), np.array([]))
    return SimpleNamespace(
        path=Path(f"/data/sub-T/{NAME}_behavior+ecephys.nwb"),
        subject="T",
        date=datetime.date(2024, 1, 8),
        task="CO",
        spike_times=tuple(np.asarray(s, float) for s in spikes),
        unit_channel=np.asarray(unit_channel),
        channels=("M1/1", "M1/2", "M1/3"),
        kinematics_time=t,
        position=np.zeros_like(velocity),  # at the centre: the excursion bound never fires
        velocity=velocity,
        trials=trials,
    )


def test_onset_on_a_bell_profile():
    t = np.arange(0, 2, 0.001)
    speed = bell(t, 1.0)
    onset = motor.onset_from_speed(t, speed, 0.5, 1.8, peak_fraction=0.5, onset_fraction=0.15)
    # 0.15 of the peak is crossed at centre - width * sqrt(2 ln(1/0.15)).
    assert onset == pytest.approx(1.0 - 0.08 * np.sqrt(2 * np.log(1 / 0.15)), abs=0.002)


def test_onset_missing_without_reach_or_when_already_moving():
    t = np.arange(0, 2, 0.01)
    assert np.isnan(motor.onset_from_speed(t, np.full_like(t, 1.0), 0.5, 1.8))  # no reach
    assert np.isnan(motor.onset_from_speed(t, bell(t, 0.55, width=0.2), 0.5, 1.8))  # at the cue


def test_movement_onset_of_one_trial():
    session = hand_made_session()
    onset = motor.movement_onset(session, session.trials.iloc[1])
    assert 4.0 + 1.25 < onset < 4.0 + 1.45  # trial 1 starts at 4 s


def test_a_spike_lands_in_its_bin_and_channel():
    session = hand_made_session()
    onset = motor.movement_onset(session, session.trials.iloc[1])
    spike = onset + 0.11  # the middle of bin 18 of (-0.26, 0.5) in 20 ms bins
    session = hand_made_session(spikes=([spike], [spike, spike + 0.02], []))
    trials = motor.bin_trials(session, 0.02, (-0.26, 0.5), min_trials=1)
    assert trials.counts.shape == (4, 38, 3) and trials.velocity.shape == (4, 38, 2)
    assert trials.counts.dtype == np.float32 and trials.counts.sum() == 3
    assert trials.counts[1, 18, 0] == 1  # unit 0 on channel 0
    assert trials.counts[1, 18, 2] == 1 and trials.counts[1, 19, 2] == 1  # unit 1 on channel 2
    np.testing.assert_allclose(trials.bin_times[[0, -1]], [-0.25, 0.49])
    assert trials.session == NAME and trials.trial_id.tolist() == [0, 1, 2, 3]
    assert trials.target.tolist() == [0, 1, 2, 3] and trials.channels == session.channels


def test_binned_velocity_is_the_mean_over_each_bin():
    session = hand_made_session()
    trials = motor.bin_trials(session, 0.05, (-0.2, 0.4), min_trials=1)
    onset = motor.movement_onset(session, session.trials.iloc[0])
    edges = onset - 0.2 + 0.05 * np.arange(13)
    fine = np.linspace(edges[0], edges[-1], 12001)
    dense = np.interp(fine, session.kinematics_time, session.velocity[:, 0])
    expected = dense[:-1].reshape(12, -1).mean(1)
    np.testing.assert_allclose(trials.velocity[0, :, 0], expected, rtol=1e-3, atol=1e-3)
    assert trials.velocity.shape == (4, 12, 2) and np.all(trials.velocity[..., 1] == 0)


def test_invalid_and_onsetless_trials_are_dropped_and_counted():
    session = hand_made_session(n_trials=6)
    session.trials.loc[0, "result"] = "A"
    session.trials.loc[1, "target_id"] = np.nan
    session.trials.loc[2, "go_cue_time"] = session.trials.loc[2, "start_time"] + 2.45  # after it
    trials = motor.bin_trials(session, min_trials=1)
    assert trials.trial_id.tolist() == [3, 4, 5]
    assert trials.dropped == {"invalid": 2, "artifact": 0, "no_onset": 1, "outside_kinematics": 0}


def test_go_cue_alignment_places_windows_on_the_cue_and_needs_no_onset():
    session = hand_made_session(n_trials=5)
    session.trials.loc[2, "go_cue_time"] = session.trials.loc[2, "start_time"] + 1.45  # mid-reach
    spike = 4.0 + 1.0 + 0.11  # trial 1's go cue + 110 ms: bin 5 of (0, 0.8) in 20 ms bins
    session.spike_times = (np.array([spike]), np.array([]), np.array([]))
    onset_aligned = motor.bin_trials(session, min_trials=1)
    trials = motor.bin_trials(session, 0.02, (0.0, 0.8), align="go_cue", min_trials=1)
    assert onset_aligned.trial_id.tolist() == [0, 1, 3, 4]  # trial 2: moving at its cue
    assert trials.trial_id.tolist() == [0, 1, 2, 3, 4]  # no onset is searched
    assert trials.dropped["no_onset"] == 0 and trials.align == "go_cue"
    assert trials.counts[1, 5, 0] == 1 and trials.counts.sum() == 1
    # The reach peaks 0.5 s after the cue: bin 25 of the cue-aligned window.
    assert int(np.argmax(trials.velocity[0, :, 0])) in (24, 25)
    with pytest.raises(ValueError, match="align must be one of"):
        motor.bin_trials(session, align="target_on", min_trials=1)


def test_windows_outside_the_kinematics_are_dropped():
    session = hand_made_session()
    keep = session.kinematics_time < 3.0 * 3 + 1 + 1.5  # ends mid-reach of the last trial
    session.kinematics_time = session.kinematics_time[keep]
    session.velocity = session.velocity[keep]
    session.position = session.position[keep]
    trials = motor.bin_trials(session, min_trials=1)
    assert trials.dropped["outside_kinematics"] == 1 and trials.n_trials == 3


def knock(session, at: float, peak: float = 100.0, width: float = 0.02) -> None:
    """A knock on the handle at ``at`` s: a 100 cm/s velocity blip (≈ 3,000 cm/s²) in y."""
    session.velocity[:, 1] += bell(session.kinematics_time, at, peak, width)


def test_cursor_artifacts_flag_knocks_and_excursions_only():
    session = hand_made_session()
    t = session.kinematics_time
    assert not motor.cursor_artifacts(t, session.position, session.velocity).any()  # reaches
    knock(session, 2.0)
    bad = motor.cursor_artifacts(t, session.position, session.velocity)
    assert bad.any() and np.all(np.abs(t[bad] - 2.0) < 0.05)
    unbounded = motor.cursor_artifacts(t, session.position, session.velocity, max_acceleration=None)
    assert not unbounded.any()
    position = np.full_like(session.position, 5.0)  # the centre hold need not be the origin
    position[100:110, 0] = 5.0 + 12.0  # 12 cm out: the hand off the handle
    bad = motor.cursor_artifacts(t, position, np.zeros_like(position))
    # padded as brainsets pads it: 1.5 s (150 samples) after it; before it the session's
    # start (sample 0, 1 s earlier) cuts the dilation, which the erosion then shrinks by 0.5 s
    assert np.flatnonzero(bad).tolist() == list(range(50, 260))
    assert not motor.cursor_artifacts(t, position, 0 * position, max_excursion=None).any()
    given = np.zeros_like(position)
    given[50] = [0.0, 2000.0]  # a file's own cursor_acc is used when there is one
    bad = motor.cursor_artifacts(t, np.zeros_like(position), np.zeros_like(position), given)
    assert np.flatnonzero(bad).tolist() == [49, 50]  # and the sample before, as brainsets


def test_trials_with_a_knock_in_their_reach_or_window_are_dropped_and_counted():
    session = hand_made_session(n_trials=6)
    knock(session, 1.0 + 1.8)  # trial 0: during the reach (go cue +1.0 s, stop +2.5 s)
    knock(session, 4.0 + 0.85)  # trial 1: before its go cue, inside a window from -0.6 s
    knock(session, 3 * 3 + 1.0 + 2.8)  # between trials 3 and 4: harms nothing
    window = (-0.6, 0.5)
    trials = motor.bin_trials(session, 0.02, window, min_trials=1)
    assert trials.trial_id.tolist() == [2, 3, 4, 5]
    assert trials.dropped == {"invalid": 0, "artifact": 2, "no_onset": 0, "outside_kinematics": 0}
    assert motor.bin_trials(session, min_trials=1).trial_id.tolist() == [1, 2, 3, 4, 5]
    kept = motor.bin_trials(session, 0.02, window, min_trials=1, max_acceleration=None)
    assert kept.n_trials == 6 and np.abs(kept.velocity[..., 1]).max() > 20
    with pytest.raises(DataError, match=f"{NAME}.*only 4 usable trials.*2 artifact.*1500.*10"):
        motor.bin_trials(session, 0.02, window, min_trials=5)


def test_too_few_trials_names_the_file():
    with pytest.raises(DataError, match=f"{NAME}.*only 4 usable trials"):
        motor.bin_trials(hand_made_session(), min_trials=5)


def test_window_must_be_whole_bins():
    with pytest.raises(ValueError, match="whole number"):
        motor.bin_trials(hand_made_session(), 0.04, (-0.25, 0.5), min_trials=1)


@pytest.mark.parametrize("align", ["movement_onset", "go_cue"])
def test_save_load_round_trip(tmp_path, align):
    window = (-0.3, 0.5) if align == "movement_onset" else (0.0, 0.8)
    trials = motor.bin_trials(
        hand_made_session(spikes=([2.4], [], [])), 0.02, window, align=align, min_trials=1
    )
    path = tmp_path / "trials" / f"{NAME}.npz"
    motor.save_trials(path, trials)
    loaded = motor.load_trials(path)
    for name in ("counts", "velocity", "target", "trial_id"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(trials, name))
        assert getattr(loaded, name).dtype == getattr(trials, name).dtype
    for name in ("session", "subject", "date", "channels", "bin_s", "window_s", "dropped", "align"):
        assert getattr(loaded, name) == getattr(trials, name)


def test_load_rejects_other_files(tmp_path):
    path = tmp_path / "x.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a trials file"):
        motor.load_trials(path)


def test_onset_walks_back_from_the_first_half_peak_crossing():
    """A reach with a pause (a corrective sub-movement): the walk back starts at the first
    sample at half the peak (60, sample 4), not at the peak (sample 8), and stops at the last
    sample under 15 % of the peak before it (10, sample 2), not the first above it."""
    t = np.arange(11) * 0.01
    speed = np.array([0.0, 2, 10, 40, 60, 40, 5, 50, 100, 50, 0])
    assert motor.onset_from_speed(t, speed, 0.0, 0.1) == pytest.approx(0.02)


def test_trialdata_onset_falls_back_to_the_first_fast_sample():
    """A slow ramp (0.5 cm/s per sample, under TrialData's 1.9) has no acceleration peak: the
    onset is the first sample faster than 10 cm/s (10.5 cm/s at 0.21 s)."""
    t = np.arange(100) * 0.01
    assert motor.onset_trialdata(t, 0.5 * np.arange(100), 0.0, 0.99) == pytest.approx(0.21)


def test_excursions_are_measured_from_the_median_position():
    """The centre hold is the median position: 30 % of the session held 9 cm out does not move
    it, so a sample 8 cm the other way is inside the 10 cm bound (from the mean, 2.7 cm out,
    it would be 10.7 cm away and flagged)."""
    t = np.arange(1000) * 0.01
    position = np.zeros((1000, 2))
    position[:300, 0] = 9.0
    position[700, 0] = -8.0
    bad = motor.cursor_artifacts(t, position, np.zeros_like(position), max_acceleration=None)
    assert not bad.any()


def test_a_cursor_artifact_after_the_window_but_before_the_trial_ends_drops_the_trial():
    """Implausible anywhere from the go cue to the trial's end drops the trial, even outside
    its window: trial 0's cursor jumps 1.3 s after its go cue, 0.5 s after its window ends."""
    session = hand_made_session()
    session.acceleration = np.zeros_like(session.velocity)
    session.acceleration[330] = [0.0, 2000.0]  # t = 3.3 s; go cue 2.0 s, stop 3.5 s
    trials = motor.bin_trials(session, 0.02, (-0.3, 0.5), min_trials=1)
    assert trials.trial_id.tolist() == [1, 2, 3]
    assert trials.dropped == {"invalid": 0, "artifact": 1, "no_onset": 0, "outside_kinematics": 0}


def test_trials_without_a_go_cue_or_longer_than_6_s_are_invalid():
    """Both are not valid centre-out trials (counted as invalid, not as lacking an onset)."""
    session = hand_made_session(n_trials=5)
    session.trials.loc[0, "go_cue_time"] = np.nan
    session.trials.loc[1, "stop_time"] = session.trials.loc[1, "start_time"] + 6.5
    trials = motor.bin_trials(session, min_trials=1)
    assert trials.trial_id.tolist() == [2, 3, 4]
    assert trials.dropped == {"invalid": 2, "artifact": 0, "no_onset": 0, "outside_kinematics": 0}


def test_a_spike_on_a_bin_edge_counts_in_the_bin_it_starts():
    """Bins are [start, stop): a spike exactly at the edge between bins 17 and 18 is in 18."""
    session = hand_made_session()
    onset = motor.movement_onset(session, session.trials.iloc[1])
    edge = (onset + -0.26) + 0.02 * 18  # computed as the binning computes its edges
    session = hand_made_session(spikes=([edge], [], []))
    trials = motor.bin_trials(session, 0.02, (-0.26, 0.5), min_trials=1)
    assert trials.counts[1, 18, 0] == 1 and trials.counts.sum() == 1


def test_a_cohort_binned_two_ways_or_twice_names_the_file(tmp_path):
    session = hand_made_session(spikes=([2.4], [], []))
    paths = []
    for name, bin_s in (("a", 0.02), ("b", 0.02), ("c", 0.04)):
        trials = motor.bin_trials(session, bin_s, (-0.2, 0.2), min_trials=1)
        paths.append(tmp_path / f"{name}.npz")
        motor.save_trials(paths[-1], replace(trials, session=name))
    loaded = motor.load_cohort(paths[:2])
    assert [t.session for t in loaded] == ["a", "b"]
    with pytest.raises(DataError, match=r"c\.npz: bin_s 0\.04 differs from 0\.02 in .*a\.npz"):
        motor.load_cohort(paths)
    motor.save_trials(paths[1], replace(loaded[1], session="a"))
    with pytest.raises(DataError, match=r"b\.npz: session 'a' is also .*a\.npz"):
        motor.load_cohort(paths[:2])
