import numpy as np
import pandas as pd
import pytest
from PIL import Image

from brainlatent.datasets import stimuli


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
