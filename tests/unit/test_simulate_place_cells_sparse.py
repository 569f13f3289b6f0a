"""The place-cell simulator's presets: the realistic ``sparse`` one, the unchanged ``dense`` one."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import pytest

from brainlatent.datasets import simulate_place_cells as sim

#: sha256 of the dense simulation below, recorded before the presets were added: the
#: workflow's test tables depend on these arrays staying bit-identical.
DENSE_HASH = "1b30547a6f2021978449b9f30d59c009d91990c4ed17cb0f672c668c88c156ce"


@pytest.fixture(scope="module")
def sparse():
    return sim.simulate_session(sim.PRESETS["sparse"])


def _short(seed: int) -> sim.PlaceCellSimulation:
    return sim.simulation_from_config({"preset": "sparse", "duration_s": 20.0, "seed": seed})


def test_dense_preset_is_unchanged():
    session = sim.simulate_session(sim.PlaceCellSimulation(n_neurons=80, duration_s=90.0, seed=0))
    digest = hashlib.sha256()
    for array in (
        session.counts.astype(np.int64),
        session.direction.astype(np.int64),
        session.lap.astype(np.int64),
        session.place_cell,
        np.round(session.position, 9),
    ):
        digest.update(np.ascontiguousarray(array).tobytes())
    assert digest.hexdigest() == DENSE_HASH
    assert sim.PRESETS["dense"] == sim.PlaceCellSimulation()
    # Without a speed threshold every bin is kept, on a regular clock.
    assert np.array_equal(session.time, np.arange(3600) / 40.0)


def test_sparse_preset_has_the_rates_of_a_sorted_recording(sparse):
    counts = sparse.counts
    assert 25 <= counts.shape[1] <= 35
    mean_rate = counts.mean(0) * sparse.params.rate_hz
    assert 0.3 <= np.median(mean_rate) <= 0.8
    assert np.mean((mean_rate >= 0.05) & (mean_rate <= 3.0)) >= 0.9
    # Most 25 ms bins hold no spike at all.
    assert np.mean(counts.sum(1) == 0) > 0.4


def test_sparse_preset_cell_classes(sparse):
    n = sparse.params.n_neurons
    assert 0.15 <= sparse.silent.sum() / n <= 0.5
    assert not (sparse.silent & sparse.place_cell).any()
    # Silent cells fire at their baseline only, and little.
    assert (sparse.peaks[sparse.silent] == 0).all() and (sparse.peaks2[sparse.silent] == 0).all()
    silent_rates = sparse.rates[:, sparse.silent]
    assert np.allclose(silent_rates, sparse.baseline[sparse.silent].astype(np.float32))
    assert np.median(sparse.baseline[sparse.silent]) < 0.5
    # Some place cells have two fields; fields vary in width; most are direction-selective.
    assert (sparse.peaks2[sparse.place_cell].max(1) > 0).any()
    widths = sparse.widths[sparse.place_cell] * 4 / sparse.params.track_length_m
    assert widths.min() < 0.15 and widths.max() > 0.3
    peaks = sparse.peaks[sparse.place_cell]
    selectivity = peaks.min(1) / peaks.max(1)
    assert np.median(selectivity) < 0.3
    # Peak rates are drawn per cell.
    assert len(np.unique(peaks.max(1))) == sparse.place_cell.sum()


def test_sparse_preset_keeps_running_bins_only(sparse):
    params = sparse.params
    minutes = len(sparse.position) / params.rate_hz / 60
    assert 6 <= minutes <= 8
    assert (sparse.speed > params.min_speed_m_s).all()
    assert sparse.position.min() >= 0 and sparse.position.max() <= params.track_length_m
    assert set(np.unique(sparse.direction)) == {sim.RIGHT, sim.LEFT}
    assert 0.3 < np.mean(sparse.direction == sim.RIGHT) < 0.7
    # The pauses were dropped: the kept bins are spread over a longer session.
    assert np.all(np.diff(sparse.time) > 0) and sparse.time[-1] > 2 * len(sparse.time) / 40
    # Peak running speed varies lap to lap.
    lap_speed = [sparse.speed[sparse.lap == k].max() for k in np.unique(sparse.lap)]
    assert np.std(lap_speed) > 0.1


def test_sparse_preset_is_reproducible_per_seed():
    a, b = sim.simulate_session(_short(4)), sim.simulate_session(_short(4))
    assert np.array_equal(a.counts, b.counts) and np.array_equal(a.position, b.position)
    c = sim.simulate_session(_short(5))
    assert not np.array_equal(a.position[:100], c.position[:100])
    assert a.counts.shape[0] == c.counts.shape[0] == 800


def test_simulation_from_config():
    assert sim.simulation_from_config({}) == sim.PlaceCellSimulation()
    assert sim.simulation_from_config({"preset": "dense", "n_neurons": 40}).n_neurons == 40
    params = sim.simulation_from_config(
        {"preset": "sparse", "seed": 3, "duration_s": 60.0, "peak_speed_m_s": [0.4, 1.0]}
    )
    assert params == replace(
        sim.PRESETS["sparse"], seed=3, duration_s=60.0, peak_speed_m_s=(0.4, 1.0)
    )
    assert sim.PlaceCellSimulation.preset("sparse", seed=3) == replace(sim.SPARSE, seed=3)
    with pytest.raises(ValueError, match=r"\['n_cells', 'noise'\]"):
        sim.simulation_from_config({"preset": "sparse", "noise": 1, "n_cells": 30})
    with pytest.raises(ValueError, match="unknown place-cell preset 'realistic'"):
        sim.simulation_from_config({"preset": "realistic"})
    with pytest.raises(ValueError, match="min_speed_m_s"):
        sim.simulation_from_config({"preset": "sparse", "min_speed_m_s": 2.0})


def test_sparse_truth_file(tmp_path):
    session = sim.simulate_session(_short(0))
    sim.write_truth(session, tmp_path / "truth.npz")
    with np.load(tmp_path / "truth.npz") as truth:
        assert str(truth["param_run_profile"]) == "plateau"
        assert np.array_equal(truth["time"], session.time)
        assert np.array_equal(truth["silent"], session.silent)
