"""Image-reconstruction and representational-similarity metrics.

PixCorr and SSIM follow the conventions of the GOD / Ozcelik et al.
reconstruction papers (one score per image, averaged), so numbers can be set
beside published ones. RSA compares two representations of the same images
through their dissimilarity matrices, which needs no mapping between them.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "as_unit_images",
    "pixcorr",
    "pixcorr_per_image",
    "rdm",
    "row_correlations",
    "rsa",
    "ssim",
    "ssim_per_image",
]


def as_unit_images(images, name: str = "images") -> np.ndarray:
    """Images as float32 in [0, 1]: integers are divided by 255, floats must already be in range.

    Floats are not rescaled by guesswork (is 0-1 data with no bright pixel
    "in 0-255"?): an out-of-range float array is an error.
    """
    arr = np.asarray(images)
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} must be a real numeric array; got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_:
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ValueError(
                f"{name} is an integer array outside 0-255; got range [{arr.min()}, {arr.max()}]"
            )
        return (arr / np.float32(255.0)).astype(np.float32)
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise ValueError(
            f"{name} is a float array outside [0, 1] (range [{arr.min():.3g}, {arr.max():.3g}]); "
            "pass uint8 (0-255) or rescale to [0, 1]"
        )
    return arr


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = as_unit_images(a, "a"), as_unit_images(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape; got {a.shape} and {b.shape}")
    if a.ndim < 3 or len(a) == 0:
        raise ValueError(f"expected a stack of images (n, H, W[, C]) with n >= 1; got {a.shape}")
    return a, b


def pixcorr(a, b) -> float:
    """Mean over images of the Pearson correlation between flattened ``a[i]`` and ``b[i]``.

    An image that is constant in ``a`` or ``b`` has no correlation: it gives
    NaN, and so does the mean (a collapsed reconstruction should not pass unseen).
    """
    return float(np.mean(pixcorr_per_image(a, b)))


def pixcorr_per_image(a, b) -> np.ndarray:
    """The correlation of each pair ``a[i]``, ``b[i]`` (:func:`pixcorr` is their mean)."""
    a, b = _pair(a, b)
    return row_correlations(a, b)


def row_correlations(a, b) -> np.ndarray:
    """Pearson correlation of ``a[i]`` and ``b[i]`` for each row, each flattened (NaN where
    one of them is flat)."""
    x = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    y = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    x = x - x.mean(axis=1, keepdims=True)
    y = y - y.mean(axis=1, keepdims=True)
    denom = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (x * y).sum(axis=1) / denom, np.nan)


def ssim(a, b) -> float:
    """Mean over images of skimage's SSIM (data_range 1; RGB when the last axis has 3 channels).

    skimage's defaults (7 × 7 uniform window, per channel), not the grey-level, Gaussian-window
    recipe of Brain-Diffuser and MindEye, which gives somewhat higher values.
    """
    return float(np.mean(ssim_per_image(a, b)))


def ssim_per_image(a, b) -> np.ndarray:
    """The SSIM of each pair ``a[i]``, ``b[i]`` (:func:`ssim` is their mean)."""
    a, b = _pair(a, b)
    if a.ndim == 4 and a.shape[-1] == 1:
        a, b = a[..., 0], b[..., 0]
    channel_axis = -1 if a.ndim == 4 else None
    if a.ndim == 4 and a.shape[-1] != 3:
        raise ValueError(f"expected grayscale (n, H, W) or RGB (n, H, W, 3) images; got {a.shape}")
    from skimage.metrics import structural_similarity  # scikit-image: only when scoring

    return np.array(
        [
            structural_similarity(x, y, data_range=1.0, channel_axis=channel_axis)
            for x, y in zip(a, b, strict=True)
        ]
    )


def rdm(features) -> np.ndarray:
    """Representational dissimilarity matrix: 1 − Pearson correlation between rows (items)."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(f"features must be 2-D (n_items >= 2, n_features >= 2); got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or infinite values")
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - np.corrcoef(x)


def rsa(hidden, responses, method: str = "spearman") -> float:
    """Correlation between the upper triangles of the two representations' RDMs.

    Spearman (the default) only assumes the dissimilarities are monotonically
    related, which is all RSA can claim across a network and a brain.
    """
    if method not in ("spearman", "pearson"):
        raise ValueError(f"method must be 'spearman' or 'pearson'; got {method!r}")
    hidden, responses = np.asarray(hidden), np.asarray(responses)
    if hidden.ndim != 2 or responses.ndim != 2 or len(hidden) != len(responses):
        raise ValueError(
            "hidden and responses must be 2-D with one row per image; "
            f"got {hidden.shape} and {responses.shape}"
        )
    if len(hidden) < 3:
        raise ValueError(f"RSA needs at least 3 images; got {len(hidden)}")
    iu = np.triu_indices(len(hidden), k=1)
    x, y = rdm(hidden)[iu], rdm(responses)[iu]
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return float("nan")  # a constant row: its dissimilarities are undefined
    from scipy import stats  # ~1 s to import: not at workflow planning (plan.py imports this)

    corr = stats.spearmanr if method == "spearman" else stats.pearsonr
    return float(corr(x, y)[0])
