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


def test_average_repeats_and_feature_lookup():
    images, means = evaluation.average_repeats(np.array([[1.0], [3.0], [5.0]]), [7, 7, 2])
    assert images.tolist() == [2, 7] and means.ravel().tolist() == [5.0, 2.0]
    index = pd.DataFrame({"image": [7, 2], "row": [1, 0]})
    features = np.array([[20.0], [70.0]])
    assert evaluation.feature_lookup(features, index, [7, 2, 7]).ravel().tolist() == [70, 20, 70]
    with pytest.raises(DataError, match=r"no embedding for images \[9\]"):
        evaluation.feature_lookup(features, index, [9], source="hog.parquet")


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
    assert evaluation.METRIC_COLUMNS[-1] == "device" and set(table.device) == {"cpu"}  # ridge
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
