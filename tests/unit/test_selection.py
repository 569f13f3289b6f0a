"""Choosing the embeddings' input smoothing and CEBRA's iterations on the training block only."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from brainlatent.datasets import simulate_place_cells as sim
from brainlatent.datasets.recording import read_recording
from brainlatent.decoding import behavior as bd
from brainlatent.decoding import selection as sel

CEBRA = {
    "output_dimension": 3,
    "max_iterations": 60,
    "batch_size": 128,
    "learning_rate": 0.003,
    "device": "cpu",
}


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    session = sim.simulate_session(sim.PlaceCellSimulation(n_neurons=50, duration_s=60.0, seed=2))
    path = tmp_path_factory.mktemp("selection") / "rec.npz"
    sim.write_npz(session, path)
    return read_recording(path)


def curve(widths_iterations_values, metric="median_abs_error"):
    """A hand-made validation curve: one criterion row per (width, iterations, value)."""
    rows = [
        {
            "dataset": "r",
            "method": "cebra_behavior",
            "seed": 0,
            "smoothing_s": w,
            "iterations": i,
            "label": "position",
            "metric": metric,
            "value": v,
            "criterion": True,
            "chosen": False,
            "device": "cpu",
        }  # fmt: skip
        for w, i, v in widths_iterations_values
    ]
    table = pd.DataFrame(rows, columns=sel.SELECTION_COLUMNS)
    table["iterations"] = table["iterations"].astype("Int64")
    return table


# --- input blocks ----------------------------------------------------------------------------


def test_input_blocks_keep_counts_or_smooth_each_block_alone():
    rng = np.random.default_rng(0)
    counts = rng.poisson(0.05, size=(400, 5)).astype(np.float32)
    train, test = sel.input_blocks(counts, 40.0, 0.0, 300)
    assert np.array_equal(train, counts[:300]) and np.array_equal(test, counts[300:])
    train, test = sel.input_blocks(counts, 40.0, 0.25, 300)
    assert train.dtype == np.float32 and train.shape == (300, 5)
    # Mass is kept (counts per bin), and the held-out block never leaks into the training one.
    assert np.allclose(train.sum(0), counts[:300].sum(0), rtol=1e-4)
    changed = counts.copy()
    changed[300:] = rng.poisson(3.0, size=(100, 5))
    assert np.array_equal(sel.input_blocks(changed, 40.0, 0.25, 300)[0], train)
    with pytest.raises(ValueError, match="input smoothing must be finite and >= 0"):
        sel.input_blocks(counts, 40.0, -0.1, 300)


def test_the_criterion_is_the_first_continuous_column():
    assert sel.criterion_label(["direction", "position"], [True, False]) == (
        "position",
        "median_abs_error",
    )
    assert sel.criterion_label(["direction"], [True]) == ("direction", "accuracy")


# --- choosing ---------------------------------------------------------------------------------


def test_choose_takes_the_lowest_error_and_marks_it():
    table = curve([(0.0, 0, 0.5), (0.0, 250, 0.20), (0.25, 0, 0.4), (0.25, 250, 0.10),
                   (0.25, 500, 0.12)])  # fmt: skip
    choice, marked = sel.choose(table)
    assert (choice.smoothing_s, choice.iterations, choice.value) == (0.25, 250, 0.10)
    assert marked["chosen"].tolist() == [False, False, False, True, False]


def test_choose_breaks_ties_towards_less_smoothing_and_fewer_iterations():
    choice, _ = sel.choose(curve([(0.5, 250, 0.1), (0.1, 500, 0.1), (0.1, 250, 0.1)]))
    assert (choice.smoothing_s, choice.iterations) == (0.1, 250)


def test_accuracy_is_maximised():
    choice, _ = sel.choose(curve([(0.0, 100, 0.6), (0.1, 100, 0.8)], metric="accuracy"))
    assert choice.smoothing_s == 0.1


def test_choose_refuses_empty_or_foreign_tables():
    with pytest.raises(ValueError, match="no validation curves"):
        sel.choose(curve([]))
    with pytest.raises(ValueError, match="lack the columns"):
        sel.choose(pd.DataFrame({"value": [1.0]}))


# --- validation curves ------------------------------------------------------------------------


def test_raw_curve_schema(recording):
    split = bd.split_index(len(recording.neural), 0.2)
    table = bd.validation_curve_of(recording, "raw", 0.1, split=split, dataset="r")
    assert list(table.columns) == sel.SELECTION_COLUMNS
    assert table["label"].tolist() == ["position", "direction"]
    assert table["criterion"].tolist() == [True, False]
    assert table["iterations"].isna().all() and table["seed"].isna().all()
    assert (table["smoothing_s"] == 0.1).all() and (table["dataset"] == "r").all()


def test_cebra_curve_scores_every_eval_step_and_learns(recording):
    split = bd.split_index(len(recording.neural), 0.2)
    table = bd.validation_curve_of(
        recording, "cebra_behavior", 0.25, split=split, eval_every=20, cebra_params=CEBRA
    )
    position = table[table["criterion"]].set_index("iterations")["value"]
    assert list(position.index) == [20, 40, 60]  # after every 20 steps; 60 is also the end
    assert position[60] < 0.7 * position[20], position
    assert (table["seed"] == 0).all() and set(table["device"]) == {"cpu"}


def test_a_curves_iteration_count_is_the_steps_a_fit_of_that_many_iterations_takes(recording):
    """The row labelled k iterations scores the model a fit of ``max_iterations`` k ends with,
    the count :func:`choose` passes to the final fit (cebra's own hook runs after 1, f + 1,
    2f + 1, ... steps: a row of 0 once scored a network trained one step)."""
    split = bd.split_index(len(recording.neural), 0.2)
    params = {**CEBRA, "max_iterations": 5}
    table = bd.validation_curve_of(
        recording, "cebra_behavior", 0.0, split=split, eval_every=2, cebra_params=params
    )
    assert list(table.loc[table["criterion"], "iterations"]) == [2, 4, 5]
    neural, behavior = recording.neural[:split], recording.behavior[:split]
    cut = bd.split_index(split, 0.2)
    continuous, discrete = bd.cebra_labels(behavior[:cut], recording.is_discrete)
    knn = {"n_neighbors": 36, "metric": "cosine"}
    for k in (2, 4):
        model = bd.fit_cebra(
            "behavior",
            neural[:cut],
            continuous,
            discrete,
            seed=0,
            **{**params, "max_iterations": k},
        )
        scores = sel._scores(
            model.transform(neural[:cut]), behavior[:cut], model.transform(neural[cut:]),
            behavior[cut:], recording.behavior_names, recording.is_discrete, knn, None,
        )  # fmt: skip
        rows = table[table["iterations"] == k].set_index(["label", "metric"])["value"]
        for row in scores:
            assert rows[(row["label"], row["metric"])] == pytest.approx(row["value"]), (k, row)


def test_the_held_out_block_never_touches_the_choice(recording):
    """Curves are made on the training block: replacing the held-out block changes nothing."""
    split = bd.split_index(len(recording.neural), 0.2)
    rng = np.random.default_rng(1)
    neural = recording.neural.copy()
    neural[split:] = rng.poisson(2.0, size=neural[split:].shape)
    other = dataclasses.replace(recording, neural=neural)
    a = bd.validation_curve_of(recording, "cebra_time", 0.1, split=split, cebra_params=CEBRA)
    b = bd.validation_curve_of(other, "cebra_time", 0.1, split=split, cebra_params=CEBRA)
    pd.testing.assert_frame_equal(a, b)


def test_auto_input_smoothing_is_chosen_and_written_to_the_metrics(recording):
    result = bd.decode_behavior(
        recording,
        ["cebra_behavior", "raw"],
        [0],
        CEBRA,
        input_smoothing_s="auto",
        selection={"smoothings_s": [0.0, 0.25], "eval_every": 30},
        log=lambda _: None,
    )
    table = result.selection
    assert set(table["method"]) == {"cebra_behavior", "raw"}  # each embedding chooses
    chosen = table[table["chosen"] & table["criterion"]].set_index("method")
    assert len(chosen) == 2
    sigma, iterations = chosen.loc["cebra_behavior", ["smoothing_s", "iterations"]]
    assert sigma == 0.25  # sparse counts in 25 ms bins: smoothing wins
    assert iterations in (30, 60)
    assert set(table.loc[table["method"] == "cebra_behavior", "iterations"]) == {30, 60}
    rows = result.metrics.set_index("method")
    assert (rows.loc["cebra_behavior", "smoothing_s"] == sigma).all()
    assert (rows.loc["cebra_behavior", "iterations"] == iterations).all()
    assert (rows.loc["raw", "smoothing_s"] == chosen.loc["raw", "smoothing_s"]).all()
    assert rows.loc["raw", "iterations"].isna().all()


def test_choose_refuses_curves_of_several_methods():
    table = pd.concat([curve([(0.0, 10, 0.2)]), curve([(0.0, 10, 0.1)]).assign(method="pca")])
    with pytest.raises(ValueError, match="several methods"):
        sel.choose(table)


def test_pca_curve_fits_pca_on_the_fit_part(recording):
    split = bd.split_index(len(recording.neural), 0.2)
    table = bd.validation_curve_of(recording, "pca", 0.25, split=split, pca_dim=2)
    assert table["iterations"].isna().all() and (table["method"] == "pca").all()
    # Five extra cells, silent in the fit part and loud in the validation tail: a PCA fitted
    # on the fit part gives them no weight, so the score is the same to the last bit; one that
    # saw the tail would take them for its first components.
    neural, behavior = recording.neural[:split], recording.behavior[:split]
    cut = bd.split_index(split, 0.2)
    loud = np.zeros((split, 5), dtype=np.float32)
    loud[cut:] = np.random.default_rng(0).normal(0, 100, (split - cut, 5))
    args = (recording.behavior_names, recording.is_discrete, recording.rate)
    scores = [
        sel.validation_curve(x, behavior, *args, method="pca", smoothing_s=0.25, pca_dim=8)
        for x in (np.hstack([neural, 0 * loud]), np.hstack([neural, loud]))
    ]
    clean, noisy = (t.loc[t["criterion"], "value"].item() for t in scores)
    assert noisy == clean
    # and the two components carry the position: well under the error of the fit part's median
    position = behavior[:, 0]
    chance = np.median(np.abs(position[cut:] - np.median(position[:cut])))
    assert clean < 0.5 * chance


def test_a_set_width_makes_no_curves(recording):
    result = bd.decode_behavior(recording, ["pca"], input_smoothing_s=0.1, log=lambda _: None)
    assert result.selection.empty and list(result.selection.columns) == sel.SELECTION_COLUMNS
    assert (result.metrics.loc[result.metrics["method"] == "pca", "smoothing_s"] == 0.1).all()


# --- fitted embeddings: the workflow's jobs -------------------------------------------------


def test_fitted_embeddings_round_trip_and_are_used(recording, tmp_path):
    split = bd.split_index(len(recording.neural), 0.2)
    fitted = bd.fit_recording_embedding(recording, "pca", None, smoothing_s=0.1)
    bd.save_embedding(tmp_path / "pca.npz", fitted, recording, "pca", None, split)
    method, seed, loaded = bd.load_embedding(tmp_path / "pca.npz")
    assert (method, seed, loaded.smoothing_s, loaded.iterations) == ("pca", None, 0.1, None)
    assert np.array_equal(loaded.train, fitted.train) and np.array_equal(loaded.test, fitted.test)
    result = bd.decode_behavior(
        recording, ["pca"], input_smoothing_s=0.1, fitted={("pca", None): loaded},
        log=lambda _: None,
    )  # fmt: skip
    assert result.fitted[("pca", None)] is loaded


def test_an_embedding_of_another_split_is_refused(recording):
    fitted = bd.fit_recording_embedding(recording, "pca", None, test_fraction=0.3)
    with pytest.raises(ValueError, match="fitted on another recording or test_fraction"):
        bd.decode_behavior(recording, ["pca"], fitted={("pca", None): fitted}, log=print)


def test_a_file_that_is_no_embedding_is_named(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="other.npz: not an embedding file"):
        bd.load_embedding(tmp_path / "other.npz")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="broken.npz: cannot read the embedding"):
        bd.load_embedding(tmp_path / "broken.npz")


# --- CEBRA's hook and progress ------------------------------------------------------------------


def test_the_callback_leaves_the_fit_bit_identical(recording, capsys):
    from brainlatent.models import cebra_models

    X = recording.neural[:800]
    y = recording.behavior[:800, :1].astype(np.float32)
    steps = []

    def embed(**kw):
        model = cebra_models.make_cebra("behavior", random_state=3, **CEBRA)
        return cebra_models.fit_model(model, X, y, threads=1, **kw).transform(X)

    plain = embed()
    hooked = embed(callback=lambda step, solver: steps.append(step), callback_every=25)
    assert steps == [25, 50]  # steps taken (cebra's own hook: after 1, 26, 51)
    assert np.array_equal(plain, hooked)
    embed(progress="fit demo")
    err = capsys.readouterr().err
    assert "fit demo" in err and "60/60" in err
    with pytest.raises(ValueError, match="callback_every must be a positive"):
        embed(callback=lambda *_: None)


# --- curves pinned against independent computations -----------------------------------------


def test_a_raw_curve_is_sklearns_knn_fitted_on_the_fit_part_scoring_the_tail():
    """Each row of a raw curve by hand: kNN fitted on the training block's first 75 %, scoring
    its last 25 % (median absolute error, accuracy); the criterion is the first continuous
    column alone, never the second (another unit)."""
    gen = np.random.default_rng(0)
    position = np.cumsum(gen.normal(size=400))
    speed = np.abs(gen.normal(size=400)) * 100  # cm/s: errors far above the position's
    code = (position > np.median(position)).astype(float)
    neural = gen.poisson(2.0, size=(400, 6)) + position[:, None] * np.arange(6) / 5
    behavior = np.column_stack([code, position, speed])
    table = sel.validation_curve(
        neural, behavior, ["side", "position", "speed"], [True, False, False], 40.0,
        method="raw", validation_fraction=0.25, n_neighbors=7,
    )  # fmt: skip
    value = table.set_index("label")["value"]
    fit, tail = neural[:300].astype(np.float32), neural[300:].astype(np.float32)
    for j, name in ((1, "position"), (2, "speed")):
        knn = KNeighborsRegressor(n_neighbors=7, metric="cosine").fit(fit, behavior[:300, j])
        error = np.median(np.abs(knn.predict(tail) - behavior[300:, j]))
        assert value[name] == pytest.approx(error)
    knn = KNeighborsClassifier(n_neighbors=7, metric="cosine").fit(fit, code[:300].astype(int))
    assert value["side"] == pytest.approx(np.mean(knn.predict(tail) == code[300:]))
    assert table.loc[table["criterion"], "label"].tolist() == ["position"]


def test_choose_breaks_a_tie_on_the_width_before_the_iterations():
    """Less smoothing wins a tie even when it took more iterations."""
    choice, _ = sel.choose(curve([(0.5, 250, 0.1), (0.1, 500, 0.1)]))
    assert (choice.smoothing_s, choice.iterations) == (0.1, 500)


def test_input_blocks_refuse_a_width_that_is_not_a_number():
    counts = np.ones((50, 2), dtype=np.float32)
    for width in (np.nan, np.inf):
        with pytest.raises(ValueError, match="input smoothing must be finite and >= 0"):
            sel.input_blocks(counts, 40.0, width, 25)


def test_auto_fits_with_the_chosen_iteration_count():
    """The iteration count chosen on the validation tail replaces the configured one."""
    curves = curve([(0.0, 100, 0.3), (0.1, 200, 0.1), (0.1, 400, 0.2)])
    sigma, params, table = bd.resolve_input(
        "auto", {"max_iterations": 400, "batch_size": 64}, curves, log=lambda _: None
    )
    assert (sigma, params) == (0.1, {"max_iterations": 200, "batch_size": 64})
    assert table["chosen"].tolist() == [False, True, False]
