"""CEBRA embeddings of Allen calcium data (Schneider, Lee & Mathis 2023, Figs. 4-5).

Three kinds of model, one per way the paper uses CEBRA:

* ``time`` — CEBRA-Time, self-supervised: positives are samples ``time_offsets``
  steps later (``conditional="time"``).
* ``behavior`` — CEBRA-Behavior: positives are samples whose continuous label
  (the DINO features of the movie frame on screen) is closest to the
  reference's label moved by an empirical ``time_offsets``-step change
  (``conditional="time_delta"``).
* ``hybrid`` — both objectives at once (``hybrid=True``, ``conditional="time_delta"``).

Defaults are the paper's Allen settings, as configured in the CEBRA repository's
``demo_notebooks/Demo_Allen.ipynb`` and documented for ``cebra.CEBRA``:
``offset10-model`` (10-sample receptive field), ``time_offsets=10``,
``temperature=1``, cosine distance, batch 512, learning rate 3e-4, and
output dimension 8 (the paper sweeps 3-128). Labels are the DINO ViT-B/8
features of each frame (``cebra/datasets/allen/ca_movie_decoding.py`` repeats
the 900 per-frame feature vectors once per repeat); :func:`frame_labels` does
the same indexing for any per-frame features.

``cebra.CEBRA`` has no seed argument, and cebra 0.6's samplers seed themselves
from ``std::random_device`` (``cebra/distributions/base.py``), so a plain fit
is not reproducible. :func:`fit_model` therefore seeds the weight
initialisation and every sampler from ``random_state`` (:func:`seeded_cebra`),
without touching the global torch RNG; CPU fits are then bit-identical.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import cebra
import numpy as np
import torch

from brainlatent.device import resolve_device
from brainlatent.seeding import derive_seed

#: Training steps of :func:`make_cebra` when none are given.
MAX_ITERATIONS = 5000

#: The valid ``kind`` values, in the paper's order.
KINDS = ("time", "behavior", "hybrid")

#: Kinds that need continuous labels (per-sample frame features).
SUPERVISED_KINDS = ("behavior", "hybrid")

_KIND_PARAMS = {
    "time": {"conditional": "time", "hybrid": False},
    "behavior": {"conditional": "time_delta", "hybrid": False},
    "hybrid": {"conditional": "time_delta", "hybrid": True},
}


def check_kind(kind: str) -> str:
    """``kind`` itself, or a ValueError naming the valid kinds."""
    if kind not in _KIND_PARAMS:
        raise ValueError(f"unknown CEBRA kind {kind!r}; expected one of {', '.join(KINDS)}")
    return kind


def make_cebra(
    kind: str,
    *,
    output_dimension: int = 8,
    temperature: float = 1.0,
    max_iterations: int = MAX_ITERATIONS,
    batch_size: int = 512,
    learning_rate: float = 3e-4,
    model_architecture: str = "offset10-model",
    time_offsets: int = 10,
    device: str = "auto",
    random_state: int = 0,
    verbose: bool = False,
    **extra,
) -> cebra.CEBRA:
    """An unfitted ``cebra.CEBRA`` configured as the paper's CEBRA-Time/-Behavior/-Hybrid.

    ``extra`` goes to ``cebra.CEBRA`` unchanged (e.g. ``num_hidden_units``,
    which the paper raised from 32 to 128 for its 128-D models).
    ``random_state`` is stored on the estimator as ``random_state`` and used
    by :func:`fit_model`; ``cebra.CEBRA`` itself has no seed parameter, so it
    is not part of ``get_params()`` and is not saved with the model.
    """
    check_kind(kind)
    clash = sorted(set(extra) & {"conditional", "hybrid", "distance"})
    if clash:
        raise ValueError(f"{', '.join(clash)} are set by kind={kind!r}; do not pass them")
    model = cebra.CEBRA(
        model_architecture=model_architecture,
        device=str(resolve_device(device)),  # cebra takes a name: "cpu", "cuda", "cuda:1"
        distance="cosine",
        temperature=temperature,
        time_offsets=time_offsets,
        max_iterations=max_iterations,
        batch_size=batch_size,
        learning_rate=learning_rate,
        output_dimension=output_dimension,
        verbose=verbose,
        **_KIND_PARAMS[kind],
        **extra,
    )
    model.random_state = int(random_state)
    return model


@contextlib.contextmanager
def seeded_cebra(seed: int, *, weights_key: str = "cebra-weights") -> Iterator[None]:
    """Seed every random draw of a CEBRA fit from ``seed``; callers' RNG states are restored.

    The weight initialisation comes from torch's global RNG, seeded with
    ``derive_seed(seed, weights_key)`` inside a fork of it (CPU and every visible
    GPU). Each sampler (cebra 0.6's ``HasGenerator``, which otherwise seeds its own
    ``torch.Generator`` from ``std::random_device``, so batches differ run to run)
    gets ``derive_seed(seed, "cebra-sampler", k)``, k counting samplers in
    construction order. NumPy's legacy global RNG, which cebra's discrete samplers
    draw from, is seeded for the block and restored. So CPU fits are bit-identical.
    ``weights_key`` keeps each caller's numbers: ``fit_model`` uses the default, the
    synthetic benchmark ``"cebra"``.
    """
    base = getattr(getattr(cebra, "distributions", None), "base", None)
    has_generator = getattr(base, "HasGenerator", None)
    original = None if has_generator is None else has_generator.__init__
    counter = iter(range(1 << 30))
    random_state = seed

    def seeded_init(self, device, seed=None):  # cebra passes seed= by keyword
        original(self, device=device, seed=seed)
        child = derive_seed(random_state, "cebra-sampler", next(counter))
        self._generator = torch.Generator(device=self.device)
        self._generator.manual_seed(child)
        self._seed = child

    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices), _seeded_numpy_global(seed):
        torch.manual_seed(derive_seed(seed, weights_key))
        if original is None:  # a cebra without HasGenerator: weights only
            yield
            return
        has_generator.__init__ = seeded_init
        try:
            yield
        finally:
            has_generator.__init__ = original


def _as_neural(neural) -> np.ndarray:
    neural = np.asarray(neural, dtype=np.float32)
    if neural.ndim != 2:
        raise ValueError(f"neural must be (samples, neurons); got shape {neural.shape}")
    if not np.isfinite(neural).all():
        raise ValueError("neural contains NaN or infinite values")
    return neural


def _check_labels(kind: str, labels, n_samples: int) -> np.ndarray | None:
    if kind not in SUPERVISED_KINDS:
        if labels is not None:
            raise ValueError(f"CEBRA-{kind.capitalize()} is self-supervised; pass labels=None")
        return None
    if labels is None:
        raise ValueError(
            f"CEBRA kind {kind!r} needs continuous labels (samples × features), e.g. "
            "frame_labels(frame_features, frame); got labels=None"
        )
    labels = np.asarray(labels, dtype=np.float32)
    if labels.ndim == 1:
        labels = labels[:, None]
    if labels.ndim != 2 or len(labels) != n_samples:
        raise ValueError(f"labels must be ({n_samples}, features); got shape {labels.shape}")
    if not np.isfinite(labels).all():
        raise ValueError("labels contain NaN or infinite values")
    return labels


def _kind_of(model: cebra.CEBRA) -> str:
    if model.hybrid:
        return "hybrid"
    return "time" if model.conditional == "time" else "behavior"


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op thread count set to ``threads`` for the block (None: unchanged)."""
    if threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _check_discrete(kind: str, discrete, n_samples: int) -> np.ndarray | None:
    if discrete is None:
        return None
    if kind not in SUPERVISED_KINDS:
        raise ValueError(f"CEBRA-{kind.capitalize()} is self-supervised; pass discrete=None")
    discrete = np.asarray(discrete)
    if discrete.ndim != 1 or len(discrete) != n_samples:
        raise ValueError(f"discrete labels must be ({n_samples},); got shape {discrete.shape}")
    if not np.issubdtype(discrete.dtype, np.integer):
        raise ValueError(f"discrete labels must be integer class codes; got {discrete.dtype}")
    return discrete.astype(np.int64)


@contextlib.contextmanager
def _seeded_numpy_global(random_state: int) -> Iterator[None]:
    """Seed ``np.random``'s global state for the block, then restore the caller's.

    cebra 0.6's discrete samplers draw from NumPy's legacy global RNG
    (``cebra/distributions/discrete.py``), outside the seeded torch generators.
    """
    state = np.random.get_state()  # noqa: NPY002 - cebra itself uses the legacy global RNG
    np.random.seed(derive_seed(random_state, "cebra-numpy-global") % 2**32)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


def fit_model(
    model: cebra.CEBRA,
    neural,
    labels=None,
    *,
    discrete=None,
    threads: int | None = None,
    callback=None,
    callback_every: int | None = None,
    progress: str | None = None,
    fast_search: bool = True,
) -> cebra.CEBRA:
    """Fit ``model`` (from :func:`make_cebra`) reproducibly from its ``random_state``.

    ``labels`` are continuous (samples × features); ``discrete`` (samples,)
    integer class codes, e.g. running direction, which CEBRA-Behavior takes
    beside or instead of continuous labels. ``threads`` sets torch's
    intra-op threads for the fit only. CEBRA's layers are small, so OpenMP
    synchronisation dominates on a busy CPU: on a shared 2-core machine one
    thread fitted 7× faster than two. ``callback(steps, solver)`` runs after every
    ``callback_every`` gradient steps, with the steps taken (``callback_every``,
    2 × ``callback_every``, ...): the model it sees is the one a fit of ``steps``
    iterations ends with (e.g. a validation score of the model so far).
    ``progress`` (a description) prints a tqdm bar of the iterations to stderr, at most
    every 10 s, so that a log shows how far a long fit is. ``fast_search`` replaces cebra's
    brute-force nearest-label search by an exact windowed one when the label is one
    continuous column plus a discrete one, and by distinct row when labels repeat (a movie's
    frames; :mod:`brainlatent.models.cebra_search`: the same indices, so the same fit, 2-3×
    faster on a place-cell recording, ~1.6× on the movie).
    """
    neural = _as_neural(neural)
    kind = _kind_of(model)
    discrete = _check_discrete(kind, discrete, len(neural))
    if labels is not None or discrete is None:
        labels = _check_labels(kind, labels, len(neural))
    given = [y for y in (labels, discrete) if y is not None]
    random_state = getattr(model, "random_state", 0)
    hook, every = _progress_hook(model.max_iterations, progress, callback, callback_every)
    from brainlatent.models.cebra_search import fast_label_search

    search = fast_label_search() if fast_search else contextlib.nullcontext()
    with torch_threads(threads), seeded_cebra(random_state), search, hook as hook_fn:
        model.fit(neural, *given, callback=hook_fn, callback_frequency=every)
    return model


@contextlib.contextmanager
def _bar(total: int, desc: str | None):
    if desc is None:
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="it", mininterval=10, ascii=True) as bar:
        yield bar


def _progress_hook(total: int, desc: str | None, callback, every: int | None):
    """(context manager yielding cebra's ``callback`` or None, its frequency)."""
    if callback is not None and (every is None or every < 1):
        raise ValueError(f"callback_every must be a positive number of steps; got {every}")
    if desc is None and callback is None:
        return contextlib.nullcontext(None), None
    # cebra calls the hook after the update of each step whose 0-based index is a multiple
    # of its frequency: after 1, f + 1, 2f + 1, ... steps. A callback is promised whole
    # multiples of ``every``, so cebra calls on every step and this hook picks them (a
    # call costs ~1 µs); a bar-only hook every 10 steps.
    frequency = 1 if callback is not None else 10

    @contextlib.contextmanager
    def hook():
        with _bar(total, desc) as bar:
            done = [0]

            def on_step(step, solver):
                steps = step + 1  # taken, this one's update included
                if bar is not None and steps > done[0]:
                    bar.update(steps - done[0])
                    done[0] = steps
                if callback is not None and steps % every == 0:
                    callback(steps, solver)

            yield on_step
            if bar is not None and total > done[0]:
                bar.update(total - done[0])

    return hook(), frequency


def fit_embedding(
    kind: str, neural, labels=None, *, threads: int | None = None, **params
) -> cebra.CEBRA:
    """Make (:func:`make_cebra` with ``params``) and fit one CEBRA model.

    ``labels`` (samples × features) are required for ``behavior`` and
    ``hybrid`` and must be ``None`` for ``time``; ``threads`` as in
    :func:`fit_model`.
    """
    check_kind(kind)
    neural = _as_neural(neural)
    _check_labels(kind, labels, len(neural))  # fail before building the model
    return fit_model(make_cebra(kind, **params), neural, labels, threads=threads)


def frame_labels(frame_features, frame) -> np.ndarray:
    """Per-sample labels: row ``frame[i]`` of ``frame_features`` (frames × features).

    The paper's CEBRA-Behavior labels are the DINO features of the movie frame
    shown at each sample; this does that lookup for any per-frame features.
    """
    features = np.asarray(frame_features, dtype=np.float32)
    if features.ndim == 1:
        features = features[:, None]
    if features.ndim != 2:
        raise ValueError(f"frame_features must be (frames, features); got {features.shape}")
    frame = np.asarray(frame)
    if frame.ndim != 1 or not np.issubdtype(frame.dtype, np.integer):
        raise ValueError("frame must be a 1D integer array of frame indices")
    if len(frame) and (frame.min() < 0 or frame.max() >= len(features)):
        raise ValueError(
            f"frame indices must lie in 0..{len(features) - 1}; got {frame.min()}..{frame.max()}"
        )
    return features[frame]
