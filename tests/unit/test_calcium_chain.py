"""The calcium chain's steps above preprocessing: pseudo-mouse, embeddings, consistency, figures."""

import json
import runpy
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest

from brainlatent.datasets import allen_calcium as ac
from brainlatent.datasets.simulate_calcium import simulate_mouse
from brainlatent.decoding.movie import movie_embedding
from brainlatent.errors import DataError
from brainlatent.figures.calcium import plot_consistency, plot_embedding, plot_frame_decoding
from brainlatent.figures.style import save_figure
from brainlatent.preprocessing.calcium import (
    INDEX_COLUMNS,
    preprocess_mouse,
    read_session_index,
    write_pseudo_mouse,
    write_session_index,
)

pytestmark = pytest.mark.filterwarnings("ignore:MultiobjectiveSolver is deprecated")

N_NEURONS, N_REPEATS = (30, 20), 2
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def run_script(name, *argv):
    """``python scripts/<name>.py ARGV`` in this process, as the workflow's rule runs it."""
    with mock.patch("sys.argv", [name, *map(str, argv)]):
        runpy.run_path(str(SCRIPTS / f"{name}.py"), run_name="__main__")


@pytest.fixture(scope="module")
def preprocessed(tmp_path_factory):
    """Two tiny simulated mice, preprocessed: [(neural.npy, labels.parquet, info.json)]."""
    root = tmp_path_factory.mktemp("calcium")
    outputs = []
    for mouse, n_neurons in zip(("M1", "M2"), N_NEURONS, strict=True):
        nwb = root / ac.nwb_relpath(mouse)
        simulate_mouse(
            nwb,
            mouse,
            "VISp",
            n_neurons,
            seed=0,
            n_movie_repeats=N_REPEATS,
            n_scene_repeats=0,
            image_size=16,
        )
        out = root / mouse
        paths = (out / "neural.npy", out / "labels.parquet", out / "info.json")
        preprocess_mouse(nwb, *paths)
        outputs.append(paths)
    return outputs


def test_pseudo_mouse_pools_every_neuron_on_shared_rows(preprocessed, tmp_path):
    out = (tmp_path / "neural.npy", tmp_path / "labels.parquet", tmp_path / "info.json")
    pooled = write_pseudo_mouse(preprocessed, *out, area="VISp")
    neural = np.load(out[0])
    assert neural.shape == (900 * N_REPEATS, sum(N_NEURONS)) and neural.dtype == np.float32
    first = np.load(preprocessed[0][0])
    np.testing.assert_array_equal(neural[:, : N_NEURONS[0]], first)  # same rows, same order
    labels = pd.read_parquet(out[1])
    assert labels["time"].isna().all() and (labels["frame"].to_numpy() == pooled.frame).all()
    info = json.loads(out[2].read_text())
    assert info["subject"] == "pseudo" and info["area"] == "VISp"
    assert info["n_neurons"] == sum(N_NEURONS) and len(info["origin"]) == sum(N_NEURONS)


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    """M1 imaged twice (StimB, StimA: same cells) in VISp, M2 once (StimC2) in VISl."""
    root = tmp_path_factory.mktemp("sessions")
    outputs = {}
    for mouse, kind, area, n in (
        ("M1", "StimB", "VISp", 30), ("M1", "StimA", "VISp", 30), ("M2", "StimC2", "VISl", 20)
    ):  # fmt: skip
        nwb = root / ac.nwb_relpath(mouse, f"1-{kind}")
        simulate_mouse(
            nwb, mouse, area, n, seed=0, n_movie_repeats=N_REPEATS, image_size=16,
            session_type=kind,
        )  # fmt: skip
        out = root / f"{mouse}-{kind}"
        paths = (out / "neural.npy", out / "labels.parquet", out / "info.json")
        preprocess_mouse(nwb, *paths)
        outputs[kind] = paths
    return outputs


def test_pseudo_mouse_per_area_pools_each_cell_once(sessions, tmp_path):
    out = (tmp_path / "neural.npy", tmp_path / "labels.parquet", tmp_path / "info.json")
    pooled = write_pseudo_mouse(list(sessions.values()), *out, area="VISp")
    info = json.loads(out[2].read_text())
    # StimA and StimB image the same 30 cells: they enter once, from the first session
    assert info["n_available"] == 30 and pooled.neural.shape[1] == 30
    assert set(pooled.origin[:, 0].tolist()) == {0} and info["area"] == "VISp"
    np.testing.assert_array_equal(pooled.neural, np.load(sessions["StimB"][0]))
    assert len(info["sources"]) == 2 and info["cell_subjects"] == ["M1"] * 30

    capped = write_pseudo_mouse(list(sessions.values()), *out, max_neurons=25, seed=1)
    info = json.loads(out[2].read_text())
    assert info["n_available"] == 50 and capped.neural.shape[1] == 25
    assert info["area"] == "VISl+VISp" and len(set(info["cell_ids"])) == 25

    with pytest.raises(DataError, match=r"no session imaged in VISam.*VISp \(2\), VISl \(1\)"):
        write_pseudo_mouse(list(sessions.values()), *out, area="VISam")


def test_session_index_lists_each_session_and_feeds_the_pseudo_mouse(sessions, tmp_path):
    """What the workflow runs: index_calcium_sessions by id and folder pattern, then
    pool_pseudo_mouse from the index; the same pool as from the three files directly."""
    root = sessions["StimB"][0].parents[1]
    index = tmp_path / "sessions.parquet"
    ids = ["M1-StimB", "M1-StimA", "M2-StimC2"]
    run_script("index_calcium_sessions", "--folder", f"{root}/{{session}}", "--sessions", *ids,
               "--out", index)  # fmt: skip
    table = pd.read_parquet(index)
    assert list(table.columns) == list(INDEX_COLUMNS)
    assert table["area"].tolist() == ["VISp", "VISp", "VISl"]
    assert table["n_neurons"].tolist() == [30, 30, 20]
    assert table["n_samples"].tolist() == [900 * N_REPEATS] * 3
    assert read_session_index(index) == list(sessions.values())

    out = [tmp_path / "pooled" / name for name in ("neural.npy", "labels.parquet", "info.json")]
    outputs = (f"--out-{k}={v}" for k, v in zip(("neural", "labels", "info"), out, strict=True))
    run_script("pool_pseudo_mouse", "--sessions", index, "--area", "VISp", "--seeds", "0", *outputs)
    direct = write_pseudo_mouse(
        list(sessions.values()), *(tmp_path / n for n in "abc"), area="VISp"
    )
    np.testing.assert_array_equal(np.load(out[0]), direct.neural)


def test_session_index_names_a_missing_session_and_writes_nothing(sessions, tmp_path):
    index = tmp_path / "sessions.parquet"
    missing = sessions["StimB"][2].parent.parent / "M9" / "info.json"
    triples = [sessions["StimB"], (missing.with_name("neural.npy"), missing, missing)]
    with pytest.raises(DataError, match=r"M9/info.json.*cannot read session info"):
        write_session_index(triples, index)
    assert not index.exists()
    with pytest.raises(DataError, match="no preprocessed session"):
        write_session_index([], index)
    pd.DataFrame({"subject": ["M1"]}).to_parquet(index)
    with pytest.raises(DataError, match="sessions.parquet"):
        read_session_index(index)


def test_every_session_type_gives_the_movie_but_only_stimb_the_scenes(sessions):
    from brainlatent.preprocessing.scenes import preprocess_scenes

    for kind, (neural, _, _) in sessions.items():
        assert np.load(neural).shape[0] == 900 * N_REPEATS, kind
    for kind in ("StimA", "StimC2"):
        nwb = sessions[kind][0].parent.parent / ac.nwb_relpath(
            "M1" if kind == "StimA" else "M2", f"1-{kind}"
        )
        with pytest.raises(DataError, match="no natural_scenes presentations.*StimB"):
            preprocess_scenes(nwb, nwb.with_suffix(".npz"))
        assert not nwb.with_suffix(".npz").exists()


def test_pseudo_mouse_rejects_labels_of_another_length(preprocessed, tmp_path):
    neural, labels, _ = preprocessed[0]
    short = tmp_path / "short.parquet"
    pd.read_parquet(labels).iloc[:-5].to_parquet(short)
    out = (tmp_path / "o" / "neural.npy", tmp_path / "o" / "labels.parquet", tmp_path / "o.json")
    with pytest.raises(DataError, match="short.parquet.*label rows"):
        write_pseudo_mouse([(neural, short, preprocessed[0][2]), preprocessed[1]], *out)
    assert not any(p.exists() for p in out)


@pytest.mark.parametrize("kind", ["behavior", "time"])
def test_movie_embedding_covers_every_row_and_is_reproducible(preprocessed, kind):
    neural = np.load(preprocessed[0][0])
    labels = pd.read_parquet(preprocessed[0][1])
    features = np.random.default_rng(0).normal(size=(900, 6)).astype(np.float32)
    params = {"output_dimension": 3, "max_iterations": 20, "batch_size": 128, "device": "cpu"}
    args = (neural, labels["frame"].to_numpy(), labels["repeat"].to_numpy(), features, kind)
    embedding = movie_embedding(*args, params, seed=3)
    assert embedding.shape == (len(neural), 3) and np.isfinite(embedding).all()
    np.testing.assert_allclose(embedding, movie_embedding(*args, params, seed=3))
    with pytest.raises(ValueError, match="two repeats"):
        movie_embedding(neural, args[1], np.zeros(len(neural), int), features, kind, params)


def _frame_table(subjects=("M1", "M2", "pseudo")):
    rows = [
        {
            "subject": s,
            "method": m,
            "n_neurons": n,
            "seed": 0,
            "metric": "accuracy",
            "value": 0.1 + n / 1000,
            "chance": 0.064,
        }
        for s in subjects
        for m in ("raw", "cebra_behavior")
        for n in (10, 100)
    ]
    return pd.DataFrame(rows)


def test_calcium_figures_are_written(tmp_path):
    consistency = pd.DataFrame(
        [
            ("behavior", "M1", "M2", "r2", 0.8),
            ("behavior", "M2", "M1", "r2", 0.7),
            ("time", "M1", "M2", "r2", 0.5),
            ("time", "M2", "M1", "r2", 0.6),
        ],
        columns=["kind", "source", "target", "metric", "value"],
    )
    gen = np.random.default_rng(0)
    embeddings = {k: (gen.normal(size=(50, 3)), np.arange(50)) for k in ("behavior", "time")}
    for name, fig in [
        ("consistency", plot_consistency(consistency)),
        ("embedding", plot_embedding(embeddings, title="M1")),
        ("frames", plot_frame_decoding(_frame_table())),
        ("frames_single", plot_frame_decoding(_frame_table(("M1",)))),
    ]:
        save_figure(fig, tmp_path / f"{name}.pdf", tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
    assert len(plot_frame_decoding(_frame_table()).axes) == 2  # single mice + pseudo-mouse


def test_figures_name_the_table_or_shape_they_lack():
    with pytest.raises(DataError, match="consistency.parquet.*'r2'"):
        plot_consistency(pd.DataFrame(columns=["metric"]), source="consistency.parquet")
    with pytest.raises(ValueError, match="≥ 3 dimensions"):
        plot_embedding({"time": (np.zeros((5, 2)), np.arange(5))})


def test_frame_decoding_gives_each_area_pseudo_mouse_its_own_panel():
    """config/real.yaml decodes one pseudo-mouse per area and no single mice: one panel each."""
    table = _frame_table(("pseudo-VISp", "pseudo-VISl", "pseudo"))
    table.loc[table["subject"] == "pseudo-VISl", "value"] = 0.3
    fig = plot_frame_decoding(table)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    titles = [ax.get_title() for ax in visible]
    # the areas in the Allen's order, V1 first (not alphabetically)
    assert titles == ["pseudo-mouse (pooled)", "pseudo-mouse, VISp", "pseudo-mouse, VISl"]
    visl = visible[2].get_lines()[0].get_ydata()
    np.testing.assert_allclose(visl, [30.0, 30.0])  # its own values, not averaged with VISp


def test_frame_decoding_labels_only_counts_that_stay_apart():
    """real.yaml sweeps to 1,000 neurons: 600, 800 and 1000 printed as "6008001000"; single
    mice overlaid at their own counts (96, 174 ...) added ticks beside the sweep's."""
    table = _frame_table(("pseudo",))
    sweep = pd.concat([table.assign(n_neurons=n) for n in (10, 100, 300, 600, 800, 1000)])
    mice = _frame_table(("M1", "M2")).query("n_neurons == 100")
    mice.loc[mice["subject"] == "M2", "n_neurons"] = 174
    fig = plot_frame_decoding(pd.concat([sweep, mice], ignore_index=True))
    (ax,) = [ax for ax in fig.axes if ax.get_visible()]
    ticks = zip(ax.get_xticks(), ax.get_xticklabels(), strict=True)
    labels = {int(t): label.get_text() for t, label in ticks}
    assert labels == {10: "10", 100: "100", 300: "300", 600: "600", 800: "", 1000: "1000"}
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "single mice (2), all their neurons (100–174)" in legend


def test_consistency_matrix_grows_with_the_mice_and_their_names(tmp_path):
    """Six pseudo-mice, or four sessions named as real-laptop.yaml names them, collapsed a
    fixed-size panel to nothing (constrained layout gave up); the figure is sized for them."""
    for mice in (
        [f"pseudo-{a}" for a in ("VISp", "VISl", "VISal", "VISpm", "VISam", "VISrl")],
        [f"49160496{k}_ses-49690881{k}-StimB" for k in range(4)],
    ):
        rows = [
            (kind, a, b, "r2", 0.5)
            for kind in ("behavior", "time")
            for a in mice
            for b in mice
            if a != b
        ]
        table = pd.DataFrame(rows, columns=["kind", "source", "target", "metric", "value"])
        fig = plot_consistency(table)
        save_figure(fig, tmp_path / "c.pdf", tmp_path / "c.png")
        matrices = [ax for ax in fig.axes if ax.get_images()]
        for ax in matrices:
            box = ax.get_window_extent()
            assert box.width / fig.dpi > 0.35 * len(mice), (mice[0], box.width / fig.dpi)
            labels = ax.get_xticklabels()
            assert [label.get_text() for label in labels] == mice
            if len(mice[0]) > 10:
                assert {label.get_rotation() for label in labels} == {90.0}


def test_frame_decoding_draws_unswept_single_mice_on_the_pooled_panel():
    """sweep_mice: false decodes each mouse at all its neurons only: no panel of one column."""
    table = _frame_table()
    single = table["subject"] != "pseudo"
    table = table[~single | (table["n_neurons"] == 100)].copy()
    table.loc[table["subject"] == "M1", "value"] = 0.5
    table.loc[table["subject"] == "M2", "value"] = 0.7
    fig = plot_frame_decoding(table)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["pseudo-mouse (pooled) and single mice"]
    markers = [line for line in visible[0].get_lines() if line.get_marker() == "D"]
    # one marker per method at the mean of the two mice, and the legend's key
    assert [tuple(m.get_ydata()) for m in markers if len(m.get_ydata())] == [(60.0,), (60.0,)]
    assert any("single mice (2)" in t.get_text() for t in visible[0].get_legend().get_texts())
    # swept single mice keep their own panel
    assert len([ax for ax in plot_frame_decoding(_frame_table()).axes if ax.get_visible()]) == 2


def test_decoding_and_embedding_scripts_use_each_seeds_draw_of_the_pool(sessions, tmp_path):
    """The pool drew 12 of 50 cells for each of seeds 0, 1, 3 (``info.json``'s ``draws``):
    the decoding script sweeps each seed inside its own draw (a count above 12 means "every
    cell of the draw"), and the embedding script embeds the root seed's draw only."""
    out = (tmp_path / "neural.npy", tmp_path / "labels.parquet", tmp_path / "info.json")
    index = tmp_path / "sessions.parquet"
    write_session_index(list(sessions.values()), index)
    run_script(
        "pool_pseudo_mouse", "--sessions", index, "--max-neurons", 12,
        "--seeds", 3, 0, 1, "--out-neural", out[0], "--out-labels", out[1], "--out-info", out[2],
    )  # fmt: skip
    info = json.loads(out[2].read_text())
    assert sorted(info["draws"], key=int) == ["0", "1", "3"]
    assert all(len(d) == 12 for d in info["draws"].values()) and 12 < info["n_neurons"] <= 36
    features = tmp_path / "features.npy"
    np.save(features, np.random.default_rng(0).normal(size=(900, 4)).astype(np.float32))
    metrics = tmp_path / "metrics.parquet"
    common = ["--neural", out[0], "--labels", out[1], "--info", out[2]]
    run_script(
        "decode_movie_frames", "--mouse", "pseudo", *common, "--features", features,
        "--methods", "raw", "--neuron-counts", 5, 30, "--seeds", 0, 1, "--metrics", metrics,
    )  # fmt: skip
    table = pd.read_parquet(metrics)
    assert sorted(set(table["n_neurons"])) == [5, 12]  # 30: all 12 of each seed's draw
    embedding = tmp_path / "embedding.npz"
    with mock.patch("brainlatent.decoding.movie.embed_fn") as fn:
        fn.return_value = lambda X_train, frame, X, seed: (None, X[:, :2])
        run_script(
            "embed_calcium", *common, "--pool-seed", 1, "--features", features, "--kind",
            "behavior", "--embedding", embedding,
        )  # fmt: skip
    neural = np.load(out[0])
    np.testing.assert_array_equal(
        np.load(embedding)["embedding"], neural[:, info["draws"]["1"][:2]]
    )
    with pytest.raises(DataError, match=r"drew cells for seeds \['0', '1', '3'\], not for seed 2"):
        run_script("embed_calcium", *common, "--pool-seed", 2, "--features", features,
                   "--kind", "behavior", "--embedding", embedding)  # fmt: skip


def test_cells_are_one_across_sessions_only_by_ids_that_name_them_there(sessions, tmp_path):
    """StimA and StimB image the same 30 cells, known by their global ids; the same files
    whose ids are only their ROI tables' rows (no ``cell_specimen_id``/``global_roi_id``:
    ``cell_ids_persist`` false) hold 30 cells each, not 30 shared with the second
    session's dropped."""
    copies = []
    for kind in ("StimB", "StimA"):
        neural, labels, info = sessions[kind]
        folder = tmp_path / kind
        folder.mkdir()
        meta = json.loads(info.read_text())
        meta.update(cell_ids_persist=False, cell_ids=list(range(len(meta["cell_ids"]))))
        (folder / "info.json").write_text(json.dumps(meta))
        copies.append((neural, labels, folder / "info.json"))
    out = (tmp_path / "neural.npy", tmp_path / "labels.parquet", tmp_path / "info.json")
    pooled = write_pseudo_mouse(copies, *out)
    info = json.loads(out[2].read_text())
    assert info["n_available"] == 60 and pooled.neural.shape[1] == 60
    assert info["cell_subjects"] == ["M1"] * 60
