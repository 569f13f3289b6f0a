"""fit_brain_module / evaluate_retrieval: subjects travel by name, the device is recorded.

The defect this guards against: evaluation used to pass ``--subject-index`` = the
subject's position in the config list. Reordering that list reruns evaluation but
not training (Snakemake compares inputs as a sorted list), so a subject was then
evaluated through another subject's layer. Now the checkpoint holds the names.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import torch

from brainlatent.errors import DataError
from brainlatent.evaluation import METRIC_COLUMNS
from brainlatent.io import read_table, save_npy, write_table
from brainlatent.models.brain_module import BrainModuleDecoder
from brainlatent.models.ridge import RidgeDecoder

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
N_IMAGES, N_CHANNELS, N_TIMES, DIMS = 24, 6, 10, 4
HYPERPARAMETERS = {
    "n_spatial": 4,
    "hidden": 4,
    "n_blocks": 1,
    "n_freqs": 2,
    "batch_size": 8,
    "max_epochs": 2,
    "lr": 0.01,
    "progress": False,
}


def script(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)  # fit_brain_module --threads sets it for the process


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Two subjects, A and B, whose epochs differ; one image model."""
    root = tmp_path_factory.mktemp("meg")
    gen = np.random.default_rng(0)
    positions = gen.uniform(0, 1, (N_CHANNELS, 2)).tolist()
    features = gen.normal(size=(N_IMAGES, DIMS)).astype(np.float32)
    save_npy(root / "features.npy", features)
    write_table(
        root / "index.parquet", pd.DataFrame({"image": range(N_IMAGES), "row": range(N_IMAGES)})
    )
    split = np.where(np.arange(N_IMAGES) < 18, "train", "test")
    paths = {}
    for subject, scale in (("A", 1.0), ("B", -3.0)):
        epochs = scale * gen.normal(size=(N_IMAGES, N_CHANNELS, N_TIMES)).astype(np.float32)
        save_npy(root / f"{subject}_epochs.npy", epochs)
        write_table(
            root / f"{subject}_trials.parquet",
            pd.DataFrame({"image": range(N_IMAGES), "split": split}),
        )
        info = {"channels": [f"M{k}" for k in range(N_CHANNELS)], "positions": positions}
        (root / f"{subject}_info.json").write_text(json.dumps(info))
        paths[subject] = [
            root / f"{subject}_{kind}" for kind in ("epochs.npy", "trials.parquet", "info.json")
        ]
    ridge = RidgeDecoder().fit(
        np.load(root / "A_epochs.npy")[split == "train"], features[split == "train"]
    )
    joblib.dump(ridge, root / "ridge.joblib")
    return root, paths


def fit(root: Path, paths: dict, order: list[str], name: str, *extra: str) -> Path:
    args = ["--subjects", *order]
    for flag, k in (("--epochs", 0), ("--trials", 1), ("--info", 2)):
        args += [flag, *[str(paths[s][k]) for s in order]]
    model = root / f"{name}.pt"
    script("fit_brain_module").main(
        [
            *args,
            "--features", str(root / "features.npy"),
            "--index", str(root / "index.parquet"),
            "--hyperparameters", json.dumps(HYPERPARAMETERS),
            "--seed", "1",
            "--threads", "1",
            "--device", "cpu",
            "--model", str(model),
            "--history", str(root / f"{name}_history.parquet"),
            *extra,
        ]
    )  # fmt: skip
    return model


def evaluate(root: Path, paths: dict, subject: str, model: Path, name: str) -> pd.DataFrame:
    out = root / f"{name}.parquet"
    script("evaluate_retrieval").main(
        [
            "--subject", subject,
            "--epochs", str(paths[subject][0]),
            "--trials", str(paths[subject][1]),
            "--image-models", "toy",
            "--features", str(root / "features.npy"),
            "--index", str(root / "index.parquet"),
            "--ridge", str(root / "ridge.joblib"),
            "--brain-module", str(model),
            "--metrics", str(out),
        ]
    )  # fmt: skip
    return read_table(out)


def test_subjects_are_looked_up_by_name_whatever_the_order(files, monkeypatch):
    root, paths = files
    used = []  # the subject index each brain-module predict call got
    predict = BrainModuleDecoder.predict

    def spy(self, X, subjects=None):
        used.append(set(np.asarray(subjects).tolist()))
        return predict(self, X, subjects)

    monkeypatch.setattr(BrainModuleDecoder, "predict", spy)
    for order in (["A", "B"], ["B", "A"]):
        model = fit(root, paths, order, "".join(order))
        assert BrainModuleDecoder.load(model).subject_names_ == order
        for subject in ("A", "B"):
            used.clear()
            table = evaluate(root, paths, subject, model, f"{subject}_{''.join(order)}")
            assert used == [{order.index(subject)}]  # the layer trained on this subject's data
            assert list(table.columns) == METRIC_COLUMNS
            assert set(table.loc[table.decoder == "ridge", "device"]) == {"cpu"}
            assert set(table.loc[table.decoder == "brain_module", "device"]) == {"cpu"}

    # The old rule (--subject-index = position in the config list) after the config was
    # reordered to [B, A], with the module trained on [A, B], would have used B's layer for A.
    module = BrainModuleDecoder.load(root / "AB.pt")
    X = np.load(paths["A"][0])
    old_index = ["B", "A"].index("A")
    assert module.subject_names_[old_index] == "B"
    right = predict(module, X, [0] * len(X))
    wrong = predict(module, X, [old_index] * len(X))
    assert not np.allclose(right, wrong)
    assert not torch.equal(
        module.model_.subject_layer.weights[0], module.model_.subject_layer.weights[1]
    )


def test_unknown_subject_names_the_checkpoint_and_its_subjects(files):
    root, paths = files
    model = root / "AB.pt"
    if not model.exists():
        fit(root, paths, ["A", "B"], "AB")
    paths = {**paths, "C": paths["A"]}
    with pytest.raises(DataError) as error:
        evaluate(root, paths, "C", model, "C")
    assert str(error.value) == (
        f"{model}: subject 'C' is not in this brain module; it was trained on ['A', 'B']"
    )


def test_subject_count_and_device_key_are_checked(files, capsys):
    root, paths = files
    with pytest.raises(SystemExit):
        fit(root, {"A": paths["A"], "B": paths["B"]}, ["A", "B"], "x", "--subjects", "A")
    assert "--subjects names 1 subjects but --epochs has 2 files" in capsys.readouterr().err
    bad = {**HYPERPARAMETERS, "device": "cpu"}
    with pytest.raises(SystemExit):
        script("fit_brain_module").main(
            ["--subjects", "A", "--epochs", str(paths["A"][0]), "--trials", str(paths["A"][1]),
             "--info", str(paths["A"][2]), "--features", str(root / "features.npy"),
             "--index", str(root / "index.parquet"), "--hyperparameters", json.dumps(bad),
             "--model", str(root / "y.pt"), "--history", str(root / "y.parquet")]
        )  # fmt: skip
    assert "device is an execution setting: pass --device" in capsys.readouterr().err
