import numpy as np
import pandas as pd
import pytest

from brainlatent import evaluation
from brainlatent.errors import DataError


def test_sliding_windows_cover_the_epoch():
    times = -0.5 + np.arange(181) / 120
    windows = evaluation.sliding_windows(times, 0.25, 0.1)
    assert windows[0][:2] == (-0.5, -0.25)
    assert all(w[2].stop - w[2].start == 30 for w in windows)
    assert windows[-1][2].stop <= 181
    assert len(windows) == 13
    with pytest.raises(ValueError, match="exceeds the epoch"):
        evaluation.sliding_windows(times, 5.0, 0.1)


def test_window_edges_stay_on_the_grid_when_the_stored_times_are_rounded():
    """Epoch times are stored to 1 µs (120 Hz: 0.008333): the windows' stops must still be
    whole 250 ms steps from their starts, not -0.25001."""
    times = np.round(-0.5 + np.arange(181) / 120, 6)
    windows = evaluation.sliding_windows(times, 0.25, 0.1)
    assert [w[1] for w in windows] == pytest.approx([w[0] + 0.25 for w in windows], abs=1e-9)
    assert windows[0][1] == -0.25 and windows[-1][1] == 0.95


def test_average_repeats_and_feature_lookup():
    images, means = evaluation.average_repeats(np.array([[1.0], [3.0], [5.0]]), [7, 7, 2])
    assert images.tolist() == [2, 7] and means.ravel().tolist() == [5.0, 2.0]
    index = pd.DataFrame({"image": [7, 2], "row": [1, 0]})
    features = np.array([[20.0], [70.0]])
    assert evaluation.feature_lookup(features, index, [7, 2, 7]).ravel().tolist() == [70, 20, 70]
    with pytest.raises(DataError, match=r"no embedding for images \[9\]"):
        evaluation.feature_lookup(features, index, [9], source="hog.parquet")
    features[0] = np.nan  # image 2's row
    with pytest.raises(DataError, match=r"hog.npy: embeddings of images \[2\] are not finite"):
        evaluation.feature_lookup(features, index, [7, 2], source="hog.npy")


def test_timecourse_errors_name_the_trials_and_the_embeddings():
    times = np.arange(40) / 40
    trials = pd.DataFrame({"image": [1, 2, 1, 2], "split": ["train"] * 4})
    index = pd.DataFrame({"image": [1, 2], "row": [0, 1]})
    X = np.zeros((4, 3, 40))
    kwargs = dict(alphas=[1.0], length=0.25, step=0.25)
    with pytest.raises(DataError, match="trials.parquet: need train and test"):
        evaluation.timecourse_rows(
            X, trials, times, {"m": (np.ones((2, 2)), index)}, trials_source="trials.parquet",
            **kwargs,
        )  # fmt: skip
    trials["split"] = ["train", "train", "test", "test"]
    nan_test = np.array([[1.0, 1.0], [np.nan, 1.0]])  # image 2: a test image
    with pytest.raises(DataError, match=r"m.npy: embeddings of images \[2\]"):
        evaluation.timecourse_rows(
            X, trials, times, {"m": (nan_test, index)}, feature_sources={"m": "m.npy"}, **kwargs
        )


def test_timecourse_decodes_only_after_onset():
    gen = np.random.default_rng(0)
    n_images, dims = 140, 5
    emb = gen.normal(size=(n_images, dims))
    times = -0.5 + np.arange(90) / 60
    images = np.concatenate([np.arange(40).repeat(6), np.arange(40, 140).repeat(2)])
    split = np.where(images < 40, "train", "test")
    response = (times > 0.1) & (times < 0.4)
    patterns = gen.normal(size=(dims, 10))
    X = (emb[images] @ patterns)[:, :, None] * response + gen.normal(size=(len(images), 10, 90))
    trials = pd.DataFrame({"image": images, "split": split})
    index = pd.DataFrame({"image": np.arange(n_images), "row": np.arange(n_images)})
    other = gen.normal(size=(n_images, 3))  # a second image model the signal ignores
    kwargs = dict(alphas=[1, 10, 100, 1000], length=0.25, step=0.25, dataset="toy", subject="S")
    joint = evaluation.timecourse_rows(
        X, trials, times, {"m": (emb, index), "noise": (other, index)}, **kwargs
    )
    table = joint[joint["image_model"] == "m"].reset_index(drop=True)
    alone = evaluation.timecourse_rows(X, trials, times, {"m": (emb, index)}, **kwargs)
    pd.testing.assert_frame_equal(table, alone)  # one joint fit = one fit per model
    assert list(table.columns) == evaluation.METRIC_COLUMNS
    assert set(table.device) == {"cpu"}  # ridge
    assert set(table.candidates) == {"small"}  # the time course ranks among the test images
    top5 = table[table["metric"] == "top5"].set_index("window_start")["value"]
    chance = table.loc[table["metric"] == "top5", "chance"].iloc[0]
    assert chance == 0.05
    assert top5.loc[-0.5] < 0.15 and top5.loc[-0.25] < 0.15  # ends before onset: chance
    assert top5.loc[0.0] > 0.9  # covers the response


def test_training_set_stacks_subjects_and_checks_channels(tmp_path):
    import json

    from brainlatent.io import save_npy, write_table

    paths = {"epochs": [], "trials": [], "info": []}
    for s, channels in enumerate((["A", "B"], ["A", "B"], ["A", "C"])):
        save_npy(tmp_path / f"e{s}.npy", np.full((3, 2, 4), s, np.float32))
        write_table(
            tmp_path / f"t{s}.parquet",
            pd.DataFrame({"image": [1, 2, 3], "split": ["train", "train", "test"]}),
        )
        (tmp_path / f"i{s}.json").write_text(
            json.dumps({"channels": channels, "positions": [[0, 0], [1, 1]]})
        )
        for key, name in (("epochs", "e{}.npy"), ("trials", "t{}.parquet"), ("info", "i{}.json")):
            paths[key].append(tmp_path / name.format(s))
    index = pd.DataFrame({"image": [1, 2, 3], "row": [0, 1, 2]})
    features = np.eye(3)
    X, Y, subjects, positions = evaluation.training_set(
        paths["epochs"][:2], paths["trials"][:2], paths["info"][:2], features, index
    )
    assert X.shape == (4, 2, 4) and Y.shape == (4, 3) and positions.shape == (2, 2)
    assert subjects.tolist() == [0, 0, 1, 1] and X[2, 0, 0] == 1
    with pytest.raises(DataError, match=r"i2\.json: channels differ"):
        evaluation.training_set(paths["epochs"], paths["trials"], paths["info"], features, index)
    save_npy(paths["epochs"][1], np.zeros((3, 2, 5), np.float32))  # another epoch length
    with pytest.raises(DataError, match=r"e1\.npy: epochs \(2, 5\) differ from \(2, 4\)"):
        evaluation.training_set(
            paths["epochs"][:2], paths["trials"][:2], paths["info"][:2], features, index
        )


class _Identity:
    """A decoder whose predictions are given: ``predict`` returns them as they are."""

    def __init__(self, predictions):
        self.predictions = predictions

    def predict(self, X):
        return self.predictions[np.asarray(X, dtype=int).ravel()]

    def transform_targets(self, Y):
        return np.asarray(Y, dtype=np.float32)


def _category_world(seed=0, n_concepts=40, per_concept=4, noise=1.5):
    """Test images, one per concept, and extra images of the same concepts.

    Images are concept prototype + image jitter; the decoder's prediction is the test
    image's embedding plus noise. Extra images of the test image's own concept are its
    category-level neighbours, so among them the seen image is harder to single out.
    Extra images are numbered from 1000 and the candidate block of the large set adds
    ``per_concept`` per test image.
    """
    gen = np.random.default_rng(seed)
    dims = 16
    prototypes = gen.normal(size=(n_concepts, dims))
    test = prototypes + 0.3 * gen.normal(size=(n_concepts, dims))
    extra = np.repeat(prototypes, per_concept, axis=0) + 0.3 * gen.normal(
        size=(n_concepts * per_concept, dims)
    )
    predictions = test + noise * gen.normal(size=test.shape)
    index = pd.DataFrame({"image": np.arange(n_concepts), "row": np.arange(n_concepts)})
    extra_index = pd.DataFrame(
        {"image": 1000 + np.arange(len(extra)), "row": np.arange(len(extra))}
    )
    return predictions, test, index, extra, extra_index


def test_retrieval_among_never_seen_images_of_the_same_concepts_is_harder():
    predictions, test, index, extra, extra_index = _category_world()
    n = len(test)
    rows = evaluation.retrieval_rows(
        _Identity(predictions), np.arange(n), np.arange(n), test, index, (1, 5),
        extra=(extra, extra_index),
    )  # fmt: skip
    table = evaluation.tidy(
        rows, dataset="toy", subject="S", decoder="d", image_model="m",
        window_start=np.nan, window_stop=np.nan, device="cpu",
    )  # fmt: skip
    assert list(table.columns) == evaluation.METRIC_COLUMNS
    assert evaluation.METRIC_COLUMNS[-4:] == ["device", "candidates", "ci_low", "ci_high"]
    assert (table["ci_low"] <= table["value"]).all() and (table["value"] <= table["ci_high"]).all()
    assert table["candidates"].tolist() == ["small"] * 3 + ["large"] * 3
    by = table.set_index(["candidates", "metric"])
    assert by.loc[("small", "top5"), "n_candidates"] == n
    assert by.loc[("large", "top5"), "n_candidates"] == n + len(extra)
    # Chance is each set's own.
    assert by.loc[("small", "top5"), "chance"] == pytest.approx(5 / n)
    assert by.loc[("large", "top5"), "chance"] == pytest.approx(5 / (n + len(extra)))
    assert by.loc[("large", "relative_median_rank"), "chance"] == pytest.approx(0.5, abs=0.01)
    # The ground truth: the same predictions, ranked among more and closer candidates.
    small, large = by.loc["small", "value"], by.loc["large", "value"]
    assert small["top5"] > 0.8  # decodable among the test images
    assert large["top5"] < small["top5"] - 0.2
    assert large["top1"] < small["top1"]
    assert large["top5"] > by.loc[("large", "top5"), "chance"]  # still above chance
    # The median rank itself grows; divided by 5× the candidates, the relative median rank
    # does not get worse here (extra images ranked in proportion to their concepts).
    rmr = by.xs("relative_median_rank", level="metric")
    rank = rmr["value"] * rmr["n_candidates"]
    assert rank["large"] > rank["small"]


def test_relative_median_rank_is_worse_when_extra_images_match_the_decoders_bias():
    """Relative median rank divides by the set's size, so adding images of the test images'
    concepts in proportion leaves it about the same (above). It gets worse when never-seen
    images outrank the seen one more often than the other test images do: here every
    prediction shares a bias (what the decoder predicts whatever the image), and the
    extra images look like that bias."""
    gen = np.random.default_rng(1)
    n, m, dims = 30, 30, 12
    test = gen.normal(size=(n, dims))
    bias = 2.0 * gen.normal(size=dims)
    predictions = test + 0.8 * gen.normal(size=(n, dims)) + 0.5 * bias
    extra = bias + 0.5 * gen.normal(size=(m, dims))
    index = pd.DataFrame({"image": np.arange(n), "row": np.arange(n)})
    extra_index = pd.DataFrame({"image": 500 + np.arange(m), "row": np.arange(m)})
    rows = evaluation.retrieval_rows(
        _Identity(predictions), np.arange(n), np.arange(n), test, index, (5,),
        extra=(extra, extra_index),
    )  # fmt: skip
    table = pd.DataFrame(rows).set_index(["candidates", "metric"])["value"]
    assert table[("small", "top5")] > 0.6 and table[("small", "relative_median_rank")] < 0.1
    assert table[("large", "top5")] < table[("small", "top5")] - 0.3
    assert table[("large", "relative_median_rank")] > table[("small", "relative_median_rank")] + 0.3


def test_without_extra_candidates_only_the_small_set_is_reported():
    predictions, test, index, *_ = _category_world()
    n = len(test)
    rows = evaluation.retrieval_rows(
        _Identity(predictions), np.arange(n), np.arange(n), test, index
    )
    assert {r["candidates"] for r in rows} == {"small"} and len(rows) == 3


@pytest.mark.parametrize(
    "change, match",
    [
        ("nan", r"extra\.parquet: embeddings of images \[1002\] are not finite"),
        ("test_id", r"extra\.parquet: images \[3\] are extra candidates but the participant saw"),
        ("seen_id", r"extra\.parquet: images \[77\] are extra candidates but the participant saw"),
        ("duplicate", r"extra\.parquet: image numbers listed more than once: \[1001\]"),
        ("dims", r"extra\.parquet: 15 embedding dims, but the test images have 16"),
    ],
)
def test_bad_extra_candidates_are_named(change, match):
    predictions, test, index, extra, extra_index = _category_world()
    extra, extra_index = extra.copy(), extra_index.copy()
    if change == "nan":
        extra[2, 4] = np.nan
    elif change == "test_id":
        extra_index.loc[5, "image"] = 3
    elif change == "seen_id":
        extra_index.loc[5, "image"] = 77
    elif change == "duplicate":
        extra_index.loc[5, "image"] = 1001
    elif change == "dims":
        extra = extra[:, :15]
    n = len(test)
    with pytest.raises(DataError, match=match):
        evaluation.retrieval_rows(
            _Identity(predictions), np.arange(n), np.arange(n), test, index,
            extra=(extra, extra_index), seen=[77], extra_source="extra.parquet",
        )  # fmt: skip


def test_extra_candidates_follow_their_image_numbers_not_row_order():
    features = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    index = pd.DataFrame({"image": [30, 10, 20], "row": [0, 1, 2]})
    matrix = evaluation.extra_candidates(features, index, seen=[1, 2])
    assert matrix.tolist() == [[0.0, 1.0], [2.0, 2.0], [1.0, 0.0]]  # images 10, 20, 30


def test_average_repeats_is_the_mean_of_three_repeats():
    """Three repeats tell the mean (4) from the median (2); two do not."""
    images, means = evaluation.average_repeats(np.array([[1.0], [2.0], [9.0]]), [7, 7, 7])
    assert images.tolist() == [7]
    assert means.ravel().tolist() == [4.0]


class _Shifted(_Identity):
    """A decoder whose target space is the embeddings minus 10 (as the ridge standardises)."""

    def transform_targets(self, Y):
        return np.asarray(Y, dtype=np.float64) - 10.0


def test_large_set_ranks_test_images_first_and_transforms_the_extras():
    """The never-seen images go through the decoder's target transform, as the test images
    do, and come after them: with the transform they point away from the predictions'
    shared bias (cosine -0.92), untransformed along it (+0.92, every true image third)."""
    test = 10.0 + np.eye(4)  # transformed: the unit vectors
    predictions = np.eye(4) + 0.8  # each unit vector plus a bias along (1, 1, 1, 1)
    extra = 10.0 - np.array([[1.0] * 4, [2.0] * 4])  # transformed: -1 and -2 times (1, 1, 1, 1)
    index = pd.DataFrame({"image": np.arange(4), "row": np.arange(4)})
    extra_index = pd.DataFrame({"image": [100, 101], "row": [0, 1]})
    rows = evaluation.retrieval_rows(
        _Shifted(predictions), np.arange(4), np.arange(4), test, index, (1, 5),
        extra=(extra, extra_index),
    )  # fmt: skip
    value = {(r["candidates"], r["metric"]): r["value"] for r in rows}
    assert value[("small", "top1")] == 1.0
    assert value[("large", "top1")] == 1.0
    assert value[("large", "relative_median_rank")] == pytest.approx(1 / 6)


def test_zero_shot_leaves_out_every_subjects_tested_concepts_from_the_joint_training_set(
    tmp_path,
):
    """Subject 0 is tested on concept 7 and subject 1 on concept 8; each table leaves out only
    its own. The joint decoder is tested on both, so neither trains on 7 or 8; without
    zero-shot every training trial stays. That holds also when no subject trains on its own
    tested concept (no table has an ``excluded`` trial to tell zero-shot from the tables),
    and a table preprocessed for zero-shot is refused by a training set built without it."""
    import json

    from brainlatent.datasets.things_meg import exclude_test_concepts
    from brainlatent.io import save_npy, write_table

    index = pd.DataFrame({"image": np.arange(8), "row": np.arange(8)})
    paths = {"epochs": [], "trials": [], "info": []}

    def write(zero_shot, categories=([7, 8, 9, 7], [8, 7, 9, 8]), marked=None):  # test last
        marked = zero_shot if marked is None else marked
        for key in paths:
            paths[key].clear()
        for s, category in enumerate(categories):
            trials = pd.DataFrame(
                {
                    "image": np.arange(4) + 4 * s,
                    "category": category,
                    "split": ["train"] * 3 + ["test"],
                }
            )
            if marked:
                trials = exclude_test_concepts(trials)
            save_npy(tmp_path / f"e{s}.npy", np.arange(4, dtype=np.float32)[:, None, None] + 4 * s)
            write_table(tmp_path / f"t{s}.parquet", trials)
            (tmp_path / f"i{s}.json").write_text(
                json.dumps({"channels": ["A"], "positions": [[0, 0]]})
            )
            for key, name in (
                ("epochs", "e{}.npy"),
                ("trials", "t{}.parquet"),
                ("info", "i{}.json"),
            ):
                paths[key].append(tmp_path / name.format(s))
        X, _, subjects, _ = evaluation.training_set(
            paths["epochs"], paths["trials"], paths["info"], np.eye(8), index, zero_shot=zero_shot
        )
        return X[:, 0, 0].tolist(), subjects.tolist()

    # own concepts only would keep image 1 (concept 8) for subject 0 and 5 (7) for subject 1
    assert write(zero_shot=True) == ([2.0, 6.0], [0, 1])  # concept 9 alone trains
    assert write(zero_shot=False) == ([0.0, 1.0, 2.0, 4.0, 5.0, 6.0], [0, 0, 0, 1, 1, 1])
    # subject 0 tested on 7 trains on 8 and subject 1 the reverse: nothing is marked excluded
    crossed = ([8, 8, 9, 7], [7, 7, 9, 8])
    assert write(zero_shot=True, categories=crossed) == ([2.0, 6.0], [0, 1])
    with pytest.raises(DataError, match="preprocessed with zero_shot") as error:
        write(zero_shot=False, marked=True)
    assert "t0.parquet" in str(error.value)
