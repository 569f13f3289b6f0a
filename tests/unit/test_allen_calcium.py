import dataclasses
import json
import re
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest

from brainlatent.datasets import allen_calcium as ac
from brainlatent.datasets.simulate_calcium import (
    CalciumSimulation,
    movie_latents,
    neuron_parameters,
    session_plan,
    simulate_activity,
    simulate_dataset,
    simulate_mouse,
)
from brainlatent.errors import ConfigError, DataError
from brainlatent.preprocessing.calcium import (
    LABEL_COLUMNS,
    interval_means,
    movie_matrix,
    movie_responses,
    preprocess_mouse,
    pseudo_mouse,
)
from brainlatent.preprocessing.scenes import scene_matrix
from brainlatent.seeding import rng

N_NEURONS, N_REPEATS, N_SCENE_REPEATS, SIZE = 40, 2, 3, 32


@pytest.fixture(scope="module")
def mouse(tmp_path_factory):
    """One tiny simulated mouse: its NWB path and ground truth (read-only for tests)."""
    path = tmp_path_factory.mktemp("allen") / ac.nwb_relpath("M1")
    truth = simulate_mouse(
        path,
        "M1",
        "VISp",
        N_NEURONS,
        seed=0,
        n_movie_repeats=N_REPEATS,
        n_scene_repeats=N_SCENE_REPEATS,
        image_size=SIZE,
    )
    return path, dict(np.load(truth))


@pytest.fixture(scope="module")
def session(mouse):
    return ac.read_session(mouse[0])


def _reliability(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-column Pearson correlation."""
    a, b = a - a.mean(0), b - b.mean(0)
    return (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))


def test_file_has_the_dandi_000728_layout(mouse):
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(mouse[0]), "r") as io:
        nwb = io.read()
        series = nwb.processing["ophys"]["DfOverF"]["DfOverF"]
        assert series.data.shape[1] == N_NEURONS
        plane = nwb.processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]
        assert "global_roi_id" in plane.colnames
        assert nwb.imaging_planes["ImagingPlane"].location == "VISp"
        movie = nwb.stimulus["natural_movie_one_stimulus"]
        assert type(movie).__name__ == "IndexSeries"
        assert movie.indexed_timeseries is nwb.stimulus_template["natural_movie_one"]
        assert movie.data.dtype == np.uint32
        scenes = nwb.stimulus["natural_scenes_stimulus"]
        assert scenes.indexed_images is nwb.stimulus_template["natural_scenes_template"]
        # as the dandiset's converter writes them: plain Image objects, no order_of_images,
        # so the reader orders them by the number in their names (10 after 9, not after 1)
        template = nwb.stimulus_template["natural_scenes_template"]
        assert type(template.images["NaturalScene0"]).__name__ == "Image"
        assert template.order_of_images is None
        read = ac.read_session(mouse[0]).scenes_template
        for k in (0, 1, 9, 10, 100, 117):
            np.testing.assert_array_equal(read[k], template.images[f"NaturalScene{k}"].data[:])
        behavior = nwb.processing["behavior"]["BehavioralTimeSeries"]
        assert behavior["running_speed"].unit == "cm/s"
        assert set(nwb.epochs.to_dataframe()["stimulus_type"]) == {
            "spontaneous",
            "natural_movie_one",
            "natural_scenes",
        }
        assert nwb.subject.subject_id == "M1"


def test_cell_ids_without_a_global_column_are_the_files_own(mouse, tmp_path):
    """Without ``cell_specimen_id``/``global_roi_id`` the ids are the ROI table's rows, which
    name no cell beyond the file (``cell_ids_persist``: the pseudo-mouse keeps them apart)."""
    import h5py

    copy = tmp_path / mouse[0].name
    copy.write_bytes(mouse[0].read_bytes())
    with h5py.File(copy, "r+") as f:
        table = f["processing/ophys/ImageSegmentation/PlaneSegmentation"]
        del table["global_roi_id"]
        table.attrs["colnames"] = [c for c in table.attrs["colnames"] if c != "global_roi_id"]
    assert ac.read_session(mouse[0], templates=False).cell_ids_persist
    own = ac.read_session(copy, templates=False)
    assert not own.cell_ids_persist and len(set(own.cell_ids)) == N_NEURONS


def test_read_session_shapes_and_types(session):
    n_time = len(session.timestamps)
    assert session.dff.shape == (n_time, N_NEURONS) and session.dff.dtype == np.float32
    assert np.all(np.diff(session.timestamps) > 0)
    assert session.cell_ids.shape == (N_NEURONS,) and len(set(session.cell_ids)) == N_NEURONS
    assert session.area == "VISp" and session.subject == "M1"
    assert list(session.movie.columns) == ["start_time", "stop_time", "frame", "repeat"]
    assert session.movie.dtypes.astype(str).to_dict() == ac.MOVIE_COLUMNS
    assert len(session.movie) == 900 * N_REPEATS
    assert (session.movie["stop_time"] > session.movie["start_time"]).all()
    assert list(session.scenes.columns) == ["start_time", "stop_time", "frame"]
    assert session.scenes.dtypes.astype(str).to_dict() == ac.SCENE_COLUMNS
    assert len(session.scenes) == 118 * N_SCENE_REPEATS  # blank sweeps are gaps
    assert np.bincount(session.scenes["frame"], minlength=118).tolist() == [3] * 118
    assert session.running_speed.shape == (n_time,)
    assert np.isfinite(session.running_speed).all() and (session.running_speed >= 0).all()
    assert session.movie_template.shape == (900, SIZE, SIZE)
    assert session.movie_template.dtype == np.uint8
    assert session.scenes_template.shape == (118, SIZE, SIZE)
    assert session.scenes_template.dtype == np.uint8
    assert session.movie_template.std() > 10  # not blank
    assert ac.read_session(session.path, templates=False).movie_template is None


def test_ground_truth_is_saved(mouse, session):
    _, truth = mouse
    assert truth["movie_latents"].shape == (900, 4)
    assert truth["scene_drive"].shape == (118, N_NEURONS)  # the V1 filter bank's drive
    assert truth["preferred"].shape == (N_NEURONS, 4)
    np.testing.assert_array_equal(truth["cell_ids"], session.cell_ids)
    # A smooth closed curve: small steps everywhere, including from the last frame to the first.
    steps = np.abs(
        np.diff(truth["movie_latents"][:, :2], axis=0, append=truth["movie_latents"][:1, :2])
    )
    assert steps.max() < 0.01


def test_movie_matrix_rows_follow_the_presentations(session):
    neural, frame, repeat = movie_matrix(session)
    assert neural.shape == (900 * N_REPEATS, N_NEURONS) and neural.dtype == np.float32
    assert frame.dtype == np.int64 and repeat.dtype == np.int64
    np.testing.assert_array_equal(frame, np.tile(np.arange(900), N_REPEATS))
    np.testing.assert_array_equal(repeat, np.repeat(np.arange(N_REPEATS), 900))
    assert np.isfinite(neural).all()


def test_movie_neurons_are_tuned(mouse, session):
    population = mouse[1]["population"]
    neural, _, repeat = movie_matrix(session)
    first, second = neural[repeat == 0], neural[repeat == 1]
    reliability = _reliability(first, second)
    shuffled = _reliability(first, np.random.default_rng(0).permutation(second))
    movie_tuned = population == 1
    assert movie_tuned.sum() >= 10
    # one repeat against another, frame by frame, at the Allen data's noise: ~0.23
    assert np.median(reliability[movie_tuned]) > 0.15
    assert abs(shuffled[movie_tuned].mean()) < 0.1
    assert np.median(reliability[movie_tuned]) > np.median(reliability[population == 2])


def test_scene_responses_follow_the_true_tuning(mouse, session):
    scenes = scene_matrix(session)
    assert scenes.responses.shape == (118, N_NEURONS) and scenes.responses.dtype == np.float32
    assert (scenes.n_presentations == N_SCENE_REPEATS).all()
    truth = mouse[1]
    mean = scenes.responses
    predicted = truth["scene_drive"]  # each neuron's filter-bank drive by each scene
    tuned = truth["population"] > 0
    match = _reliability(mean, predicted)[tuned]
    shuffled = _reliability(mean, predicted[np.random.default_rng(0).permutation(118)])[tuned]
    assert np.median(match) > 0.25
    assert abs(np.median(shuffled)) < 0.1


def test_missing_or_damaged_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        ac.read_session(tmp_path / "absent.nwb")
    bad = tmp_path / "bad.nwb"
    bad.write_bytes(b"not an HDF5 file")
    with pytest.raises(DataError, match="cannot read") as error:
        ac.read_session(bad)
    assert str(bad) in str(error.value)


@pytest.mark.parametrize(
    ("group", "message"),
    [
        ("stimulus/presentation/natural_movie_one_stimulus", "no natural_movie_one presentations"),
        ("processing/ophys/DfOverF", "no dF/F"),
    ],
)
def test_missing_movie_or_dff_is_a_data_error(mouse, tmp_path, group, message):
    path = tmp_path / "edited.nwb"
    shutil.copy(mouse[0], path)
    with h5py.File(path, "a") as f:
        del f[group]
    with pytest.raises(DataError, match=message) as error:
        ac.read_session(path)
    assert error.value.path == str(path)


def with_presentation_table(source, path, intervals):
    """A copy of ``source`` whose movie presentations are an AllenSDK-style TimeIntervals
    table of ``intervals`` (start, stop, frame) instead of the IndexSeries."""
    from pynwb import NWBHDF5IO
    from pynwb.epoch import TimeIntervals

    shutil.copy(source, path)
    with h5py.File(path, "a") as f:
        del f["stimulus/presentation/natural_movie_one_stimulus"]
    with NWBHDF5IO(str(path), "a") as io:
        nwb = io.read()
        table = TimeIntervals(name="natural_movie_one_presentations", description="movie")
        table.add_column(name="frame", description="movie frame")
        for start, stop, frame in intervals:
            table.add_interval(start_time=start, stop_time=stop, frame=frame)
        nwb.add_time_intervals(table)
        io.write(nwb)
    return path


def test_allensdk_presentation_table_is_read(mouse, tmp_path):
    """The AllenSDK NWB 2 convention: a TimeIntervals table instead of an IndexSeries."""
    intervals = [(10 + k / 30, 10 + (k + 1) / 30, k % 30) for k in range(60)]
    path = with_presentation_table(mouse[0], tmp_path / "intervals.nwb", intervals)
    movie = ac.read_session(path, templates=False).movie
    assert len(movie) == 60 and movie.dtypes.astype(str).to_dict() == ac.MOVIE_COLUMNS
    np.testing.assert_array_equal(movie["frame"], np.tile(np.arange(30), 2))
    np.testing.assert_array_equal(movie["repeat"], np.repeat([0, 1], 30))
    np.testing.assert_allclose(movie["stop_time"] - movie["start_time"], 1 / 30)


def test_scene_blanks_stored_as_uint32_are_recognised(mouse, tmp_path):
    """DANDI 000728 cast scene frames to uint32: -1 wraps (read as -1) or clips to 0 (warned)."""
    path = tmp_path / "blanks.nwb"
    shutil.copy(mouse[0], path)
    with h5py.File(path, "a") as f:
        data = f["stimulus/presentation/natural_scenes_stimulus/data"]
        frames = data[:].astype(np.int64)
        # 59 presentations become 0 (blanks clipped), each of an image shown again later
        later = np.array([frames[k] in frames[k + 1 :] for k in range(len(frames))])
        clipped = np.flatnonzero(later[1:] & (frames[1:] != 0))[:59] + 1
        data[0] = 2**32 - 1
        data[clipped] = 0
    with pytest.warns(UserWarning, match="blank sweeps.*image 0 is left out"):
        session = ac.read_session(path)
    scenes = session.scenes
    assert scenes["frame"].iloc[0] == -1
    # image 0's own showings and the clipped blanks cannot be told apart: all marked
    assert (scenes["frame"].iloc[clipped] == ac.SCENE_ZERO_OR_BLANK).all()
    assert not (scenes["frame"] == 0).any()
    # and the scene responses leave image 0 out, keeping the other 117 as they were
    clean = scene_matrix(ac.read_session(mouse[0]))
    matrix = scene_matrix(session)
    np.testing.assert_array_equal(matrix.image, np.arange(1, 118))
    assert matrix.images.shape[0] == matrix.responses.shape[0] == 117
    np.testing.assert_array_equal(matrix.images, clean.images[1:])
    same = matrix.n_presentations == clean.n_presentations[1:]  # the overwritten ones differ
    assert same.sum() >= 117 - 59
    np.testing.assert_allclose(matrix.responses[same], clean.responses[1:][same], rtol=1e-6)


def test_nan_neurons_are_dropped_with_a_warning(session):
    dff = session.dff.copy()
    movie_sample = np.searchsorted(session.timestamps, session.movie["start_time"].iloc[100])
    dff[movie_sample, [3, 7, 11]] = np.nan
    dff[-1, 20] = np.nan  # after the movie: this neuron stays
    damaged = dataclasses.replace(session, dff=dff)
    with pytest.warns(UserWarning, match="dropped 3 of 40 neurons"):
        result = movie_responses(damaged)
    assert result.neural.shape == (900 * N_REPEATS, N_NEURONS - 3)
    assert np.isfinite(result.neural).all()
    np.testing.assert_array_equal(result.cell_ids, np.delete(session.cell_ids, [3, 7, 11]))
    all_nan = dataclasses.replace(session, dff=np.full_like(session.dff, np.nan))
    with pytest.raises(DataError, match="every one of 40 neurons"):
        movie_matrix(all_nan)


def test_mismatched_frame_counts_are_data_errors(session, tmp_path):
    source = tmp_path / "source.nwb"
    short = dataclasses.replace(session, movie=session.movie.drop(index=450))
    with pytest.raises(DataError, match="1799 presentations") as error:
        movie_matrix(short, source)
    assert error.value.path == str(source)
    template = dataclasses.replace(session, movie_template=session.movie_template[:899])
    with pytest.raises(DataError, match="template has 899 frames, expected 900"):
        movie_matrix(template, source)
    shifted = session.movie.assign(frame=session.movie["frame"] + 1)
    with pytest.raises(DataError, match="frames 1..900"):
        movie_matrix(dataclasses.replace(session, movie=shifted), source)


def test_pseudo_mouse_aligns_rows_by_repeat_and_frame(session):
    neural, frame, repeat = movie_matrix(session)
    order = np.random.default_rng(1).permutation(len(frame))
    other = neural[order][:, :25] * 2
    pooled = pseudo_mouse(
        [neural, other], [frame, frame[order]], [repeat, repeat[order]], None, seed=0
    )
    assert pooled.neural.shape == (900 * N_REPEATS, N_NEURONS + 25)
    np.testing.assert_array_equal(pooled.frame, frame)
    np.testing.assert_array_equal(pooled.repeat, repeat)
    np.testing.assert_allclose(pooled.neural[:, N_NEURONS:], 2 * neural[:, :25])

    sampled = pseudo_mouse([neural, other], [frame, frame[order]], [repeat, repeat[order]], 30, 0)
    assert sampled.neural.shape == (900 * N_REPEATS, 30) and sampled.neural.dtype == np.float32
    assert sampled.origin.shape == (30, 2) and len({tuple(o) for o in sampled.origin}) == 30
    again = pseudo_mouse([neural, other], [frame, frame[order]], [repeat, repeat[order]], 30, 0)
    np.testing.assert_array_equal(sampled.origin, again.origin)
    with pytest.raises(ValueError, match="n_neurons = 100"):
        pseudo_mouse([neural, other], [frame, frame[order]], [repeat, repeat[order]], 100, 0)


def test_interval_means_by_hand():
    """Each presented frame's value, worked out by hand: the mean of the 2P samples with
    start <= t < stop (a sample at a frame's stop belongs to the next frame), or, when the
    interval holds none, the sample nearest its centre (the earlier one on a tie)."""
    timestamps = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    dff = np.array([[0.0, 1.0], [2.0, 4.0], [3.0, 9.0], [5.0, 16.0], [7.0, 25.0], [11.0, 36.0]])
    start = np.array([0.0, 1.0, 2.5, 3.2, 3.9, 4.6, 2.25])
    stop = np.array([1.0, 2.5, 2.9, 3.6, 4.1, 4.8, 2.75])
    expected = np.array(
        [
            dff[0],  # [0, 1): sample 0 only, not the one at 1 s
            (dff[1] + dff[2]) / 2,  # [1, 2.5): the samples at 1 and 2 s
            dff[3],  # [2.5, 2.9): empty, centre 2.7 s is nearest 3 s
            dff[3],  # [3.2, 3.6): empty, centre 3.4 s
            dff[4],  # [3.9, 4.1): the sample at 4 s
            dff[5],  # [4.6, 4.8): empty, centre 4.7 s is nearest 5 s
            dff[2],  # [2.25, 2.75): empty, centre 2.5 s ties 2 and 3 s: the earlier
        ]
    )
    np.testing.assert_array_equal(interval_means(dff, timestamps, start, stop), expected)


def test_an_interval_far_from_every_sample_is_an_error_naming_the_file():
    """Presentations at 500 and 600 s against imaging that ends at 5 s: another clock, or
    imaging cut short; the nearest sample (the last) would stand in for both silently."""
    timestamps = np.arange(6.0)
    dff = np.ones((6, 2))
    start, stop = np.array([0.0, 500.0, 600.0]), np.array([1.0, 500.5, 600.5])
    with pytest.raises(DataError, match=r"m\.nwb: 2 of 3 stimulus intervals .* 500\.000"):
        interval_means(dff, timestamps, start, stop, "m.nwb")
    # within 1.5 sampling periods of the last sample: still that sample
    np.testing.assert_array_equal(
        interval_means(dff, timestamps, start[:1] + 6, stop[:1] + 5.5), dff[:1]
    )


def test_presentations_that_stop_before_they_start_name_the_file(mouse, tmp_path):
    intervals = [(10 + k / 30, 10 + k / 30 - (k == 7), k) for k in range(30)]
    path = with_presentation_table(mouse[0], tmp_path / "backwards.nwb", intervals)
    with pytest.raises(DataError, match=r"backwards\.nwb: .*1 presentations stop before.*row 7"):
        ac.read_session(path, templates=False)


def test_pseudo_mouse_draws_neurons_uniformly_from_all_mice():
    """``n_neurons`` columns are a uniform draw without replacement from every mouse's
    neurons: over many seeds each neuron is drawn with probability n / total, not the
    first mouse's neurons first."""
    frame, repeat = np.arange(3), np.zeros(3, int)
    mice = [np.zeros((3, 10), np.float32), np.ones((3, 10), np.float32)]
    drawn = np.zeros(20)
    for seed in range(200):
        pooled = pseudo_mouse(mice, [frame] * 2, [repeat] * 2, 5, seed)
        drawn[pooled.origin[:, 0] * 10 + pooled.origin[:, 1]] += 1
    # 200 draws of 5 of 20: each neuron about 50 times (binomial SD 6.1)
    assert drawn.sum() == 1000 and drawn.min() > 25 and drawn.max() < 75


def test_each_seed_of_a_neuron_count_sweep_draws_from_the_whole_pseudo_mouse():
    """The pool keeps one draw of ``n_neurons`` per seed (their union), so the sweep's seeds
    sample different cells of the whole population, also at the largest count: pooling one
    draw and sweeping the seeds inside it gave every seed the same cells there (the spread
    of raw and PCA over seeds 0 at 1,000 cells of the real config's areas)."""
    from brainlatent.decoding.frames import neuron_count_sweep

    frame, repeat = np.tile(np.arange(30), 2), np.repeat([0, 1], 30)
    mice = [np.tile(np.arange(50 * m, 50 * m + 50, dtype=np.float32), (60, 1)) for m in (0, 1)]
    one = pseudo_mouse(mice, [frame] * 2, [repeat] * 2, 20, 0)
    pooled = pseudo_mouse(mice, [frame] * 2, [repeat] * 2, 20, [0, 1, 2])
    assert set(pooled.draws) == {0, 1, 2} and 20 < pooled.neural.shape[1] <= 60
    # seed 0's draw is the single-seed pool's cells, whatever other seeds join it
    np.testing.assert_array_equal(pooled.neural[:, pooled.draws[0]], one.neural)
    used = {}

    def record(X_train, frame_train, X_test, seed):
        used.setdefault(seed, []).append(frozenset(X_train[0].tolist()))  # the cells' ids
        return X_train[:, :1], X_test[:, :1]

    neuron_count_sweep(
        pooled.neural, frame, repeat, [5, 20], [0, 1, 2], record, candidates=pooled.draws
    )
    at_20 = [used[seed][1] for seed in (0, 1, 2)]
    assert len(set(at_20)) == 3 and len(frozenset().union(*at_20)) > 30
    for seed in (0, 1, 2):  # each seed's cells are its own draw's
        own = set(pooled.neural[0, pooled.draws[seed]].tolist())
        assert used[seed][0] <= own and used[seed][1] == own
    with pytest.raises(ValueError, match=r"neuron counts must be in 1\.\.20"):
        neuron_count_sweep(pooled.neural, frame, repeat, [21], [0], record, candidates=pooled.draws)


def test_preprocess_mouse_writes_three_files(mouse, tmp_path):
    out = tmp_path / "pre"
    result = preprocess_mouse(
        mouse[0], out / "neural.npy", out / "labels.parquet", out / "info.json"
    )
    neural = np.load(out / "neural.npy")
    assert neural.shape == (900 * N_REPEATS, N_NEURONS) and neural.dtype == np.float32
    labels = pd.read_parquet(out / "labels.parquet")
    assert labels.dtypes.astype(str).to_dict() == LABEL_COLUMNS
    np.testing.assert_array_equal(labels["frame"], result.frame)
    assert labels["time"].is_monotonic_increasing
    info = json.loads((out / "info.json").read_text())
    assert info["area"] == "VISp" and info["subject"] == "M1"
    assert len(info["cell_ids"]) == N_NEURONS
    assert sorted(p.name for p in out.iterdir()) == ["info.json", "labels.parquet", "neural.npy"]


def test_simulate_dataset_is_deterministic(mouse, tmp_path):
    paths = simulate_dataset(
        tmp_path,
        ["M1"],
        "VISp",
        N_NEURONS,
        seed=0,
        n_movie_repeats=N_REPEATS,
        n_scene_repeats=N_SCENE_REPEATS,
        image_size=SIZE,
    )
    assert paths == [tmp_path / ac.nwb_relpath("M1")]
    assert (
        tmp_path / "sub-M1" / "sub-M1_ses-simulated-StimB_behavior+image+ophys_truth.npz"
    ).exists()
    np.testing.assert_array_equal(ac.read_session(paths[0]).dff, ac.read_session(mouse[0]).dff)
    with pytest.raises(ValueError, match="must match mice"):
        simulate_dataset(tmp_path, ["A", "B"], ["VISp"], 10, seed=0)


def test_scene_responses_do_not_move_the_movie_samples():
    # Two streams: what the scenes evoke cannot shift the random draws of the movie.
    params = CalciumSimulation()
    movie = movie_latents(0)
    neurons = neuron_parameters(70, movie, params, 0, "M1")
    drive = np.random.default_rng(0).uniform(0, 1, (ac.N_SCENES, 70))
    plan = session_plan(1, 2, params, 0, "M1")

    def run(scene_drive):
        gen, scene_gen = rng(0, "a"), rng(0, "b")
        return simulate_activity(plan, neurons, movie, scene_drive, params, gen, scene_gen)

    timestamps, dff, _ = run(drive)
    _, other, _ = run(drive[::-1])
    before = timestamps < plan["epochs"][2][0]
    np.testing.assert_array_equal(dff[before], other[before])
    assert not np.array_equal(dff[~before], other[~before])


MANIFEST_PATHS = [
    "sub-1/sub-1_ses-10-StimA_behavior+image+ophys.nwb",
    "sub-1/sub-1_ses-11-StimB_behavior+image+ophys.nwb",
    "sub-2/sub-2_ses-20-StimC2_behavior+image+ophys.nwb",
    "sub-2/sub-2_ses-21-StimB_behavior+image+ophys.nwb",
    "dandiset.yaml",
]


def test_sessions_are_selected_by_type_and_subject_and_named_after_their_file():
    chosen = ac.select_sessions(MANIFEST_PATHS, {"session_types": ["StimB", "StimC2"]})
    assert list(chosen) == ["1_ses-11-StimB", "2_ses-20-StimC2", "2_ses-21-StimB"]
    assert chosen["2_ses-20-StimC2"] == MANIFEST_PATHS[2]
    every = ac.select_sessions(MANIFEST_PATHS, {"subjects": ["2"]})  # all types by default
    assert list(every) == ["2_ses-20-StimC2", "2_ses-21-StimB"]
    listed = ac.select_sessions(MANIFEST_PATHS, [MANIFEST_PATHS[1]])
    assert listed == {"1_ses-11-StimB": MANIFEST_PATHS[1]}
    assert [ac.session_type(k) for k in chosen] == ["StimB", "StimC2", "StimB"]
    assert all(re.fullmatch(ac.SESSION_KEY_PATTERN, k) for k in chosen)


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ({"session_types": ["StimD"]}, r"unknown \['StimD'\]"),
        ({"subjects": ["1", "3"]}, r"no \[.*\] session of \['3'\] in manifest"),
        ({"session_types": ["StimC"]}, r"no session of types \['StimC'\]"),
        (["sub-9/sub-9_ses-1-StimB_behavior+image+ophys.nwb"], r"1 path\(s\) not in manifest"),
        ([MANIFEST_PATHS[0], MANIFEST_PATHS[0]], "listed twice"),
    ],
)
def test_a_selection_that_matches_nothing_is_a_config_error(selection, message):
    with pytest.raises(ConfigError, match=message):
        ac.select_sessions(MANIFEST_PATHS, selection)


def test_a_file_outside_the_dandiset_naming_has_no_session_key():
    with pytest.raises(ConfigError, match="not a DANDI 000728 session file"):
        ac.session_key("sub-1/sub-1_ses-10_behavior+image+ophys.nwb")


@pytest.mark.parametrize(
    ("location", "area"),
    [("VISp", "VISp"), ("VISal, 275 um", "VISal"), ("area VISpm", "VISpm"), ("V1", "V1"),
     ("VISp/VISl border", "VISp/VISl border")],
)  # fmt: skip
def test_the_area_is_the_survey_name_in_the_plane_location(location, area):
    assert ac.area_name(location) == area
