"""Motor cortex sessions (DANDI 000688 layout): reader, selection and simulator."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pytest

from brainlatent.datasets.manifest import read_manifest
from brainlatent.datasets.motor_cortex import read_motor_session, select_sessions, session_name
from brainlatent.datasets.simulate_motor import session_days, simulate_motor_sessions
from brainlatent.errors import ConfigError, DataError

MANIFEST = Path(__file__).parents[2] / "workflow" / "manifests" / "motor-cortex.tsv.gz"
SMALL = dict(
    n_sessions=4,
    span_days=60,
    n_electrodes=32,
    units_per_session=40,
    trials_per_session=24,
    seed=3,
)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp("motor")
    paths = simulate_motor_sessions(out, **SMALL)
    return paths, np.load(out / "ground_truth" / "sub-S_truth.npz")


def test_reader_round_trip(simulated):
    paths, truth = simulated
    assert [session_name(p) for p in paths][:2] == [
        "sub-S_ses-CO-20240108",
        "sub-S_ses-CO-20240115",
    ]
    for k, path in enumerate(paths):
        session = read_motor_session(path)
        assert session.subject == "S" and session.task == "CO"
        assert session.date == datetime.date(2024, 1, 8) + datetime.timedelta(
            days=int(truth["days"][k])
        )
        assert session.channels == tuple(f"M1/{e}" for e in range(32))
        units = truth["unit_session"] == k
        np.testing.assert_array_equal(session.unit_channel, truth["unit_electrode"][units])
        assert np.bincount(session.unit_channel).max() <= 2
        n = session.kinematics_time.shape[0]
        assert session.position.shape == session.velocity.shape == (n, 2)
        gradient = np.gradient(session.velocity, session.kinematics_time, axis=0)
        np.testing.assert_allclose(session.acceleration, gradient)  # the file's cursor_acc
        assert np.allclose(np.diff(session.kinematics_time), 0.01)
        assert list(session.trials.columns) == [
            "start_time",
            "stop_time",
            "target_on_time",
            "go_cue_time",
            "result",
            "target_id",
        ]
        assert len(session.trials) == SMALL["trials_per_session"]
        assert set(session.trials["result"]) <= {"R", "A", "F"}
        rewarded = session.trials[session.trials["result"] == "R"]
        assert rewarded["target_id"].between(0, 7).all() and len(rewarded) > 15
        duration = session.kinematics_time[-1]
        counts = np.array([len(t) for t in session.spike_times])
        np.testing.assert_allclose(counts, truth["mean_rate"][units] * duration, rtol=0.01, atol=2)
        assert 4 < counts.sum() / duration / len(counts) < 16  # Hz, as in M1
        assert all(np.all(np.diff(t) >= 0) for t in session.spike_times)
        # The cursor reaches 8 cm at 20-50 cm/s and comes back to the centre.
        speed = np.linalg.norm(session.velocity, axis=1)
        assert 20 < np.percentile(speed, 99.5) < 60
        assert np.abs(session.position).max() < 11 and np.abs(session.position[-1]).max() < 0.2


def test_simulator_is_deterministic_and_units_turn_over(simulated, tmp_path):
    paths, truth = simulated
    again = simulate_motor_sessions(tmp_path, **SMALL)
    assert [p.relative_to(tmp_path) for p in again] == [
        p.relative_to(paths[0].parents[1]) for p in paths
    ]
    for new, old in zip(again, paths, strict=True):
        assert new.read_bytes() == old.read_bytes()
    assert (tmp_path / "ground_truth" / "sub-S_truth.npz").read_bytes() == (
        paths[0].parents[1] / "ground_truth" / "sub-S_truth.npz"
    ).read_bytes()
    np.testing.assert_array_equal(session_days(8, 60), [0, 1, 5, 11, 20, 31, 44, 60])
    ids = [set(truth["unit_id"][truth["unit_session"] == k]) for k in range(len(paths))]
    shared = [len(ids[0] & ids[k]) / len(ids[0]) for k in range(len(paths))]
    assert shared[1] > 0.7 and shared[-1] < shared[1] - 0.4
    assert truth["readout"].shape == (2, truth["tuning"].shape[1])


def test_simulated_knocks_move_only_the_cursor_and_binning_drops_their_trials(simulated, tmp_path):
    from brainlatent.preprocessing.motor import bin_trials, cursor_artifacts

    paths, truth = simulated
    assert truth["artifact_time"].shape == (0,)  # none by default
    knocked = simulate_motor_sessions(tmp_path, **{**SMALL, "artifacts_per_minute": 3.0})
    knocks = np.load(tmp_path / "ground_truth" / "sub-S_truth.npz")
    assert len(knocks["artifact_time"]) >= 4
    dropped = 0
    for k, (new, old) in enumerate(zip(knocked, paths, strict=True)):
        with_knocks, without = read_motor_session(new), read_motor_session(old)
        for a, b in zip(with_knocks.spike_times, without.spike_times, strict=True):
            np.testing.assert_array_equal(a, b)  # the spikes do not see the knocks
        assert with_knocks.trials.equals(without.trials)
        assert np.array_equal(with_knocks.kinematics_time, without.kinematics_time)
        t = with_knocks.kinematics_time
        bad = cursor_artifacts(  # with the file's cursor_acc, as the binning does
            t, with_knocks.position, with_knocks.velocity, with_knocks.acceleration
        )
        assert not cursor_artifacts(
            t, without.position, without.velocity, without.acceleration
        ).any()
        for time in knocks["artifact_time"][knocks["artifact_session"] == k]:
            assert bad[np.abs(t - time) < 0.1].any()  # every knock is seen
        binned, clean = bin_trials(with_knocks, min_trials=1), bin_trials(without, min_trials=1)
        assert set(binned.trial_id) <= set(clean.trial_id) and clean.dropped["artifact"] == 0
        assert binned.dropped["artifact"] == clean.n_trials - binned.n_trials
        kept = np.isin(clean.trial_id, binned.trial_id)
        np.testing.assert_allclose(binned.velocity, clean.velocity[kept], atol=1e-6)
        dropped += binned.dropped["artifact"]
    assert dropped >= 1


def test_corrective_submovements_vary_reaches_and_keep_the_trials(simulated, tmp_path):
    from brainlatent.preprocessing.motor import bin_trials

    paths, truth = simulated
    corrected = simulate_motor_sessions(tmp_path, **{**SMALL, "corrections": 0.5})
    truth_c = np.load(tmp_path / "ground_truth" / "sub-S_truth.npz")
    np.testing.assert_array_equal(truth_c["movement_onset"], truth["movement_onset"])
    changed = reaches = 0
    for new, old in zip(corrected, paths, strict=True):
        with_c, without = read_motor_session(new), read_motor_session(old)
        assert with_c.trials.equals(without.trials)  # the task is the same
        # the neurons see the corrections (same latent dynamics)
        assert not all(
            np.array_equal(a, b)
            for a, b in zip(with_c.spike_times, without.spike_times, strict=True)
        )
        binned, clean = bin_trials(with_c, min_trials=1), bin_trials(without, min_trials=1)
        assert np.array_equal(binned.trial_id, clean.trial_id)  # none dropped or added
        assert dict(binned.dropped) == dict(clean.dropped)
        moved = np.abs(binned.velocity - clean.velocity).max(axis=(1, 2))
        changed, reaches = changed + int((moved > 5.0).sum()), reaches + len(moved)
        # and the returns take the hand back to the centre: no drift over the session
        assert np.abs(with_c.position[-1]).max() < 0.1
    assert 0.3 < changed / reaches < 0.7, (changed, reaches)
    with pytest.raises(ValueError, match="corrections is a fraction"):
        simulate_motor_sessions(tmp_path / "bad", **{**SMALL, "corrections": 1.5})


def test_groups_filter(tmp_path):
    (path,) = simulate_motor_sessions(
        tmp_path, **{**SMALL, "n_sessions": 1, "arrays": ("M1", "PMd"), "n_electrodes": 12}
    )
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "r") as io:  # the real files' group names, read as the areas
        assert set(io.read().electrode_groups) == {"electrode_group_M1", "electrode_group_PMd"}
    both = read_motor_session(path)
    m1 = read_motor_session(path, groups=["M1"])
    assert len(both.channels) == 24 and m1.channels == tuple(f"M1/{e}" for e in range(12))
    in_m1 = np.array([both.channels[c].startswith("M1/") for c in both.unit_channel])
    assert len(m1.spike_times) == in_m1.sum() > 0
    kept = [t for t, keep in zip(both.spike_times, in_m1, strict=True) if keep]
    assert all(np.array_equal(a, b) for a, b in zip(kept, m1.spike_times, strict=True))
    np.testing.assert_array_equal(m1.unit_channel, both.unit_channel[in_m1])
    with pytest.raises(DataError, match=r"sub-S_ses-CO-.*\['S1'\].*\['M1', 'PMd'\]"):
        read_motor_session(path, groups=["S1"])


# --------------------------------------------------------------------------- bad files


def _write(
    path: Path,
    omit: str = "",
    nan: bool = False,
    short: bool = False,
    shuffle: bool = False,
    nan_time: bool = False,
    nan_spike: bool = False,
) -> Path:
    """A tiny session in the real layout, without ``omit`` (``shuffle``: trials out of order)."""
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.behavior import BehavioralTimeSeries, Position, SpatialSeries
    from pynwb.file import Subject

    start = datetime.datetime(2013, 10, 3, tzinfo=datetime.UTC)
    nwb = NWBFile(
        session_description="test",
        identifier="test",
        session_start_time=start,
        subject=Subject(subject_id="C", species="Macaca mulatta"),
    )
    device = nwb.create_device("array")
    group = nwb.create_electrode_group("M1", description="M1", location="M1", device=device)
    for _ in range(4):
        nwb.add_electrode(group=group, location="M1")
    if omit != "units":
        if omit != "electrodes":
            nwb.add_unit_column(name="electrodes", description="electrode", table=True, index=True)
        for u in range(3):
            extra = {} if omit == "electrodes" else {"electrodes": [u]}
            times = np.sort(np.linspace(0.1, 19.5, 50) + u / 100)
            if nan_spike and u == 1:
                times[10] = np.nan
            nwb.add_unit(spike_times=times, **extra)
    columns = ["target_on_time", "go_cue_time", "result", "target_id"]
    columns.remove(omit) if omit in columns else None
    for column in columns:
        nwb.add_trial_column(name=column, description=column)
    for k in (2, 0, 1) if shuffle else range(3):
        row = dict(target_on_time=k + 0.3, go_cue_time=k + 0.8, result="R", target_id=float(k))
        nwb.add_trial(start_time=float(k), stop_time=k + 0.9, **{c: row[c] for c in columns})
    if omit != "behavior":
        t = np.arange(0, 10.0 if short else 20.0, 0.01)
        pos = np.stack([np.sin(t), np.cos(t)], 1)
        if nan:
            pos[5, 0] = np.nan
        if nan_time:
            t = t.copy()
            t[7] = np.nan
        behavior = nwb.create_processing_module("behavior", "kinematics")
        if omit != "cursor_pos":
            series = SpatialSeries(
                name="cursor_pos", data=pos, timestamps=t, reference_frame="c", unit="cm"
            )
            behavior.add(Position(spatial_series=series))
        if omit != "cursor_vel":
            vel = TimeSeries(
                name="cursor_vel", data=np.gradient(pos, t, axis=0), timestamps=t, unit="cm/s"
            )
            behavior.add(BehavioralTimeSeries(name="Velocity", time_series=vel))
    path = path / "sub-C" / "sub-C_ses-CO-20131003_behavior+ecephys.nwb"
    path.parent.mkdir(parents=True, exist_ok=True)
    with NWBHDF5IO(str(path), mode="w") as io:
        io.write(nwb)
    return path


def test_minimal_real_layout_reads(tmp_path):
    session = read_motor_session(_write(tmp_path))
    assert session.subject == "C" and session.date == datetime.date(2013, 10, 3)
    assert session.channels == ("M1/0", "M1/1", "M1/2", "M1/3")
    np.testing.assert_array_equal(session.unit_channel, [0, 1, 2])
    assert session.acceleration is None  # no cursor_acc: binning derives it from the velocity
    # Without cursor_vel the velocity is the gradient of the position.
    derived = read_motor_session(_write(tmp_path / "v", omit="cursor_vel"))
    np.testing.assert_allclose(derived.velocity, session.velocity)


def test_trials_are_read_in_time_order(tmp_path):
    """The calibration block is a session's first trials: a table out of order is sorted."""
    path = _write(tmp_path, shuffle=True)
    session = read_motor_session(path)
    assert session.trials["start_time"].tolist() == [0.0, 1.0, 2.0]
    assert session.trials["target_id"].tolist() == [0.0, 1.0, 2.0]  # rows moved whole
    assert session.trials.index.tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"omit": "units"}, "no units table"),
        ({"omit": "electrodes"}, "units table has no 'electrodes'"),
        ({"omit": "behavior"}, "no 'behavior' processing module"),
        ({"omit": "cursor_pos"}, "no 'cursor_pos'"),
        ({"omit": "target_id"}, r"trials table has no column\(s\) \['target_id'\]"),
        ({"omit": "go_cue_time"}, r"no column\(s\) \['go_cue_time'\]"),
        ({"nan": True}, "'cursor_pos' has NaN"),
        ({"nan_time": True}, "'cursor_pos' has NaN/inf in 1 timestamps"),
        ({"nan_spike": True}, r"units \[1\] have NaN or infinite spike times"),
        ({"short": True}, "kinematics end at 9.99 s but spikes go on"),
    ],
)
def test_bad_files_name_the_file(tmp_path, kwargs, message):
    path = _write(tmp_path, **kwargs)
    with pytest.raises(DataError, match=message) as error:
        read_motor_session(path)
    assert str(path) in str(error.value)


def _restored(path: Path, tmp_path: Path, scale: float, **attrs) -> Path:
    """A copy of a session whose cursor series store ``scale`` × their values, with ``attrs``
    (unit, conversion, offset) set on each series' data."""
    import h5py

    copy = tmp_path / "sub-S" / path.name
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(path.read_bytes())
    with h5py.File(copy, "r+") as f:
        for where in ("Position/cursor_pos", "Velocity/cursor_vel", "Acceleration/cursor_acc"):
            data = f[f"processing/behavior/{where}/data"]
            data[...] = data[...] * scale
            for key, value in attrs.items():
                data.attrs[key] = value[where.split("_")[-1]] if isinstance(value, dict) else value
    return copy


def test_kinematics_are_read_in_cm_whatever_unit_the_file_stores(simulated, tmp_path):
    """NWB's value is data × conversion + offset in the series' unit: the same movement stored
    in mm, or in mm with a conversion to m, reads as the simulator's cm; a unit the reader
    cannot place, or a velocity labelled as a position, stops naming the file and the key
    that says what the stored values are in (which also overrides a wrong label)."""
    path = simulated[0][0]
    cm = read_motor_session(path)
    mm = {"pos": "mm", "vel": "mm/s", "acc": "mm/s^2"}
    for scale, attrs, cursor_unit in (
        (10.0, {"unit": mm}, None),
        (10.0, {"unit": {"pos": "meters", "vel": "m/s", "acc": "m/s²"}, "conversion": 1e-3}, None),
        (1e-2, {"unit": {"pos": "m", "vel": "m/s", "acc": "m/s2"}}, None),
        (1.0, {"unit": "meters"}, "cm"),  # pynwb's default label left on values in cm
        (10.0, {"unit": "a.u."}, "mm"),
    ):
        other = read_motor_session(
            _restored(path, tmp_path / str(len(attrs)) / str(scale), scale, **attrs),
            cursor_unit=cursor_unit,
        )
        for name in ("position", "velocity", "acceleration"):
            np.testing.assert_allclose(getattr(other, name), getattr(cm, name), rtol=1e-9)
    offset = read_motor_session(
        _restored(path, tmp_path / "offset", 1.0, unit={"pos": "cm", "vel": "cm/s", "acc": "cm"},
                  offset=2.0)
    )  # fmt: skip
    np.testing.assert_allclose(offset.position, cm.position + 2.0)
    for attrs, message in (
        ({"unit": "a.u."}, r"'cursor_pos' is in 'a.u.': expected a length \(cm, mm, m\)"),
        ({"unit": {"pos": "cm", "vel": "cm/s^2", "acc": "cm/s^2"}}, "per second"),
    ):
        bad = _restored(path, tmp_path / "bad" / str(len(message)), 1.0, **attrs)
        with pytest.raises(DataError, match=message) as error:
            read_motor_session(bad)
        assert str(bad) in str(error.value) and "motor.cursor_unit" in str(error.value)


def test_truncated_file(simulated, tmp_path):
    data = simulated[0][0].read_bytes()
    path = tmp_path / "sub-S" / simulated[0][0].name
    path.parent.mkdir()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cannot read NWB file") as error:
        read_motor_session(path)
    assert str(path) in str(error.value)


# --------------------------------------------------------------------------- selection


def test_select_sessions_on_the_real_manifest():
    manifest = read_manifest(MANIFEST)
    paths = select_sessions(manifest)
    assert len(paths) == 84
    subjects = [p.split("/")[0] for p in paths]
    assert {s: subjects.count(s) for s in set(subjects)} == {
        "sub-C": 53,
        "sub-J": 3,
        "sub-M": 22,
        "sub-T": 6,
    }
    assert paths == sorted(paths) and paths[0] == "sub-C/sub-C_ses-CO-20131003_behavior+ecephys.nwb"
    chosen = select_sessions(manifest, subjects=["C"], dates=["2013-10-01", "2013-10-31"])
    assert chosen[:2] == [
        "sub-C/sub-C_ses-CO-20131003_behavior+ecephys.nwb",
        "sub-C/sub-C_ses-CO-20131022_behavior+ecephys.nwb",
    ]
    assert all("_ses-CO-201310" in p for p in chosen)
    with pytest.raises(ConfigError, match=r"unknown subject\(s\) \['X'\].*\['C', 'J', 'M', 'T'\]"):
        select_sessions(manifest, subjects=["X"])
    with pytest.raises(ConfigError, match=r"unknown task\(s\) \['XY'\].*'CO'"):
        select_sessions(manifest, tasks=["XY"])
    with pytest.raises(ConfigError, match="no session between 2001-01-01 and 2001-12-31"):
        select_sessions(manifest, subjects="C", dates=["2001-01-01", "2001-12-31"])
    with pytest.raises(ConfigError, match="YYYY-MM-DD"):
        select_sessions(manifest, dates=["2013/10/01", "2013-10-31"])


def test_simulate_script_writes_the_requested_paths(tmp_path):
    import json
    import runpy
    import sys

    names = [f"sub-Q_ses-CO-2024010{d}_behavior+ecephys.nwb" for d in (8, 9)]
    nwb = [tmp_path / "nwb" / name for name in names]
    simulation = {"subject": "Q", "days": [0, 1], "trials_per_session": 10, "n_electrodes": 16}
    argv = ["x", "--nwb", *map(str, nwb), "--truth", str(tmp_path / "truth.npz")]
    argv += ["--simulation", json.dumps({**simulation, "units_per_session": 12})]
    script = Path(__file__).parents[2] / "scripts" / "simulate_motor_sessions.py"
    old, sys.argv = sys.argv, argv
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = old
    assert all(p.is_file() for p in nwb) and (tmp_path / "truth.npz").is_file()
    assert read_motor_session(nwb[1]).date == datetime.date(2024, 1, 9)
    np.testing.assert_array_equal(np.load(tmp_path / "truth.npz")["days"], [0, 1])


def test_your_own_file_may_be_named_anything(tmp_path):
    """Your chronic sessions: the name is the file's stem; subject and date from the file."""
    (made,) = simulate_motor_sessions(
        tmp_path, subject="Q", days=[5], trials_per_session=20, units_per_session=8,
        n_electrodes=8, seed=1,
    )  # fmt: skip
    own = made.rename(tmp_path / "monkey q, day 5.nwb")
    session = read_motor_session(own)
    assert session_name(own) == "monkey_q__day_5"
    assert session.subject == "Q" and session.task == "unknown"
    assert str(session.date) == "2024-01-13"


def test_both_onset_rules_find_the_simulated_onsets(simulated):
    """Ours and TrialData's, against the simulator's true onsets (its latent's start)."""
    from brainlatent.preprocessing.motor import bin_trials, onset_from_speed, onset_trialdata

    paths, truth = simulated
    session = read_motor_session(paths[0])
    true_onset = truth["movement_onset"][truth["trial_session"] == 0]
    speed = np.hypot(session.velocity[:, 0], session.velocity[:, 1])
    t = session.kinematics_time
    rewarded = np.flatnonzero((session.trials["result"] == "R").to_numpy())
    errors = {}
    for name, rule in (("speed", onset_from_speed), ("trialdata", onset_trialdata)):
        found = np.array(
            [
                rule(t, speed, session.trials["go_cue_time"][i], session.trials["stop_time"][i])
                for i in rewarded
            ]
        )
        errors[name] = np.abs(found - true_onset[rewarded])
    # the speed rule walks back to 15 % of the peak (33 ms after the latent's start here),
    # TrialData's to half the first acceleration peak (22 ms): a few samples late, both
    assert np.nanmedian(errors["speed"]) < 0.05 and np.nanmedian(errors["trialdata"]) < 0.05
    assert np.isfinite(errors["trialdata"]).all()  # TrialData's rule drops no reach
    binned = bin_trials(session, min_trials=1, onset="trialdata")
    assert binned.dropped["no_onset"] == 0 and binned.n_trials >= len(rewarded) - 2
    with pytest.raises(ValueError, match="onset must be one of"):
        bin_trials(session, min_trials=1, onset="threshold")
