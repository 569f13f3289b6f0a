"""The dead-leaves scenes: natural-image statistics, and the V1 filter bank that sees them."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from brainlatent.datasets import dead_leaves as dead_leaves_module
from brainlatent.datasets import simulate_calcium as sc
from brainlatent.datasets.dead_leaves import DeadLeaves, amplitude_spectrum_slope, dead_leaves
from brainlatent.errors import DataError
from brainlatent.models.daenr_scenes import pretraining_corpus


@pytest.fixture(scope="module")
def images():
    return dead_leaves(200, 32, seed=0)


def test_grey_scale_images_in_range_with_varied_contrast(images):
    assert images.shape == (200, 32, 32) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert 0.35 < images.mean() < 0.65
    contrast = images.std(axis=(1, 2))
    assert contrast.min() > 0.02  # no blank image
    assert np.percentile(contrast, 90) > 1.5 * np.percentile(contrast, 10)  # varied contrast


def test_amplitude_spectrum_falls_as_one_over_f(images):
    # Natural photographs: amplitude ∝ f^-1 (slope about -1; -0.8 to -1.5 across scenes).
    assert -1.4 < amplitude_spectrum_slope(images) < -0.8
    white = np.random.default_rng(0).uniform(0, 1, (50, 32, 32))
    assert abs(amplitude_spectrum_slope(white)) < 0.2  # the measure itself: flat for noise


def test_shape_sizes_follow_the_power_law():
    model = DeadLeaves(r_min=0.02, r_max=0.6, alpha=3.0)
    r = model.radii(np.random.default_rng(0), 200_000)
    assert r.min() >= 0.02 and r.max() <= 0.6
    edges = np.geomspace(0.02, 0.6, 16)
    density = np.histogram(r, edges)[0] / np.diff(edges)
    centres = np.sqrt(edges[1:] * edges[:-1])
    keep = density > 50 / np.diff(edges)  # bins with enough counts
    slope = np.polyfit(np.log(centres[keep]), np.log(density[keep]), 1)[0]
    assert slope == pytest.approx(-3.0, abs=0.15)


def test_images_depend_only_on_seed_stream_and_index():
    first = dead_leaves(5, 16, seed=3)
    np.testing.assert_array_equal(first, dead_leaves(8, 16, seed=3)[:5])
    assert not np.array_equal(first, dead_leaves(5, 16, seed=4))
    assert not np.array_equal(first, dead_leaves(5, 16, seed=3, stream="corpus"))


def test_the_corpus_never_holds_a_simulated_scene():
    scenes = sc.render_scenes(16, seed=0).astype(np.float32) / 255
    corpus = pretraining_corpus("dead_leaves", 300, 16, 16, seed=0)
    distance = np.abs(scenes[:, None] - corpus[None]).mean(axis=(2, 3))
    assert distance.min() > 0.02


def test_bad_generator_parameters():
    with pytest.raises(ValueError, match="r_min < r_max"):
        DeadLeaves(r_min=0.5, r_max=0.1)
    with pytest.raises(ValueError, match="alpha must be > 1"):
        DeadLeaves(alpha=1.0)
    with pytest.raises(ValueError, match="contrast must be"):
        DeadLeaves(contrast=(0.8, 0.2))
    with pytest.raises(ValueError, match="size >= 4"):
        dead_leaves(3, 2, seed=0)
    with pytest.raises(ValueError, match=r"\(n, side, side\)"):
        amplitude_spectrum_slope(np.zeros((2, 8, 9)))


def test_corpus_from_a_folder_is_grey_cropped_and_resized(tmp_path):
    rng = np.random.default_rng(0)
    for k, shape in enumerate([(40, 60, 3), (50, 30, 3), (20, 20, 3)]):
        Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(tmp_path / f"{k}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    corpus = pretraining_corpus(str(tmp_path), 10, 12, 16, seed=0)
    assert corpus.shape == (3, 12, 16) and corpus.dtype == np.float32
    assert corpus.min() >= 0 and corpus.max() <= 1
    assert pretraining_corpus(str(tmp_path), 2, 12, 16, seed=0).shape == (2, 12, 16)
    square = pretraining_corpus("dead_leaves", 4, 12, 16, seed=0)
    assert square.shape == (4, 12, 16)


def test_corpus_errors_name_the_folder(tmp_path):
    with pytest.raises(DataError, match="neither 'dead_leaves' nor an existing folder"):
        pretraining_corpus(str(tmp_path / "absent"), 10, 8, 8, seed=0)
    with pytest.raises(DataError, match="no image files") as error:
        pretraining_corpus(str(tmp_path), 10, 8, 8, seed=0)
    assert str(tmp_path) in str(error.value)
    with pytest.raises(ValueError, match="n_images must be >= 1"):
        pretraining_corpus("dead_leaves", 0, 8, 8, seed=0)


# ---------------------------------------------------------------------------
# The V1 filter bank that drives the simulated scene responses
# ---------------------------------------------------------------------------


def _neuron(x=0.0, y=0.0, orientation=0.0, log2_sf=2.0):
    return {
        "preferred": np.array([[x, y, orientation, log2_sf]]),
        "position_sd": np.array([0.2]),
        "base_rate": np.array([0.3]),
    }


def _grating(orientation, log2_sf, phase, size=32, contrast=0.4):
    g = (np.arange(size) + 0.5) / size - 0.5
    xx, yy = np.meshgrid(g, -g)
    u = xx * np.cos(orientation) + yy * np.sin(orientation)
    return 0.5 + contrast * np.cos(2 * np.pi * 2.0**log2_sf * u + phase)


def test_filter_bank_is_tuned_and_phase_invariant():
    neuron = _neuron(orientation=0.3, log2_sf=2.0)
    best = [_grating(0.3, 2.0, phase) for phase in (0.0, 1.0, 2.0, 3.0)]
    drive = sc.image_drive(np.stack(best), neuron)[:, 0]
    assert drive.min() > 0.5 and drive.max() < 1
    assert drive.max() - drive.min() < 0.1 * drive.mean()  # complex cell: phase invariant
    orthogonal = sc.image_drive(_grating(0.3 + np.pi / 2, 2.0, 0.0)[None], neuron)[0, 0]
    other_sf = sc.image_drive(_grating(0.3, 4.0, 0.0)[None], neuron)[0, 0]
    grey = sc.image_drive(np.full((1, 32, 32), 0.5), neuron)[0, 0]
    assert orthogonal < 0.1 * drive.mean() and other_sf < 0.2 * drive.mean()
    assert grey == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match=r"\(n, size, size\)"):
        sc.image_drive(np.zeros((2, 8, 9)), neuron)


@pytest.mark.parametrize("block", [1, 7, 256, 10**6])
def test_each_pixel_shows_the_earliest_drawn_shape_covering_it(monkeypatch, block):
    """The blocked z-buffer against the painter's algorithm: every shape tested on every pixel,
    drawn from the last to the first, so the earliest-drawn one ends on top."""
    monkeypatch.setattr(dead_leaves_module, "RENDER_BLOCK", block)
    leaves, side = DeadLeaves(), 24
    for seed in range(3):
        shapes = leaves._shapes(np.random.default_rng(seed))
        k = shapes["r"].size
        py, px = np.divmod(np.arange(side * side), side)
        painted = np.full(side * side, k)
        for index in range(k - 1, -1, -1):
            painted[leaves._inside(shapes, np.full(px.size, index), px, py, side)] = index
        assert (painted < k).mean() > 0.9  # the test sees occlusion, not an empty image
        np.testing.assert_array_equal(leaves._front(shapes, side), painted)
