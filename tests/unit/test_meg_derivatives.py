"""The derivative reader: the authors' preprocessed epochs into the raw mode's three outputs."""

import json
import runpy
import shutil
from pathlib import Path
from unittest import mock

import mne
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from brainlatent.datasets import things_meg
from brainlatent.datasets.manifest import read_manifest, select_files
from brainlatent.errors import DataError
from brainlatent.preprocessing import meg_derivatives
from brainlatent.preprocessing.meg import robust_scale
from brainlatent.preprocessing.recipe import Preprocessing

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "preprocess_meg_derivatives.py"
RUNS = [("01", "01"), ("01", "02"), ("01", "03")]
N_EVENTS = 40  # the first events of each run
SFREQ, TMIN, N_SAMPLES = 200.0, -0.1, 281  # the derivative's -0.1..1.3 s at 200 Hz


def codes(events: pd.DataFrame) -> np.ndarray:
    return events["value"].fillna(meg_derivatives.CATCH_VALUE).to_numpy(np.int64)


def signal(n_epochs: int, n_channels: int) -> np.ndarray:
    """A 5 Hz wave per epoch, with a per-channel gain and offset (known before scaling)."""
    times = TMIN + np.arange(N_SAMPLES) / SFREQ
    phase = np.linspace(0, np.pi, n_epochs)[:, None, None]
    gain = np.linspace(0.5, 2.0, n_channels)[None, :, None]
    offset = np.linspace(-1.0, 1.0, n_channels)[None, :, None]
    return gain * np.sin(2 * np.pi * 5 * times[None, None, :] + phase) + offset


def save_derivative(path: Path, names: list[str], values: np.ndarray) -> Path:
    """An epochs file shaped like ds004212's, split into parts; plus a reference and MRO11."""
    ch_names = [*names, "MRO11-1609", "BG1-1609"]
    info = mne.create_info(ch_names, SFREQ, ["mag"] * (len(names) + 1) + ["ref_meg"])
    events = np.column_stack(
        [1000 + 300 * np.arange(len(values)), np.zeros(len(values), int), values]
    )
    event_id = {str(v): int(v) for v in np.unique(values)}
    data = signal(len(values), len(ch_names))
    epochs = mne.EpochsArray(data, info, events, tmin=TMIN, event_id=event_id, verbose=False)
    epochs.save(path, split_size="10MB", overwrite=True, verbose=False)
    return path


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, reference_bids):
    """A BIDS root with the first 40 events of three real runs, their images and derivative."""
    root = tmp_path_factory.mktemp("derivative")
    images = set()
    for session, run in RUNS:
        source = things_meg.events_path(reference_bids, "BIGMEG1", session, run)
        target = things_meg.events_path(root / "bids", "BIGMEG1", session, run)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(source.read_text().splitlines(keepends=True)[: N_EVENTS + 1]))
        images |= set(things_meg.image_trials(things_meg.read_events(target))["image"])
    stimuli = root / "stimuli"
    stimuli.mkdir()
    for image in images:
        Image.new("RGB", (4, 4)).save(stimuli / f"{image}.png")
    pd.DataFrame({"image": sorted(images), "file": [f"{i}.png" for i in sorted(images)]}).to_csv(
        stimuli / "stimuli.tsv", sep="\t", index=False
    )
    expected = meg_derivatives.run_events(root / "bids", "BIGMEG1", RUNS)
    names = [n for n in things_meg.sensor_names(reference_bids) if n != "MRO11-1609"]
    path = save_derivative(root / "preprocessed_P1-epo.fif", names, expected["code"].to_numpy())
    return {"root": root, "path": path, "names": names, "expected": expected}


def run(dataset, out: Path, runs=RUNS, params=None, path=None, chunk=500):
    outputs = [out / "epochs.npy", out / "trials.parquet", out / "epochs.json"]
    meg_derivatives.preprocess_derivative(
        path or dataset["path"],
        dataset["root"] / "bids",
        dataset["root"] / "stimuli",
        "BIGMEG1",
        runs,
        params or Preprocessing(),
        *outputs,
        chunk=chunk,
    )
    epochs = np.load(outputs[0], mmap_mode="r")
    return epochs, pd.read_parquet(outputs[1]), json.loads(outputs[2].read_text())


def test_fixture_is_split_like_the_real_derivative(dataset):
    parts = sorted(p.name for p in dataset["path"].parent.glob("preprocessed_P1-epo*.fif"))
    assert parts[0] == "preprocessed_P1-epo-1.fif" and len(parts) >= 3


def test_outputs_match_the_raw_mode_schema(dataset, tmp_path, capsys):
    epochs, trials, info = run(dataset, tmp_path)
    events = dataset["expected"]
    n_images = int((events["code"] != meg_derivatives.CATCH_VALUE).sum())
    assert epochs.dtype == np.float32 and epochs.shape == (n_images, 271, 133)
    assert dict(trials.dtypes.astype(str)) == things_meg.TRIAL_COLUMNS
    assert list(trials.columns) == list(things_meg.TRIAL_COLUMNS)
    assert set(trials["trial_type"]) == {"exp", "test"}
    assert set(trials["split"]) == {"train", "test"}
    assert info["channels"] == dataset["names"]  # MRO11 and the reference dropped
    assert len(info["positions"]) == 271 and info["sfreq"] == 120.0
    assert info["times"][0] == -0.1 and info["times"][-1] == 1.0  # tmin -0.5 clipped
    assert info["tmin"] == -0.1 and info["n_times"] == 133 and info["source"] == "derivatives"
    out = capsys.readouterr().out
    assert "tmin -0.5 s precedes" in out and "baseline -0.5..0 s" in out
    # Robust-scaled per channel over the session: median 0, interquartile range 1.
    flat = np.asarray(epochs).transpose(1, 0, 2).reshape(271, -1)
    q25, median, q75 = np.percentile(flat, [25, 50, 75], axis=1)
    np.testing.assert_allclose(median, 0, atol=1e-5)
    np.testing.assert_allclose(q75 - q25, 1, rtol=1e-4)


def test_trials_follow_the_events_without_catch(dataset, tmp_path):
    _, trials, _ = run(dataset, tmp_path)
    events = dataset["expected"]
    kept = events[events["code"] != meg_derivatives.CATCH_VALUE]
    np.testing.assert_array_equal(trials["image"], kept["code"])
    np.testing.assert_array_equal(trials["trial"], kept["trial"])
    assert list(trials["run"].unique()) == ["01", "02", "03"]


def test_signal_is_the_resampled_derivative_robust_scaled(dataset, tmp_path):
    """Equal to resampling everything at once and scaling with the raw mode's robust_scale."""
    epochs, _, info = run(dataset, tmp_path)
    events = dataset["expected"]
    keep = np.flatnonzero(events["code"] != meg_derivatives.CATCH_VALUE)
    data = signal(len(events), 273)[keep][:, :271]
    params = Preprocessing()
    plan = meg_derivatives.time_plan(TMIN + np.arange(N_SAMPLES) / SFREQ, SFREQ, params)
    expected = robust_scale(meg_derivatives.transform(data, plan, None), params.clip)
    np.testing.assert_allclose(epochs, expected, atol=1e-5)
    # Away from the first samples, the resampled wave is the 5 Hz wave at 120 Hz.
    times = np.asarray(info["times"])
    inner = times > 0.0
    resampled = meg_derivatives.transform(data[:1, :1], plan, None)[0, 0]
    phase = np.linspace(0, np.pi, len(events))[keep[0]]
    truth = 0.5 * np.sin(2 * np.pi * 5 * times + phase) - 1.0
    np.testing.assert_allclose(resampled[inner], truth[inner], atol=2e-3)


def test_chunk_size_changes_nothing_and_reads_stay_chunked(dataset, tmp_path, monkeypatch):
    reads = []
    original = meg_derivatives.read_chunk

    def spy(epochs, picks, index):
        reads.append(len(index))
        return original(epochs, picks, index)

    monkeypatch.setattr(meg_derivatives, "read_chunk", spy)
    small, _, _ = run(dataset, tmp_path / "small", chunk=7)
    assert max(reads) == 7 and len(reads) == -(-len(small) // 7) and sum(reads) == len(small)
    reads.clear()
    large, _, _ = run(dataset, tmp_path / "large", chunk=500)
    assert reads == [len(large)]
    np.testing.assert_array_equal(small, large)


def test_later_tmin_and_baseline_inside_the_epochs(dataset, tmp_path, capsys):
    params = Preprocessing(tmin=0.0, tmax=0.5, baseline=(0.0, 0.1), clip=None)
    epochs, _, info = run(dataset, tmp_path, params=params)
    assert epochs.shape[2] == 61 and info["times"][0] == 0.0 and info["times"][-1] == 0.5
    assert info["baseline_applied"] == [0.0, 0.1]
    assert "precedes" not in capsys.readouterr().out
    # The grid is the default one, cut later: same samples as resampling from -0.1 s.
    times = TMIN + np.arange(N_SAMPLES) / SFREQ
    data = signal(2, 3)
    full = meg_derivatives.transform(
        data, meg_derivatives.time_plan(times, SFREQ, Preprocessing()), None
    )
    late = meg_derivatives.transform(
        data, meg_derivatives.time_plan(times, SFREQ, Preprocessing(tmin=0.0, baseline=None)), None
    )
    np.testing.assert_array_equal(late, full[..., 12:])


def test_session_scaling_equals_robust_scale_per_session():
    rng = np.random.default_rng(0)
    array = rng.normal(size=(30, 4, 9)).astype(np.float32) * [[[1], [2], [3], [4]]]
    sessions = pd.Series(["01"] * 12 + ["02"] * 18)
    blocks = meg_derivatives.session_blocks(sessions)
    assert blocks == [(0, 12), (12, 30)]
    scaled = array.copy()
    for start, stop in blocks:
        meg_derivatives.scale_in_place(scaled, start, stop, 2.0, chunk=5)
    for start, stop in blocks:
        np.testing.assert_allclose(
            scaled[start:stop], robust_scale(array[start:stop].astype(np.float64), 2.0), atol=1e-6
        )


def test_mismatching_event_value_names_the_row(dataset, tmp_path):
    values = dataset["expected"]["code"].to_numpy().copy()
    values[N_EVENTS + 5] += 1  # run 02, trial 5
    path = save_derivative(tmp_path / "bad_P1-epo.fif", dataset["names"], values)
    with pytest.raises(DataError, match="session 01 run 02 trial 5 has") as error:
        run(dataset, tmp_path / "out", path=path)
    assert str(path) in str(error.value)
    assert not (tmp_path / "out" / "epochs.npy").exists()


def test_wrong_count_is_a_data_error(dataset, tmp_path):
    with pytest.raises(DataError, match=f"{3 * N_EVENTS} epochs but the events.tsv of the 2"):
        run(dataset, tmp_path, runs=RUNS[:2])


def test_missing_split_part_is_a_data_error(dataset, tmp_path):
    folder = tmp_path / "copy"
    folder.mkdir()
    for part in dataset["path"].parent.glob("preprocessed_P1-epo*.fif"):
        shutil.copy(part, folder / part.name)
    (folder / "preprocessed_P1-epo-2.fif").unlink()
    with pytest.raises(DataError, match="split parts") as error:
        run(dataset, tmp_path / "out", path=folder / "preprocessed_P1-epo.fif")
    assert "preprocessed_P1-epo-2.fif" in str(error.value)  # MNE names the missing part


def test_script_writes_the_three_outputs(dataset, tmp_path):
    argv = [
        "--derivative", dataset["path"], "--bids", dataset["root"] / "bids",
        "--stimuli", dataset["root"] / "stimuli", "--subject", "BIGMEG1",
        "--sessions", "1", "--runs", "1", "2", "3",
        "--recipe", json.dumps({"tmin": -0.1, "baseline": [-0.1, 0.0]}),
        "--epochs", tmp_path / "epochs.npy", "--trials", tmp_path / "trials.parquet",
        "--info", tmp_path / "epochs.json",
    ]  # fmt: skip
    with mock.patch("sys.argv", ["preprocess_meg_derivatives", *map(str, argv)]):
        runpy.run_path(str(SCRIPT), run_name="__main__")
    info = json.loads((tmp_path / "epochs.json").read_text())
    assert info["baseline_applied"] == [-0.1, 0.0]
    assert np.load(tmp_path / "epochs.npy", mmap_mode="r").shape[1:] == (271, 133)


def test_derivative_patterns_select_the_epochs_and_events():
    manifest = read_manifest(REPO / "workflow" / "manifests" / "things-meg.tsv.gz")
    selected = select_files(manifest, things_meg.derivative_patterns(["BIGMEG1"]))["path"]
    epochs = [p for p in selected if p.startswith("derivatives/")]
    assert sorted(epochs) == [
        f"derivatives/preprocessed/preprocessed_P1-epo{part}.fif" for part in ("-1", "-2", "-3", "")
    ]
    assert sum(p.endswith("_events.tsv") for p in selected) == 120
    assert all(p.startswith("sub-BIGMEG1/") for p in selected if p.endswith("_events.tsv"))
    assert {"dataset_description.json", "participants.tsv"} <= set(selected)
    assert (
        len(select_files(manifest, things_meg.derivative_patterns([1, "sub-BIGMEG2"])))
        == 2 * (4 + 120) + 3
    )
