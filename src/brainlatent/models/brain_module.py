"""A scaled-down "brain module" that maps MEG epochs to image embeddings.

Follows Défossez et al. 2023 / Benchetrit et al. 2023: spatial attention over
sensor positions (so the network does not depend on a channel ordering and can
be regularised by dropping whole scalp regions), a per-subject linear layer (to
absorb inter-individual differences with few parameters), residual dilated
convolutions, an affine temporal aggregation, and two heads trained jointly with
a CLIP (contrastive, for retrieval) and an MSE (for generation) objective.

:class:`BrainModuleDecoder` wraps the network as a scikit-learn style estimator
so the workflow can treat it like the linear baselines (fit / predict / clone).
"""

from __future__ import annotations

import copy
import math
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import sparse
from sklearn.base import RegressorMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from brainlatent.device import resolve_precision
from brainlatent.models.torch_estimator import TorchEstimator

__all__ = [
    "BrainModule",
    "BrainModuleDecoder",
    "HISTORY_COLUMNS",
    "SpatialAttention",
    "SubjectLayer",
    "clip_loss",
]

HISTORY_COLUMNS = [
    "epoch",
    "train_loss",
    "train_clip",
    "train_mse",
    "val_loss",
    "val_clip",
    "val_mse",
    "val_top5",
]

# Positions are embedded on a torus of width 1 + 2 * margin so that opposite
# edges of the [0, 1] layout do not get identical Fourier features.
_FOURIER_MARGIN = 0.2
_NAN_CHECK_ROWS = 256  # rows of X scanned at a time, so memmaps are not loaded whole


# ---------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------


def fourier_features(positions: torch.Tensor, n_freqs: int) -> torch.Tensor:
    """Cos/sin of 2π(k x + l y)/width for k, l < n_freqs: a smooth basis over the scalp."""
    width = 1.0 + 2.0 * _FOURIER_MARGIN
    freqs = torch.arange(n_freqs, dtype=positions.dtype, device=positions.device)
    x = positions[:, 0:1, None]  # (C, 1, 1)
    y = positions[:, 1:2, None]
    phase = 2 * math.pi * (freqs[None, :, None] * x + freqs[None, None, :] * y) / width
    phase = phase.reshape(len(positions), -1)  # (C, n_freqs**2)
    return torch.cat([torch.cos(phase), torch.sin(phase)], dim=1)


class SpatialAttention(nn.Module):
    """Softmax attention over input sensors, parameterised by their 2-D positions.

    Each output channel's weights over sensors are a learned function of the
    sensors' Fourier features, so nearby sensors get similar weights. During
    training, sensors within ``dropout_radius`` of a random point are removed
    (logit -inf, same region for the whole batch), which forces redundancy
    across scalp regions as in the paper.
    """

    def __init__(
        self, positions: torch.Tensor, n_spatial: int, n_freqs: int, dropout_radius: float
    ):
        super().__init__()
        positions = torch.as_tensor(positions, dtype=torch.float32)
        self.register_buffer("positions", positions)
        self.register_buffer("features", fourier_features(positions, n_freqs))
        self.proj = nn.Linear(self.features.shape[1], n_spatial)
        self.dropout_radius = float(dropout_radius)

    def weights(self) -> torch.Tensor:
        """Attention weights (n_spatial, n_channels), with spatial dropout in training."""
        logits = self.proj(self.features).T  # (n_spatial, C)
        if self.training and self.dropout_radius > 0:
            center = torch.rand(2, device=logits.device)
            dist = torch.linalg.vector_norm(self.positions - center, dim=1)
            drop = dist < self.dropout_radius
            if not bool(drop.all()):  # never drop every sensor (softmax of all -inf is NaN)
                logits = logits.masked_fill(drop[None, :], float("-inf"))
        return torch.softmax(logits, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bct,oc->bot", x, self.weights())


class SubjectLayer(nn.Module):
    """One square matrix per subject (identity at init), selected by subject index."""

    def __init__(self, n_channels: int, n_subjects: int):
        super().__init__()
        eye = torch.eye(n_channels).expand(n_subjects, n_channels, n_channels)
        self.weights = nn.Parameter(eye.clone())

    def forward(self, x: torch.Tensor, subjects: torch.Tensor) -> torch.Tensor:
        w = self.weights.index_select(0, subjects)  # (B, C_out, C_in)
        return torch.einsum("bct,boc->bot", x, w)


class _ResidualConv(nn.Module):
    def __init__(self, hidden: int, dilation: int):
        super().__init__()
        self.conv = nn.Conv1d(hidden, hidden, 3, dilation=dilation, padding=dilation)
        self.norm = nn.BatchNorm1d(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + F.gelu(self.norm(self.conv(x)))


def _head(hidden: int, n_outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.LayerNorm(hidden), nn.GELU(), nn.Linear(hidden, n_outputs))


class BrainModule(nn.Module):
    """MEG epochs (B, C, T) + subject indices (B,) -> (clip_out, mse_out), each (B, n_outputs).

    ``n_times`` is fixed because temporal aggregation is a learned affine map
    over time (the paper's choice: it can weight informative latencies).
    """

    def __init__(
        self,
        positions: np.ndarray | torch.Tensor,
        n_times: int,
        n_outputs: int,
        n_subjects: int = 1,
        n_spatial: int = 128,
        hidden: int = 64,
        n_blocks: int = 3,
        n_freqs: int = 8,
        dropout_radius: float = 0.2,
        temperature: float = 0.1,
        learn_temperature: bool = False,
    ):
        super().__init__()
        self.n_times = int(n_times)
        self.n_outputs = int(n_outputs)
        self.attention = SpatialAttention(positions, n_spatial, n_freqs, dropout_radius)
        self.n_channels = int(self.attention.positions.shape[0])
        self.spatial_conv = nn.Conv1d(n_spatial, n_spatial, 1)
        self.subject_layer = SubjectLayer(n_spatial, n_subjects)
        self.input_conv = nn.Conv1d(n_spatial, hidden, 1)
        self.blocks = nn.Sequential(
            *[_ResidualConv(hidden, 2 ** ((2 * k) % 5)) for k in range(n_blocks)]
        )
        self.glu_conv = nn.Conv1d(hidden, 2 * hidden, 1)
        self.temporal = nn.Linear(self.n_times, 1)
        self.clip_head = _head(hidden, n_outputs)
        self.mse_head = _head(hidden, n_outputs)
        # Stored as log(1/τ) like CLIP; frozen unless learn_temperature.
        self.logit_scale = nn.Parameter(
            torch.tensor(math.log(1.0 / temperature)), requires_grad=learn_temperature
        )

    def encode(self, x: torch.Tensor, subjects: torch.Tensor) -> torch.Tensor:
        """Shared trunk: (B, C, T) -> (B, hidden) after temporal aggregation."""
        if x.shape[1:] != (self.n_channels, self.n_times):
            raise ValueError(
                f"expected input of shape (batch, {self.n_channels}, {self.n_times}); "
                f"got {tuple(x.shape)}"
            )
        weights, bias = self.front(subjects)
        h = torch.bmm(weights, x) + bias[..., None]
        h = self.blocks(h)
        h = F.glu(self.glu_conv(h), dim=1)
        return self.temporal(h).squeeze(-1)

    def front(self, subjects: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The linear front end as one map per trial: (B, hidden, C) weights, (B, hidden) bias.

        Spatial attention, the 1×1 spatial convolution, the subject layer and the 1×1 input
        convolution have no nonlinearity between them, so their product is composed first
        (a few small matrices per subject) and applied to the epochs once: the same function
        and gradients as applying them one after the other, at about a quarter of the
        arithmetic on the (C, T) epochs (the whole training step takes half the time).
        """
        spatial = self.spatial_conv.weight[..., 0] @ self.attention.weights()  # (S, C)
        to_hidden = self.input_conv.weight[..., 0] @ self.subject_layer.weights  # (n_subj, H, S)
        weights = to_hidden @ spatial  # (n_subjects, H, C)
        bias = (to_hidden @ self.spatial_conv.bias[:, None])[..., 0] + self.input_conv.bias
        return weights.index_select(0, subjects), bias.index_select(0, subjects)

    def forward(self, x: torch.Tensor, subjects: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encode(x, subjects)
        return self.clip_head(h), self.mse_head(h)


def clip_loss(
    z: torch.Tensor, y: torch.Tensor, groups: torch.Tensor, logit_scale: torch.Tensor
) -> torch.Tensor:
    """Symmetric InfoNCE between L2-normalised predictions and targets of a batch.

    Rows sharing a ``groups`` id (the same image, e.g. seen by several
    subjects) are all positives for each other, with soft labels, so that a
    batch with repeated images does not push identical targets apart.
    """
    z = F.normalize(z, dim=1)
    y = F.normalize(y, dim=1)
    logits = logit_scale.clamp(max=math.log(100.0)).exp() * (z @ y.T)
    pos = (groups[:, None] == groups[None, :]).to(logits.dtype)
    target = pos / pos.sum(dim=1, keepdim=True)  # symmetric, so valid for both directions
    brain_to_image = -(target * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    image_to_brain = -(target * F.log_softmax(logits.T, dim=1)).sum(dim=1).mean()
    return 0.5 * (brain_to_image + image_to_brain)


# ---------------------------------------------------------------------------
# Input validation
# ---------------------------------------------------------------------------


def _check_real_dense(X, name: str = "X") -> None:
    """Sparse or complex X would otherwise be densified or lose its imaginary part silently."""
    if sparse.issparse(X):
        raise TypeError(f"{name}: sparse input is not supported; pass a dense 3-D array")
    if hasattr(X, "dtype") and np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError(f"Complex data not supported: {name} must be real")


def _check_x(X, name: str = "X") -> None:
    _check_real_dense(X, name)
    if not hasattr(X, "shape") or len(X.shape) != 3:
        shape = getattr(X, "shape", None)
        raise ValueError(
            f"{name} must be a 3-D array (n_trials, n_channels, n_times); got shape {shape}"
        )
    if not np.issubdtype(np.asarray(X[:0]).dtype, np.number):
        raise ValueError(f"{name} must be numeric; got dtype {np.asarray(X[:0]).dtype}")
    for start in range(0, X.shape[0], _NAN_CHECK_ROWS):
        finite = np.isfinite(np.asarray(X[start : start + _NAN_CHECK_ROWS]))
        if not finite.all():
            bad = start + int(np.argmin(finite.reshape(len(finite), -1).all(axis=1)))
            raise ValueError(f"{name} contains NaN or infinite values (first at trial {bad})")


def _check_subjects(subjects, n: int) -> np.ndarray:
    if subjects is None:
        return np.zeros(n, dtype=np.int64)
    subjects = np.asarray(subjects)
    if subjects.shape != (n,):
        raise ValueError(f"subjects must have shape ({n},) to match X; got {subjects.shape}")
    if n and not np.issubdtype(subjects.dtype, np.integer):
        if not np.issubdtype(subjects.dtype, np.number) or not np.all(
            subjects == np.round(subjects)
        ):
            raise ValueError(f"subjects must be integer indices; got dtype {subjects.dtype}")
    subjects = subjects.astype(np.int64)
    if n and subjects.min() < 0:
        raise ValueError(f"subjects must be non-negative indices; got min {subjects.min()}")
    return subjects


def _check_positions(positions, n_channels: int) -> np.ndarray:
    if positions is None:
        warnings.warn(
            "positions not given: laying the channels out on a regular grid, so spatial "
            "attention and spatial dropout ignore the real sensor geometry",
            stacklevel=3,
        )
        side = math.ceil(math.sqrt(n_channels))
        idx = np.arange(n_channels)
        grid = np.stack([idx % side, idx // side], axis=1) / max(side - 1, 1)
        return grid.astype(np.float32)
    positions = np.asarray(positions, dtype=np.float64)
    if positions.shape != (n_channels, 2):
        raise ValueError(
            f"positions must have shape (n_channels, 2) = ({n_channels}, 2); got {positions.shape}"
        )
    if not np.isfinite(positions).all():
        raise ValueError("positions contains NaN or infinite values")
    if positions.min() < 0 or positions.max() > 1:
        raise ValueError(
            "positions must lie in [0, 1] (normalised 2-D sensor layout); "
            f"got range [{positions.min():.3g}, {positions.max():.3g}]"
        )
    return positions.astype(np.float32)


def _check_subject_names(names, n_subjects: int) -> list[str]:
    if names is None:
        return [str(k) for k in range(n_subjects)]
    if isinstance(names, str) or not isinstance(names, Sequence | np.ndarray):
        raise ValueError(f"subject_names must be a sequence of strings; got {names!r}")
    names = [str(name) for name in names]
    if len(names) != n_subjects:
        raise ValueError(
            f"subject_names must name every subject index 0..{n_subjects - 1} "
            f"({n_subjects} names); got {len(names)}: {names}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"subject_names must be unique; got {names}")
    return names


# ---------------------------------------------------------------------------
# Estimator
# ---------------------------------------------------------------------------


class BrainModuleDecoder(RegressorMixin, TorchEstimator):
    """Scikit-learn style wrapper: ``fit(X, Y, subjects, positions)``, ``predict(X, subjects)``.

    ``predict`` returns CLIP-head outputs, which live in the *standardised*
    target space: compare them to :meth:`transform_targets` (cosine similarity
    for retrieval). ``predict_mse`` returns the MSE head in original units.
    Subjects are integer indices; ``subject_names_`` (saved with the model)
    says who each index is, so a caller looks subjects up by name rather than
    by a position in some list that may since have been reordered.

    ``precision="bfloat16"`` trains under bfloat16 autocast (``"auto"``: where the
    device computes it in hardware, :func:`brainlatent.device.native_bfloat16`);
    validation and predictions run in float32; ``fit_precision_`` records the one used.

    ``ema_decay > 0`` validates, and keeps at the best epoch, an exponential moving average
    of the weights (:class:`torch.optim.swa_utils.AveragedModel`, batch-norm statistics
    included) instead of the weights SGD leaves; the training steps are the same.
    """

    FORMAT = "brainlatent.BrainModuleDecoder/2"  # /2: subject_names and fit_device
    HISTORY_COLUMNS = HISTORY_COLUMNS

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True  # MEG epochs (trials, channels, times)
        tags.target_tags.multi_output = True  # image embeddings (trials, dims)
        tags.target_tags.single_output = False  # a contrastive loss needs vectors
        tags.non_deterministic = self.random_state is None
        return tags

    def __init__(
        self,
        *,
        n_spatial: int = 128,
        hidden: int = 64,
        n_blocks: int = 3,
        n_freqs: int = 8,
        dropout_radius: float = 0.2,
        clip_weight: float = 0.75,
        temperature: float = 0.1,
        learn_temperature: bool = False,
        lr: float = 3e-4,
        weight_decay: float = 0.0,
        batch_size: int = 64,
        max_epochs: int = 40,
        patience: int = 5,
        val_fraction: float = 0.1,
        ema_decay: float = 0.0,
        precision: str = "float32",
        device: str = "auto",
        num_threads: int | None = None,
        random_state: int | None = 0,
        progress: bool = True,
    ):
        self.n_spatial = n_spatial
        self.hidden = hidden
        self.n_blocks = n_blocks
        self.n_freqs = n_freqs
        self.dropout_radius = dropout_radius
        self.clip_weight = clip_weight
        self.temperature = temperature
        self.learn_temperature = learn_temperature
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.val_fraction = val_fraction
        self.ema_decay = ema_decay
        self.precision = precision
        self.device = device
        self.num_threads = num_threads
        self.random_state = random_state
        self.progress = progress

    # -- helpers -----------------------------------------------------------

    def _check_params(self) -> None:
        for name in ("n_spatial", "hidden", "n_blocks", "n_freqs", "batch_size", "max_epochs"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        if not isinstance(self.patience, int | np.integer) or self.patience < 1:
            raise ValueError(f"patience must be a positive integer; got {self.patience!r}")
        if not 0.0 <= self.clip_weight <= 1.0:
            raise ValueError(f"clip_weight must be in [0, 1]; got {self.clip_weight!r}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1); got {self.val_fraction!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1); got {self.ema_decay!r}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0; got {self.temperature!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0; got {self.lr!r}")
        if not 0.0 <= self.dropout_radius < 2.0:
            raise ValueError(f"dropout_radius must be in [0, 2); got {self.dropout_radius!r}")

    def _batch(self, X, idx: np.ndarray, dtype=torch.float32) -> torch.Tensor:
        # Copy (memmaps may be read-only) and move to the device.
        arr = np.array(X[idx], dtype=np.float32, copy=True)
        return torch.from_numpy(arr).to(self.device_, dtype=dtype)

    def _loss(self, clip_out, mse_out, y, groups):
        clip = clip_loss(clip_out, y, groups, self.model_.logit_scale)
        mse = F.mse_loss(mse_out, y)
        loss = self.clip_weight * clip + (1.0 - self.clip_weight) * mse
        return loss, clip, mse

    def _evaluate(self, model, X, Ys, subjects, groups, idx) -> dict[str, float]:
        """Validation losses (fixed batches, eval mode) and top-5 retrieval among val images."""
        model.eval()
        totals = np.zeros(3)
        outputs = []
        with torch.no_grad():
            for start in range(0, len(idx), self.batch_size):
                b = idx[start : start + self.batch_size]
                clip_out, mse_out = model(
                    self._batch(X, b), torch.as_tensor(subjects[b], device=self.device_)
                )
                y = torch.as_tensor(Ys[b], device=self.device_)
                g = torch.as_tensor(groups[b], device=self.device_)
                parts = self._loss(clip_out, mse_out, y, g)
                totals += len(b) * np.array([float(p) for p in parts])
                outputs.append(clip_out.cpu())
        loss, clip, mse = totals / len(idx)
        z = F.normalize(torch.cat(outputs), dim=1)
        val_groups, first = np.unique(groups[idx], return_index=True)
        candidates = F.normalize(torch.as_tensor(Ys[idx][first]), dim=1)
        sims = z @ candidates.T  # (n_val, n_val_images)
        true_col = torch.as_tensor(np.searchsorted(val_groups, groups[idx]))
        true_sim = sims.gather(1, true_col[:, None])
        rank = (sims >= true_sim).sum(dim=1)  # 1 = best; ties count against, as in evaluation
        top5 = float((rank <= 5).float().mean())
        return {"val_loss": loss, "val_clip": clip, "val_mse": mse, "val_top5": top5}

    # -- public API --------------------------------------------------------

    def fit(self, X, Y, subjects=None, positions=None, subject_names=None) -> BrainModuleDecoder:
        """Train with early stopping on a validation split of whole images.

        X: (n, C, T) float (a read-only memmap is fine: batches are copied).
        Y: (n, D) image embeddings; rows with identical Y are treated as the
        same image and never split between train and validation.
        subject_names: one name per subject index 0..max(subjects), stored as
        ``subject_names_`` (default: the indices as strings).
        """
        self._check_params()
        if Y is None:
            raise ValueError("BrainModuleDecoder requires y to be passed, but the target y is None")
        _check_x(X)
        Y = np.asarray(Y)
        if Y.ndim != 2:
            raise ValueError(f"Y must be a 2-D array (n_trials, n_outputs); got shape {Y.shape}")
        n, n_channels, n_times = X.shape
        if Y.shape[0] != n:
            raise ValueError(
                f"X and Y must have the same number of rows; got X {n}, Y {Y.shape[0]}"
            )
        if not np.isfinite(Y).all():
            raise ValueError("Y contains NaN or infinite values")
        subjects = _check_subjects(subjects, n)
        names = _check_subject_names(subject_names, int(subjects.max()) + 1 if n else 1)
        positions = _check_positions(positions, n_channels)

        # Group rows by image (identical targets) so repeats stay on one side of the split.
        _, groups = np.unique(Y, axis=0, return_inverse=True)
        groups = groups.reshape(-1).astype(np.int64)
        n_groups = int(groups.max()) + 1 if n else 0
        n_val_groups = (
            max(2, int(round(self.val_fraction * n_groups))) if self.val_fraction > 0 else 0
        )
        if n_groups - n_val_groups < 2:
            raise ValueError(
                f"too few trials to fit: {n} trials of {n_groups} distinct images, "
                f"{n_val_groups} of which go to validation (val_fraction={self.val_fraction}); "
                "need at least 2 distinct training images"
            )

        seed = self._seed()
        rng = np.random.default_rng(seed)
        val_groups = rng.permutation(n_groups)[:n_val_groups]
        is_val = np.isin(groups, val_groups)
        train_idx = np.flatnonzero(~is_val)
        val_idx = np.flatnonzero(is_val)

        self.y_mean_ = Y.mean(axis=0).astype(np.float32)
        scale = Y.std(axis=0)
        self.y_scale_ = np.where(scale > 0, scale, 1.0).astype(np.float32)
        Ys = self.transform_targets(Y)

        if self.num_threads is not None:
            torch.set_num_threads(int(self.num_threads))
        self._set_device()
        self.fit_precision_ = resolve_precision(self.precision, self.device_)  # checks it too
        self.n_features_in_ = n_channels
        self.n_times_ = n_times
        self.n_outputs_ = Y.shape[1]
        self.n_subjects_ = int(subjects.max()) + 1
        self.subjects_ = np.unique(subjects)
        self.subject_names_ = names
        self.positions_ = positions

        history = []
        with self._fork_rng():
            torch.manual_seed(seed)
            self.model_ = self._build_model().to(self.device_)
            params = [p for p in self.model_.parameters() if p.requires_grad]
            optimizer = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
            # Validated and kept: the running average of the weights, when asked for, which
            # moves less from one epoch to the next than the weights SGD leaves.
            ema = None
            if self.ema_decay > 0:
                ema = AveragedModel(
                    self.model_, multi_avg_fn=get_ema_multi_avg_fn(self.ema_decay), use_buffers=True
                )
            average = self.model_ if ema is None else ema.module
            best_loss, best_state, since_best = math.inf, None, 0
            self.best_epoch_ = 0
            bar = tqdm(
                range(1, self.max_epochs + 1),
                desc="BrainModule",
                file=sys.stderr,
                disable=not self.progress,
                leave=False,
            )
            for epoch in bar:
                row = {
                    "epoch": epoch,
                    **self._train_epoch(X, Ys, subjects, groups, train_idx, rng, optimizer, ema),
                }
                if len(val_idx):
                    row.update(self._evaluate(average, X, Ys, subjects, groups, val_idx))
                    monitored = row["val_loss"]
                else:  # no validation: keep the last epoch
                    row.update(val_loss=np.nan, val_clip=np.nan, val_mse=np.nan, val_top5=np.nan)
                    monitored = -epoch
                history.append(row)
                bar.set_postfix(
                    train=f"{row['train_loss']:.3f}",
                    val=f"{row['val_loss']:.3f}",
                    top5=f"{row['val_top5']:.2f}",
                )
                if monitored < best_loss:
                    best_loss, since_best, self.best_epoch_ = monitored, 0, epoch
                    best_state = copy.deepcopy(average.state_dict())
                else:
                    since_best += 1
                    if since_best >= self.patience:
                        break
            bar.close()
        if best_state is None:  # validation loss was NaN from the first epoch
            raise RuntimeError(
                "training diverged: validation loss is NaN; try a lower lr "
                f"(lr={self.lr}) or check the scaling of X"
            )
        self.model_.load_state_dict(best_state)
        self.model_.eval()
        self.history_ = pd.DataFrame(history, columns=HISTORY_COLUMNS)
        return self

    def _build_model(self) -> BrainModule:
        return BrainModule(
            self.positions_,
            n_times=self.n_times_,
            n_outputs=self.n_outputs_,
            n_subjects=self.n_subjects_,
            n_spatial=self.n_spatial,
            hidden=self.hidden,
            n_blocks=self.n_blocks,
            n_freqs=self.n_freqs,
            dropout_radius=self.dropout_radius,
            temperature=self.temperature,
            learn_temperature=self.learn_temperature,
        )

    def _train_epoch(self, X, Ys, subjects, groups, train_idx, rng, optimizer, ema) -> dict:
        self.model_.train()
        totals = np.zeros(3)
        order = rng.permutation(train_idx)
        # bfloat16: the convolutions and products of the forward pass (and so of its
        # backward) under autocast; weights, optimiser state and losses stay float32.
        bfloat16 = self.fit_precision_ == "bfloat16"
        for start in range(0, len(order), self.batch_size):
            b = np.sort(order[start : start + self.batch_size])  # sorted: faster memmap reads
            with torch.autocast(self.device_.type, torch.bfloat16, enabled=bfloat16):
                clip_out, mse_out = self.model_(
                    self._batch(X, b), torch.as_tensor(subjects[b], device=self.device_)
                )
            y = torch.as_tensor(Ys[b], device=self.device_)
            g = torch.as_tensor(groups[b], device=self.device_)
            loss, clip, mse = self._loss(clip_out.float(), mse_out.float(), y, g)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if ema is not None:
                ema.update_parameters(self.model_)
            totals += len(b) * np.array([loss.item(), clip.item(), mse.item()])
        loss, clip, mse = totals / len(order)
        return {"train_loss": loss, "train_clip": clip, "train_mse": mse}

    def transform_targets(self, Y) -> np.ndarray:
        """Standardise targets with the training mean/std: the space ``predict`` lives in."""
        check_is_fitted(self, ["y_mean_", "y_scale_"])
        Y = np.asarray(Y, dtype=np.float32)
        if Y.ndim != 2 or Y.shape[1] != len(self.y_mean_):
            raise ValueError(f"Y must have shape (n, {len(self.y_mean_)}); got {Y.shape}")
        return ((Y - self.y_mean_) / self.y_scale_).astype(np.float32)

    def _forward_all(self, X, subjects, head: int) -> np.ndarray:
        check_is_fitted(self, "model_")
        _check_real_dense(X)
        if not hasattr(X, "shape") or len(X.shape) != 3:
            raise ValueError(
                f"X must be a 3-D array (n_trials, n_channels, n_times); "
                f"got shape {getattr(X, 'shape', None)}"
            )
        if tuple(X.shape[1:]) != (self.n_features_in_, self.n_times_):
            raise ValueError(
                f"X must have shape (n, {self.n_features_in_}, {self.n_times_}) as at fit; "
                f"got {tuple(X.shape)}"
            )
        n = X.shape[0]
        subjects = _check_subjects(subjects, n)
        unseen = sorted(set(np.unique(subjects).tolist()) - set(self.subjects_.tolist()))
        if unseen:
            raise ValueError(
                f"subjects {unseen} were not seen at fit time (seen: {self.subjects_.tolist()})"
            )
        self.model_.eval()
        out = np.empty((n, self.n_outputs_), dtype=np.float32)
        with torch.no_grad():
            for start in range(0, n, self.batch_size):
                b = np.arange(start, min(start + self.batch_size, n))
                xb = self._batch(X, slice(start, b[-1] + 1))
                if not torch.isfinite(xb).all():
                    raise ValueError(f"X contains NaN or infinite values (trials {b[0]}-{b[-1]})")
                outputs = self.model_(xb, torch.as_tensor(subjects[b], device=self.device_))
                out[b] = outputs[head].cpu().numpy()
        return out

    def predict(self, X, subjects=None) -> np.ndarray:
        """CLIP-head outputs (n, D), float32, in standardised-target space (for retrieval)."""
        check_is_fitted(self, "model_")
        return self._forward_all(X, subjects, head=0)

    def predict_mse(self, X, subjects=None) -> np.ndarray:
        """MSE-head outputs (n, D) in original target units (e.g. to feed a generator)."""
        check_is_fitted(self, "model_")
        z = self._forward_all(X, subjects, head=1)
        return (z * self.y_scale_ + self.y_mean_).astype(np.float32)

    def score(self, X, y, sample_weight=None, subjects=None) -> float:
        """R² of the MSE head in original units (``predict`` is not in target units)."""
        from sklearn.metrics import r2_score

        return float(r2_score(y, self.predict_mse(X, subjects), sample_weight=sample_weight))

    # -- persistence (TorchEstimator.save / load) ---------------------------

    def _checkpoint_fields(self) -> dict:
        return {
            "y_mean_": torch.from_numpy(self.y_mean_),
            "y_scale_": torch.from_numpy(self.y_scale_),
            "positions_": torch.from_numpy(self.positions_),
            "n_subjects_": int(self.n_subjects_),
            "subjects_": [int(s) for s in self.subjects_],
            "subject_names": list(self.subject_names_),
            "n_features_in_": int(self.n_features_in_),
            "n_times": int(self.n_times_),
            "n_outputs": int(self.n_outputs_),
            "best_epoch_": int(self.best_epoch_),
            "fit_precision": str(self.fit_precision_),
        }

    def _restore_fields(self, state: dict, path: Path) -> None:
        self.y_mean_ = state["y_mean_"].numpy()
        self.y_scale_ = state["y_scale_"].numpy()
        self.positions_ = state["positions_"].numpy()
        self.n_subjects_ = state["n_subjects_"]
        self.subjects_ = np.asarray(state["subjects_"], dtype=np.int64)
        try:
            if not isinstance(state.get("subject_names"), list):
                raise ValueError("no list of names")
            self.subject_names_ = _check_subject_names(state["subject_names"], self.n_subjects_)
        except ValueError as error:
            raise ValueError(f"{path}: bad subject names in the checkpoint: {error}") from None
        self.n_features_in_ = state["n_features_in_"]
        self.n_times_ = state["n_times"]
        self.n_outputs_ = state["n_outputs"]
        self.best_epoch_ = state["best_epoch_"]
        # Checkpoints written before precision existed were trained in float32.
        self.fit_precision_ = str(state.get("fit_precision", "float32"))
