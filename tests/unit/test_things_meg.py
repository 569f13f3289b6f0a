from pathlib import Path

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


def _things_release(root, names):
    """A THINGS-like release: images in concept folders and Metadata/.../image_paths.csv."""
    from PIL import Image

    listing = []
    for name in names:
        concept = name.rsplit("_", 1)[0]
        (root / "Images" / concept).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 4)).save(root / "Images" / concept / name)
        listing.append(f"images/{concept}/{name}")
    (root / "Metadata" / "Image-specific").mkdir(parents=True)
    (root / "Metadata" / "Image-specific" / "image_paths.csv").write_text("\n".join(listing))


def test_index_stimuli_reads_the_things_release(tmp_path):
    _things_release(tmp_path, ["aardvark_01b.jpg", "aardvark_02s.jpg", "abacus_01b.jpg"])
    index = things_meg.index_stimuli(tmp_path, [3, 1, 3])
    assert index["image"].tolist() == [1, 3]
    assert index["file"].str.endswith(("aardvark_01b.jpg", "abacus_01b.jpg")).all()
    assert all(Path(f).is_absolute() for f in index["file"])


def test_index_stimuli_checks_the_numbering_against_the_events_concepts(tmp_path):
    names = ["aardvark_01b.jpg", "aardvark_02s.jpg", "abacus_01b.jpg", "abacus_02s.jpg"]
    _things_release(tmp_path, names)
    index = things_meg.index_stimuli(tmp_path, [1, 2, 3, 4], categories=[1, 1, 2, 2])
    assert index["file"].str.endswith(tuple(names)).all()
    # numbers one off (image 2 is the first abacus): category 1 spans two folders
    with pytest.raises(DataError, match=r"image_paths\.csv: .*category 1 spans folders"):
        things_meg.index_stimuli(tmp_path, [2, 3], categories=[1, 1])
    with pytest.raises(DataError, match="folder 'aardvark' holds categories"):
        things_meg.index_stimuli(tmp_path, [1, 2], categories=[1, 2])


def test_index_stimuli_reads_an_own_table(tmp_path):
    (tmp_path / "x.png").write_bytes(b"png")
    pd.DataFrame({"image": [7], "file": ["x.png"]}).to_csv(
        tmp_path / "stimuli.tsv", sep="\t", index=False
    )
    assert things_meg.index_stimuli(tmp_path, [7])["file"].iloc[0] == str(tmp_path / "x.png")


def test_index_stimuli_says_what_is_missing_and_where_to_get_it(tmp_path):
    _things_release(tmp_path, ["aardvark_01b.jpg"])
    with pytest.raises(DataError, match=r"1 of the 2 THINGS images .*\[5\].*THINGS licence"):
        things_meg.index_stimuli(tmp_path, [1, 5])
    with pytest.raises(DataError, match="image folder not found"):
        things_meg.index_stimuli(tmp_path / "nowhere", [1])
    (tmp_path / "Metadata" / "Image-specific" / "image_paths.csv").unlink()
    with pytest.raises(DataError, match="image_paths.csv"):
        things_meg.index_stimuli(tmp_path, [1])


def test_stimulus_files_in_trial_order_and_names_the_unlisted(tmp_path):
    pd.DataFrame({"image": [7, 3], "file": ["a.png", "b.png"]}).to_csv(
        tmp_path / "stimuli.tsv", sep="\t", index=False
    )
    assert things_meg.stimulus_files(tmp_path, [3, 7, 3]) == [
        tmp_path / "b.png",
        tmp_path / "a.png",
        tmp_path / "b.png",
    ]
    with pytest.raises(DataError, match=r"stimuli.tsv: 2 image\(s\).*\[4, 9\]"):
        things_meg.stimulus_files(tmp_path, [3, 9, 4])


def test_zero_shot_leaves_the_tested_concepts_out_of_training():
    trials = pd.DataFrame(
        {
            "image": [1, 2, 13, 14, 25, 7],
            "category": [1, 1, 2, 2, 3, 1],
            "split": ["train", "train", "train", "test", "train", "test"],
        }
    )
    out = things_meg.exclude_test_concepts(trials)
    # concepts 1 and 2 are tested: their training images go; concept 3's stay
    assert out["split"].tolist() == ["excluded", "excluded", "excluded", "test", "train", "test"]
    assert trials["split"].tolist()[0] == "train"  # a copy: the input is left as it was


def test_zero_shot_on_the_real_events_leaves_2400_training_trials_out():
    """Every run of a real participant: the 200 test concepts' 12 exp images each, as the paper."""
    root = Path(__file__).resolve().parents[2] / "resources" / "bids" / "things-meg"
    tables = [
        things_meg.image_trials(things_meg.read_events(path))
        for path in sorted(root.glob("sub-BIGMEG1/ses-*/meg/*_events.tsv"))
    ]
    trials = things_meg.exclude_test_concepts(pd.concat(tables, ignore_index=True))
    counts = trials["split"].value_counts().to_dict()
    assert counts == {"train": 19848, "excluded": 2400, "test": 2400}
    assert trials.loc[trials["split"] == "test", "image"].nunique() == 200
    tested = set(trials.loc[trials["split"] == "test", "category"])
    assert not tested & set(trials.loc[trials["split"] == "train", "category"])
