import numpy as np
import pandas as pd
import pytest
from PIL import Image

from brainlatent.datasets import stimuli
from brainlatent.errors import DataError


@pytest.fixture(scope="module")
def superordinate(reference_bids):
    return stimuli.superordinate_categories(
        reference_bids / "sourcedata" / "category_mat_manual.tsv"
    )


def test_superordinate_categories(superordinate):
    assert superordinate.shape == (1854,)
    assert superordinate.min() == 0 and superordinate.max() == 27  # 27 = no category
    assert superordinate[0] == 0  # concept 1 (aardvark) is an animal


def test_parameters_are_deterministic_and_structured(superordinate):
    images = pd.DataFrame({"image": [10, 11, 12, 20], "category": [5, 5, 5, 900]})
    a = stimuli.image_parameters(images, superordinate, seed=3)
    b = stimuli.image_parameters(images, superordinate, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns[-len(stimuli.LATENT_NAMES) :]) == [f"z_{n}" for n in stimuli.LATENT_NAMES]
    # Images of one concept share a prototype: closer to each other than to another concept.
    z = a[[f"z_{n}" for n in stimuli.LATENT_NAMES]].to_numpy()
    within = np.linalg.norm(z[0] - z[1])
    between = np.linalg.norm(z[0] - z[3])
    assert within < between
    c = stimuli.image_parameters(images, superordinate, seed=4)
    assert not np.allclose(c["hue"], a["hue"])


def test_render_and_write(tmp_path, superordinate):
    images = pd.DataFrame({"image": [1, 2, 3], "category": [1, 2, 3]})
    params = stimuli.image_parameters(images, superordinate, seed=0)
    stimuli.write_stimuli(tmp_path, params, size=40)
    index = pd.read_csv(tmp_path / "stimuli.tsv", sep="\t")
    assert list(index.columns) == ["image", "category", "superordinate", "file"]
    for image in images["image"]:
        with Image.open(stimuli.stimulus_file(tmp_path, image)) as img:
            assert img.size == (40, 40) and img.mode == "RGB"


def test_orientation_drives_the_grating():
    row = {"hue": 0.0, "spatial_frequency": 6.0, "phase": 0.0, "shape": "ring", "size": 0.1}
    vertical = np.asarray(stimuli.render_image({**row, "orientation": 0.0}, 64), float)
    horizontal = np.asarray(stimuli.render_image({**row, "orientation": np.pi / 2}, 64), float)
    # A vertical grating varies along x (columns), a horizontal one along y (rows).
    assert vertical[5, :, 0].std() > 5 * vertical[:, 5, 0].std()
    assert horizontal[:, 5, 0].std() > 5 * horizontal[5, :, 0].std()


def test_unknown_shape_is_an_error():
    row = {"hue": 0.0, "spatial_frequency": 2.0, "phase": 0.0, "orientation": 0.0, "size": 0.2}
    with pytest.raises(ValueError, match="unknown shape"):
        stimuli.render_image({**row, "shape": "blob"})


# --- extra retrieval candidates (the paper's large set) ---


def test_extra_images_share_the_test_concepts_evenly():
    test = pd.DataFrame({"image": [7, 8, 9, 10], "category": [40, 5, 5, 900]})
    extra = stimuli.extra_images(test, 7)
    assert extra["image"].tolist() == list(
        range(stimuli.EXTRA_IMAGE_START, stimuli.EXTRA_IMAGE_START + 7)
    )
    assert extra["image"].min() > 26107  # never the number of a real THINGS image
    assert extra["category"].tolist() == [5, 40, 900, 5, 40, 900, 5]
    assert len(stimuli.extra_images(test, 0)) == 0
    with pytest.raises(ValueError, match="no test images"):
        stimuli.extra_images(test.iloc[:0], 3)
    with pytest.raises(ValueError, match=">= 0"):
        stimuli.extra_images(test, -1)


def test_extra_stimuli_are_category_level_neighbours_of_the_test_images(tmp_path, superordinate):
    """Drawn with the simulation's seed, an extra image jitters its concept's prototype: it is
    nearer the test image of its concept than the test images of other concepts are."""
    test = pd.DataFrame({"image": np.arange(1, 21), "category": np.arange(100, 120)})
    extra = stimuli.write_extra_stimuli(
        tmp_path / "extra", test, 40, superordinate, seed=3, size=24
    )
    seen = stimuli.image_parameters(test, superordinate, seed=3)  # as the simulator draws them
    columns = [f"z_{n}" for n in stimuli.LATENT_NAMES]
    z_seen = seen.set_index("category")[columns]
    z_extra = extra[columns].to_numpy()
    own = np.linalg.norm(z_extra - z_seen.loc[extra["category"]].to_numpy(), axis=1)
    distances = np.linalg.norm(z_extra[:, None] - z_seen.to_numpy()[None], axis=2)
    assert (own <= distances.min(axis=1) + 1e-9).mean() > 0.9  # nearest test image: own concept
    assert np.median(own) < 0.3 * np.median(distances)
    index = pd.read_csv(tmp_path / "extra" / "stimuli.tsv", sep="\t")
    assert index["image"].tolist() == extra["image"].tolist() and len(index) == 40
    assert (tmp_path / "extra" / "latents.parquet").exists()
    with Image.open(tmp_path / "extra" / index["file"].iloc[0]) as img:
        assert img.size == (24, 24)


def test_unseen_things_images_from_the_release_listing(tmp_path):
    (tmp_path / "things").mkdir()
    (tmp_path / "things" / "image_paths.csv").write_text(
        "".join(f"images/c/c_{i:02d}.jpg\n" for i in range(1, 11))
    )
    available = stimuli.things_image_numbers(tmp_path / "things")
    assert available == list(range(1, 11))
    assert stimuli.unseen_images(available, [1, 2, 3, 9], 6, seed=0) == [4, 5, 6, 7, 8, 10]
    sample = stimuli.unseen_images(available, [1, 2, 3, 9], 3, seed=0)
    assert len(sample) == 3 and set(sample) <= {4, 5, 6, 7, 8, 10}
    assert sample == stimuli.unseen_images(available, [1, 2, 3, 9], 3, seed=0)
    with pytest.raises(DataError, match=r"things: .*asks for 7 images never shown.*only 6"):
        stimuli.unseen_images(available, [1, 2, 3, 9], 7, seed=0, source=tmp_path / "things")
    own = tmp_path / "own"
    own.mkdir()
    pd.DataFrame({"image": [5, 3], "file": ["a.png", "b.png"]}).to_csv(
        own / "stimuli.tsv", sep="\t", index=False
    )
    assert stimuli.things_image_numbers(own) == [3, 5]
    with pytest.raises(DataError, match="image_paths.csv"):
        stimuli.things_image_numbers(tmp_path / "empty")
