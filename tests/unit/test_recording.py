"""A user's own recording: reader (NWB, npz), place-cell simulator, behaviour decoding, figure."""

from __future__ import annotations

import dataclasses
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace as Stub

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA
from sklearn.metrics import r2_score
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from brainlatent.datasets import simulate_place_cells as sim
from brainlatent.datasets.recording import (
    Recording,
    distance_groups,
    position_groups,
    read_recording,
)
from brainlatent.decoding import behavior as bd
from brainlatent.errors import DataError


@pytest.fixture(scope="module")
def session():
    return sim.simulate_session(sim.PlaceCellSimulation(n_neurons=60, duration_s=60.0, seed=1))


@pytest.fixture(scope="module")
def files(session, tmp_path_factory):
    root = tmp_path_factory.mktemp("recording")
    sim.write_nwb(session, root / "rec.nwb")
    sim.write_npz(session, root / "rec.npz")
    return root


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


# --- simulator ----------------------------------------------------------------------------


def test_simulated_rat_runs_laps_with_direction_selective_place_cells(session):
    assert session.counts.shape == (2400, 60)
    assert session.position.min() >= 0 and session.position.max() <= 1.6
    assert set(np.unique(session.direction)) == {sim.RIGHT, sim.LEFT}
    # Running right means position going up, left going down.
    step = np.diff(session.position)
    same_lap = np.diff(session.lap) == 0
    assert (step[(session.direction[1:] == sim.RIGHT) & same_lap] >= -0.01).all()
    assert (step[(session.direction[1:] == sim.LEFT) & same_lap] <= 0.01).all()
    # Place cells fire most inside their field of the current direction.
    cell = int(np.argmax(np.where(session.place_cell, session.peaks.max(1), 0)))
    d = int(np.argmax(session.peaks[cell]))
    inside = (np.abs(session.position - session.centers[cell, d]) < session.widths[cell, d]) & (
        session.direction == d
    )
    assert session.counts[inside, cell].mean() > 5 * session.counts[~inside, cell].mean()


def test_simulation_is_reproducible():
    params = sim.PlaceCellSimulation(n_neurons=10, duration_s=10.0, seed=3)
    assert np.array_equal(sim.simulate_session(params).counts, sim.simulate_session(params).counts)


# --- reader --------------------------------------------------------------------------------


def test_nwb_round_trip(session, files):
    rec = read_recording(files / "rec.nwb", discrete=["direction"])
    assert rec.neural.shape == (2400, 60) and rec.neural.dtype == np.float32
    assert rec.behavior.shape == (2400, 2)
    assert rec.behavior_names == ("position", "direction")
    assert rec.discrete == ("direction",)
    assert list(rec.is_discrete) == [False, True]
    assert rec.rate == 40.0 and rec.resampling == ""
    np.testing.assert_array_equal(rec.neural, session.counts)
    np.testing.assert_array_equal(rec.behavior, session.behavior)
    np.testing.assert_allclose(rec.timestamps[:3], [0, 0.025, 0.05])


def test_npz_round_trip_takes_names_discrete_and_rate_from_the_file(session, files):
    rec = read_recording(files / "rec.npz")
    assert rec.neural.shape == (2400, 60) and rec.behavior.shape == (2400, 2)
    assert rec.behavior_names == ("position", "direction") and rec.discrete == ("direction",)
    assert rec.rate == 40.0
    np.testing.assert_array_equal(rec.neural, session.counts)
    np.testing.assert_array_equal(rec.behavior, session.behavior)


def test_npz_minimal_needs_a_rate(tmp_path):
    path = _npz(tmp_path / "r.npz", neural=np.ones((250, 3)), behavior=np.arange(250.0))
    with pytest.raises(DataError, match=r"r\.npz.*sampling rate"):
        read_recording(path)
    rec = read_recording(path, rate=30.0, behavior_names=["x"])
    assert rec.behavior.shape == (250, 1) and rec.behavior_names == ("x",) and rec.discrete == ()
    with pytest.raises(DataError, match="30 Hz but the config says 20"):
        path = _npz(tmp_path / "s.npz", neural=np.ones((5, 1)), behavior=np.ones(5), rate=30.0)
        read_recording(path, rate=20.0)


def test_missing_series_names_the_file_and_the_available_ones(files):
    with pytest.raises(DataError, match=r"rec\.nwb.*no neural series named 'dff'.*spike_counts"):
        read_recording(files / "rec.nwb", neural="dff")
    with pytest.raises(DataError, match=r"no behaviour series named 'speed'.*Position/position"):
        read_recording(files / "rec.nwb", behavior=["position", "speed"])


def test_a_path_tail_selects_a_series(files):
    rec = read_recording(
        files / "rec.nwb", neural="ecephys/spike_counts", behavior=["Position/position"]
    )
    assert rec.behavior_names == ("position",)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"neural": np.full((10, 2), np.nan), "behavior": np.ones(10)}, "neural contains 20 NaN"),
        (
            {"neural": np.ones((10, 2)), "behavior": np.r_[np.ones(9), np.inf]},
            "behaviour column 'behavior_0' contains 1 infinite",
        ),
        ({"neural": np.ones((10, 2)), "behavior": np.ones(9)}, "10 samples but behavior has 9"),
        ({"neural": np.ones((10, 2, 2)), "behavior": np.ones(10)}, r"neural must be 2D"),
        ({"neural": np.ones((10, 2)), "behavior": np.ones((10, 2, 1))}, r"behavior must be 1D"),
        ({"neural": np.ones((0, 2)), "behavior": np.ones(0)}, "neural is empty"),
        ({"neural": np.ones((10, 2))}, r"missing arrays \['behavior'\]"),
        (
            {"neural": np.ones((4, 2)), "behavior": [0, 1, 0.5, 1], "discrete": [True]},
            "non-integer",
        ),
    ],
)
def test_bad_npz_input_names_the_file(tmp_path, arrays, message):
    path = _npz(tmp_path / "bad.npz", rate=10.0, **arrays)
    with pytest.raises(DataError, match=rf"bad\.npz: .*{message}"):
        read_recording(path)


def test_unknown_discrete_column_lists_the_columns(files):
    with pytest.raises(DataError, match=r"\['dir'\] are not behaviour columns.*'direction'"):
        read_recording(files / "rec.npz", discrete=["dir"])


@pytest.mark.parametrize(
    ("stored", "names", "renamed", "discrete"),
    [
        ({}, None, ["pos", "dir"], ("dir",)),  # a mask of unnamed columns
        ({"behavior_names": np.array(["x", "d"])}, None, ["pos", "dir"], ("dir",)),
        ({"behavior_names": np.array(["x", "d"])}, np.array(["d"]), ["pos", "dir"], ("dir",)),
        # names swapped: the file's discrete "d" (its first column) is now called "x"
        ({"behavior_names": np.array(["d", "x"])}, np.array(["d"]), ["x", "d"], ("x",)),
    ],
)
def test_the_files_discrete_columns_follow_the_renaming(tmp_path, stored, names, renamed, discrete):
    """``behavior_names`` renames the columns; the npz's ``discrete`` (a mask: by position, or
    the file's own names) marks the same columns under their new names."""
    gen = np.random.default_rng(0)
    codes = gen.integers(0, 2, 200).astype(float)
    behavior = np.column_stack([gen.uniform(0, 1, 200), codes])
    if discrete[0] == renamed[0]:  # the file's first column is its discrete one
        behavior = behavior[:, ::-1]
    flags = np.array([c == discrete[0] for c in renamed]) if names is None else names
    path = _npz(
        tmp_path / "r.npz", neural=gen.poisson(1.0, (200, 3)), behavior=behavior,
        discrete=flags, rate=np.float64(40.0), **stored,
    )  # fmt: skip
    recording = read_recording(path, behavior_names=renamed)
    assert recording.behavior_names == tuple(renamed) and recording.discrete == discrete
    np.testing.assert_array_equal(recording.behavior[:, recording.is_discrete][:, 0], codes)


def test_direction_from_a_position_across_a_tracking_gap(tmp_path):
    """Tracking lost for 1 s (NaN) while the rat runs 31 % of the track: the samples are
    dropped, and the runs on either side of the gap give the direction; no glitch is claimed."""
    rate = 40.0
    t = np.arange(0, 60, 1 / rate)
    position = 0.8 + 0.8 * np.sin(2 * np.pi * t / 10)
    lost = (t >= 4.5) & (t < 5.5)
    assert abs(position[~lost][180] - position[~lost][179]) / 1.6 > 0.3
    gen = np.random.default_rng(0)
    path = _npz(
        tmp_path / "gap.npz", neural=gen.poisson(0.5, (len(t), 4)),
        behavior=np.where(lost, np.nan, position), behavior_names=np.array(["position"]),
        rate=np.float64(rate),
    )  # fmt: skip
    with pytest.warns(UserWarning, match="40 of 2400 samples dropped"):
        recording = read_recording(path, direction_from="position")
    truth = (np.gradient(position, t) < 0)[~lost]
    moving = np.abs(np.gradient(position, t))[~lost] > 0.1
    assert recording.behavior_names == ("position", "direction")
    np.testing.assert_array_equal(recording.behavior[moving, 1], truth[moving])


def test_unknown_format(tmp_path):
    (tmp_path / "r.mat").write_bytes(b"")
    with pytest.raises(DataError, match=r"r\.mat: unknown recording format"):
        read_recording(tmp_path / "r.mat")


def _nwb_with_clocks(path, neural_t, position_t, direction_t):
    """Neural activity and behaviour on three different clocks (as tracking cameras often are)."""
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.behavior import Position, SpatialSeries

    nwbfile = NWBFile("clocks", "id", datetime(2020, 1, 1, tzinfo=UTC))
    nwbfile.add_acquisition(
        TimeSeries(
            name="activity",
            data=np.arange(len(neural_t) * 2, dtype=float).reshape(-1, 2),
            unit="a.u.",
            timestamps=neural_t,
        )
    )
    module = nwbfile.create_processing_module("behavior", "behaviour")
    module.add(
        Position(
            spatial_series=SpatialSeries(
                name="pos",
                data=np.column_stack([position_t, 2 * position_t]),  # x = t, y = 2t
                reference_frame="origin",
                timestamps=position_t,
            )
        )
    )
    module.add(
        TimeSeries(
            name="state", data=(direction_t > 1.0).astype(int), unit="n.a.", timestamps=direction_t
        )
    )
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)


def test_behaviour_on_another_clock_is_resampled_to_neural_time(tmp_path):
    neural_t = np.arange(0, 3, 0.1)  # 10 Hz, 0-2.9 s
    position_t = np.arange(0.5, 2.5, 0.02)  # 50 Hz camera, starts late and stops early
    direction_t = np.arange(0.0, 3.0, 0.3)
    _nwb_with_clocks(tmp_path / "c.nwb", neural_t, position_t, direction_t)
    rec = read_recording(
        tmp_path / "c.nwb", neural="activity", behavior=["pos", "state"], discrete=["state"]
    )
    assert rec.behavior_names == ("pos_x", "pos_y", "state")
    assert "linear" in rec.resampling and "nearest" in rec.resampling
    # Kept: neural samples within the camera's span ± half a camera frame.
    kept = (neural_t >= 0.49 - 1e-9) & (neural_t <= 2.49 + 1e-9)
    np.testing.assert_allclose(rec.timestamps, neural_t[kept])
    assert rec.neural.shape == (kept.sum(), 2) and rec.rate == pytest.approx(10.0)
    np.testing.assert_allclose(rec.behavior[:, 0], np.clip(rec.timestamps, 0.5, 2.48), atol=1e-9)
    np.testing.assert_allclose(rec.behavior[:, 1], 2 * rec.behavior[:, 0])
    # Discrete: the nearest state sample (a code, never an interpolated 0.5).
    nearest = direction_t[np.abs(rec.timestamps[:, None] - direction_t).argmin(1)]
    np.testing.assert_array_equal(rec.behavior[:, 2], (nearest > 1.0).astype(float))


def test_behaviour_is_read_in_its_declared_unit(tmp_path):
    """A position stored in cm with conversion 0.01 and unit "meters" is read in metres."""
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.behavior import Position, SpatialSeries

    t = np.arange(0, 2, 0.1)
    nwbfile = NWBFile("units", "id", datetime(2020, 1, 1, tzinfo=UTC))
    nwbfile.add_acquisition(
        TimeSeries(name="activity", data=np.ones((len(t), 2)), unit="a.u.", timestamps=t)
    )
    cm = np.linspace(0, 160, len(t))
    module = nwbfile.create_processing_module("behavior", "behaviour")
    module.add(
        Position(
            spatial_series=SpatialSeries(
                name="pos", data=cm, reference_frame="track start", timestamps=t,
                conversion=0.01, unit="meters",
            )
        )
    )  # fmt: skip
    with NWBHDF5IO(str(tmp_path / "u.nwb"), "w") as io:
        io.write(nwbfile)
    rec = read_recording(tmp_path / "u.nwb", neural="activity", behavior=["pos"])
    np.testing.assert_allclose(rec.behavior[:, 0], cm / 100)


def test_behaviour_that_never_overlaps_is_an_error(tmp_path):
    _nwb_with_clocks(tmp_path / "c.nwb", np.arange(0, 1, 0.1), np.arange(5, 6, 0.1), np.arange(2.0))
    with pytest.raises(DataError, match=r"c\.nwb: .*do not overlap"):
        read_recording(tmp_path / "c.nwb", neural="activity", behavior=["pos"])


def test_behaviour_timestamps_in_milliseconds_are_an_error(tmp_path):
    """Both clocks start at 0 and overlap, but one counts ms: never read 1/1000 of it."""
    neural_t = np.arange(0, 3, 0.1)
    _nwb_with_clocks(tmp_path / "ms.nwb", neural_t, np.arange(0, 3000, 20.0), neural_t)
    with pytest.raises(
        DataError, match=r"ms\.nwb: behaviour series 'pos' .*1\.03e\+03 times as long.*milliseconds"
    ):
        read_recording(tmp_path / "ms.nwb", neural="activity", behavior=["pos"])
    # and the other way round: neural in ms, behaviour in s
    _nwb_with_clocks(tmp_path / "ms2.nwb", neural_t * 1000, neural_t, neural_t)
    with pytest.raises(
        DataError, match=r"ms2\.nwb: behaviour series 'pos' .*0\.001 times as long.*seconds"
    ):
        read_recording(tmp_path / "ms2.nwb", neural="activity", behavior=["pos"])


def test_units_table_is_binned_into_the_counts_it_holds(session, files):
    """The simulator writes its counts twice: as a TimeSeries and as a units table of spike
    times inside the bins; ``neural: units`` must bin the spike times back into those counts,
    over the behaviour's span, with the behaviour at each bin's centre."""
    counts = read_recording(files / "rec.nwb")
    rec = read_recording(files / "rec.nwb", neural="units", bin_s=0.025, discrete=["direction"])
    assert rec.neural.shape == (2399, 60) and rec.neural.dtype == np.float32
    assert rec.rate == 40.0 and "resampled" in rec.resampling
    np.testing.assert_array_equal(rec.neural, session.counts[:2399])
    np.testing.assert_allclose(rec.timestamps[:2], [0.0125, 0.0375])
    np.testing.assert_allclose(  # position halfway between the bin's two samples
        rec.behavior[:, 0], (counts.behavior[:-1, 0] + counts.behavior[1:, 0]) / 2
    )
    # a code of one of the two samples (the nearest; at a centre, a tie that rounding breaks)
    direction = rec.behavior[:, 1]
    assert ((direction == session.direction[:-1]) | (direction == session.direction[1:])).all()
    coarse = read_recording(files / "rec.nwb", neural="units", bin_s=0.1)
    assert coarse.rate == pytest.approx(10.0) and coarse.neural.shape == (599, 60)
    np.testing.assert_array_equal(coarse.neural, session.counts[:2396].reshape(599, 4, 60).sum(1))


def _nwb_with_units(
    path, spike_times, behaviour_t, position=None, extra=None, extra_t=None, **columns
):
    """Units (with ``columns``: name -> one value per unit), a ``pos`` SpatialSeries
    (``position``, else the timestamps themselves) and ``extra`` acquisition series (on
    ``extra_t``, else on the position's clock)."""
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.behavior import Position, SpatialSeries

    nwbfile = NWBFile("units", "id", datetime(2020, 1, 1, tzinfo=UTC))
    for name in [c for c in columns if c != "obs_intervals"]:  # NWB defines obs_intervals
        nwbfile.add_unit_column(name, f"the sorter's {name}")
    for i, times in enumerate(spike_times):
        nwbfile.add_unit(spike_times=times, **{k: v[i] for k, v in columns.items()})
    module = nwbfile.create_processing_module("behavior", "behaviour")
    data = behaviour_t.copy() if position is None else position
    for name, values in (extra or {}).items():
        nwbfile.add_acquisition(
            TimeSeries(
                name=name,
                data=values,
                unit="a.u.",
                timestamps=behaviour_t if extra_t is None else extra_t,
            )
        )
    module.add(
        Position(
            spatial_series=SpatialSeries(
                name="pos", data=data, reference_frame="0", timestamps=behaviour_t
            )
        )
    )
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)


def test_units_input_errors_name_the_file(tmp_path, files):
    t = np.arange(0, 2, 0.01)
    with pytest.raises(DataError, match=r"rec\.nwb: no behaviour series named 'speed'"):
        read_recording(files / "rec.nwb", neural="units", behavior=["speed"])
    _nwb_with_units(tmp_path / "nan.nwb", [np.array([0.1, np.nan])], t)
    with pytest.raises(DataError, match=r"nan\.nwb: units \[0\] have NaN"):
        read_recording(tmp_path / "nan.nwb", neural="units", behavior=["pos"])
    _nwb_with_units(tmp_path / "silent.nwb", [np.array([], dtype=float)], t)
    with pytest.raises(DataError, match=r"silent\.nwb: no unit of the units table has a spike"):
        read_recording(tmp_path / "silent.nwb", neural="units", behavior=["pos"])
    _nwb_with_units(tmp_path / "ms.nwb", [np.arange(0, 2000, 7.0)], t)  # spikes in ms
    with pytest.raises(DataError, match=r"ms\.nwb: behaviour series 'pos' .*milliseconds"):
        read_recording(tmp_path / "ms.nwb", neural="units", behavior=["pos"])
    _nwb_with_units(tmp_path / "ok.nwb", [np.arange(0.005, 2, 0.05)], t)
    with pytest.raises(DataError, match=r"ok\.nwb: the behaviour spans 0-1\.99 s: not one bin"):
        read_recording(tmp_path / "ok.nwb", neural="units", behavior=["pos"], bin_s=5.0)
    _nwb_with_clocks(tmp_path / "none.nwb", t, t, t)
    with pytest.raises(DataError, match=r"none\.nwb: neural is 'units' but the file has no units"):
        read_recording(tmp_path / "none.nwb", neural="units", behavior=["pos"])


def test_units_query_keeps_the_units_a_sorters_curation_selects(tmp_path, files):
    """Spike sorters label units good / mua / noise: ``units_query`` counts only those a pandas
    query on the table's columns keeps, in the table's order, and says how many it kept."""
    t = np.arange(0, 2, 0.01)
    spikes = [np.arange(0.005, 2, step) for step in (0.05, 0.1, 0.02, 0.04)]
    quality = ["good", "noise", "good", "mua"]
    path = tmp_path / "curated.nwb"
    _nwb_with_units(path, spikes, t, quality=quality, firing_rate=[20.0, 10.0, 50.0, 25.0])
    every = read_recording(path, neural="units", behavior=["pos"], bin_s=0.1)
    good = read_recording(
        path, neural="units", behavior=["pos"], bin_s=0.1, units_query="quality == 'good'"
    )
    assert every.neural.shape[1] == 4 and good.neural.shape[1] == 2
    np.testing.assert_array_equal(good.neural, every.neural[:, [0, 2]])
    assert "units: 2 of 4 kept by \"quality == 'good'\"" in good.resampling
    fast = read_recording(
        path, neural="units", behavior=["pos"], units_query="firing_rate > 15 and id != 2"
    )
    assert fast.neural.shape[1] == 2 and fast.neural.sum() == len(spikes[0]) + len(spikes[3])
    with pytest.raises(DataError, match=r"curated\.nwb: units_query 'snr > 3' failed .*"
                       r"its columns: id, quality, firing_rate"):  # fmt: skip
        read_recording(path, neural="units", behavior=["pos"], units_query="snr > 3")
    with pytest.raises(
        DataError, match=r"curated\.nwb: units_query .* keeps none of the 4 units; .*"
        r"quality \['good', 'mua', 'noise'\]"
    ):  # fmt: skip
        read_recording(path, neural="units", behavior=["pos"], units_query="quality == 'Good'")
    _nwb_with_units(path, [spikes[0], np.array([])], t, quality=["good", "mua"])
    with pytest.raises(DataError, match=r"no unit of the units table has a spike among the 1 "
                       r"units_query \"quality == 'mua'\" keeps"):  # fmt: skip
        read_recording(path, neural="units", behavior=["pos"], units_query="quality == 'mua'")
    with pytest.raises(DataError, match=r"rec\.nwb: units_query .* neural is 'spike_counts'"):
        read_recording(files / "rec.nwb", units_query="quality == 'good'")
    with pytest.raises(DataError, match=r"rec\.npz: units_query .* npz has none"):
        read_recording(files / "rec.npz", units_query="quality == 'good'")


def test_units_observed_over_part_of_the_span_are_named(tmp_path):
    """A unit lost half-way (its obs_intervals end early) counts zeros after it: a warning and
    a note name it and how much of the span it covers; units_query can leave it out."""
    t = np.arange(0, 2, 0.01)
    spikes = [np.arange(0.005, 2, 0.05), np.arange(0.005, 1, 0.05), np.arange(0.005, 2, 0.1)]
    observed = [[[0.0, 2.0]], [[0.0, 1.0]], [[0.0, 0.5], [1.0, 2.0]]]
    path = tmp_path / "lost.nwb"
    _nwb_with_units(path, spikes, t, obs_intervals=observed)
    with pytest.warns(UserWarning, match=r"lost\.nwb: 2 of 3 units were observed over only"):
        rec = read_recording(path, neural="units", behavior=["pos"], bin_s=0.1)
    assert "ids 1, 2: 53%-74% of it" in rec.resampling  # of 1.9 s of bins
    assert "'id not in [1, 2]'" in rec.resampling
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept = read_recording(
            path, neural="units", behavior=["pos"], bin_s=0.1, units_query="id not in [1, 2]"
        )
    assert kept.neural.shape[1] == 1
    _nwb_with_units(path, spikes[:2], t, obs_intervals=[[[0.0, 1.0], [0.0, 1.0]], [[0.0, 2.0]]])
    with pytest.warns(UserWarning, match=r"1 of 2 units .* ids 0: 53%-53%"):  # overlaps once
        read_recording(path, neural="units", behavior=["pos"], bin_s=0.1)


def test_one_column_of_a_multi_column_series_is_named_by_its_axis(tmp_path):
    """A linear track tracked in 2-D: ``pos_x`` reads the x coordinate alone (``pos`` reads
    both); an axis the series lacks is an error naming its columns."""
    t = np.arange(0, 2, 0.01)
    xy = np.column_stack([np.linspace(0, 1.6, len(t)), 0.02 * np.sin(t)])
    path = tmp_path / "xy.nwb"
    _nwb_with_units(path, [np.arange(0.005, 2, 0.05)], t, position=xy)
    both = read_recording(path, neural="units", behavior=["pos"])
    assert both.behavior_names == ("pos_x", "pos_y")
    assert both.position_groups == [[0, 1]]  # one series: the Bayesian decoder's x × y grid
    assert both.distance_groups == {"pos": [0, 1]}  # and one distance error
    x = read_recording(path, neural="units", behavior=["pos_x"])
    assert x.behavior_names == ("pos_x",) and x.position_groups == [[0]]
    assert x.distance_groups == {}
    renamed = read_recording(path, neural="units", behavior=["pos"], behavior_names=["a", "b"])
    assert renamed.distance_groups == {"pos": [0, 1]}  # grouped by the file's series
    np.testing.assert_array_equal(x.behavior[:, 0], both.behavior[:, 0])
    y = read_recording(path, neural="units", behavior=["Position/pos_1"])  # a path tail too
    np.testing.assert_array_equal(y.behavior[:, 0], both.behavior[:, 1])
    with pytest.raises(DataError, match=r"xy\.nwb: behaviour 'pos_z': series 'pos' has 2 columns"):
        read_recording(path, neural="units", behavior=["pos_z"])
    with pytest.raises(DataError, match=r"xy\.nwb: no behaviour series named 'speed_x'"):
        read_recording(path, neural="units", behavior=["speed_x"])
    tail = read_recording(path, neural="units", behavior=["Position/pos_x"])
    assert tail.behavior_names == ("pos_x",)  # named as asked, less the path
    _nwb_with_units(tmp_path / "both.nwb", [np.arange(0.005, 2, 0.05)], t, position=xy,
                    extra={"pos_x": np.arange(len(t)) * 100.0})  # fmt: skip
    both = r"both\.nwb: behaviour 'pos_x' names both the series acquisition/pos_x and a column"
    with pytest.raises(DataError, match=both + " of the series behavior/Position/pos"):
        read_recording(tmp_path / "both.nwb", neural="units", behavior=["pos_x"])
    series = read_recording(tmp_path / "both.nwb", neural="units", behavior=["acquisition/pos_x"])
    assert series.behavior[-1, 0] > 100  # the series, not pos's x column
    _nwb_with_units(tmp_path / "img.nwb", [np.arange(0.005, 2, 0.05)], t, position=xy,
                    extra={"img": np.ones((len(t), 2, 2))})  # fmt: skip
    with pytest.raises(DataError, match=r"img\.nwb: behaviour 'img_0': series .*img has shape"):
        read_recording(tmp_path / "img.nwb", neural="units", behavior=["img_0"])


@pytest.mark.parametrize(
    ("names", "groups"),
    [
        (["position_x", "position_y", "speed"], {"position": [0, 1]}),
        (["head_x", "head_y", "body_x", "body_y"], {"head": [0, 1], "body": [2, 3]}),
        (["x", "y"], {}),  # no shared stem: each column alone
        (["position_x", "speed_y"], {}),
        (["position", "position_x", "position_y"], {"position_x+position_y": [1, 2]}),
    ],
)
def test_npz_axes_of_one_stem_are_one_position(tmp_path, names, groups):
    """npz columns named as the NWB reader names a SpatialSeries' (``<stem>_x``, ``_y``) are
    one position: one Bayesian grid and one distance error, labelled by the stem."""
    gen = np.random.default_rng(0)
    path = _npz(
        tmp_path / "r.npz",
        neural=gen.poisson(1.0, (300, 4)),
        behavior=gen.normal(size=(300, len(names))),
        behavior_names=np.array(names),
        rate=np.float64(40.0),
    )
    recording = read_recording(path)
    assert recording.distance_groups == groups
    joint = [g for g in recording.position_groups if len(g) > 1]
    assert joint == list(groups.values())


def test_direction_derived_from_the_position_is_a_discrete_column(session, files):
    """A file without a direction: ``direction_from`` adds one from the position, discrete
    whatever ``discrete`` says, the last run's direction as the simulator labels it."""
    rec = read_recording(
        files / "rec.nwb", behavior=["position"], direction_from="position", discrete=[]
    )
    assert rec.behavior_names == ("position", "direction") and rec.discrete == ("direction",)
    assert rec.is_discrete.tolist() == [False, True] and rec.position_groups == [[0]]
    assert (rec.behavior[:, 1] == session.direction).mean() >= 0.97
    with pytest.raises(DataError, match=r"rec\.nwb: direction_from 'speed' is not a behaviour"):
        read_recording(files / "rec.nwb", behavior=["position"], direction_from="speed")
    with pytest.raises(DataError, match=r"rec\.nwb: the behaviour already has a 'direction'"):
        read_recording(files / "rec.nwb", direction_from="position")
    with pytest.raises(DataError, match=r"rec\.npz: direction_from 'dir' is a discrete"):
        read_recording(files / "rec.npz", behavior_names=["position", "dir"],
                       discrete=["dir"], direction_from="dir")  # fmt: skip
    with pytest.raises(DataError, match=r"rec\.npz: direction_from 'direction' is a discrete"):
        read_recording(files / "rec.npz", direction_from="direction")  # the npz's own discrete
    with pytest.raises(DataError, match=r"rec\.nwb: direction from 'position': .*never moves"):
        read_recording(
            files / "rec.nwb", behavior=["position"], direction_from="position",
            direction_min_speed=100.0,
        )  # fmt: skip


def test_units_are_binned_only_where_spikes_and_behaviour_were_both_recorded(tmp_path):
    """Spikes on another clock than the tracking (a session start subtracted from one) are an
    error, never bins of zeros; a sorting that stops early (or starts late) trims the bins; a
    short run inside a long recording (sleep, run, sleep) is read, not taken for ms."""
    t = 1000 + np.arange(0, 100, 1 / 30)  # a camera at 30 Hz, from 1,000 s
    spikes = [np.sort(np.random.default_rng(u).uniform(1000, 1100, 300)) for u in range(3)]
    _nwb_with_units(tmp_path / "offset.nwb", [s - 1000 for s in spikes], t)
    with pytest.raises(DataError, match=r"offset\.nwb: no spike .*\(0\.\d+-99\.\d+ s\).*one clock"):
        read_recording(tmp_path / "offset.nwb", neural="units", behavior=["pos"])
    _nwb_with_units(tmp_path / "half.nwb", [s[s < 1050] for s in spikes], t)
    half = read_recording(tmp_path / "half.nwb", neural="units", behavior=["pos"], bin_s=0.1)
    last = max(s[s < 1050].max() for s in spikes)
    assert half.timestamps[-1] - 0.05 <= last < half.timestamps[-1] + 0.05
    assert half.timestamps[0] == pytest.approx(1000.05) and len(half.neural) < 510
    day = [np.r_[np.arange(0, 1000, 3.1), s, np.arange(1100, 14000, 2.9)] for s in spikes]
    _nwb_with_units(tmp_path / "day.nwb", day, t)  # a 100 s run in 4 h: spans 140x apart
    run = read_recording(tmp_path / "day.nwb", neural="units", behavior=["pos"], bin_s=0.1)
    inside = sum(((s >= 1000) & (s < 1000 + 999 * 0.1)).sum() for s in spikes)
    assert run.neural.shape == (999, 3) and run.neural.sum() == inside > 890


def test_units_are_binned_over_the_span_every_behaviour_series_covers(tmp_path):
    """Position tracked over 0-10 s, a state logged once a second over 2-8 s: the bins are
    laid from 2 to 8 s (the span both cover), not over the union of the two clocks."""
    pos_t = np.arange(301) / 30  # 0-10 s at 30 Hz
    state_t = np.arange(2.0, 9.0)  # 2-8 s at 1 Hz
    spikes = [np.arange(0.003, 10, 0.037), np.arange(0.011, 10, 0.053)]
    _nwb_with_units(
        tmp_path / "two.nwb", spikes, pos_t, extra={"state": np.arange(7) % 2}, extra_t=state_t
    )
    rec = read_recording(
        tmp_path / "two.nwb", neural="units", behavior=["pos", "state"], discrete=["state"],
        bin_s=0.1,
    )  # fmt: skip
    edges = np.linspace(2.0, 8.0, 61)
    np.testing.assert_allclose(rec.timestamps, edges[:-1] + 0.05)
    expected = np.stack([np.histogram(s, edges)[0] for s in spikes], axis=1)
    np.testing.assert_array_equal(rec.neural, expected)
    np.testing.assert_allclose(rec.behavior[:, 0], rec.timestamps)  # pos = t
    np.testing.assert_array_equal(rec.behavior[:, 1], np.round(rec.timestamps - 2) % 2)


def test_lost_tracking_drops_its_samples_with_a_warning(tmp_path):
    """NaN positions (an LED or a body part lost by the tracker) are no sample to decode:
    those bins go, with a warning and a note that say how many and where."""
    from pynwb import NWBHDF5IO

    t = np.arange(0, 2, 0.01)
    _nwb_with_units(tmp_path / "lost.nwb", [np.arange(0.003, 2, 0.011)], t)
    with NWBHDF5IO(str(tmp_path / "lost.nwb"), "a") as io:
        nwbfile = io.read()
        position = nwbfile.processing["behavior"]["Position"]["pos"].data
        position[50:80] = np.nan  # 0.5-0.79 s lost
    with pytest.warns(
        UserWarning, match=r"lost\.nwb: 15 of 99 samples dropped.*1 gap\(s\): 0\.51-0\.79 s"
    ):
        rec = read_recording(tmp_path / "lost.nwb", neural="units", behavior=["pos"], bin_s=0.02)
    assert rec.neural.shape == (84, 1) and "dropped" in rec.resampling
    assert not ((rec.timestamps > 0.49) & (rec.timestamps < 0.8)).any()
    assert np.isfinite(rec.behavior).all()


def test_bad_timestamps_name_the_series_and_the_sample(tmp_path):
    t = np.arange(0, 2, 0.1)
    repeated = t.copy()
    repeated[5] = repeated[4]  # a camera's repeated frame
    _nwb_with_clocks(tmp_path / "dup.nwb", t, repeated, t)
    with pytest.raises(DataError, match=r"dup\.nwb: series 'pos': .*sample 5 at 0\.4 s after 0\.4"):
        read_recording(tmp_path / "dup.nwb", neural="activity", behavior=["pos"])
    lost = t.copy()
    lost[-1] = np.nan
    _nwb_with_units(tmp_path / "nants.nwb", [t + 0.01], lost)
    with pytest.raises(
        DataError, match=r"nants\.nwb: series 'pos' has a NaN timestamp \(sample 19"
    ):
        read_recording(tmp_path / "nants.nwb", neural="units", behavior=["pos"])
    _nwb_with_clocks(tmp_path / "ok.nwb", t, t, t)
    with pytest.raises(DataError, match=r"no neural series named 'Units'.*'units': the units"):
        read_recording(tmp_path / "ok.nwb", neural="Units", behavior=["pos"])


# --- decoding ------------------------------------------------------------------------------


def test_split_is_one_contiguous_block_at_the_end():
    assert bd.split_index(100, 0.2) == 80
    assert bd.split_index(7, 0.5) == 4
    with pytest.raises(ValueError, match="no training or no test"):
        bd.split_index(3, 0.1)


def test_embeddings_are_fitted_on_the_training_block_only(files):
    rec = read_recording(files / "rec.npz")
    result = bd.decode_behavior(rec, ["pca", "raw"], test_fraction=0.25, log=lambda _: None)
    assert result.split == 1800
    train, test = result.embeddings[("pca", None)]
    assert len(train) == 1800 and len(test) == 600
    # PCA is fitted on the first 1800 samples alone: loud noise in the held-out block, which
    # would take the first components of a PCA that saw it, does not move the training rows.
    loud = dataclasses.replace(rec, neural=rec.neural.copy())
    loud.neural[1800:] = np.random.default_rng(0).normal(0, 100, loud.neural[1800:].shape)
    again = bd.decode_behavior(loud, ["pca"], test_fraction=0.25, log=lambda _: None)
    np.testing.assert_allclose(again.embeddings[("pca", None)][0], train, atol=1e-4)


def test_a_constant_behaviour_column_or_a_short_recording_names_the_file(tmp_path):
    neural, position = np.ones((300, 3)), np.linspace(0, 1, 300)
    flat = _npz(tmp_path / "flat.npz", neural=neural, behavior=np.c_[position, 0 * position])
    with pytest.raises(DataError, match=r"flat\.npz: .*\['behavior_1'\] never change"):
        read_recording(flat, rate=30.0)
    short = read_recording(
        _npz(tmp_path / "short.npz", neural=neural[:60], behavior=position[:60]), rate=30.0
    )
    with pytest.raises(DataError, match=r"short\.npz: only 60 samples \(at least 200\)"):
        bd.decode_behavior(short, ["raw"], log=lambda _: None)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"neural": np.array([np.ones(3), np.ones(5)], dtype=object)}, "array 'neural'"),
        ({"rate": np.array([40.0, 40.0])}, "rate must be one number"),
        ({"rate": np.array("40 Hz")}, "rate must be one number"),
    ],
)
def test_npz_arrays_of_the_wrong_kind_name_the_file_and_the_array(tmp_path, arrays, message):
    fields = {"neural": np.ones((300, 2)), "behavior": np.linspace(0, 1, 300), **arrays}
    path = tmp_path / "odd.npz"
    np.savez(path, **fields)
    with pytest.raises(DataError, match=rf"odd\.npz: .*{message}"):
        read_recording(path)


def test_dff_input_to_the_bayesian_decoder_names_the_file_and_the_fix(files):
    rec = read_recording(files / "rec.npz")
    dff = dataclasses.replace(rec, neural=rec.neural - rec.neural.mean(axis=0))
    with pytest.raises(DataError, match=r"rec\.npz: .*negative.*leave 'bayesian' out"):
        bd.decode_behavior(dff, ["raw", "bayesian"], log=lambda _: None)


def test_input_smoothing_is_stated_and_never_crosses_the_split(files):
    rec = read_recording(files / "rec.npz")
    plain = bd.decode_behavior(rec, ["raw"], test_fraction=0.25, log=lambda _: None)
    smoothed = bd.decode_behavior(
        rec, ["raw"], test_fraction=0.25, input_smoothing_s=0.25, log=lambda _: None
    )
    rows = smoothed.metrics[smoothed.metrics["method"] == "raw"]
    assert (rows["smoothing_s"] == 0.25).all()
    assert (plain.metrics.loc[plain.metrics["method"] == "raw", "smoothing_s"] == 0).all()
    error = {
        name: t.metrics.query("method == 'raw' and metric == 'median_abs_error'")["value"].item()
        for name, t in (("plain", plain), ("smoothed", smoothed))
    }
    assert error["smoothed"] < error["plain"], error  # 25 ms counts of 60 cells are noisy
    # The held-out block does not reach the training rows through the filter.
    garbage = dataclasses.replace(rec, neural=rec.neural.copy())
    garbage.neural[1800:] = 50.0
    again = bd.decode_behavior(
        garbage, ["pca"], test_fraction=0.25, input_smoothing_s=0.25, log=lambda _: None
    )
    reference = bd.decode_behavior(
        rec, ["pca"], test_fraction=0.25, input_smoothing_s=0.25, log=lambda _: None
    )
    np.testing.assert_allclose(
        again.embeddings[("pca", None)][0], reference.embeddings[("pca", None)][0], atol=1e-5
    )
    with pytest.raises(ValueError, match="input_smoothing_s must be >= 0"):
        bd.decode_behavior(rec, ["raw"], input_smoothing_s=-1, log=lambda _: None)


def test_chance_predicts_the_training_median_and_majority():
    train = np.array([[0.0, 1], [1.0, 1], [2.0, 0]])
    test = np.array([[1.0, 1], [3.0, 0]])
    rows = {
        (r["label"], r["metric"]): r["value"] for r in bd.chance_rows(train, test, "ab", [0, 1])
    }
    assert rows[("a", "median_abs_error")] == 1.0
    assert rows[("b", "accuracy")] == 0.5


def test_several_discrete_columns_become_one_cebra_label():
    behavior = np.array([[0.5, 0, 1], [0.7, 1, 1], [0.1, 0, 1], [0.2, 1, 0]])
    continuous, discrete = bd.cebra_labels(behavior, [False, True, True])
    assert continuous.shape == (4, 1) and continuous.dtype == np.float32
    assert discrete.tolist()[0] == discrete.tolist()[2] and len(set(discrete.tolist())) == 3


def test_consistency_across_seeds_is_a_long_table():
    gen = np.random.default_rng(0)
    base = gen.normal(size=(200, 3))
    rotation = np.linalg.qr(gen.normal(size=(3, 3)))[0]
    noise = gen.normal(size=(200, 3))  # a seed that learnt nothing shared
    embeddings = {
        ("cebra_time", 0): (base[:150], base[150:]),
        ("cebra_time", 1): (base[:150] @ rotation, base[150:] @ rotation),
        ("cebra_time", 2): (noise[:150], noise[150:]),
        ("pca", None): (base[:150], base[150:]),
    }
    table = bd.seed_consistency(embeddings, device="cuda")
    assert list(table.columns) == bd.CONSISTENCY_COLUMNS and bd.CONSISTENCY_COLUMNS[-1] == "device"
    assert set(table.device) == {"cuda"}
    assert len(table) == 6 and set(table["method"]) == {"cebra_time"}
    value = table.set_index(["source_seed", "target_seed"])["value"]
    assert sorted(value.index) == [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]
    # a rotation of the same embedding is consistent; an unrelated one is not
    assert np.allclose(value[[(0, 1), (1, 0)]], 1.0)
    assert (value[[(0, 2), (2, 0), (1, 2), (2, 1)]] < 0.1).all()


def test_cebra_behavior_decodes_position_better_than_pca(files):
    rec = read_recording(files / "rec.nwb", discrete=["direction"])
    params = {
        "output_dimension": 3,
        "max_iterations": 150,
        "batch_size": 128,
        "learning_rate": 0.003,
        "device": "cpu",
    }
    result = bd.decode_behavior(rec, ["cebra_behavior", "pca"], [0], params, log=lambda _: None)
    table = result.metrics
    assert list(table.columns) == bd.METRIC_COLUMNS and bd.METRIC_COLUMNS[-1] == "device"
    assert set(table.device) == {"cpu"}  # chance and PCA always, CEBRA as asked
    error = table[table["metric"] == "median_abs_error"].set_index("method")["value"]
    accuracy = table[table["metric"] == "accuracy"].set_index("method")["value"]
    assert error["cebra_behavior"] < 0.5 * error["pca"], error
    assert error["cebra_behavior"] < 0.25 * error["chance"], error
    assert accuracy["cebra_behavior"] > accuracy["chance"] + 0.2, accuracy
    assert table.loc[table["method"] == "pca", "seed"].isna().all()


# --- decoding pinned against independent computations -------------------------------------


def _skewed_blocks():
    """Training and held-out behaviour whose median, mean and majority all differ between the
    blocks: an exponential x and y (mean far from median), a class code with a clear training
    majority that is the held-out block's minority."""
    gen = np.random.default_rng(7)
    train = np.column_stack(
        [gen.exponential(1.0, 120), gen.exponential(2.0, 120), np.r_[[1] * 70, [0] * 30, [2] * 20]]
    )
    test = np.column_stack(
        [gen.exponential(1.0, 40) + 1, gen.exponential(2.0, 40), np.r_[[1] * 8, [0] * 20, [2] * 12]]
    )
    return train, test


def test_chance_rows_are_the_training_median_and_majority_by_hand():
    """The chance floor is computed from the training block alone: its median (not mean), its
    majority class, and the point of the medians for an x-y position."""
    train, test = _skewed_blocks()
    rows = bd.chance_rows(train, test, ["x", "y", "c"], [False, False, True], {"xy": [0, 1]})
    value = {(r["label"], r["metric"]): r["value"] for r in rows}
    guess = np.median(train[:, :2], axis=0)
    assert value[("x", "median_abs_error")] == pytest.approx(
        np.median(np.abs(test[:, 0] - guess[0]))
    )
    assert value[("y", "r2")] == pytest.approx(r2_score(test[:, 1], np.full(40, guess[1])))
    assert value[("c", "accuracy")] == pytest.approx(8 / 40)  # the training majority, class 1
    distance = np.median(np.linalg.norm(test[:, :2] - guess, axis=1))
    assert value[("xy", "median_distance_error")] == pytest.approx(distance)


def test_knn_decode_is_sklearns_cosine_knn_scored_by_hand():
    """Each column's rows are those of sklearn's cosine kNN fitted on the training embedding:
    median absolute error, R² of the truth against the prediction, accuracy."""
    train, test = _skewed_blocks()
    gen = np.random.default_rng(8)
    E_train, E_test = (
        gen.normal(size=(120, 4)) + train[:, :1],
        gen.normal(size=(40, 4)) + test[:, :1],
    )
    names, discrete = ["x", "y", "c"], [False, False, True]
    rows = bd.knn_decode(E_train, train, E_test, test, names, discrete, n_neighbors=5)
    value = {(r["label"], r["metric"]): r["value"] for r in rows}
    for j, name in enumerate(names[:2]):
        knn = KNeighborsRegressor(n_neighbors=5, metric="cosine").fit(E_train, train[:, j])
        predicted = knn.predict(E_test)
        assert value[(name, "median_abs_error")] == pytest.approx(
            np.median(np.abs(predicted - test[:, j]))
        )
        assert value[(name, "r2")] == pytest.approx(r2_score(test[:, j], predicted))
        assert r2_score(predicted, test[:, j]) != pytest.approx(
            value[(name, "r2")]
        )  # not symmetric
    knn = KNeighborsClassifier(n_neighbors=5, metric="cosine").fit(E_train, train[:, 2].astype(int))
    assert value[("c", "accuracy")] == pytest.approx(np.mean(knn.predict(E_test) == test[:, 2]))


def test_distance_rows_are_the_median_euclidean_distance_and_need_every_column():
    """Distances 5, 1, 10 and 0 (3-4-5 and 6-8-10 triangles): median 3, not the mean 4 or the
    median of the summed axis errors 4; a group with an undecoded (discrete) column is refused."""
    true = np.zeros((4, 3))
    predicted = np.array([[3.0, 4, 0], [0, 1, 0], [6, 8, 0], [0, 0, 0]])
    assert bd.distance_rows({"p": [0, 1]}, predicted, true) == [
        {"label": "p", "metric": "median_distance_error", "value": 3.0}
    ]
    predicted[:, 2] = np.nan  # knn_decode leaves discrete columns undecoded
    with pytest.raises(ValueError, match=r"position 'q': columns \[0, 2\] were not all decoded"):
        bd.distance_rows({"q": [0, 2]}, predicted, true)


def test_pca_projects_the_held_out_block_with_the_training_blocks_components():
    """The held-out block is transformed by the PCA fitted on the training block, never by one
    fitted on itself."""
    gen = np.random.default_rng(3)
    train, test = gen.normal(size=(200, 6)), gen.normal(size=(50, 6)) * np.arange(1, 7)
    E_train, E_test = bd.embed("pca", train, test, np.zeros((200, 1)), [False], pca_dim=2)
    pca = PCA(n_components=2, svd_solver="full").fit(train)
    np.testing.assert_allclose(E_train, pca.transform(train), atol=1e-5)
    np.testing.assert_allclose(E_test, pca.transform(test), atol=1e-5)


def test_cebra_is_fitted_on_the_training_blocks_own_behaviour(monkeypatch):
    """CEBRA-Behavior's labels are the training block's behaviour, sample for sample with its
    input (a shift by one bin would pair each bin with its neighbour's position)."""
    gen = np.random.default_rng(4)
    behavior = np.column_stack([np.cumsum(gen.normal(size=300)), gen.integers(0, 2, 300)])
    rec = _recording(
        gen.poisson(1.0, (300, 5)), behavior, ("position", "direction"), ("direction",)
    )
    seen = {}

    class Model:
        def transform(self, x):
            return np.asarray(x)[:, :2]

    def fit_cebra(kind, neural, continuous, discrete, **kw):
        seen.update(kind=kind, neural=neural, continuous=continuous, discrete=discrete)
        return Model()

    monkeypatch.setattr(bd, "fit_cebra", fit_cebra)
    monkeypatch.setattr(bd, "method_device", lambda *_: "cpu")  # neither imports torch
    monkeypatch.setitem(sys.modules, "brainlatent.models.cebra_models", Stub(MAX_ITERATIONS=9))
    fitted = bd.fit_recording_embedding(rec, "cebra_behavior", 0)
    split = bd.split_index(300)
    assert seen["kind"] == "behavior" and len(fitted.train) == split and fitted.iterations == 9
    np.testing.assert_array_equal(seen["neural"], rec.neural[:split])
    np.testing.assert_array_equal(seen["continuous"][:, 0], behavior[:split, 0].astype(np.float32))
    np.testing.assert_array_equal(seen["discrete"], behavior[:split, 1])


def test_the_standard_decoders_get_the_whole_training_block(monkeypatch):
    """decode_standard is handed the recording split at the same sample as the embeddings."""
    from brainlatent.decoding import population

    gen = np.random.default_rng(5)
    rec = _recording(gen.poisson(1.0, (250, 3)), np.cumsum(gen.normal(size=(250, 1)), 0))
    seen = {}

    def decode_standard(X_train, y_train, X_test, y_test, *args, **kw):
        seen.update(X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test)
        return []

    monkeypatch.setattr(population, "decode_standard", decode_standard)
    result = bd.decode_behavior(rec, ["bayesian"], log=lambda _: None)
    split = result.split
    assert split == 200
    for name, part in (("X", rec.neural), ("y", rec.behavior)):
        np.testing.assert_array_equal(seen[f"{name}_train"], part[:split])
        np.testing.assert_array_equal(seen[f"{name}_test"], part[split:])


def test_one_negative_sample_keeps_the_bayesian_decoder_out():
    """Counts are never negative: a single negative value is not spike counts."""
    gen = np.random.default_rng(6)
    neural = gen.poisson(1.0, (250, 3)).astype(np.float32)
    neural[10, 1] = -1.0
    rec = _recording(neural, np.cumsum(gen.normal(size=(250, 1)), 0))
    with pytest.raises(DataError, match=r"negative values.*leave 'bayesian' out"):
        bd.decode_behavior(rec, ["bayesian"], log=lambda _: None)


def test_two_series_of_one_name_stay_two_positions():
    """A head's and a body's ``pos`` (x, y each) are two distance groups: the second is named
    by its columns, never written over the first."""
    names = ("a_x", "a_y", "b_x", "b_y", "dir")
    series = ("head/pos", "head/pos", "body/pos", "body/pos", "dir")
    assert distance_groups(names, ("dir",), series) == {"pos": [0, 1], "b_x+b_y": [2, 3]}
    assert position_groups(names, ("dir",), series) == [[0, 1], [2, 3]]


def test_a_sample_with_any_column_lost_is_dropped(tmp_path):
    """Tracking lost in one column (y) makes the sample undecodable as a position: it goes."""
    gen = np.random.default_rng(9)
    behavior = gen.normal(size=(300, 2))
    behavior[100:110, 1] = np.nan
    path = _npz(tmp_path / "y.npz", neural=gen.poisson(1.0, (300, 2)), behavior=behavior, rate=10.0)
    with pytest.warns(UserWarning, match=r"10 of 300 samples dropped"):
        rec = read_recording(path)
    assert len(rec.neural) == 290
    np.testing.assert_array_equal(rec.behavior, np.delete(behavior, np.s_[100:110], axis=0))


def _recording(neural, behavior, names=("position",), discrete=()):
    return Recording(
        neural=np.asarray(neural, np.float32), behavior=np.asarray(behavior, np.float64),
        behavior_names=tuple(names), discrete=tuple(discrete), rate=40.0,
        timestamps=np.arange(len(neural)) / 40.0, path=Path("synthetic.npz"),
    )  # fmt: skip


# --- figure --------------------------------------------------------------------------------


def test_figure_is_written(tmp_path):
    from brainlatent.figures.recording import plot_recording_embedding
    from brainlatent.figures.style import save_figure

    gen = np.random.default_rng(0)
    behavior = np.column_stack([gen.uniform(0, 1.6, 300), gen.integers(0, 2, 300)])
    data = {
        "embedding": gen.normal(size=(300, 3)),
        "behavior": behavior,
        "behavior_names": np.array(["position", "direction"]),
        "discrete": np.array(["direction"]),
    }
    metrics = pd.DataFrame(
        {
            "dataset": "recording",
            "method": ["chance", "cebra_behavior", "pca"],
            "seed": pd.array([None, 0, None], dtype="Int64"),
            "label": "position",
            "metric": "median_abs_error",
            "value": [0.7, 0.05, 0.4],
        }
    )
    figure = plot_recording_embedding(metrics, {"cebra_behavior": data, "pca": data})
    save_figure(figure, tmp_path / "f.pdf", tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 1000
    with pytest.raises(DataError, match="median_abs_error"):
        plot_recording_embedding(metrics.assign(metric="accuracy"), {"pca": data})


def test_error_panel_is_log_when_errors_span_a_decade_and_labels_the_width_per_label():
    """Errors of a cm beside a chance of 0.7 m would all be flat at zero on a linear axis;
    a decoder that chose another width for another label is labelled with this label's."""
    from brainlatent.figures.recording import plot_recording_embedding

    gen = np.random.default_rng(0)
    data = {
        "embedding": gen.normal(size=(50, 3)),
        "behavior": np.column_stack([gen.uniform(0, 1.6, 50), gen.integers(0, 2, 50)]),
        "behavior_names": np.array(["position", "direction"]),
        "discrete": np.array(["direction"]),
    }

    def panel(values):
        metrics = pd.DataFrame(
            {
                "method": ["chance", "cebra_behavior", "knn_smoothed", "knn_smoothed"],
                "label": ["position", "position", "position", "direction"],
                "metric": ["median_abs_error"] * 3 + ["accuracy"],
                "value": [*values, 0.7],
                "smoothing_s": [np.nan, 0.25, 0.5, 0.1],
            }
        )
        figure = plot_recording_embedding(metrics, {"cebra_behavior": data})
        return figure.axes[-1]

    ax = panel([0.7, 0.01, 0.02])
    assert ax.get_yscale() == "log" and "log scale" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()][-1].endswith("(σ 0.5 s)")
    assert panel([0.7, 0.3, 0.4]).get_yscale() == "linear"


def test_an_open_field_panel_shows_the_distance_and_the_points_are_coloured_by_place():
    """With x and y decoded, the bars are the median distance (not the x error alone), and
    the points are coloured by their 2-D place, with a map of the colours beside them."""
    from brainlatent.figures.recording import plot_recording_embedding, position_colours

    gen = np.random.default_rng(0)
    data = {
        "embedding": gen.normal(size=(50, 2)),  # a 2-D scatter keeps the points' order
        "behavior": gen.uniform(0, 1, (50, 2)),
        "behavior_names": np.array(["position_x", "position_y"]),
        "discrete": np.array([], dtype=str),
        "series": np.array(["behavior/Position/position"] * 2),  # one series: one position
    }
    metrics = pd.DataFrame(
        {
            "method": ["chance", "chance", "pca", "pca", "chance", "pca"],
            "label": ["position_x", "position_y"] * 2 + ["position"] * 2,
            "metric": ["median_abs_error"] * 4 + ["median_distance_error"] * 2,
            "value": [0.25, 0.24, 0.05, 0.06, 0.36, 0.09],
        }
    )
    figure = plot_recording_embedding(metrics, {"pca": data})
    ax = figure.axes[-1]
    assert ax.get_ylabel().startswith("position: median distance")
    assert [round(p.get_height(), 3) for p in ax.patches] == [0.09]
    assert "coloured by position (" in figure._suptitle.get_text()
    scatter = figure.axes[0].collections[0]
    np.testing.assert_allclose(
        scatter.get_facecolors()[:, :3], position_colours(data["behavior"]), atol=1e-6
    )
    (key,) = figure.axes[0].child_axes
    assert (key.get_xlabel(), key.get_ylabel()) == ("position_x", "position_y")
    with_classes = {**data, "behavior": np.column_stack([data["behavior"], np.ones(50)])}
    with_classes.update(behavior_names=np.array(["position_x", "position_y", "direction"]))
    with_classes.update(series=np.array([*data["series"], "direction"]))
    with_classes.update(discrete=np.array(["direction"]))
    figure = plot_recording_embedding(metrics, {"pca": with_classes})
    assert "coloured by position_x" in figure._suptitle.get_text()  # one colour map per class


def test_position_colours_keep_neighbours_alike_in_both_axes():
    """Hue is the angle about the centre, saturation the distance from it: the centre is grey,
    opposite walls opposite hues, and a small step in x or y a small change of colour."""
    from matplotlib.colors import rgb_to_hsv

    from brainlatent.figures.recording import position_colours

    corners = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
    hsv = rgb_to_hsv(position_colours(corners))
    assert hsv[4, 1] == pytest.approx(0.0) and (hsv[:4, 1] == pytest.approx(1.0))
    assert abs(hsv[0, 0] - hsv[1, 0]) == pytest.approx(0.5)  # opposite corners
    assert abs(hsv[2, 0] - hsv[3, 0]) == pytest.approx(0.5)
    grid = np.random.default_rng(0).uniform(0, 1, (500, 2))
    step = position_colours(grid + [0.01, 0.0]) - position_colours(grid)
    far = position_colours(grid[::-1]) - position_colours(grid)
    assert np.median(np.abs(step)) < 0.1 * np.median(np.abs(far))
