"""Image features that brain decoders predict: handcrafted and pretrained embeddings."""

from brainlatent.features.image_models import (
    IMAGE_MODELS,
    ImageModelSpec,
    embed_images,
    write_features,
)

__all__ = ["IMAGE_MODELS", "ImageModelSpec", "embed_images", "write_features"]
