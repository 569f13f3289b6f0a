"""Image models: shapes, what each handcrafted feature is sensitive to, and error paths."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from brainlatent.errors import DataError
from brainlatent.features import IMAGE_MODELS, embed_images, write_features
from brainlatent.features.image_models import load_rgb

HANDCRAFTED = {"color_histogram": 24, "hog": 288, "fft": 64}
PRETRAINED = ["vgg19", "clip", "dinov2"]


def _save(path, rgb):
    Image.fromarray(np.asarray(rgb, dtype=np.uint8)).save(path)
    return path


def _solid(path, colour, size=(48, 40), noise=0, seed=0):
    rgb = np.broadcast_to(np.array(colour, dtype=float), (size[1], size[0], 3))
    rgb = rgb + np.random.default_rng(seed).normal(0, noise, rgb.shape)
    return _save(path, np.clip(rgb, 0, 255))


def _grating(path, period, vertical, phase=0.0, size=96):
    """Sinusoidal grating; ``vertical`` stripes vary along x."""
    x = np.arange(size)
    profile = 0.5 + 0.5 * np.sin(2 * np.pi * x / period + phase)
    image = np.tile(profile, (size, 1)) if vertical else np.tile(profile[:, None], (1, size))
    return _save(path, np.repeat(image[..., None] * 255, 3, axis=2))


def _nearest(features, query, candidates):
    """Index in ``candidates`` of the row nearest (Euclidean) to row ``query``."""
    d = [np.linalg.norm(features[query] - features[c]) for c in candidates]
    return candidates[int(np.argmin(d))]


@pytest.fixture
def mixed_images(tmp_path):
    """Images of different sizes and modes, to check dimensions are size-independent."""
    return [
        _solid(tmp_path / "red.png", (220, 20, 20), size=(48, 40)),
        _grating(tmp_path / "grating.png", 8, True, size=70),
        _save(tmp_path / "noise.png", np.random.default_rng(1).integers(0, 256, (33, 57, 3))),
    ]


def test_registry_lists_all_models():
    assert set(IMAGE_MODELS) == set(HANDCRAFTED) | set(PRETRAINED)
    for name, dim in HANDCRAFTED.items():
        assert IMAGE_MODELS[name].dim == dim
        assert not IMAGE_MODELS[name].pretrained
    assert all(IMAGE_MODELS[name].pretrained for name in PRETRAINED)


@pytest.mark.parametrize("model", sorted(HANDCRAFTED))
def test_handcrafted_shape_dtype_determinism(model, mixed_images):
    first = embed_images(mixed_images, model, progress=False)
    second = embed_images(mixed_images, model, progress=False)
    assert first.shape == (len(mixed_images), HANDCRAFTED[model])
    assert first.dtype == np.float32
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(first, second)


def test_color_histogram_sums_to_one_and_separates_hues(tmp_path):
    paths = [
        _solid(tmp_path / "red1.png", (220, 20, 20), noise=8, seed=1),
        _solid(tmp_path / "red2.png", (212, 24, 22), noise=8, seed=2),
        _solid(tmp_path / "blue.png", (20, 30, 220), noise=8, seed=3),
    ]
    hist = embed_images(paths, "color_histogram", progress=False)
    np.testing.assert_allclose(hist.sum(axis=1), 1.0, rtol=1e-5)
    assert (hist >= 0).all()
    red_red = np.linalg.norm(hist[0] - hist[1])
    red_blue = np.linalg.norm(hist[0] - hist[2])
    assert red_blue > 2 * red_red
    assert np.argmax(hist[0, :8]) == np.argmax(hist[1, :8]) != np.argmax(hist[2, :8])


@pytest.mark.parametrize("model", ["hog", "fft"])
def test_orientation_nearest_neighbour(model, tmp_path):
    # Two phases of each orientation: the nearest neighbour must share orientation.
    paths = [
        _grating(tmp_path / "v0.png", 8, True, phase=0.0),
        _grating(tmp_path / "v1.png", 8, True, phase=1.3),
        _grating(tmp_path / "h0.png", 8, False, phase=0.0),
        _grating(tmp_path / "h1.png", 8, False, phase=2.1),
    ]
    f = embed_images(paths, model, progress=False)
    assert _nearest(f, 0, [1, 2, 3]) == 1
    assert _nearest(f, 2, [0, 1, 3]) == 3


def test_fft_separates_spatial_frequency(tmp_path):
    paths = [
        _grating(tmp_path / "low0.png", 32, True, phase=0.0),
        _grating(tmp_path / "low1.png", 32, True, phase=2.0),
        _grating(tmp_path / "high0.png", 4, True, phase=0.0),
        _grating(tmp_path / "high1.png", 4, True, phase=1.0),
    ]
    f = embed_images(paths, "fft", progress=False)
    assert _nearest(f, 0, [1, 2, 3]) == 1
    assert _nearest(f, 2, [0, 1, 3]) == 3
    # The energy peak moves to a higher frequency band (rows of the 8 x 8 grid).
    peak_low = np.argmax(f[0].reshape(8, 8).max(axis=1))
    peak_high = np.argmax(f[2].reshape(8, 8).max(axis=1))
    assert peak_high > peak_low


def test_unknown_model_lists_valid_names(mixed_images):
    with pytest.raises(ValueError, match="resnet") as info:
        embed_images(mixed_images, "resnet", progress=False)
    for name in IMAGE_MODELS:
        assert name in str(info.value)


@pytest.mark.parametrize("model", PRETRAINED)
def test_missing_weights_name_the_path_and_config_key(model, mixed_images, tmp_path):
    missing = tmp_path / "nowhere" / "weights.pth"
    with pytest.raises(FileNotFoundError) as info:
        embed_images(mixed_images, model, weights=missing, progress=False)
    message = str(info.value)
    assert str(missing) in message and model in message
    assert f"things_meg.weights.{model}" in message
    with pytest.raises(FileNotFoundError, match=f"things_meg.weights.{model}"):
        embed_images(mixed_images, model, weights=None, progress=False)


def test_corrupt_image_raises_data_error_naming_file(tmp_path, mixed_images):
    good = _grating(tmp_path / "good.png", 8, True)
    bad = tmp_path / "truncated.png"
    bad.write_bytes(good.read_bytes()[:60])
    with pytest.raises(DataError, match="truncated.png") as info:
        embed_images([mixed_images[0], bad], "hog", progress=False)
    assert info.value.path == str(bad)
    with pytest.raises(DataError, match="absent.png"):
        embed_images([tmp_path / "absent.png"], "fft", progress=False)


def test_write_features_saves_matrix_and_index(tmp_path, mixed_images):
    out_npy, out_index = tmp_path / "out" / "fft.npy", tmp_path / "out" / "fft.parquet"
    ids = [17, 3, 250]
    features = write_features(out_npy, out_index, ids, mixed_images, "fft", progress=False)
    saved = np.load(out_npy)
    assert saved.dtype == np.float32
    np.testing.assert_array_equal(saved, features)
    index = pd.read_parquet(out_index)
    assert list(index.columns) == ["image", "row", "model", "file"]
    assert index["image"].dtype == np.int64 and index["row"].dtype == np.int64
    assert index["image"].tolist() == ids and index["row"].tolist() == [0, 1, 2]
    assert set(index["model"]) == {"fft"}
    assert index["file"].tolist() == [str(p) for p in mixed_images]
    with pytest.raises(ValueError, match="unique"):
        write_features(out_npy, out_index, [1, 1, 2], mixed_images, "fft", progress=False)


# --- VGG-19 ---------------------------------------------------------------------

VGG19_FEATURE_CONVS = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
VGG19_CLASSIFIER_LINEARS = [0, 3, 6]
TORCHVISION_VGG19_KEYS = [
    f"{part}.{i}.{kind}"
    for part, indices in (
        ("features", VGG19_FEATURE_CONVS),
        ("classifier", VGG19_CLASSIFIER_LINEARS),
    )
    for i in indices
    for kind in ("weight", "bias")
]


@pytest.fixture(scope="module")
def vgg19_weights(tmp_path_factory):
    """A random VGG-19 state_dict saved like torchvision's file (~550 MB, a few seconds)."""
    import torch

    from brainlatent.features.pretrained import VGG19

    with torch.device("meta"):
        shapes = {k: v.shape for k, v in VGG19().state_dict().items()}
    generator = torch.Generator().manual_seed(0)
    state = {k: torch.randn(s, generator=generator) * 0.01 for k, s in shapes.items()}
    path = tmp_path_factory.mktemp("vgg") / "vgg19-random.pth"
    torch.save(state, path)
    return path


def test_vgg19_state_dict_matches_torchvision_layout():
    import torch

    from brainlatent.features.pretrained import VGG19

    with torch.device("meta"):
        model = VGG19()
    assert list(model.state_dict()) == TORCHVISION_VGG19_KEYS
    assert model.state_dict()["classifier.0.weight"].shape == (4096, 512 * 7 * 7)


def test_vgg19_embeds_from_weight_file(vgg19_weights, mixed_images):
    out = embed_images(
        mixed_images, "vgg19", weights=vgg19_weights, image_size=64, batch_size=2, progress=False
    )
    assert out.shape == (len(mixed_images), 4096)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    pooled = embed_images(
        mixed_images[:1], "vgg19", weights=vgg19_weights, image_size=64, layer="avgpool",
        progress=False, device="cpu",
    )  # fmt: skip
    assert pooled.shape == (1, 512 * 7 * 7)


def test_vgg19_rejects_foreign_state_dict(tmp_path, mixed_images):
    import torch

    path = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(DataError, match="other.pth"):
        embed_images(mixed_images, "vgg19", weights=path, progress=False)


# --- Hugging Face models -----------------------------------------------------------


def test_missing_transformers_gives_install_hint(monkeypatch, tmp_path, mixed_images):
    pytest.importorskip("torch")
    monkeypatch.setitem(sys.modules, "transformers", None)  # makes the import fail
    with pytest.raises(ImportError, match="pip install transformers"):
        embed_images(mixed_images, "clip", weights=tmp_path, progress=False)


def test_clip_loads_offline_from_directory(tmp_path, mixed_images):
    transformers = pytest.importorskip("transformers")
    config = transformers.CLIPVisionConfig(
        hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
        image_size=32, patch_size=8, projection_dim=16,
    )  # fmt: skip
    transformers.CLIPVisionModelWithProjection(config).save_pretrained(tmp_path / "clip")
    out = embed_images(mixed_images, "clip", weights=tmp_path / "clip", progress=False)
    assert out.shape == (len(mixed_images), 16)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    # Pre-projection CLS token, at a crop other than the native size.
    pooled = embed_images(
        mixed_images, "clip", weights=tmp_path / "clip", image_size=48,
        layer="pooler_output", progress=False,
    )  # fmt: skip
    assert pooled.shape == (len(mixed_images), 32)


def test_dinov2_loads_offline_and_reads_preprocessor_config(tmp_path, mixed_images):
    import json

    transformers = pytest.importorskip("transformers")

    from brainlatent.features.pretrained import _hf_preprocess

    config = transformers.Dinov2Config(
        hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
        image_size=32, patch_size=8,
    )  # fmt: skip
    directory = tmp_path / "dinov2"
    transformers.Dinov2Model(config).save_pretrained(directory)
    (directory / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "size": {"shortest_edge": 40},
                "crop_size": {"height": 32, "width": 32},
                "image_mean": [0.5, 0.5, 0.5],
                "image_std": [0.25, 0.25, 0.25],
                "resample": 3,
            }
        )
    )
    preprocess = _hf_preprocess(directory, None, 224, 256, (0.0,) * 3, (1.0,) * 3)
    assert (preprocess.resize, preprocess.crop) == (40, 32)
    assert preprocess.mean == (0.5, 0.5, 0.5) and preprocess.std == (0.25, 0.25, 0.25)
    assert tuple(preprocess(np.zeros((50, 60, 3), np.uint8)).shape) == (3, 32, 32)

    out = embed_images(mixed_images, "dinov2", weights=directory, batch_size=2, progress=False)
    assert out.shape == (len(mixed_images), 32)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    patches = embed_images(
        mixed_images, "dinov2", weights=directory, layer="patch_mean", progress=False
    )
    assert patches.shape == (len(mixed_images), 32)
    assert not np.allclose(out, patches)


def test_clip_loads_full_text_and_vision_checkpoint(tmp_path, mixed_images):
    """Published CLIP directories hold the whole CLIPModel, projection_dim at the top level."""
    transformers = pytest.importorskip("transformers")
    import torch

    from brainlatent.features.pretrained import load_clip

    tiny = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=1, num_attention_heads=4)
    config = transformers.CLIPConfig(
        vision_config=dict(tiny, image_size=32, patch_size=8),
        text_config=dict(tiny, vocab_size=64, bos_token_id=0, eos_token_id=1, pad_token_id=1),
        projection_dim=16,
    )
    full = transformers.CLIPModel(config).eval()
    full.save_pretrained(tmp_path / "clip")
    out = embed_images(mixed_images[:2], "clip", weights=tmp_path / "clip", progress=False)
    assert out.shape == (2, 16)
    # Same vector as the full model's own image tower.
    loaded = load_clip(tmp_path / "clip", None, None, "cpu")
    x = torch.stack([loaded.preprocess(load_rgb(p)) for p in mixed_images[:2]])
    with torch.no_grad():
        ref = full.visual_projection(full.vision_model(pixel_values=x).pooler_output)
    np.testing.assert_allclose(out, ref.numpy(), atol=1e-5)


@pytest.mark.parametrize("width", [256, 257, 258, 259, 263])
def test_vgg19_crop_sits_where_torchvision_puts_it(width):
    """torchvision's center_crop offset is int(round(leftover / 2)), HF's leftover // 2."""
    from brainlatent.features.pretrained import Preprocess

    # a horizontal ramp: the crop's first column says where it starts
    ramp = np.tile(np.arange(width, dtype=np.uint8)[None, :, None], (224, 1, 3))
    vgg = Preprocess(224, 224, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), round_crop=True)
    hf = Preprocess(224, 224, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    leftover = width - 224
    assert round(float(vgg(ramp)[0, 0, 0]) * 255) == int(round(leftover / 2.0))
    assert round(float(hf(ramp)[0, 0, 0]) * 255) == leftover // 2
