"""Movie-frame decoding and across-mouse consistency (Schneider, Lee & Mathis 2023, Figs. 4-5).

The decoder follows the paper's code (``allen_frame_id_decode`` in the CEBRA
repository's ``demo_notebooks/Demo_Allen.ipynb``): a k-nearest-neighbour
*classifier* over frame indices with cosine distance, so the predicted frame
is the majority vote of the neighbours' frames (ties go to the lowest frame),
not their mean or median. ``k`` is chosen from ``{1, 9, 25, 49, 100}`` by the
summed absolute frame error on the last ninth of the training rows (the
ninth training repeat), then the decoder is refitted on all training rows.
A prediction is correct when ``|predicted − true| < window`` frames, with
``window = 30`` (1 s at 30 Hz): the paper's "within a 1 s window" uses this
strict inequality, so up to 29 frames either side count, and there is no
wrap-around between the movie's last and first frames.

Consistency is the paper's linear identifiability measure
(``cebra.sklearn.metrics.consistency_score``; ``consistency`` in the same
notebook): the in-sample R² of an ordinary least-squares map from one
embedding to another, after aligning the two on movie frames.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression
from sklearn.neighbors import NearestNeighbors

from brainlatent.seeding import rng

#: natural_movie_one: 900 frames shown at 30 Hz.
N_FRAMES = 900
FRAME_RATE_HZ = 30

#: The paper's candidate neighbour counts: ``np.power(np.linspace(1, 10, 5, dtype=int), 2)``.
PAPER_NEIGHBORS = (1, 9, 25, 49, 100)

#: ``embed_fn(X_train, frames_train, X_test, seed) -> (E_train, E_test)``.
EmbedFn = Callable[[np.ndarray, np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def _as_frames(frames, name: str, n_frames: int) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 1 or not np.issubdtype(frames.dtype, np.integer):
        raise ValueError(f"{name} must be a 1D integer array of frame indices")
    if len(frames) and (frames.min() < 0 or frames.max() >= n_frames):
        raise ValueError(f"{name} must lie in 0..{n_frames - 1}")
    return frames.astype(np.int64)


def _as_embedding(embedding, name: str, n_rows: int | None = None) -> np.ndarray:
    embedding = np.asarray(embedding, dtype=np.float64)
    if embedding.ndim != 2:
        raise ValueError(f"{name} must be 2D (samples × dims); got shape {embedding.shape}")
    if n_rows is not None and len(embedding) != n_rows:
        raise ValueError(f"{name} has {len(embedding)} rows; its frames have {n_rows}")
    if not np.isfinite(embedding).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return embedding


def window_accuracy(predicted_frames, true_frames, window: int = FRAME_RATE_HZ) -> float:
    """Fraction of predictions with ``|predicted − true| < window`` frames."""
    error = np.abs(np.asarray(predicted_frames) - np.asarray(true_frames))
    return float(np.mean(error < window))


def frame_chance(test_frames, window: int = FRAME_RATE_HZ, n_frames: int = N_FRAMES) -> float:
    """Exact accuracy of a uniformly random frame guess on these test frames.

    For true frame ``t`` the guesses that count are ``max(0, t − window + 1)``
    … ``min(n_frames − 1, t + window − 1)``: ``2·window − 1`` frames in the
    middle of the movie, fewer within ``window`` of either end.
    """
    t = _as_frames(test_frames, "test_frames", n_frames)
    if len(t) == 0:
        raise ValueError("test_frames is empty")
    if window < 1:
        raise ValueError(f"window must be at least 1 frame; got {window}")
    hits = np.minimum(t + window - 1, n_frames - 1) - np.maximum(t - window + 1, 0) + 1
    return float(np.mean(hits) / n_frames)


def median_error_chance(test_frames, n_frames: int = N_FRAMES) -> float:
    """Median absolute frame error of a uniformly random guess, pooled over the test frames."""
    t = _as_frames(test_frames, "test_frames", n_frames)
    if len(t) == 0:
        raise ValueError("test_frames is empty")
    # Distribution of |guess − t|: count errors 0..n_frames−1 over all (guess, t) pairs.
    frames_seen, multiplicity = np.unique(t, return_counts=True)
    errors = np.abs(np.arange(n_frames)[None, :] - frames_seen[:, None])
    counts = np.bincount(
        errors.ravel(), weights=np.repeat(multiplicity, n_frames), minlength=n_frames
    )
    cumulative = np.cumsum(counts) / counts.sum()
    # Median of a discrete distribution: midpoint when the CDF hits exactly 0.5.
    lower = int(np.searchsorted(cumulative, 0.5 - 1e-12))
    upper = int(np.searchsorted(cumulative, 0.5 + 1e-12))
    if np.isclose(cumulative[lower], 0.5):
        return float((lower + upper) / 2)
    return float(lower)


def _knn_predict(train, frames, test, k: int, metric: str) -> np.ndarray:
    """Majority vote of the ``k`` nearest training rows' frames."""
    return _knn_votes(train, frames, test, [k], metric)[k]


def _knn_votes(train, frames, test, ks: Sequence[int], metric: str) -> dict[int, np.ndarray]:
    """:func:`_knn_predict` for each ``k`` in ``ks``, from one neighbour search.

    What scikit-learn's ``KNeighborsClassifier(n_neighbors=k).predict`` returns (a
    uniform vote, ties to the lowest frame), from the ``max(ks)`` nearest rows: the
    ``k`` nearest are their first ``k`` (tested against scikit-learn's classifier).
    """
    search = NearestNeighbors(n_neighbors=max(ks), metric=metric).fit(train)
    nearest = frames[search.kneighbors(test, return_distance=False)]  # (test rows, max k)
    votes = np.zeros((len(test), int(frames.max()) + 1), np.int64)
    rows = np.arange(len(test))[:, None]
    predicted, done = {}, 0
    for k in sorted(set(ks)):
        np.add.at(votes, (rows, nearest[:, done:k]), 1)
        predicted[k], done = votes.argmax(axis=1), k  # argmax: the first of tied maxima
    return predicted


def _select_neighbors(
    embedding: np.ndarray,
    frames: np.ndarray,
    candidates: Sequence[int],
    metric: str,
    validation_fraction: float,
) -> int:
    """The candidate ``k`` with the lowest summed |frame error| on the last training rows."""
    n_fit = int(len(embedding) * (1 - validation_fraction))
    if n_fit < 1 or n_fit >= len(embedding):
        raise ValueError(
            f"validation_fraction={validation_fraction} leaves no rows to fit or to validate "
            f"({len(embedding)} training rows)"
        )
    if len(candidates) == 0:
        raise ValueError("n_neighbors candidates are empty")
    # Candidates beyond the rows available are clipped, not dropped.
    usable = sorted({min(max(int(k), 1), n_fit) for k in candidates})
    votes = _knn_votes(embedding[:n_fit], frames[:n_fit], embedding[n_fit:], usable, metric)
    errors = [np.abs(votes[k] - frames[n_fit:]).sum() for k in usable]
    return usable[int(np.argmin(errors))]


def knn_frame_decoding(
    train_embedding,
    train_frames,
    test_embedding,
    test_frames,
    n_neighbors: int | Sequence[int] = PAPER_NEIGHBORS,
    window: int = FRAME_RATE_HZ,
    metric: str = "cosine",
    *,
    n_frames: int = N_FRAMES,
    validation_fraction: float = 1 / 9,
    return_predictions: bool = False,
) -> dict:
    """Decode the frame on screen from embeddings with a kNN classifier.

    ``n_neighbors`` is either a fixed ``k`` or candidates to choose from on
    the last ``validation_fraction`` of the training rows (rows in recording
    order, so by default the last of nine training repeats, as in the paper).
    Returns ``accuracy`` (``|pred − true| < window``), ``median_abs_error_frames``,
    ``chance`` (:func:`frame_chance`), ``chance_median_abs_error_frames``
    (:func:`median_error_chance`), ``n_test``, ``n_neighbors`` (the ``k``
    used) and ``window``; with ``return_predictions``, also
    ``predicted_frames``.
    """
    train_frames = _as_frames(train_frames, "train_frames", n_frames)
    test_frames = _as_frames(test_frames, "test_frames", n_frames)
    train = _as_embedding(train_embedding, "train_embedding", len(train_frames))
    test = _as_embedding(test_embedding, "test_embedding", len(test_frames))
    if train.shape[1] != test.shape[1]:
        raise ValueError(f"embedding dims differ: train {train.shape[1]}, test {test.shape[1]}")
    if len(test) == 0:
        raise ValueError("test_embedding is empty")
    if np.ndim(n_neighbors) == 0:
        k = int(n_neighbors)
        if not 1 <= k <= len(train):
            raise ValueError(f"n_neighbors must be in 1..{len(train)}; got {k}")
    else:
        k = _select_neighbors(train, train_frames, n_neighbors, metric, validation_fraction)
        k = min(k, len(train))
    predicted = _knn_predict(train, train_frames, test, k, metric)
    result = {
        "accuracy": window_accuracy(predicted, test_frames, window),
        "median_abs_error_frames": float(np.median(np.abs(predicted - test_frames))),
        "chance": frame_chance(test_frames, window, n_frames),
        "chance_median_abs_error_frames": median_error_chance(test_frames, n_frames),
        "n_test": len(test_frames),
        "n_neighbors": k,
        "window": int(window),
    }
    if return_predictions:
        result["predicted_frames"] = predicted
    return result


# --- embeddings for the neuron-count sweep -------------------------------------------------


def raw_embedding(X_train, frames_train, X_test, seed: int):
    """The baseline without dimensionality reduction: activity as recorded."""
    return np.asarray(X_train, dtype=np.float32), np.asarray(X_test, dtype=np.float32)


def pca_embedding(n_components: int) -> EmbedFn:
    """PCA fitted on the training rows only.

    With fewer neurons (or training rows) than ``n_components``, all of them
    are kept: the embedding cannot have more dimensions than its input.
    """

    def embed(X_train, frames_train, X_test, seed: int):
        X_train = np.asarray(X_train, dtype=np.float64)
        k = min(n_components, X_train.shape[1], X_train.shape[0])
        pca = PCA(n_components=k, random_state=seed).fit(X_train)
        return (
            pca.transform(X_train).astype(np.float32),
            pca.transform(np.asarray(X_test, dtype=np.float64)).astype(np.float32),
        )

    return embed


def cebra_embedding(kind: str, frame_features=None, **params) -> EmbedFn:
    """CEBRA fitted on the training rows, seeded with the sweep's seed.

    ``frame_features`` (frames × features, e.g. DINO features of each movie
    frame) become the per-sample labels for ``behavior`` and ``hybrid``;
    ``params`` go to :func:`brainlatent.models.cebra_models.fit_embedding`
    (``make_cebra``'s parameters, and ``threads``).
    """
    from brainlatent.models import cebra_models  # imports torch: only when asked

    cebra_models.check_kind(kind)
    if "random_state" in params:
        raise ValueError("the sweep passes each seed as random_state; do not set it in params")
    if (kind in cebra_models.SUPERVISED_KINDS) != (frame_features is not None):
        raise ValueError(
            f"CEBRA kind {kind!r} "
            + ("needs frame_features" if frame_features is None else "takes no frame_features")
        )

    def embed(X_train, frames_train, X_test, seed: int):
        labels = (
            None
            if frame_features is None
            else cebra_models.frame_labels(frame_features, np.asarray(frames_train))
        )
        model = cebra_models.fit_embedding(kind, X_train, labels, random_state=seed, **params)
        return (
            model.transform(np.asarray(X_train, dtype=np.float32)),
            model.transform(np.asarray(X_test, dtype=np.float32)),
        )

    return embed


def neuron_count_sweep(
    neural,
    frame,
    repeat,
    counts: Sequence[int],
    seeds: Sequence[int],
    embed_fn: EmbedFn,
    *,
    test_repeat: int | None = None,
    n_frames: int = N_FRAMES,
    decode_kwargs: Mapping | None = None,
    candidates: Mapping[int, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Frame decoding as a function of the number of neurons (Fig. 5).

    For each ``(count, seed)``, ``count`` neurons are drawn without
    replacement with ``rng(seed, "neurons", count)`` (the paper's sampler
    draws with replacement, which only duplicates neurons) from every column,
    or from ``candidates[seed]`` (a pseudo-mouse's draw for that seed from the
    whole population: :func:`~brainlatent.preprocessing.calcium.pool_columns`,
    a uniform subset of which is a uniform subset of the population); the embedding is
    fitted on every repeat but ``test_repeat`` (default: the last) and the
    decoder is tested on ``test_repeat``. Rows keep recording order, and the
    decoder's ``k`` is chosen on the last training repeat unless
    ``decode_kwargs`` sets ``validation_fraction``. Returns
    long rows ``n_neurons, seed, metric, value, chance`` (plus ``n_test`` and
    ``n_neighbors``) for ``accuracy`` and ``median_abs_error_frames``.
    """
    neural = np.asarray(neural, dtype=np.float32)
    if neural.ndim != 2:
        raise ValueError(f"neural must be (samples, neurons); got shape {neural.shape}")
    frame = _as_frames(frame, "frame", n_frames)
    repeat = np.asarray(repeat)
    if not len(neural) == len(frame) == len(repeat):
        raise ValueError(
            f"neural, frame and repeat lengths differ: {len(neural)}, {len(frame)}, {len(repeat)}"
        )
    test_repeat = int(repeat.max()) if test_repeat is None else test_repeat
    is_test = repeat == test_repeat
    if not is_test.any() or is_test.all():
        raise ValueError(f"test_repeat={test_repeat} must select some, but not all, samples")
    every = np.arange(neural.shape[1])
    pools = {int(seed): every for seed in seeds}
    for seed, columns in (candidates or {}).items():
        columns = np.asarray(columns, dtype=np.int64)
        if (
            columns.ndim != 1
            or len(np.unique(columns)) != len(columns)
            or not (len(columns) and 0 <= columns.min() and columns.max() < len(every))
        ):
            raise ValueError(f"candidates[{seed}] must be distinct columns of neural")
        pools[int(seed)] = columns
    n_neurons = min(len(pools[int(seed)]) for seed in seeds)
    bad = [c for c in counts if not 1 <= int(c) <= n_neurons]
    if bad:
        raise ValueError(f"neuron counts must be in 1..{n_neurons}; got {bad}")

    decode_kwargs = dict(decode_kwargs or {})
    n_train_repeats = len(np.unique(repeat[~is_test]))
    if n_train_repeats > 1:  # choose k on the last training repeat, as the paper does
        decode_kwargs.setdefault("validation_fraction", 1 / n_train_repeats)

    rows = []
    for count in counts:
        for seed in seeds:
            pool = pools[int(seed)]
            chosen = np.sort(pool[rng(seed, "neurons", count).choice(len(pool), int(count), False)])
            X = neural[:, chosen]
            E_train, E_test = embed_fn(X[~is_test], frame[~is_test], X[is_test], int(seed))
            decoded = knn_frame_decoding(
                E_train,
                frame[~is_test],
                E_test,
                frame[is_test],
                n_frames=n_frames,
                **decode_kwargs,
            )
            common = {
                "n_neurons": int(count),
                "seed": int(seed),
                "n_test": decoded["n_test"],
                "n_neighbors": decoded["n_neighbors"],
            }
            rows.append(
                {
                    **common,
                    "metric": "accuracy",
                    "value": decoded["accuracy"],
                    "chance": decoded["chance"],
                }
            )
            rows.append(
                {
                    **common,
                    "metric": "median_abs_error_frames",
                    "value": decoded["median_abs_error_frames"],
                    "chance": decoded["chance_median_abs_error_frames"],
                }
            )
    columns = ["n_neurons", "seed", "metric", "value", "chance", "n_test", "n_neighbors"]
    return pd.DataFrame(rows, columns=columns)


# --- consistency across mice ---------------------------------------------------------------


def _frame_means(embedding: np.ndarray, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(frames present, mean embedding per frame)."""
    present, inverse = np.unique(frames, return_inverse=True)
    sums = np.zeros((len(present), embedding.shape[1]))
    np.add.at(sums, inverse, embedding)
    return present, sums / np.bincount(inverse)[:, None]


def consistency_matrix(
    embeddings: Mapping[str, np.ndarray],
    frames: Mapping[str, np.ndarray],
    *,
    align: str = "frame",
) -> pd.DataFrame:
    """Linear consistency R² between every ordered pair of mice.

    Entry ``[i, j]`` (row = source, column = target) is the in-sample R²
    (averaged over target dimensions) of a least-squares map, with
    intercept, from mouse ``i``'s embedding to mouse ``j``'s, as in
    ``cebra.sklearn.metrics.consistency_score``. The matrix is not symmetric.
    ``align="frame"`` (default) compares per-frame mean embeddings over the
    frames both mice saw, so mice with different numbers of repeats or
    samples can be compared; ``align="sample"`` pairs samples one to one
    and needs identical ``frames`` arrays (same repeats, same order), as
    the paper's notebook does for pseudo-mice on a common time base.
    The diagonal is NaN: a mouse is trivially consistent with itself, and a
    1 there would inflate averages over the matrix.
    """
    if align not in ("frame", "sample"):
        raise ValueError(f"align must be 'frame' or 'sample'; got {align!r}")
    names = list(embeddings)
    if set(names) != set(frames):
        raise ValueError("embeddings and frames must have the same mouse names")
    if len(names) < 2:
        raise ValueError("need at least two mice to compare")
    aligned = {}
    for name in names:
        f = np.asarray(frames[name])
        if f.ndim != 1 or not np.issubdtype(f.dtype, np.integer):
            raise ValueError(f"frames[{name!r}] must be a 1D integer array")
        e = _as_embedding(embeddings[name], f"embeddings[{name!r}]", len(f))
        aligned[name] = _frame_means(e, f) if align == "frame" else (f, e)

    matrix = pd.DataFrame(
        np.nan, index=pd.Index(names, name="source"), columns=pd.Index(names, name="target")
    )
    for source in names:
        for target in names:
            if source == target:
                continue
            f_s, e_s = aligned[source]
            f_t, e_t = aligned[target]
            if align == "sample":
                if not np.array_equal(f_s, f_t):
                    raise ValueError(
                        f"align='sample' needs identical frames; {source!r} and {target!r} differ"
                    )
                x, y = e_s, e_t
            else:
                common, i_s, i_t = np.intersect1d(f_s, f_t, return_indices=True)
                if len(common) < 2:
                    raise ValueError(f"{source!r} and {target!r} share fewer than 2 frames")
                x, y = e_s[i_s], e_t[i_t]
            matrix.loc[source, target] = LinearRegression().fit(x, y).score(x, y)
    return matrix
