"""Image generation from MEG (Benchetrit, Banville & King 2023, Figs. 4-5) on THINGS-MEG.

A decoder predicts, from the MEG of each test trial, the latents of an image generator;
the predictions for the repeats of a test image are averaged (as retrieval does), the
generator draws the image, and the drawing is scored against the image that was seen:
PixCorr and SSIM (:mod:`brainlatent.metrics_images`, as the GOD chain) and a high-level
similarity, the Pearson correlation of the two images' features in an image model's space
(``things_meg.generation.high_level``; the metric is named ``<model>_corr``).

Each score comes with a shuffled-pairing baseline: the generation of image ``i`` scored
against another seen image ``π(i)``, for a few seeded derangements ``π`` (no image paired
with itself), averaged. It is what a decoder that ignores which image was seen, but draws
images like the test set's, would score; the table stores it in ``chance``.

The generator is the GOD chain's (:mod:`brainlatent.models.generator`): an autoencoder
trained on the training images only. THINGS-MEG shows every participant the same 22,248
training (``exp``) images once and the same 200 test images 12 times, and the two sets are
disjoint, so one generator trained on the union of the subjects' training images never
sees a test image: :func:`generation_images` checks it.

Tables have the retrieval tables' columns (:data:`brainlatent.evaluation.METRIC_COLUMNS`):
``decoder`` is ``ridge``, ``brain_module`` or :data:`CEILING` (the generator's own
reconstruction of the seen image: what a perfect latent decoder would draw),
``image_model`` the generator whose latents are decoded, ``chance`` the shuffled baseline,
``n_candidates`` the number of test images (the shuffled pairings draw from them:
``candidates`` is ``small``), ``device`` where the decoder was trained.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from brainlatent.errors import ConfigError, DataError
from brainlatent.evaluation import (
    average_repeats,
    feature_lookup,
    sliding_windows,
    split_trials,
    tidy,
)
from brainlatent.metrics import bootstrap_interval
from brainlatent.metrics_images import (
    as_unit_images,
    pixcorr,
    pixcorr_per_image,
    row_correlations,
    ssim,
    ssim_per_image,
)

__all__ = [
    "CEILING",
    "DECODERS",
    "GENERATORS",
    "check_generation",
    "check_generator",
    "evaluate_generation",
    "feature_correlation",
    "generate",
    "generation_images",
    "generation_scores",
    "generation_timecourse",
    "high_level_features",
    "high_level_metric",
    "latent_predictor",
    "shuffled_pairings",
]

#: Generators ``things_meg.generation.generator.kind`` names; only the autoencoder runs.
GENERATORS = ("autoencoder", "versatile_diffusion")
#: Decoders from MEG to the generator's latents.
DECODERS = ("ridge", "brain_module")
#: ``decoder`` of the rows scoring the generator's reconstruction of the seen image.
CEILING = "generator_ceiling"


def check_generator(settings: Mapping) -> None:
    """Fail for a generator that cannot run here (``things_meg.generation.generator``)."""
    kind = settings["kind"]
    if kind == "versatile_diffusion":
        raise ConfigError(
            "things_meg.generation.generator.kind 'versatile_diffusion' cannot run: the "
            "paper's generator needs the Versatile Diffusion weights (shi-labs/"
            "versatile-diffusion: its UNet, the AutoKL image VAE, and the CLIP-Vision and "
            "CLIP-Text encoders whose latents the MEG is decoded into) and the diffusers "
            "package, which brainlatent does not ship; use kind: autoencoder"
        )
    if kind not in GENERATORS:
        raise ConfigError(
            f"things_meg.generation.generator.kind must be one of {GENERATORS}; got {kind!r}"
        )


def check_generation(generation: Mapping) -> None:
    """Fail at configuration time for a generation setting that cannot run here.

    (A pretrained ``high_level`` model's weights are checked with the other image models'.)
    """
    check_generator(generation["generator"])
    unknown = sorted(set(generation["decoders"]) - set(DECODERS))
    if unknown or not generation["decoders"]:
        raise ConfigError(
            f"things_meg.generation.decoders: expected some of {DECODERS}; "
            f"got {list(generation['decoders'])}"
        )


def generation_images(trials: Sequence[pd.DataFrame], sources: Sequence) -> pd.DataFrame:
    """Every image the subjects saw, once, with its split (``train`` or ``test``).

    Sorted by split (``test`` first), then image number. An image that is a training
    image for one subject and a test image for another would let the generator see a
    test image: that is a ``DataError`` naming the table where it is a test image.
    """
    if len(trials) != len(sources) or not len(trials):
        raise ValueError(f"need one source per trials table; got {len(trials)} and {len(sources)}")
    frames = []
    for table, source in zip(trials, sources, strict=True):
        missing = {"image", "split"} - set(table.columns)
        if missing:
            raise DataError(source, f"trials table lacks columns {sorted(missing)}")
        split_trials(table, source)  # both splits present
        frames.append(table[["image", "split"]].assign(source=str(source)))
    shown = pd.concat(frames, ignore_index=True)
    shown = shown[shown["split"].isin(["train", "test"])]
    shown = shown.astype({"image": "int64", "split": str})
    splits = shown.groupby("image")["split"].nunique()
    both = splits.index[splits > 1]
    if len(both):
        first = shown[shown["image"].isin(both) & (shown["split"] == "test")].iloc[0]
        raise DataError(
            first["source"],
            f"{len(both)} test image(s) are training images of another table (first: image "
            f"{int(first['image'])}): the generator, trained on the training images, would "
            "see them",
        )
    images = shown.drop_duplicates("image")[["image", "split"]]
    return images.sort_values(["split", "image"], ignore_index=True)


def high_level_metric(model: str) -> str:
    """The metric name of the high-level similarity in ``model``'s feature space."""
    return f"{model}_corr"


def high_level_features(
    model: str, weights=None, device: str | None = None
) -> Callable[[np.ndarray], np.ndarray]:
    """A function from in-memory RGB images (n, H, W, 3) to their features in ``model``'s space.

    The handcrafted models need nothing; pretrained ones read ``weights`` (their path) once,
    on the first call, as :func:`brainlatent.features.image_models.embed_images` does for
    image files.
    """
    from brainlatent.features.image_models import check_weights, get_spec

    spec = get_spec(model)
    loaded = []

    def features(images) -> np.ndarray:
        pixels = np.round(as_unit_images(images, "images") * 255).astype(np.uint8)
        if pixels.ndim != 4 or pixels.shape[-1] != 3 or not len(pixels):
            raise ValueError(f"images must be RGB (n >= 1, H, W, 3); got shape {pixels.shape}")
        if not spec.pretrained:
            out = np.stack([spec.embed(image) for image in pixels]).astype(np.float32)
        else:
            from tqdm.auto import tqdm

            from brainlatent.features import pretrained

            if not loaded:
                path = check_weights(model, weights)
                loaded.append(pretrained.LOADERS[model](path, None, None, device))
            with tqdm(total=len(pixels), desc=f"embed {model}", unit="img") as bar:
                out = pretrained.embed_batches(loaded[0], lambda i: pixels[i], len(pixels), 32, bar)
        if not np.isfinite(out).all():
            raise ValueError(f"{model} features of the images are not finite")
        return out

    return features


def feature_correlation(a, b) -> float:
    """Mean over rows of the Pearson correlation of ``a[i]`` and ``b[i]`` (NaN if one is flat)."""
    return float(np.mean(feature_correlations(a, b)))


def feature_correlations(a, b) -> np.ndarray:
    """The Pearson correlation of each row pair ``a[i]``, ``b[i]`` of two (n, dims) arrays."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 2 or not len(x):
        raise ValueError(f"features must be two (n, dims) arrays; got {x.shape} and {y.shape}")
    return row_correlations(x, y)


def shuffled_pairings(n: int, shuffles: int, seed: int) -> np.ndarray:
    """``shuffles`` seeded derangements of ``range(n)`` (no ``i`` maps to itself): (shuffles, n)."""
    if n < 2:
        raise ValueError(f"a shuffled pairing needs at least 2 images; got {n}")
    if shuffles < 1:
        raise ValueError(f"shuffles must be >= 1; got {shuffles}")
    rng = np.random.default_rng(seed)
    out = np.empty((shuffles, n), dtype=np.int64)
    for k in range(shuffles):
        # A random permutation composed with a random non-zero cyclic shift of its order:
        # image order[j] is paired with order[j + shift], never with itself.
        order = rng.permutation(n)
        shift = int(rng.integers(1, n))
        out[k, order] = np.roll(order, -shift)
    return out


def generation_scores(
    generated,
    seen,
    features_generated,
    features_seen,
    high_level: str,
    pairings: np.ndarray,
) -> list[dict]:
    """PixCorr, SSIM and the high-level correlation, each with its shuffled baseline.

    Row ``i`` of every array is test image ``i``; ``pairings`` (from
    :func:`shuffled_pairings`) pairs generation ``i`` with seen image ``pairings[k, i]``.
    Returns rows with ``metric``, ``value`` (the mean of a score per test image), ``chance``
    (the baseline), ``n_candidates`` and ``ci_low``/``ci_high`` (``value``'s 95 % bootstrap
    interval over the test images).
    """
    generated = as_unit_images(generated, "generated")
    seen = as_unit_images(seen, "seen")
    if generated.shape != seen.shape:
        raise ValueError(
            f"generated and seen images differ in shape: {generated.shape} and {seen.shape}"
        )
    n = len(seen)
    fg = np.asarray(features_generated, dtype=np.float64)
    fs = np.asarray(features_seen, dtype=np.float64)
    if len(fg) != n or len(fs) != n:
        raise ValueError(f"need features of the {n} images; got {len(fg)} and {len(fs)} rows")
    pairings = np.asarray(pairings)
    if pairings.ndim != 2 or pairings.shape[1] != n:
        raise ValueError(f"pairings must be (shuffles, {n}); got shape {pairings.shape}")
    scores = {  # metric: (a score per test image, the shuffled pairings' means)
        "pixcorr": (
            pixcorr_per_image(generated, seen),
            [pixcorr(generated, seen[p]) for p in pairings],
        ),
        "ssim": (ssim_per_image(generated, seen), [ssim(generated, seen[p]) for p in pairings]),
        high_level_metric(high_level): (
            feature_correlations(fg, fs),
            [feature_correlation(fg, fs[p]) for p in pairings],
        ),
    }
    rows = []
    for metric, (per_image, shuffled) in scores.items():
        low, high = bootstrap_interval(per_image)
        rows.append(
            {
                "metric": metric,
                "value": float(np.mean(per_image)),
                "chance": float(np.mean(shuffled)),
                "n_candidates": n,
                "ci_low": low,
                "ci_high": high,
            }
        )
    return rows


def generate(decode: Callable[[np.ndarray], np.ndarray], latents) -> np.ndarray:
    """Images (uint8, n × H × W × 3) the generator draws from latents (n, dims)."""
    latents = np.asarray(latents, dtype=np.float32)
    if latents.ndim != 2 or not np.isfinite(latents).all():
        raise ValueError(f"latents must be finite and (n, dims); got shape {latents.shape}")
    drawn = np.asarray(decode(latents), dtype=np.float32)
    return np.round(np.clip(drawn, 0, 1) * 255).astype(np.uint8)


def latent_predictor(decoder, subject: str | None = None, source="decoder"):
    """MEG epochs → generator latents (original units), for a fitted decoder.

    A :class:`~brainlatent.models.ridge.RidgeDecoder` predicts standardised targets: they are
    brought back to latent units. A brain module predicts them with its MSE head, through the
    subject layer of ``subject`` (looked up by name, as retrieval does).
    """
    if hasattr(decoder, "predict_mse"):
        names = list(decoder.subject_names_)
        if subject not in names:
            raise DataError(
                source, f"subject {subject!r} is not in this brain module; it has {names}"
            )
        index = names.index(subject)
        return lambda X: decoder.predict_mse(X, subjects=[index] * len(X)).astype(np.float64)
    return lambda X: decoder.predict(X).astype(np.float64) * decoder.y_scale_ + decoder.y_mean_


def _check_latents(latents, index: pd.DataFrame, source) -> np.ndarray:
    latents = np.asarray(latents)
    if latents.ndim != 2 or len(latents) != len(index):
        raise DataError(
            source, f"latents must be (images, dims) with {len(index)} rows; got {latents.shape}"
        )
    if not np.isfinite(latents).all():
        raise DataError(source, "latents contain NaN or infinite values")
    return latents


def _check_seen(test_images: np.ndarray, seen_images, seen, source) -> np.ndarray:
    seen_images = np.asarray(seen_images, dtype=np.int64)
    if not np.array_equal(np.asarray(test_images, dtype=np.int64), seen_images):
        missing = np.setdiff1d(test_images, seen_images)
        extra = np.setdiff1d(seen_images, test_images)
        raise DataError(
            source,
            f"the seen images are not the test images: {len(missing)} test image(s) missing "
            f"(first {missing[:3].tolist()}), {len(extra)} not tested (first "
            f"{extra[:3].tolist()}), or not in sorted order",
        )
    seen = np.asarray(seen)
    if len(seen) != len(seen_images):
        raise DataError(source, f"{len(seen_images)} seen image ids but {len(seen)} images")
    return seen


def evaluate_generation(
    epochs,
    trials: pd.DataFrame,
    latents,
    index: pd.DataFrame,
    predictors: Mapping[str, tuple[Callable, str]],
    decode: Callable[[np.ndarray], np.ndarray],
    seen_images,
    seen,
    features: Callable[[np.ndarray], np.ndarray],
    high_level: str,
    *,
    shuffles: int,
    seed: int,
    generator_device: str,
    source="latents",
    **columns,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Generate one subject's test images from their MEG and score them (whole epoch).

    ``predictors`` maps a decoder's name to ``(epochs → latents, device it was trained
    on)`` (:func:`latent_predictor`); ``latents`` and ``index`` are the generator's latents of
    every image (the features format: an index with ``image`` and ``row``); ``decode`` draws
    images from latents; ``seen_images`` are the sorted test image numbers and ``seen``
    their pixels as the generator sees them; ``features`` maps images to the high-level
    model's features. ``columns`` (dataset, subject, image_model) go in every row.
    Returns the table and the arrays of the figure: ``image``, ``seen`` and
    ``generated_<decoder>`` (uint8) for every decoder and :data:`CEILING`.
    """
    latents = _check_latents(latents, index, source)
    _, test = split_trials(trials)
    X = np.asarray(epochs[test])
    test_images = trials["image"][test].to_numpy()
    images = np.unique(test_images)
    seen = _check_seen(images, seen_images, seen, source)
    pairings = shuffled_pairings(len(images), shuffles, seed)
    features_seen = features(seen)
    arrays = {"image": images.astype(np.int64), "seen": np.asarray(seen, dtype=np.uint8)}
    tables = []
    true = feature_lookup(latents, index, images, source)
    for name in (*predictors, CEILING):
        if name == CEILING:
            predicted, device = true, generator_device
        else:
            predict, device = predictors[name]
            averaged_images, predicted = average_repeats(predict(X), test_images)
            assert np.array_equal(averaged_images, images)
        drawn = generate(decode, predicted)
        rows = generation_scores(drawn, seen, features(drawn), features_seen, high_level, pairings)
        tables.append(
            tidy(
                rows,
                decoder=name,
                window_start=float("nan"),
                window_stop=float("nan"),
                device=device,
                candidates="small",
                **columns,
            )
        )
        arrays[f"generated_{name}"] = drawn
    return pd.concat(tables, ignore_index=True), arrays


def generation_timecourse(
    epochs,
    trials: pd.DataFrame,
    times,
    latents,
    index: pd.DataFrame,
    decode: Callable[[np.ndarray], np.ndarray],
    seen_images,
    seen,
    features: Callable[[np.ndarray], np.ndarray],
    high_level: str,
    *,
    alphas,
    length: float,
    step: float,
    shuffles: int,
    seed: int,
    source="latents",
    **columns,
) -> pd.DataFrame:
    """Generation quality from a ridge fitted on each sliding window (training trials only).

    The paper's real-time argument: how soon after onset the MEG holds enough to draw the
    image. Windows ending before onset know nothing of the image: their scores must sit at
    the shuffled baseline. Arguments as :func:`evaluate_generation`; rows are ``ridge``
    (fitted on the CPU) with each window's ``window_start`` and ``window_stop``.
    """
    from brainlatent.models.ridge import RidgeDecoder

    latents = _check_latents(latents, index, source)
    train, test = split_trials(trials)
    test_images = trials["image"][test].to_numpy()
    images = np.unique(test_images)
    seen = _check_seen(images, seen_images, seen, source)
    pairings = shuffled_pairings(len(images), shuffles, seed)
    features_seen = features(seen)
    y_train = feature_lookup(latents, index, trials["image"][train], source)
    x_train, x_test = np.asarray(epochs[train]), np.asarray(epochs[test])
    tables = []
    for start, stop, window in sliding_windows(np.asarray(times), length, step):
        decoder = RidgeDecoder(alphas=tuple(alphas)).fit(x_train[:, :, window], y_train)
        _, predicted = average_repeats(latent_predictor(decoder)(x_test[:, :, window]), test_images)
        drawn = generate(decode, predicted)
        rows = generation_scores(drawn, seen, features(drawn), features_seen, high_level, pairings)
        tables.append(
            tidy(
                rows,
                decoder="ridge",
                window_start=start,
                window_stop=stop,
                device="cpu",
                candidates="small",
                **columns,
            )
        )
    return pd.concat(tables, ignore_index=True)
