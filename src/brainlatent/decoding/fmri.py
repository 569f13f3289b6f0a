"""fMRI decoding into a generator's latent space (Ozcelik et al. 2022, GOD dataset).

Ridge regression maps visual-cortex voxels to image latents; decoded latents
are rescaled to the training latents' statistics, as in the authors' code, so
the generator sees inputs of the scale it was trained on. Identification
scores a decoded item against all test items by Pearson correlation, in latent
space and in pixel space. A per-ROI contrast of ridge weights asks which
regions carry low-level and which high-level image features.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from brainlatent.errors import DataError
from brainlatent.metrics import bootstrap_interval, retrieval_ranks
from brainlatent.metrics_images import (
    as_unit_images,
    pixcorr,
    pixcorr_per_image,
    ssim,
    ssim_per_image,
)
from brainlatent.models.ridge import DEFAULT_ALPHAS, RidgeDecoder

__all__ = [
    "fit_latent_ridge",
    "identification",
    "identification_table",
    "predict_latents",
    "rescale_to_training",
    "roi_weight_contrast",
]

#: Columns of :func:`identification_table`, in order; ``device`` is where the generator was
#: trained (its latent space is what the ridge decodes into); ``ci_low`` and ``ci_high`` bound
#: ``value``'s 95 % bootstrap interval over the test images.
IDENTIFICATION_COLUMNS = (
    "subject", "space", "metric", "value", "chance", "n_images", "device", "ci_low", "ci_high"
)  # fmt: skip
#: Columns of :func:`roi_weight_contrast`, in order.
ROI_COLUMNS = ("roi", "n_voxels", "low", "high", "contrast")


def _matrix(x, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (samples, dims); got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def rescale_to_training(predicted, train_latents) -> np.ndarray:
    """Give decoded latents the per-dimension mean and SD of the training latents.

    Ridge predictions shrink toward the mean; the generator expects latents
    with the spread it was trained on. Each dimension is z-scored across the
    test items and mapped to the training mean and SD (population SDs, as
    ``np.std`` in Ozcelik et al.'s code). A dimension whose predictions are
    all equal carries no information and maps to the training mean.
    Returns float64 (n_test, dims).
    """
    predicted = _matrix(predicted, "predicted")
    train = _matrix(train_latents, "train_latents")
    if predicted.shape[1] != train.shape[1]:
        raise ValueError(
            f"predicted has {predicted.shape[1]} dims but train_latents has {train.shape[1]}"
        )
    if len(predicted) == 0 or len(train) == 0:
        raise ValueError("predicted and train_latents need at least one row each")
    centred = predicted - predicted.mean(axis=0)
    sd = predicted.std(axis=0)
    varies = np.ptp(predicted, axis=0) > 0  # exact: no rounding noise blown up to unit SD
    z = np.divide(centred, sd, out=np.zeros_like(centred), where=varies & (sd > 0))
    return z * train.std(axis=0) + train.mean(axis=0)


def fit_latent_ridge(X_train, latents_train, alphas=DEFAULT_ALPHAS) -> RidgeDecoder:
    """Ridge from voxels (samples, voxels) to latents, one penalty per latent dim (LOO CV)."""
    X = np.asarray(X_train)
    if X.ndim != 2:
        raise ValueError(f"X_train must be 2-D (samples, voxels); got shape {X.shape}")
    return RidgeDecoder(alphas=alphas).fit(X, _matrix(latents_train, "latents_train"))


def predict_latents(model: RidgeDecoder, X_test, latents_train) -> np.ndarray:
    """Decoded latents in generator units, rescaled to the training latents' statistics.

    The decoder predicts standardised targets; they are brought back to latent
    units (inverse of ``transform_targets``) before :func:`rescale_to_training`.
    """
    X = np.asarray(X_test)
    if X.ndim != 2:
        raise ValueError(f"X_test must be 2-D (samples, voxels); got shape {X.shape}")
    train = _matrix(latents_train, "latents_train")
    if train.shape[1] != len(model.y_mean_):
        raise ValueError(
            f"latents_train has {train.shape[1]} dims but the model predicts {len(model.y_mean_)}"
        )
    latents = model.predict(X).astype(np.float64) * model.y_scale_ + model.y_mean_
    return rescale_to_training(latents, train)


def identification(predicted, candidates) -> dict:
    """Pairwise (2-way) and n-way identification by Pearson correlation.

    Item ``i``'s true candidate is ``candidates[i]``. ``two_way`` is the mean
    over items of the fraction of other candidates correlating less with the
    prediction than the true one (chance 0.5); ``n_way`` is top-1 accuracy
    among all n candidates (chance 1/n); ``per_item`` holds each item's share of both
    (their means are the two scores); ``ranks`` is 1 for the best. Ties
    count against the prediction, so a constant prediction scores 0.
    Latents (n, d) and images (n, H, W[, C]) are both flattened per item.
    """
    p = np.asarray(predicted, dtype=np.float64)
    c = np.asarray(candidates, dtype=np.float64)
    if p.shape != c.shape:
        raise ValueError(
            f"predicted and candidates must have the same shape; got {p.shape} and {c.shape}"
        )
    if p.ndim < 2 or len(p) < 2:
        raise ValueError(f"identification needs n >= 2 items of >= 1 dims; got shape {p.shape}")
    p = p.reshape(len(p), -1)
    c = c.reshape(len(c), -1)
    # Pearson correlation is the cosine of row-centred vectors.
    ranks = retrieval_ranks(
        p - p.mean(axis=1, keepdims=True), c - c.mean(axis=1, keepdims=True)
    ).astype(np.int64)
    n = len(ranks)
    per_item = {"two_way": (n - ranks) / (n - 1), "n_way": ranks == 1}
    return {
        **{name: float(np.mean(scores)) for name, scores in per_item.items()},
        "per_item": per_item,
        "ranks": ranks,
    }


def identification_table(
    subject, predicted_latents, true_latents, reconstructions, true_images, *, device: str
) -> pd.DataFrame:
    """Latent and pixel identification plus PixCorr and SSIM for one subject: six rows.

    Images are uint8 (n, H, W, 3) or floats in [0, 1]. The chance level of PixCorr
    and SSIM is the mean score of a reconstruction against the *other* test images
    (every mismatched pair): what the image set's shared layout alone gives, which
    for centred objects on similar backgrounds is far above zero. Each value is the mean of
    a score per test image, and comes with the 95 % bootstrap interval of that mean
    (:func:`~brainlatent.metrics.bootstrap_interval`).
    ``device`` (e.g. ``"cpu"``, ``"cuda"``) is recorded in every row.
    """
    recon = as_unit_images(reconstructions, "reconstructions")
    truth = as_unit_images(true_images, "true_images")
    n = len(np.asarray(true_latents))
    if not (len(np.asarray(predicted_latents)) == n == len(recon) == len(truth)):
        raise ValueError(
            "predicted_latents, true_latents, reconstructions and true_images need one row "
            f"per test image; got {len(np.asarray(predicted_latents))}, {n}, {len(recon)}, "
            f"{len(truth)}"
        )
    latent = identification(predicted_latents, true_latents)["per_item"]
    pixel = identification(recon, truth)["per_item"]
    rows = [  # (space, metric, a score per test image, chance)
        ("latent", "two_way", latent["two_way"], 0.5),
        ("latent", "n_way", latent["n_way"], 1.0 / n),
        ("pixel", "two_way", pixel["two_way"], 0.5),
        ("pixel", "n_way", pixel["n_way"], 1.0 / n),
        ("pixel", "pixcorr", pixcorr_per_image(recon, truth), _mismatched(pixcorr, recon, truth)),
        ("pixel", "ssim", ssim_per_image(recon, truth), _mismatched(ssim, recon, truth)),
    ]
    table = pd.DataFrame(
        [
            (str(subject), space, metric, float(np.mean(scores)), chance, n, str(device))
            + bootstrap_interval(scores)
            for space, metric, scores, chance in rows
        ],
        columns=list(IDENTIFICATION_COLUMNS),
    )
    return table.astype({"value": "float64", "chance": "float64", "n_images": "int64"})


def _mismatched(score, recon: np.ndarray, truth: np.ndarray) -> float:
    """Mean of ``score`` (a mean over images) over every pair of reconstruction i and
    original j != i: the n - 1 cyclic shifts of the originals cover each pair once."""
    return float(np.mean([score(recon, np.roll(truth, s, axis=0)) for s in range(1, len(truth))]))


def _voxel_importance(X: np.ndarray, features, name: str, alphas) -> np.ndarray:
    """Mean squared ridge weight per voxel, normalised to mean 1 over all voxels."""
    Y = _matrix(features, name)
    if len(Y) != len(X):
        raise ValueError(f"{name} has {len(Y)} rows but X_train has {len(X)}")
    Y = Y[:, np.ptp(Y, axis=0) > 0]  # constant columns have nothing to predict
    if Y.shape[1] == 0:
        raise ValueError(f"{name} has no non-constant column")
    coef = RidgeDecoder(alphas=alphas).fit(X, Y).coef_
    importance = np.mean(coef.astype(np.float64) ** 2, axis=0)
    if not importance.mean() > 0:
        raise ValueError(f"every ridge weight for {name} is zero; importance is undefined")
    return importance / importance.mean()


def roi_weight_contrast(
    X_train,
    low_features,
    high_features,
    roi_masks: Mapping[str, np.ndarray],
    alphas=DEFAULT_ALPHAS,
) -> pd.DataFrame:
    """Per ROI: how much more its voxels weigh in decoding low- than high-level features.

    One ridge per feature set from the voxels (samples, voxels; the workflow's are block
    means of BOLD z-scored per run, not re-standardised: the sizes, not the signs, depend
    on that scale, docs/god_fmri.md). A voxel's
    importance is its mean squared weight over target dims, normalised by the
    mean over all voxels so the two fits are on one scale whatever their
    penalties. ``contrast`` = (low − high) / (low + high): +1 purely low-level,
    −1 purely high-level. ROIs keep the mapping's order.
    """
    X = np.asarray(X_train)
    if X.ndim != 2:
        raise ValueError(f"X_train must be 2-D (samples, voxels); got shape {X.shape}")
    if not roi_masks:
        raise ValueError("roi_masks is empty")
    masks = {}
    for roi, mask in roi_masks.items():
        mask = np.asarray(mask)
        if mask.dtype != np.bool_ or mask.shape != (X.shape[1],):
            raise ValueError(
                f"ROI {roi!r}: mask must be boolean with one entry per voxel ({X.shape[1]}); "
                f"got dtype {mask.dtype}, shape {mask.shape}"
            )
        if not mask.any():
            raise ValueError(f"ROI {roi!r}: mask selects no voxel")
        masks[str(roi)] = mask
    low = _voxel_importance(X, low_features, "low_features", alphas)
    high = _voxel_importance(X, high_features, "high_features", alphas)
    rows = []
    for roi, mask in masks.items():
        lo, hi = float(low[mask].mean()), float(high[mask].mean())
        rows.append((roi, int(mask.sum()), lo, hi, (lo - hi) / (lo + hi)))
    table = pd.DataFrame(rows, columns=list(ROI_COLUMNS))
    return table.astype(
        {"n_voxels": "int64", "low": "float64", "high": "float64", "contrast": "float64"}
    )


def split_samples(
    samples: np.ndarray, trials: pd.DataFrame, source="trials"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training and test rows of a subject's trials table (errors name ``source``),
    checked against ``samples``."""
    if len(trials) != len(samples):
        raise DataError(source, f"{len(trials)} rows but {len(samples)} samples beside it")
    train, test = trials[trials["split"] == "training"], trials[trials["split"] == "test"]
    if len(train) < 3 or len(test) < 2:
        raise DataError(
            source, f"need >= 3 training and >= 2 test images; got {len(train)} and {len(test)}"
        )
    return train, test


def decode_subject(
    subject: str,
    samples: np.ndarray,
    trials: pd.DataFrame,
    latents: Mapping[str, np.ndarray],
    generate,
    alphas=DEFAULT_ALPHAS,
    *,
    device: str,
    trials_source="trials",
    latents_source="latents",
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Ridge to the generator's latents, decode and generate the test images, score them.

    ``latents`` holds ``image``, ``latent`` and ``pixels`` (uint8) per image (the
    generator's file); ``generate`` maps latents (n, d) to images in [0, 1]; ``device`` is
    where the generator was trained. Returns :func:`identification_table` and the arrays
    of ``reconstructions.npz``; errors name ``trials_source`` and ``latents_source``.
    """
    train, test = split_samples(samples, trials, trials_source)
    absent = [key for key in ("image", "latent", "pixels") if key not in latents]
    if absent:
        raise DataError(latents_source, f"lacks arrays {absent}")
    row = {int(image): k for k, image in enumerate(latents["image"])}
    missing = [i for i in trials["image"] if int(i) not in row]
    if missing:
        raise DataError(
            latents_source, f"{len(missing)} images have no latent (first: {missing[0]})"
        )
    train_rows = [row[int(i)] for i in train["image"]]
    test_rows = [row[int(i)] for i in test["image"]]
    z_train = np.asarray(latents["latent"])[train_rows]
    z_test = np.asarray(latents["latent"])[test_rows]
    truth = np.asarray(latents["pixels"])[test_rows]
    model = fit_latent_ridge(samples[train["row"].to_numpy()], z_train, alphas)
    predicted = predict_latents(model, samples[test["row"].to_numpy()], z_train)
    generated = np.asarray(generate(predicted), dtype=np.float32)
    reconstruction = np.round(np.clip(generated, 0, 1) * 255).astype(np.uint8)
    table = identification_table(subject, predicted, z_test, reconstruction, truth, device=device)
    arrays = {
        "image": test["image"].to_numpy(np.int64),
        "stimulus_name": test["stimulus_name"].to_numpy(str),
        "truth": truth,
        "reconstruction": reconstruction,
        "predicted": predicted.astype(np.float32),
        "alpha": model.alpha_.astype(np.float64),
    }
    return table, arrays


def roi_weights_subject(
    subject: str,
    samples: np.ndarray,
    trials: pd.DataFrame,
    voxels: pd.DataFrame,
    low: np.ndarray,
    high: np.ndarray,
    rois,
    levels: Mapping[str, str],
    alphas=DEFAULT_ALPHAS,
    trials_source="trials",
    voxels_source="voxels",
) -> pd.DataFrame:
    """:func:`roi_weight_contrast` on a subject's training images, with ``subject`` and ``level``.

    ``low`` and ``high`` are feature matrices with one row per row of ``trials``.
    ROIs without voxels among the decoded ones are left out.
    """
    train, _ = split_samples(samples, trials, trials_source)
    if len(voxels) != samples.shape[1]:
        raise DataError(voxels_source, f"{len(voxels)} voxels but samples have {samples.shape[1]}")
    rows = train["row"].to_numpy()
    masks = {r: voxels[r].to_numpy(bool) for r in rois if voxels[r].any()}
    table = roi_weight_contrast(samples[rows], low[rows], high[rows], masks, alphas)
    table.insert(0, "subject", subject)
    table.insert(2, "level", [levels[r] for r in table["roi"]])
    return table
