"""DAE-NR: an image autoencoder whose bottleneck also predicts neural responses.

The autoencoder alone learns whatever code best reconstructs pixels; adding
a head from the bottleneck (or from a hidden encoder layer, ``readout_layer``)
to each neuron's (z-scored) mean response, weighted by ``beta``, pulls the
network toward what the neurons encode. Comparing ``beta == 0`` with
``beta > 0`` on held-out images (:func:`compare_beta`) asks whether that neural
constraint makes the network more brain-like (RSA) and what it costs or gains
in reconstruction (SSIM, PixCorr), each beside a shuffled-pairing baseline
(:func:`score_heldout`). A few stimulus images are too few to learn natural
images from, so the fits can start from an autoencoder pretrained on a large
corpus (:func:`pretrain`) and keep reconstructing corpus images, with
augmentation (``DAENREstimator.fit(..., init=, corpus=)``, ``augment``).

:class:`DAENREstimator` wraps :class:`DAENR` as a scikit-learn style estimator.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import sparse
from sklearn.utils.validation import check_is_fitted
from torch import nn
from tqdm.auto import tqdm

from brainlatent.metrics_images import as_unit_images, pixcorr, rsa, ssim
from brainlatent.models.torch_estimator import TorchEstimator

__all__ = [
    "DAENR",
    "DAENREstimator",
    "HISTORY_COLUMNS",
    "compare_beta",
    "pretrain",
    "score_heldout",
    "shuffled_pairs",
]

HISTORY_COLUMNS = ["epoch", "loss", "recon", "neural"]

_MIN_SIDE = 4  # the encoder halves the image until its smaller side is at most this
_MAX_DOWN = 5
_BASE_CHANNELS = 16
_MAX_CHANNELS = 128


# ---------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------


def _n_down(height: int, width: int) -> int:
    n, side = 0, min(height, width)
    while side > _MIN_SIDE and n < _MAX_DOWN:
        side = -(-side // 2)
        n += 1
    return n


class DAENR(nn.Module):
    """Images (B, C, H, W) in [0, 1] -> (reconstruction, hidden, predicted responses).

    The encoder halves the resolution with stride-2 convolutions until the
    smaller side is <= 4, so 32×32 and 64×64 inputs both end on a 4×4 map; the
    decoder mirrors it and crops to (H, W). The bottleneck is linear and, by
    default, so is the neural head: the responses are a linear readout of the
    very code that RSA is computed on. With ``readout_layer`` k the head reads
    the feature map after the encoder's k-th convolution instead, through a
    :class:`FactorisedReadout`, as the paper maps a hidden encoder layer.
    """

    def __init__(
        self,
        height: int,
        width: int,
        n_channels: int,
        hidden_dim: int,
        n_neurons: int,
        readout_layer: int | None = None,
    ):
        super().__init__()
        self.image_shape = (int(n_channels), int(height), int(width))
        n_down = _n_down(height, width)
        widths = [min(_BASE_CHANNELS * 2**k, _MAX_CHANNELS) for k in range(n_down)]
        enc, c_in, h, w = [], n_channels, height, width
        for c_out in widths:
            enc += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.ReLU()]
            c_in, h, w = c_out, -(-h // 2), -(-w // 2)
        self.encoder = nn.Sequential(*enc, nn.Flatten())
        self.code_shape = (c_in, h, w)
        self.to_hidden = nn.Linear(c_in * h * w, hidden_dim)
        self.from_hidden = nn.Sequential(nn.Linear(hidden_dim, c_in * h * w), nn.ReLU())
        dec = []
        for c_out in [*widths[::-1][1:], None]:
            if c_out is None:  # last layer: to image channels, squashed to [0, 1]
                dec += [nn.ConvTranspose2d(c_in, n_channels, 4, stride=2, padding=1)]
            else:
                dec += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), nn.ReLU()]
                c_in = c_out
        self.decoder = nn.Sequential(*dec) if n_down else nn.Conv2d(c_in, n_channels, 3, padding=1)
        if readout_layer is not None and not 1 <= readout_layer <= n_down:
            raise ValueError(
                f"readout_layer must be between 1 and {n_down} (the encoder's convolutions "
                f"for {height}×{width} images) or None; got {readout_layer}"
            )
        self.readout_layer = readout_layer
        if not n_neurons:
            self.neural_head = None
        elif readout_layer is None:
            self.neural_head = nn.Linear(hidden_dim, n_neurons)
        else:
            h, w = height, width
            for _ in range(readout_layer):
                h, w = -(-h // 2), -(-w // 2)
            self.neural_head = FactorisedReadout(widths[readout_layer - 1], h, w, n_neurons)

    def encode(self, x: torch.Tensor, with_features: bool = False):
        """The bottleneck code; with ``with_features``, also what the neural head reads
        (the code itself, or the feature map of encoder layer ``readout_layer``)."""
        if tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(
                f"expected images of shape (batch, {', '.join(map(str, self.image_shape))}); "
                f"got {tuple(x.shape)}"
            )
        if self.readout_layer is None:
            hidden = self.to_hidden(self.encoder(x))
            return (hidden, hidden) if with_features else hidden
        stop = 2 * self.readout_layer  # each layer: convolution, ReLU
        features = self.encoder[:stop](x)
        hidden = self.to_hidden(self.encoder[stop:](features))
        return (hidden, features) if with_features else hidden

    def decode(self, hidden: torch.Tensor) -> torch.Tensor:
        x = self.from_hidden(hidden).view(-1, *self.code_shape)
        _, height, width = self.image_shape
        return torch.sigmoid(self.decoder(x)[:, :, :height, :width])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        hidden, features = self.encode(x, with_features=True)
        responses = self.neural_head(features) if self.neural_head is not None else None
        return self.decode(hidden), hidden, responses


class FactorisedReadout(nn.Module):
    """Neuron n = Σ_c,p feature[n, c] · spatial[n, p] · map[c, p] + bias[n] (Klindt et al. 2017).

    Each neuron reads one spatial mask (its receptive field on the map) and one
    weighting of the channels, so a readout from a convolutional layer has
    (h·w + C + 1) parameters per neuron instead of C·h·w.
    """

    def __init__(self, channels: int, height: int, width: int, n_neurons: int):
        super().__init__()
        self.spatial = nn.Parameter(torch.randn(n_neurons, height * width) / (height * width))
        self.features = nn.Parameter(torch.randn(n_neurons, channels) / channels**0.5)
        self.bias = nn.Parameter(torch.zeros(n_neurons))

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        pooled = torch.einsum("bcp,np->bnc", maps.flatten(2), self.spatial)
        return (pooled * self.features).sum(-1) + self.bias


# ---------------------------------------------------------------------------
# Estimator
# ---------------------------------------------------------------------------


def _check_images(images, name: str = "images") -> np.ndarray:
    """(n, H, W) or (n, H, W, C) -> float32 (n, C, H, W) in [0, 1]."""
    if sparse.issparse(images):
        raise TypeError(f"{name}: sparse input is not supported; pass a dense image array")
    if np.iscomplexobj(images):
        raise ValueError(f"Complex data not supported: {name} must be real")
    arr = as_unit_images(images, name)
    if arr.ndim == 3:
        arr = arr[:, None]
    elif arr.ndim == 4 and arr.shape[-1] in (1, 3):
        arr = np.moveaxis(arr, -1, 1)
    else:
        raise ValueError(
            f"{name} must have shape (n, H, W) or (n, H, W, C) with C in (1, 3); got {arr.shape}"
        )
    if len(arr) == 0:
        raise ValueError(f"{name} is empty")
    return np.ascontiguousarray(arr)


def _augment(x: torch.Tensor, gen: np.random.Generator) -> torch.Tensor:
    """One random flip / quarter turn for the batch, and a contrast scale per image."""
    if gen.random() < 0.5:
        x = torch.flip(x, dims=[-1])
    if gen.random() < 0.5:
        x = torch.flip(x, dims=[-2])
    if x.shape[-1] == x.shape[-2] and gen.random() < 0.5:
        x = torch.rot90(x, 1, dims=[-2, -1])
    scale = gen.uniform(0.6, 1.2, (len(x), 1, 1, 1))
    scale = torch.as_tensor(scale, dtype=x.dtype, device=x.device)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (mean + scale * (x - mean)).clamp(0.0, 1.0)


class DAENREstimator(TorchEstimator):
    """``fit(images, responses)``; ``encode`` / ``reconstruct`` / ``predict_responses``.

    Loss = pixel MSE + ``beta`` · MSE between predicted and z-scored responses.
    With ``beta == 0`` and responses given, the head is still fitted, on the
    detached code, so the plain autoencoder's code gets a readout too without
    the responses shaping it.
    """

    FORMAT = "brainlatent.DAENREstimator/2"  # /2: fit_device
    HISTORY_COLUMNS = HISTORY_COLUMNS

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True  # images (n, H, W) or (n, H, W, C)
        tags.target_tags.required = False  # responses only when beta > 0
        tags.non_deterministic = self.random_state is None
        return tags

    def __init__(
        self,
        hidden_dim: int = 64,
        beta: float = 1.0,
        lr: float = 1e-3,
        max_epochs: int = 200,
        batch_size: int = 32,
        weight_decay: float = 0.0,
        device: str = "auto",
        random_state: int | None = 0,
        progress: bool = True,
        augment: bool = False,
        readout_layer: int | None = None,
    ):
        self.hidden_dim = hidden_dim
        self.beta = beta
        self.lr = lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.device = device
        self.random_state = random_state
        self.progress = progress
        self.augment = augment
        self.readout_layer = readout_layer

    # -- helpers -----------------------------------------------------------

    def _check_params(self) -> None:
        for name in ("hidden_dim", "max_epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        if not (np.isfinite(self.beta) and self.beta >= 0):
            raise ValueError(f"beta must be a finite number >= 0; got {self.beta!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0; got {self.lr!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0; got {self.weight_decay!r}")
        if not isinstance(self.augment, bool | np.bool_):
            raise TypeError(f"augment must be True or False; got {self.augment!r}")
        layer = self.readout_layer
        if layer is not None and (not isinstance(layer, int | np.integer) or layer < 1):
            raise ValueError(f"readout_layer must be None or a positive integer; got {layer!r}")

    def _check_responses(self, responses, n: int) -> np.ndarray | None:
        if responses is None:
            if self.beta > 0:
                raise ValueError(
                    f"responses is required when beta > 0 (beta={self.beta}); "
                    "pass (n_images, n_neurons) mean responses or set beta=0"
                )
            return None
        responses = np.asarray(responses, dtype=np.float64)
        if responses.ndim != 2 or responses.shape[1] < 1:
            raise ValueError(
                f"responses must be 2-D (n_images, n_neurons); got shape {responses.shape}"
            )
        if responses.shape[0] != n:
            raise ValueError(
                f"responses must have one row per image: images has {n}, "
                f"responses has {responses.shape[0]}"
            )
        if not np.isfinite(responses).all():
            bad = int(np.argmin(np.isfinite(responses).all(axis=1)))
            raise ValueError(f"responses contains NaN or infinite values (first at image {bad})")
        return responses

    def _build_model(self) -> DAENR:
        c, h, w = self.image_shape_
        return DAENR(h, w, c, self.hidden_dim, self.n_neurons_, self.readout_layer)

    # -- public API --------------------------------------------------------

    def fit(self, images, responses=None, *, init=None, corpus=None) -> DAENREstimator:
        """Train on all images for ``max_epochs`` epochs (no early stopping: n is tiny).

        images: (n, H, W) or (n, H, W, C), uint8 0-255 or float in [0, 1].
        responses: (n, n_neurons) mean response per image, or None when beta == 0.
        init: a fitted estimator (same image shape and ``hidden_dim``) whose encoder
        and decoder weights start the training, e.g. one pretrained on a large
        image corpus (:func:`pretrain`); the neural head always starts fresh.
        corpus: more images, shaped like ``images``, that enter the reconstruction
        term only: each step adds a batch of them, so fine-tuning on a few images
        keeps what pretraining learnt.
        With ``augment``, the images of the reconstruction term are randomly
        flipped (and, when square, turned by multiples of 90°) and their contrast
        jittered; the neural term always sees the images as shown to the animal.
        """
        self._check_params()
        x = _check_images(images)
        n = len(x)
        responses = self._check_responses(responses, n)
        extra = None
        if corpus is not None:
            extra = _check_images(corpus, "corpus")
            if extra.shape[1:] != x.shape[1:]:
                raise ValueError(
                    f"corpus images must be shaped like images {x.shape[1:]} (C, H, W); "
                    f"got {extra.shape[1:]}"
                )
        if init is not None:
            check_is_fitted(init, "model_")
            if tuple(init.image_shape_) != tuple(x.shape[1:]) or init.hidden_dim != self.hidden_dim:
                raise ValueError(
                    f"init was fitted on images {init.image_shape_} with hidden_dim "
                    f"{init.hidden_dim}; this fit has images {tuple(x.shape[1:])} and "
                    f"hidden_dim {self.hidden_dim}"
                )

        self.input_ndim_ = np.asarray(images).ndim
        self.image_shape_ = tuple(int(s) for s in x.shape[1:])
        self.n_neurons_ = 0 if responses is None else responses.shape[1]
        if responses is not None:
            self.response_mean_ = responses.mean(axis=0).astype(np.float32)
            scale = responses.std(axis=0)
            self.response_scale_ = np.where(scale > 0, scale, 1.0).astype(np.float32)
        else:
            self.response_mean_ = np.zeros(0, dtype=np.float32)
            self.response_scale_ = np.ones(0, dtype=np.float32)
        self._set_device()

        seed = self._seed()
        rng = np.random.default_rng(seed)
        x_all = torch.from_numpy(x).to(self.device_)
        y_all = (
            None
            if responses is None
            else torch.from_numpy(self._zscore(responses)).to(self.device_)
        )
        beta = float(self.beta)
        history = []
        with self._fork_rng():
            torch.manual_seed(seed)
            self.model_ = self._build_model().to(self.device_)
            if init is not None:
                state = {
                    k: v for k, v in init.model_.state_dict().items() if "neural_head" not in k
                }
                self.model_.load_state_dict(state, strict=False)
            augmenting = self.augment or extra is not None
            aug_rng = np.random.default_rng([seed, 1]) if augmenting else None
            x_extra = None if extra is None else torch.from_numpy(extra).to(self.device_)
            optimizer = torch.optim.Adam(
                self.model_.parameters(), lr=self.lr, weight_decay=self.weight_decay
            )
            bar = tqdm(
                range(1, self.max_epochs + 1),
                desc=f"DAE-NR beta={beta:g}",
                file=sys.stderr,
                disable=not self.progress,
                leave=False,
            )
            self.model_.train()
            for epoch in bar:
                totals = np.zeros(3)
                for batch in np.array_split(rng.permutation(n), max(1, -(-n // self.batch_size))):
                    b = torch.as_tensor(batch, device=self.device_)
                    xb = x_all[b]
                    hidden, features = self.model_.encode(xb, with_features=True)
                    if aug_rng is None:
                        recon = F.mse_loss(self.model_.decode(hidden), xb)
                    else:
                        xr = xb
                        if x_extra is not None:
                            pick = aug_rng.integers(0, len(x_extra), len(batch))
                            pick = torch.as_tensor(pick, device=self.device_)
                            xr = torch.cat([xr, x_extra[pick]])
                        if self.augment:
                            xr = _augment(xr, aug_rng)
                        recon = F.mse_loss(self.model_.decode(self.model_.encode(xr)), xr)
                    if y_all is None:
                        neural = torch.full((), float("nan"))
                        objective = recon
                    else:
                        # beta == 0: fit the head on the detached code, leaving the code alone.
                        code = features if beta > 0 else features.detach()
                        neural = F.mse_loss(self.model_.neural_head(code), y_all[b])
                        objective = recon + (beta if beta > 0 else 1.0) * neural
                    optimizer.zero_grad(set_to_none=True)
                    objective.backward()
                    optimizer.step()
                    loss = recon.item() + (beta * neural.item() if beta > 0 else 0.0)
                    totals += len(batch) * np.array([loss, recon.item(), neural.item()])
                loss, recon_mse, neural_mse = totals / n
                if not np.isfinite(loss):
                    raise RuntimeError(
                        f"training diverged at epoch {epoch} (loss {loss}); try a lower lr "
                        f"(lr={self.lr})"
                    )
                history.append(
                    {"epoch": epoch, "loss": loss, "recon": recon_mse, "neural": neural_mse}
                )
                bar.set_postfix(recon=f"{recon_mse:.4f}", neural=f"{neural_mse:.3f}")
            bar.close()
        self.model_.eval()
        self.history_ = pd.DataFrame(history, columns=HISTORY_COLUMNS)
        return self

    def _zscore(self, responses: np.ndarray) -> np.ndarray:
        return ((responses - self.response_mean_) / self.response_scale_).astype(np.float32)

    def _run(self, images, what: str) -> np.ndarray:
        check_is_fitted(self, "model_")
        x = _check_images(images)
        if tuple(x.shape[1:]) != self.image_shape_:
            c, h, w = self.image_shape_
            raise ValueError(
                f"images must be {h}×{w} with {c} channel(s) as at fit; "
                f"got shape {np.asarray(images).shape}"
            )
        self.model_.eval()
        outputs = []
        with torch.no_grad():
            for start in range(0, len(x), self.batch_size):
                xb = torch.from_numpy(x[start : start + self.batch_size]).to(self.device_)
                hidden, features = self.model_.encode(xb, with_features=True)
                if what == "hidden":
                    out = hidden
                elif what == "features":
                    out = features.flatten(1)
                elif what == "recon":
                    out = self.model_.decode(hidden)
                else:
                    out = self.model_.neural_head(features)
                outputs.append(out.cpu().numpy())
        return np.concatenate(outputs).astype(np.float32)

    def encode(self, images) -> np.ndarray:
        """Bottleneck code (n, hidden_dim): the representation compared to the brain by RSA."""
        return self._run(images, "hidden")

    def features(self, images) -> np.ndarray:
        """What the neural head reads, flattened (n, d): the code, or encoder layer
        ``readout_layer``'s feature map; the network's side of the model–neuron RSA."""
        return self._run(images, "features")

    def reconstruct(self, images) -> np.ndarray:
        """Reconstructions in [0, 1], float32, shaped like the input ((n, H, W) or (n, H, W, C))."""
        out = self._run(images, "recon")  # (n, C, H, W)
        if np.asarray(images).ndim == 3:
            return out[:, 0]
        return np.ascontiguousarray(np.moveaxis(out, 1, -1))

    def decode(self, codes) -> np.ndarray:
        """Images in [0, 1] generated from bottleneck codes (n, hidden_dim), shaped like
        :meth:`reconstruct`'s output: the decoder used as an image generator."""
        check_is_fitted(self, "model_")
        codes = np.asarray(codes, dtype=np.float32)
        if codes.ndim != 2 or codes.shape[1] != self.hidden_dim:
            raise ValueError(f"codes must be (n, {self.hidden_dim}); got shape {codes.shape}")
        if not np.isfinite(codes).all():
            raise ValueError("codes contain NaN or infinite values")
        self.model_.eval()
        outputs = []
        with torch.no_grad():
            for start in range(0, len(codes), self.batch_size):
                batch = torch.from_numpy(codes[start : start + self.batch_size]).to(self.device_)
                outputs.append(self.model_.decode(batch).cpu().numpy())
        out = np.concatenate(outputs).astype(np.float32)  # (n, C, H, W)
        if self.input_ndim_ == 3:
            return out[:, 0]
        return np.ascontiguousarray(np.moveaxis(out, 1, -1))

    def predict_responses(self, images) -> np.ndarray:
        """Predicted mean responses (n, n_neurons) in the units of the fitted responses."""
        check_is_fitted(self, "model_")
        if self.n_neurons_ == 0:
            raise ValueError("the model was fitted without responses: it has no neural head")
        z = self._run(images, "neural")
        return (z * self.response_scale_ + self.response_mean_).astype(np.float32)

    # -- persistence (TorchEstimator.save / load) ---------------------------

    def _checkpoint_fields(self) -> dict:
        return {
            "image_shape": list(self.image_shape_),
            "input_ndim": int(self.input_ndim_),
            "n_neurons": int(self.n_neurons_),
            "response_mean_": torch.from_numpy(self.response_mean_),
            "response_scale_": torch.from_numpy(self.response_scale_),
        }

    def _restore_fields(self, state: dict, path: Path) -> None:
        self.image_shape_ = tuple(state["image_shape"])
        self.input_ndim_ = state["input_ndim"]
        self.n_neurons_ = state["n_neurons"]
        self.response_mean_ = state["response_mean_"].numpy()
        self.response_scale_ = state["response_scale_"].numpy()


# ---------------------------------------------------------------------------
# Experiment
# ---------------------------------------------------------------------------


def shuffled_pairs(n: int, seed: int) -> np.ndarray:
    """A seeded derangement of range(n): image i is paired with another image, never itself."""
    if n < 2:
        raise ValueError(f"a shuffled pairing needs at least 2 images; got {n}")
    gen = np.random.default_rng([int(seed), 2])
    while True:
        perm = gen.permutation(n)
        if not (perm == np.arange(n)).any():
            return perm


def score_heldout(
    estimator, test_images, test_responses, seed: int = 0, n_shuffles: int = 20
) -> dict[str, float]:
    """SSIM, PixCorr and RSA on held-out images, each beside its shuffled-pairing baseline.

    ``rsa``: Spearman between the RDMs of the bottleneck code and of the
    measured responses; ``rsa_readout``: the same for what the neural head reads
    (:meth:`DAENREstimator.features`; the code itself when ``readout_layer`` is
    None). ``*_shuffled``: the score with the pairing broken by ``n_shuffles``
    seeded derangements, averaged (reconstruction i against original j ≠ i;
    the network's representation of image i against the neurons' response to
    image j): the chance level a real score must beat.
    """
    test_images = np.asarray(test_images)
    test_responses = np.asarray(test_responses)
    recon = estimator.reconstruct(test_images)
    code = estimator.encode(test_images)
    features = estimator.features(test_images)
    scores = {
        "ssim": ssim(test_images, recon),
        "pixcorr": pixcorr(test_images, recon),
        "rsa": rsa(code, test_responses),
        "rsa_readout": rsa(features, test_responses),
    }
    shuffled = {f"{name}_shuffled": [] for name in scores}
    for k in range(n_shuffles):
        perm = shuffled_pairs(len(test_responses), seed * 1000 + k)
        shuffled["ssim_shuffled"].append(ssim(test_images[perm], recon))
        shuffled["pixcorr_shuffled"].append(pixcorr(test_images[perm], recon))
        shuffled["rsa_shuffled"].append(rsa(code, test_responses[perm]))
        shuffled["rsa_readout_shuffled"].append(rsa(features, test_responses[perm]))
    return scores | {name: float(np.mean(values)) for name, values in shuffled.items()}


def pretrain(corpus, seed: int = 0, **params) -> DAENREstimator:
    """The plain autoencoder (beta 0, augmented) trained on a large image corpus.

    Its encoder and decoder start every fit of :func:`compare_beta`
    (``fit(..., init=...)``), so ~100 stimulus images only fine-tune a network
    that has already learnt what natural images look like.
    """
    params = {**params, "beta": 0.0, "random_state": seed}
    params.setdefault("augment", True)
    return DAENREstimator(**params).fit(corpus)


def compare_beta(
    train_images,
    train_responses,
    test_images,
    test_responses,
    betas=(0.0, 1.0),
    seeds=(0,),
    on_fit=None,
    init=None,
    corpus=None,
    **params,
) -> pd.DataFrame:
    """Fit one model per (beta, seed) and score it on held-out images.

    Returns a long table (beta, seed, metric, value) with ``ssim`` and
    ``pixcorr`` (reconstruction vs original), ``rsa`` and ``rsa_readout``
    (Spearman between the RDMs of the code, or of what the neural head reads,
    and of the measured responses) and each one's shuffled-pairing baseline
    (:func:`score_heldout`). Responses are
    passed at every beta, so beta == 0 differs only in the loss, not in the
    data seen. ``init`` (a pretrained estimator, :func:`pretrain`) starts every
    fit and ``corpus`` images join the reconstruction term (``DAENREstimator.fit``).
    ``on_fit(beta, seed, estimator, test_reconstructions)``, when given, is
    called after each fit, so a caller can keep models or reconstructions
    without fitting twice.
    """
    for name in ("beta", "random_state"):
        if name in params:
            raise ValueError(f"{name} is set by compare_beta (betas / seeds); do not pass it")
    test_responses = np.asarray(test_responses, dtype=np.float64)
    if test_responses.ndim != 2 or len(test_responses) != len(np.asarray(test_images)):
        raise ValueError(
            "test_responses must be (n_test_images, n_neurons); "
            f"got {test_responses.shape} for {len(np.asarray(test_images))} test images"
        )
    if not np.isfinite(test_responses).all():
        raise ValueError("test_responses contains NaN or infinite values")
    rows = []
    for beta in betas:
        for seed in seeds:
            est = DAENREstimator(beta=beta, random_state=seed, **params)
            est.fit(train_images, train_responses, init=init, corpus=corpus)
            scores = score_heldout(est, test_images, test_responses, seed)
            if on_fit is not None:
                on_fit(float(beta), int(seed), est, est.reconstruct(test_images))
            rows += [
                {"beta": float(beta), "seed": int(seed), "metric": m, "value": v}
                for m, v in scores.items()
            ]
    return pd.DataFrame(rows, columns=["beta", "seed", "metric", "value"])
