"""Fetch the pretrained image networks' default weights, for users who have none on disk.

Each source is the one the loaders in :mod:`brainlatent.features.pretrained`
expect: torchvision's VGG-19 file (checked against the sha256 prefix in its
name by ``torch.hub``) and Hugging Face ``save_pretrained`` folders for CLIP
and DINOv2 (``huggingface_hub.snapshot_download``). Neither resumes an interrupted
file in a later run (torch.hub and huggingface_hub 2.x each write to a temporary of
their own process): a download cut off starts over, 0.5 GB for VGG-19, 4.5 GB for
DINOv2-giant. The weights then stay on disk and every later run is offline.
"""

from __future__ import annotations

import os
from pathlib import Path

from brainlatent.io import atomic_path

__all__ = ["WEIGHT_SOURCES", "download_weights"]

#: model → (kind, where): a URL for a single file, or a Hugging Face repository.
WEIGHT_SOURCES = {
    "vgg19": ("url", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"),
    "clip": ("huggingface", "openai/clip-vit-large-patch14"),
    "dinov2": ("huggingface", "facebook/dinov2-giant"),
}
#: Files a ``from_pretrained`` folder needs (no TensorFlow/Flax duplicates).
HF_PATTERNS = ["*.json", "*.safetensors", "*.txt"]


def download_weights(model: str, dest: str | os.PathLike) -> Path:
    """Write ``model``'s weights to ``dest`` (a file for VGG-19, a folder otherwise), atomically."""
    if model not in WEIGHT_SOURCES:
        raise ValueError(f"no download source for {model!r}; known: {sorted(WEIGHT_SOURCES)}")
    kind, where = WEIGHT_SOURCES[model]
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        if kind == "url":
            import torch.hub

            prefix = Path(where).stem.rsplit("-", 1)[-1]  # torchvision names: <model>-<sha256[:8]>
            torch.hub.download_url_to_file(where, str(tmp), hash_prefix=prefix, progress=True)
        else:
            from huggingface_hub import snapshot_download

            snapshot_download(where, local_dir=tmp, allow_patterns=HF_PATTERNS)
    return dest
