"""Pretrained image networks, loaded from files on disk only.

VGG-19 is written out here (its ``state_dict`` keys match torchvision's
``vgg19``) so torchvision's published weight file loads without installing
torchvision, which conflicts with the project's torch build. CLIP and DINOv2 go
through Hugging Face ``transformers``, imported lazily so the rest of the
package works without it. Nothing here touches the network: weights must be a
local file (VGG-19) or a local ``save_pretrained`` directory (CLIP, DINOv2).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from brainlatent.device import resolve_device
from brainlatent.errors import DataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

#: VGG-19 ("configuration E"): output channels per conv layer, "M" = max-pool.
VGG19_CFG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
    512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)  # fmt: skip
VGG19_DEFAULT_LAYER = "classifier.4"


class VGG19(nn.Module):
    """VGG-19 with torchvision's module layout (``features``, ``avgpool``, ``classifier``).

    The layout, not just the maths, is copied so ``load_state_dict`` accepts
    ``vgg19-dcbb9e9d.pth`` unchanged. The adaptive pool makes any input of at
    least 32 px valid, which keeps tests small.
    """

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for v in VGG19_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [
                    nn.Conv2d(in_channels, int(v), kernel_size=3, padding=1),
                    nn.ReLU(inplace=True),
                ]
                in_channels = int(v)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))

    def layer_names(self) -> list[str]:
        """Names whose output :meth:`embed` can return, in forward order."""
        return (
            [f"features.{i}" for i in range(len(self.features))]
            + ["avgpool"]
            + [f"classifier.{i}" for i in range(len(self.classifier))]
        )

    def embed(self, x: torch.Tensor, layer: str = VGG19_DEFAULT_LAYER) -> torch.Tensor:
        """Output of ``layer``, flattened per image; stops there to save compute.

        The default, ``classifier.4``, is the ReLU after the second 4096-unit
        fully connected layer: the last layer before the ImageNet class scores.
        """
        if layer not in self.layer_names():
            raise ValueError(f"vgg19: unknown layer {layer!r}; valid: {self.layer_names()}")
        part, index = (layer.split(".") + [""])[:2]
        for i, module in enumerate(self.features):
            x = module(x)
            if part == "features" and i == int(index):
                return torch.flatten(x, 1)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        if part == "avgpool":
            return x
        for i, module in enumerate(self.classifier):
            x = module(x)
            if i == int(index):
                break
        return x


@dataclass(frozen=True)
class Preprocess:
    """Resize the short side, centre-crop a square, scale to [0, 1], normalise."""

    resize: int
    crop: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resample: Image.Resampling = Image.Resampling.BILINEAR
    #: Where an odd leftover puts the crop: Hugging Face's processors floor it,
    #: torchvision's ``center_crop`` rounds it (half to even), 1 px apart when 3 mod 4.
    round_crop: bool = False

    def __call__(self, rgb: np.ndarray) -> torch.Tensor:
        image = Image.fromarray(rgb)
        w, h = image.size
        # Short side to ``resize``, long side truncated, as torchvision's and
        # HF's resizes do, so crops agree with theirs pixel for pixel.
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = (
            max(self.resize, self.crop),
            max(int(self.resize * long / short), self.crop),
        )
        size = (new_short, new_long) if w <= h else (new_long, new_short)
        image = image.resize(size, self.resample)
        offset = (lambda n: round(n / 2)) if self.round_crop else (lambda n: n // 2)
        left, top = offset(size[0] - self.crop), offset(size[1] - self.crop)
        image = image.crop((left, top, left + self.crop, top + self.crop))
        x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
        mean = torch.tensor(self.mean, dtype=torch.float32)[:, None, None]
        std = torch.tensor(self.std, dtype=torch.float32)[:, None, None]
        return (x - mean) / std


@dataclass
class LoadedModel:
    """A ready network: ``preprocess`` one image, ``forward`` a batch to (n, dim)."""

    preprocess: Preprocess
    forward: Callable[[torch.Tensor], torch.Tensor]
    device: torch.device


def load_vgg19(
    weights: Path, image_size: int | None, layer: str | None, device: str | None
) -> LoadedModel:
    """VGG-19 from a torchvision-format ``state_dict`` file, with ImageNet preprocessing."""
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and torch errors vary by version
        raise DataError(weights, f"cannot load VGG-19 weights ({exc})") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise DataError(weights, f"expected a state_dict, found {type(state).__name__}")
    with torch.device("meta"):  # skip the random init: every tensor is replaced
        model = VGG19()
    expected = set(model.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise DataError(
            weights,
            f"not a torchvision vgg19 state_dict: missing keys {missing[:5]}, "
            f"unexpected keys {unexpected[:5]}",
        )
    try:
        model.load_state_dict(state, assign=True)
    except RuntimeError as exc:  # shape mismatch
        raise DataError(weights, f"VGG-19 weights do not fit ({exc})") from exc
    dev = resolve_device(device or "auto")  # None: auto
    model = model.float().eval().to(dev)
    layer = layer or VGG19_DEFAULT_LAYER
    if layer not in model.layer_names():
        raise ValueError(f"vgg19: unknown layer {layer!r}; valid: {model.layer_names()}")
    size = image_size or 224
    preprocess = Preprocess(
        round(size * 256 / 224), size, IMAGENET_MEAN, IMAGENET_STD, round_crop=True
    )  # torchvision's preset
    return LoadedModel(preprocess, lambda x: model.embed(x, layer), dev)


def _import_transformers():
    try:
        import transformers
    except ImportError as exc:
        raise ImportError(
            "the clip and dinov2 image models need Hugging Face transformers: "
            "pip install transformers safetensors"
        ) from exc
    return transformers


def _size_value(value, key: str) -> int | None:
    """Read an int from an HF size field, which may be an int or a dict."""
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        for k in (key, "height", "shortest_edge"):
            if isinstance(value.get(k), int):
                return value[k]
    return None


def _hf_preprocess(
    directory: Path,
    image_size: int | None,
    default_crop: int,
    default_resize: int,
    default_mean: tuple[float, ...],
    default_std: tuple[float, ...],
) -> Preprocess:
    """Preprocessing from ``preprocessor_config.json`` if saved, else the model's standard.

    ``image_size`` overrides the crop; the short side is resized in the same
    proportion as the saved config (e.g. 256 → 224 for DINOv2).
    """
    cfg: dict = {}
    path = directory / "preprocessor_config.json"
    if path.exists():
        try:
            cfg = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(path, f"cannot parse preprocessor config ({exc})") from exc
    crop = _size_value(cfg.get("crop_size"), "height") or default_crop
    resize = _size_value(cfg.get("size"), "shortest_edge") or default_resize
    if not cfg.get("do_center_crop", True):
        crop = resize
    if image_size is not None:
        resize, crop = round(image_size * resize / crop), image_size
    mean = tuple(cfg.get("image_mean", default_mean))
    std = tuple(cfg.get("image_std", default_std))
    resample = Image.Resampling(cfg.get("resample", Image.Resampling.BICUBIC))
    return Preprocess(resize, crop, mean, std, resample)


def _clip_vision_config(transformers, directory: Path):
    """The vision config of a CLIP checkpoint, whether vision-only or full (text + vision).

    A full ``CLIPModel`` directory (as published, e.g. openai/clip-vit-large-patch14)
    keeps ``projection_dim`` at the top level; the vision sub-config alone may
    carry the default (512) instead, and the projection would then not load.
    """
    try:
        raw = json.loads((directory / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(directory / "config.json", f"cannot read CLIP config ({exc})") from exc
    if raw.get("model_type") != "clip":
        return transformers.CLIPVisionConfig.from_pretrained(directory, local_files_only=True)
    full = transformers.CLIPConfig.from_pretrained(directory, local_files_only=True)
    vision = full.vision_config
    vision.projection_dim = full.projection_dim
    return vision


def load_clip(
    directory: Path, image_size: int | None, layer: str | None, device: str | None
) -> LoadedModel:
    """CLIP vision tower; ``image_embeds`` (projected, the space shared with text) by default.

    ``layer="pooler_output"`` gives the CLS token before the projection.
    """
    transformers = _import_transformers()
    layer = layer or "image_embeds"
    if layer not in ("image_embeds", "pooler_output"):
        raise ValueError(f"clip: unknown layer {layer!r}; valid: ['image_embeds', 'pooler_output']")
    try:
        model = transformers.CLIPVisionModelWithProjection.from_pretrained(
            directory, config=_clip_vision_config(transformers, directory), local_files_only=True
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise DataError(directory, f"cannot load CLIP vision model ({exc})") from exc
    dev = resolve_device(device or "auto")  # None: auto
    model = model.float().eval().to(dev)
    native = model.config.image_size
    preprocess = _hf_preprocess(directory, image_size, native, native, CLIP_MEAN, CLIP_STD)
    interpolate = preprocess.crop != native

    def forward(x: torch.Tensor) -> torch.Tensor:
        if layer == "pooler_output":
            out = model.vision_model(pixel_values=x, interpolate_pos_encoding=interpolate)
            return out.pooler_output
        return model(pixel_values=x, interpolate_pos_encoding=interpolate).image_embeds

    return LoadedModel(preprocess, forward, dev)


def load_dinov2(
    directory: Path, image_size: int | None, layer: str | None, device: str | None
) -> LoadedModel:
    """DINOv2 backbone; the final-layernormed CLS token (``pooler_output``) by default.

    ``layer="patch_mean"`` averages the patch tokens instead.
    """
    transformers = _import_transformers()
    layer = layer or "pooler_output"
    if layer not in ("pooler_output", "patch_mean"):
        raise ValueError(f"dinov2: unknown layer {layer!r}; valid: ['pooler_output', 'patch_mean']")
    try:
        model = transformers.Dinov2Model.from_pretrained(directory, local_files_only=True)
    except (OSError, ValueError, RuntimeError) as exc:
        raise DataError(directory, f"cannot load DINOv2 model ({exc})") from exc
    dev = resolve_device(device or "auto")  # None: auto
    model = model.float().eval().to(dev)
    preprocess = _hf_preprocess(directory, image_size, 224, 256, IMAGENET_MEAN, IMAGENET_STD)

    def forward(x: torch.Tensor) -> torch.Tensor:
        out = model(pixel_values=x)
        if layer == "patch_mean":
            return out.last_hidden_state[:, 1:].mean(dim=1)
        return out.pooler_output

    return LoadedModel(preprocess, forward, dev)


LOADERS: dict[str, Callable[..., LoadedModel]] = {
    "vgg19": load_vgg19,
    "clip": load_clip,
    "dinov2": load_dinov2,
}


def embed_batches(
    loaded: LoadedModel, images: Callable[[int], np.ndarray], n: int, batch_size: int, bar
) -> np.ndarray:
    """Run ``loaded`` over ``n`` images (``images(i)`` → RGB array) in batches."""
    chunks = []
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            x = torch.stack([loaded.preprocess(images(i)) for i in range(start, stop)])
            chunks.append(loaded.forward(x.to(loaded.device)).float().cpu().numpy())
            bar.update(stop - start)
    return np.concatenate(chunks).astype(np.float32, copy=False)
