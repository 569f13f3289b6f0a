import numpy as np
import pandas as pd
import pytest

from brainlatent.datasets import things_meg
from brainlatent.errors import DataError


def test_read_events_real_run(reference_bids):
    path = things_meg.events_path(reference_bids, "BIGMEG1", "01", "01")
    events = things_meg.read_events(path)
    assert list(events.columns) == things_meg.EVENT_COLUMNS
    assert events["trial_type"].value_counts().to_dict() == {"exp": 186, "test": 20, "catch": 20}
    assert events.loc[events["trial_type"] == "catch", "value"].isna().all()


def test_image_trials_schema(reference_bids):
    events = things_meg.read_events(things_meg.events_path(reference_bids, "BIGMEG2", "03", "04"))
    trials = things_meg.image_trials(events)
    assert len(trials) == 206
    assert list(trials.columns) == ["trial", "onset", "image", "category", "trial_type", "split"]
    assert set(trials["split"]) == {"train", "test"}
    assert trials["image"].dtype == np.int64 and (trials["image"] > 0).all()


@pytest.mark.parametrize(
    "content, problem",
    [
        ("onset\ttrial_type\n1.0\texp\n", "missing columns"),
        ("onset\ttrial_type\tthings_category_nr\tvalue\n1.0\tfoo\t1\t2\n", "unknown trial_type"),
        ("onset\ttrial_type\tthings_category_nr\tvalue\n1.0\texp\t1\tN/A\n", "no image number"),
        ("onset\ttrial_type\tthings_category_nr\tvalue\nn/a\texp\t1\t2\n", "no onset"),
    ],
)
def test_read_events_rejects_bad_files(tmp_path, content, problem):
    path = tmp_path / "sub-X_events.tsv"
    path.write_text(content)
    with pytest.raises(DataError, match=problem) as error:
        things_meg.read_events(path)
    assert str(path) in str(error.value)


def test_missing_events_file_names_it(tmp_path):
    with pytest.raises(DataError, match="events file not found"):
        things_meg.read_events(tmp_path / "nope_events.tsv")


def test_sensors_are_the_real_272_with_positions(reference_bids):
    names = things_meg.sensor_names(reference_bids)
    assert len(names) == 272 and names[0] == "MLC11-1609"
    positions = things_meg.sensor_positions(names)
    assert positions.shape == (272, 2)
    assert positions.min() == 0.0 and positions.max() == 1.0
    # Left sensors (ML*) sit left of right sensors (MR*).
    left = positions[[n.startswith("ML") for n in names], 0].mean()
    right = positions[[n.startswith("MR") for n in names], 0].mean()
    assert left < 0.5 < right
    with pytest.raises(ValueError, match="CTF275"):
        things_meg.sensor_positions(["XYZ99"])


def test_runs_are_zero_padded():
    assert things_meg.runs([1, 12], [2]) == [("01", "02"), ("12", "02")]


def test_trial_schema_is_parquet_roundtrippable(tmp_path):
    table = pd.DataFrame({c: pd.Series([], dtype=t) for c, t in things_meg.TRIAL_COLUMNS.items()})
    table.to_parquet(tmp_path / "t.parquet")
    assert list(pd.read_parquet(tmp_path / "t.parquet").columns) == list(things_meg.TRIAL_COLUMNS)
