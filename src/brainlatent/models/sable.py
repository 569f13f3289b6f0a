"""SABLE: a multi-session sequential VAE whose latents predict behaviour on unseen sessions.

Jude, Perich, Miller & Hennig (2022, ICML) decode hand velocity from M1 spiking
on a session the decoder never saw, without that session's behaviour. Our
reading of the method, and what :class:`SABLE` implements:

- **Model.** Each session ``s`` has a linear read-in (channels → ``input_dim``)
  and a Poisson read-out (factors → channel log-rates): what changes between
  sessions of a chronic array (which units sit on which electrode, their gains)
  lives there. Everything else is shared: a bidirectional GRU encoder gives a
  Gaussian posterior over the initial state ``g0`` of an autonomous GRU
  generator (LFADS without controller or inferred inputs), whose state is
  projected to ``factors`` low-dimensional factors, and one linear head maps
  factors at time t - ``behavior_lag`` to standardised velocity at t (M1 leads
  the hand by ~50-150 ms; 4 bins = 80 ms at 20 ms bins). The read-in sees
  sqrt(counts) (``sqrt_input``: variance-stabilised, so a few high-rate
  channels do not dominate the encoder). Loss per bin: Poisson NLL +
  ``kl_weight`` · KL(q(g0) || N(0, I)) (linear warm-up over the first
  ``kl_warmup`` of the epochs) + ``behavior_weight`` · velocity MSE.
- **Training that does not stall.** Three initialisations remove the long
  plateau (behaviour loss stuck at the mean, then a sudden drop, or never)
  that made some seeds fail: each read-out's offsets start at its session's
  log mean rates (else the first epochs only learn those), q(g0) starts narrow
  (log-variance -4: with unit variance the sampled g0 is mostly noise and the
  generator learns to ignore the encoder), and the GRUs' recurrent weights
  start orthogonal. Small batches (16) give more updates per second of CPU
  than longer training.
- **Forward step of the adaptation.** For a new session, encoder, generator and
  behaviour head are frozen; a new read-in and read-out are learnt by maximising
  the ELBO of its unlabelled trials. They start from the training session whose
  read-in/out already explains the new counts best (the same electrodes of the
  same array), with the read-out's offsets set to the new channel means.
- **Alignment by behaviour.** Centre-out reaching is close to 8-fold rotation
  symmetric, and the ELBO alone cannot tell a rotated latent space from the
  right one: adapted session after session, the decoded hand direction drifts
  (measured: 5°, 8°, 14°, 22°, 35° over days 4 to 57 for one seed, R² down to
  0.49 on day 57). So the adaptation also matches the *behaviour* the model
  predicts on the new trials to the behaviour it predicts on the training
  trials: ``behavior_match`` · MMD² (Gaussian kernels at 1/4, 1/2 and 1 × the
  median distance) between the velocity trajectories of a batch and those of
  training trials. No label of the new session is used; a rotated solution
  puts the reaches between the targets the monkey was trained on, which the
  MMD sees. It leaves the exact 45° rotations (the task's symmetry) to the
  start, which is why test sessions adapt in time order from the previous one.
- **Reverse step.** Maximising the likelihood constrains the read-out (it must
  generate the new counts from the generator's trajectories) much more than the
  read-in (any read-in that lands the encoder on a g0 that explains the spikes
  will do, including regions of g0-space the behaviour head never saw). So, as
  the sleep phase of wake-sleep, trajectories are drawn from the frozen
  generator (g0 from the training trials' posteriors), turned into Poisson
  counts by the new read-out, and the new read-in (through the frozen encoder)
  must recover their factors: this ties the read-in to the inverse of the
  learnt read-out on the region of latent space where behaviour was trained.
  Gradients of that term reach the read-in only (the counts are sampled).
  ``reverse=False`` drops it (the paper's ablation).

Our reading of the paper rather than its code: sizes and weights are ours,
chosen so that three sessions of ~150 trials × 38 bins × 96 channels train in
~25 s on one CPU thread and a new session adapts in a few seconds.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.utils.validation import check_is_fitted
from torch import nn
from tqdm.auto import tqdm

from brainlatent.models.torch_estimator import TorchEstimator

__all__ = ["ADAPT_HISTORY_COLUMNS", "HISTORY_COLUMNS", "SABLE", "SABLENet", "behaviour_mmd"]

HISTORY_COLUMNS = ["epoch", "loss", "nll", "kl", "behavior"]
#: ``match``: the behaviour-matching MMD², or the velocity MSE of a recalibration with labels.
ADAPT_HISTORY_COLUMNS = ["epoch", "loss", "nll", "kl", "match", "reverse"]

_PREDICT_BATCH = 256
_CLIP_NORM = 5.0
_INITIAL_LOGVAR = -4.0  # of q(g0) at the start of training: s.d. 0.14, not 1
#: Behaviour matching: training trajectories compared per batch, kernel widths (× median distance).
_MATCH_BANK = 128
_MATCH_WIDTHS = (0.25, 0.5, 1.0)
_ADAPT_SEED_OFFSET = 1  # adaptation's RNG stream differs from fit's, both from random_state


# ---------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------


class SABLENet(nn.Module):
    """Per-session read-in/out around a shared encoder, generator and behaviour head."""

    def __init__(
        self,
        n_channels: Sequence[int],
        input_dim: int,
        hidden: int,
        g0_dim: int,
        factors: int,
        n_outputs: int,
        sqrt_input: bool = False,
        behavior_lag: int = 0,
    ):
        super().__init__()
        self.sqrt_input = sqrt_input
        self.behavior_lag = behavior_lag
        self.read_in = nn.ModuleList(nn.Linear(c, input_dim) for c in n_channels)
        self.read_out = nn.ModuleList(nn.Linear(factors, c) for c in n_channels)
        self.encoder = nn.GRU(input_dim, hidden, batch_first=True, bidirectional=True)
        self.posterior = nn.Linear(2 * hidden, 2 * g0_dim)
        self.generator = nn.GRU(1, g0_dim, batch_first=True)  # fed zeros: autonomous
        self.to_factors = nn.Linear(g0_dim, factors, bias=False)
        self.behavior = nn.Linear(factors, n_outputs)
        for gru in (self.encoder, self.generator):
            for name, weight in gru.named_parameters():
                if name.startswith("weight_hh"):
                    for block in weight.data.chunk(3, dim=0):  # reset, update, new gates
                        nn.init.orthogonal_(block)

        # Start with a narrow posterior: with unit variance the sampled g0 is mostly noise
        # and the generator learns to ignore the encoder (a long plateau in the behaviour loss).
        with torch.no_grad():
            self.posterior.bias[g0_dim:] = _INITIAL_LOGVAR

    def velocity(self, factors: torch.Tensor) -> torch.Tensor:
        """Factors (B, T, factors) -> standardised velocity (B, T, outputs), read
        ``behavior_lag`` bins back (the neurons lead the hand; padded by the first bin)."""
        lag = self.behavior_lag
        if lag:
            factors = torch.cat([factors[:, :1].expand(-1, lag, -1), factors[:, :-lag]], dim=1)
        return self.behavior(factors)

    def encode(self, counts: torch.Tensor, session: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Counts (B, T, C) -> posterior mean and log-variance of g0, each (B, g0_dim)."""
        return self.encode_with(counts, self.read_in[session])

    def encode_with(self, counts: torch.Tensor, read_in: nn.Module):
        """:meth:`encode` through a given read-in (a candidate start of an adaptation)."""
        return self.posterior_of(read_in(self.encoder_input(counts)))

    def encoder_input(self, counts: torch.Tensor) -> torch.Tensor:
        """What a read-in sees: sqrt(counts) with ``sqrt_input``, else the counts."""
        return counts.sqrt() if self.sqrt_input else counts

    def posterior_of(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Read-in outputs (B, T, input_dim) -> posterior mean and log-variance of g0."""
        _, last = self.encoder(inputs)  # last: (2, B, hidden)
        mean, logvar = self.posterior(torch.cat([last[0], last[1]], dim=1)).chunk(2, dim=1)
        return mean, logvar.clamp(-10.0, 5.0)

    def generate(self, g0: torch.Tensor, n_bins: int) -> torch.Tensor:
        """Initial states (B, g0_dim) -> factors (B, T, factors)."""
        zeros = g0.new_zeros(len(g0), n_bins, 1)
        states, _ = self.generator(zeros, g0[None].contiguous())
        return self.to_factors(states)


@dataclass
class _Batch:
    """One batch in :func:`_joint_terms`: a session's counts and the read-in/out that see them."""

    read_in: nn.Module
    read_out: nn.Module
    counts: torch.Tensor
    velocity: torch.Tensor | None = None  # standardised: the behaviour MSE is computed
    noise: torch.Tensor | None = None  # the standard normal draw behind g0's sample (None: drawn)
    also: torch.Tensor | None = None  # more counts, whose posterior-mean factors come back


def _joint_terms(model: SABLENet, batches: Sequence[_Batch]) -> list[tuple]:
    """(Poisson NLL, KL, behaviour MSE or None, factors, factors of ``also`` or None) per bin,
    for each batch, with one encoder call and one generator call for all of them.

    A GRU's CPU time goes per time step rather than per trial, so one call on several
    batches costs little more than one of them. Rows never mix: each batch's terms are
    what it would get alone, to float rounding.
    """
    inputs, sizes = [], []
    for batch in batches:
        counts = batch.counts if batch.also is None else torch.cat([batch.counts, batch.also])
        inputs.append(batch.read_in(model.encoder_input(counts)))
        sizes.append(len(counts))
    means, logvars = (part.split(sizes) for part in model.posterior_of(torch.cat(inputs)))
    g0 = []
    for batch, mean, logvar in zip(batches, means, logvars, strict=True):
        n = len(batch.counts)
        noise = torch.randn_like(mean[:n]) if batch.noise is None else batch.noise
        g0 += [mean[:n] + noise * torch.exp(0.5 * logvar[:n]), mean[n:]]
    n_bins = batches[0].counts.shape[1]
    factors = model.generate(torch.cat(g0), n_bins).split(sizes)
    terms = []
    for batch, f, mean, logvar in zip(batches, factors, means, logvars, strict=True):
        n = len(batch.counts)
        nll = _poisson_nll(batch.read_out(f[:n]), batch.counts)
        kl = _kl_per_bin(mean[:n], logvar[:n], n_bins)
        beh = None if batch.velocity is None else F.mse_loss(model.velocity(f[:n]), batch.velocity)
        terms.append((nll, kl, beh, f[:n], None if batch.also is None else f[n:]))
    return terms


@dataclass
class _Adaptation:
    """One adaptation in :meth:`SABLE.adapt_together`: the new estimator, its optimizer and
    random streams, and its step's draws and terms."""

    new: SABLE
    params: list
    optimizer: torch.optim.Optimizer
    rng: np.random.Generator
    generator: torch.Generator
    velocity: torch.Tensor | None  # standardised labels of a recalibration, else None
    bank_mean: torch.Tensor  # the training trials' posteriors over g0
    bank_std: torch.Tensor
    reverse: bool
    behaviour_bank: tuple | None = None
    history: list = field(default_factory=list)
    totals: np.ndarray | None = None
    n_seen: int = 0
    values: list = field(default_factory=list)
    _match_idx: np.ndarray | None = None
    _target: torch.Tensor | None = None

    def batch(self, x_t: torch.Tensor, batch: np.ndarray, n_bins: int) -> _Batch:
        """This step's batch, with the random draws in a fixed order: g0's noise, the bank
        sample of the behaviour matching, then the reverse step's trajectories and counts."""
        new, device = self.new, self.new.device_
        b = torch.as_tensor(batch, device=device)
        noise = torch.randn(len(batch), new.g0_dim, device=device, generator=self.generator)
        bank = self.behaviour_bank
        self._match_idx = None if bank is None else _bank_draw(bank, self.rng)
        sampled = None
        if self.reverse:
            self._target, sampled = self._reverse_draw(len(batch), n_bins)
        session = new.adapted_session_
        labels = None if self.velocity is None else self.velocity[b]
        model = new.model_
        return _Batch(
            model.read_in[session], model.read_out[session], x_t[b], labels, noise, sampled
        )

    def _reverse_draw(self, n: int, n_bins: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The reverse (sleep) step's data: factor trajectories from the frozen generator
        (g0 drawn from the training trials' posteriors) and Poisson counts drawn through
        the new read-out. The read-in must recover the first from the second (the factors
        of those counts, :class:`_Batch`'s ``also``, against the trajectories: normalised
        MSE); gradients reach the read-in only (the counts are sampled)."""
        new, device = self.new, self.new.device_
        model, session = new.model_, new.adapted_session_
        idx = torch.as_tensor(self.rng.integers(0, len(self.bank_mean), n), device=device)
        draw = torch.randn(n, self.bank_mean.shape[1], device=device, generator=self.generator)
        g0 = self.bank_mean[idx] + self.bank_std[idx] * draw
        with torch.no_grad():
            target = model.generate(g0, n_bins)
            counts = torch.poisson(
                torch.exp(model.read_out[session](target)), generator=self.generator
            )
        return target, counts

    def objective(self, terms: tuple) -> torch.Tensor:
        """The step's objective from its :func:`_joint_terms`; its parts kept in ``values``."""
        new = self.new
        nll, kl, beh, factors, recovered = terms
        objective = nll + new.kl_weight * kl
        match = rev = torch.zeros(())
        if beh is not None:  # supervised recalibration
            match = beh
            objective = objective + new.behavior_weight * beh
        elif self.behaviour_bank is not None:
            match = new._behaviour_mmd(factors, self.behaviour_bank, self._match_idx)
            objective = objective + new.behavior_match * match
        if self.reverse:
            target = self._target
            rev = F.mse_loss(recovered, target) / target.var().clamp_min(1e-6)
            objective = objective + new.reverse_weight * rev
        self.values = [objective, nll, kl, match, rev]
        return objective


def _poisson_nll(log_rates: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Per bin, summed over channels, averaged over trials and bins (constant term dropped)."""
    return (torch.exp(log_rates) - counts * log_rates).sum(-1).mean()


def _kernel(a: torch.Tensor, b: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
    """Mean over pairs of a sum of Gaussian kernels (one per width) between rows of a and b."""
    d2 = torch.cdist(a, b).pow(2)[..., None]
    return torch.exp(-d2 / (2 * widths**2)).sum(-1).mean()


def _bank_draw(bank, rng: np.random.Generator) -> np.ndarray:
    """Indices of the training trajectories one MMD compares with (up to ``_MATCH_BANK``)."""
    return rng.integers(0, len(bank[0]), min(len(bank[0]), _MATCH_BANK))


def behaviour_mmd(trajectories: torch.Tensor, bank, rng: np.random.Generator) -> torch.Tensor:
    """MMD² between trajectories (trials, bins × outputs) and a sample of ``bank``.

    ``bank``: (training trajectories, kernel widths, their mean self-similarity), as
    :meth:`SABLE._behaviour_bank` makes it; ``rng`` draws up to ``_MATCH_BANK`` of them.
    """
    return _mmd_to(trajectories, bank, _bank_draw(bank, rng))


def _mmd_to(trajectories: torch.Tensor, bank, idx: np.ndarray) -> torch.Tensor:
    """:func:`behaviour_mmd` against the bank's trajectories ``idx`` (drawn beforehand)."""
    reference, widths, self_similarity = bank
    ref = reference[torch.as_tensor(idx, device=reference.device)]
    return (
        _kernel(trajectories, trajectories, widths)
        - 2 * _kernel(trajectories, ref, widths)
        + self_similarity
    )


def _kl_per_bin(mean: torch.Tensor, logvar: torch.Tensor, n_bins: int) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) per trial, spread over its bins."""
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
    return kl.mean() / n_bins


# ---------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------


def _check_counts(counts, name: str) -> np.ndarray:
    """One session's counts -> float32 (trials, bins, channels), finite and non-negative."""
    try:
        arr = np.asarray(counts, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a numeric array; {error}") from None
    if arr.ndim != 3:
        raise ValueError(f"{name} must be 3-D (trials, bins, channels); got shape {arr.shape}")
    if min(arr.shape) < 1:
        raise ValueError(f"{name} is empty: shape {arr.shape}")
    if not np.isfinite(arr).all():
        trial = int(np.argmin(np.isfinite(arr).all(axis=(1, 2))))
        raise ValueError(f"{name} contains NaN or infinite counts (first in trial {trial})")
    if (arr < 0).any():
        trial = int(np.argmax((arr < 0).any(axis=(1, 2))))
        raise ValueError(f"{name} contains negative counts (first in trial {trial})")
    return np.ascontiguousarray(arr)


def _check_velocity(velocity, counts: np.ndarray, name: str) -> np.ndarray:
    try:
        arr = np.asarray(velocity, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a numeric array; {error}") from None
    if arr.ndim != 3 or arr.shape[2] < 1:
        raise ValueError(f"{name} must be 3-D (trials, bins, outputs); got shape {arr.shape}")
    if arr.shape[:2] != counts.shape[:2]:
        raise ValueError(
            f"{name} must match its counts in trials and bins: counts have "
            f"{counts.shape[:2]}, velocity has {arr.shape[:2]}"
        )
    if not np.isfinite(arr).all():
        trial = int(np.argmin(np.isfinite(arr).all(axis=(1, 2))))
        raise ValueError(f"{name} contains NaN or infinite values (first in trial {trial})")
    return np.ascontiguousarray(arr)


def _as_list(value, name: str) -> list:
    if isinstance(value, np.ndarray) or not isinstance(value, Sequence) or not len(value):
        raise TypeError(f"{name} must be a non-empty list with one array per session")
    return list(value)


# ---------------------------------------------------------------------------
# Estimator
# ---------------------------------------------------------------------------


class SABLE(TorchEstimator):
    """``fit(counts, velocity)`` on training sessions; ``adapt(counts)`` to a new one.

    counts: list of (trials, bins, channels) spike counts, one array per session,
    every session with the same channels (the same electrodes); velocity: list of
    (trials, bins, outputs) behaviour, in any units (standardised inside).
    ``predict`` / ``latents`` take ``session`` (index of a training session) or
    None for the session the estimator was adapted to.
    """

    FORMAT = "brainlatent.SABLE/1"
    HISTORY_COLUMNS = HISTORY_COLUMNS

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True  # (trials, bins, channels) per session
        tags.target_tags.multi_output = True
        tags.non_deterministic = self.random_state is None
        return tags

    def __init__(
        self,
        factors: int = 8,
        hidden: int = 64,
        g0_dim: int = 32,
        input_dim: int = 32,
        kl_weight: float = 0.1,
        kl_warmup: float = 0.3,
        behavior_weight: float = 2.0,
        lr: float = 1e-2,
        max_epochs: int = 20,
        batch_size: int = 16,
        adapt_epochs: int = 20,
        adapt_lr: float = 1e-2,
        behavior_match: float = 1.0,
        reverse: bool = True,
        reverse_weight: float = 1.0,
        sqrt_input: bool = True,
        behavior_lag: int = 4,
        device: str = "cpu",
        random_state: int | None = 0,
        progress: bool = True,
    ):
        self.factors = factors
        self.hidden = hidden
        self.g0_dim = g0_dim
        self.input_dim = input_dim
        self.kl_weight = kl_weight
        self.kl_warmup = kl_warmup
        self.behavior_weight = behavior_weight
        self.lr = lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.adapt_epochs = adapt_epochs
        self.adapt_lr = adapt_lr
        self.behavior_match = behavior_match
        self.reverse = reverse
        self.reverse_weight = reverse_weight
        self.sqrt_input = sqrt_input
        self.behavior_lag = behavior_lag
        self.device = device
        self.random_state = random_state
        self.progress = progress

    # -- helpers -----------------------------------------------------------

    def _check_params(self) -> None:
        for name in ("factors", "hidden", "g0_dim", "input_dim", "max_epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        for name in ("adapt_epochs", "behavior_lag"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0; got {value!r}")
        for name in ("kl_weight", "behavior_weight", "reverse_weight", "behavior_match"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
        if not 0 <= self.kl_warmup <= 1:
            raise ValueError(f"kl_warmup must be a fraction of the epochs in [0, 1]; got "
                             f"{self.kl_warmup!r}")  # fmt: skip
        for name in ("lr", "adapt_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0; got {getattr(self, name)!r}")

    def _build_model(self) -> SABLENet:
        return SABLENet(
            self.session_channels_, self.input_dim, self.hidden, self.g0_dim, self.factors,
            self.n_outputs_, bool(self.sqrt_input), int(self.behavior_lag),
        )  # fmt: skip

    def _session(self, session: int | None) -> int:
        if session is None:
            if self.adapted_session_ is None:
                raise ValueError(
                    "this SABLE was not adapted to a new session: pass session= (0 to "
                    f"{self.n_train_sessions_ - 1}) or call adapt(counts) first"
                )
            return self.adapted_session_
        n = self.n_train_sessions_
        if not isinstance(session, int | np.integer) or not 0 <= session < n:
            raise ValueError(f"session must be a training session index in 0..{n - 1} or None; "
                             f"got {session!r}")  # fmt: skip
        return int(session)

    def _tensor(self, arr: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(arr).to(self.device_)

    def _batches(self, n: int, rng: np.random.Generator) -> list[np.ndarray]:
        return np.array_split(rng.permutation(n), max(1, round(n / self.batch_size)))

    # -- fitting -------------------------------------------------------------

    def fit(self, counts, velocity) -> SABLE:
        """Train on every trial of every session for ``max_epochs`` epochs."""
        self._check_params()
        counts = _as_list(counts, "counts")
        velocity = _as_list(velocity, "velocity")
        if len(counts) != len(velocity):
            raise ValueError(f"counts and velocity must have one array per session each: "
                             f"{len(counts)} vs {len(velocity)}")  # fmt: skip
        xs = [_check_counts(c, f"counts[{i}]") for i, c in enumerate(counts)]
        ys = [
            _check_velocity(v, x, f"velocity[{i}]")
            for i, (v, x) in enumerate(zip(velocity, xs, strict=True))
        ]
        n_channels = {x.shape[2] for x in xs}
        if len(n_channels) > 1:
            raise ValueError(
                "every session must have the same channels (the same electrodes); got "
                f"channel counts {[x.shape[2] for x in xs]}"
            )
        if len({y.shape[2] for y in ys}) > 1:
            raise ValueError(f"velocity arrays disagree in outputs: {[y.shape[2] for y in ys]}")

        self.n_channels_ = xs[0].shape[2]
        self.n_outputs_ = ys[0].shape[2]
        self.n_train_sessions_ = len(xs)
        self.session_channels_ = [self.n_channels_] * self.n_train_sessions_
        self.adapted_session_ = None
        self.adapt_init_session_ = None
        self.adapt_history_ = pd.DataFrame(columns=ADAPT_HISTORY_COLUMNS)
        flat = np.concatenate([y.reshape(-1, self.n_outputs_) for y in ys])
        self.velocity_mean_ = flat.mean(axis=0).astype(np.float32)
        scale = flat.std(axis=0)
        self.velocity_scale_ = np.where(scale > 0, scale, 1.0).astype(np.float32)
        self._set_device()

        seed = self._seed()
        rng = np.random.default_rng(seed)
        x_t = [self._tensor(x) for x in xs]
        y_t = [self._tensor((y - self.velocity_mean_) / self.velocity_scale_) for y in ys]
        warmup = max(1, round(self.kl_warmup * self.max_epochs))
        history = []
        with self._fork_rng():
            torch.manual_seed(seed)
            self.model_ = self._build_model().to(self.device_)
            self._share_initial_read_weights()
            self._init_rate_offsets(x_t)
            optimizer = torch.optim.Adam(self.model_.parameters(), lr=self.lr)
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
                optimizer, T_max=self.max_epochs, eta_min=self.lr / 10
            )
            bar = tqdm(range(1, self.max_epochs + 1), desc="SABLE fit", file=sys.stderr,
                       disable=not self.progress, leave=False)  # fmt: skip
            self.model_.train()
            for epoch in bar:
                kl_weight = self.kl_weight * min(1.0, epoch / warmup)
                steps = [(s, b) for s, x in enumerate(xs) for b in self._batches(len(x), rng)]
                totals, n_seen = np.zeros(4), 0
                for k in rng.permutation(len(steps)):
                    s, batch = steps[k]
                    b = torch.as_tensor(batch, device=self.device_)
                    nll, kl, beh, _ = self._elbo_terms(x_t[s][b], s, y_t[s][b])
                    objective = nll + kl_weight * kl + self.behavior_weight * beh
                    optimizer.zero_grad(set_to_none=True)
                    objective.backward()
                    nn.utils.clip_grad_norm_(self.model_.parameters(), _CLIP_NORM)
                    optimizer.step()
                    values = [objective.item(), nll.item(), kl.item(), beh.item()]
                    totals += len(batch) * np.array(values)
                    n_seen += len(batch)
                schedule.step()
                loss, nll, kl, beh = totals / n_seen
                if not np.isfinite(loss):
                    raise RuntimeError(f"training diverged at epoch {epoch} (loss {loss}); "
                                       f"try a lower lr (lr={self.lr})")  # fmt: skip
                history.append(
                    {"epoch": epoch, "loss": loss, "nll": nll, "kl": kl, "behavior": beh}
                )
                bar.set_postfix(nll=f"{nll:.3f}", behavior=f"{beh:.3f}")
            bar.close()
            self.model_.eval()
            self._store_posterior_bank(x_t)
        self.history_ = pd.DataFrame(history, columns=HISTORY_COLUMNS)
        return self

    def _share_initial_read_weights(self) -> None:
        """Start every session's read-in/out from the same weights: same electrodes, same start."""
        with torch.no_grad():
            for modules in (self.model_.read_in, self.model_.read_out):
                for module in modules[1:]:
                    module.load_state_dict(modules[0].state_dict())

    def _init_rate_offsets(self, x_t: list[torch.Tensor]) -> None:
        """Start each read-out at its session's mean rates: otherwise the first epochs are
        spent learning them, with the behaviour loss stuck at the mean."""
        with torch.no_grad():
            for read_out, x in zip(self.model_.read_out, x_t, strict=True):
                read_out.bias.copy_(torch.log(x.mean(dim=(0, 1)).clamp_min(1e-3)))

    def _elbo_terms(self, x: torch.Tensor, session: int, y: torch.Tensor | None = None):
        """(Poisson NLL, KL, behaviour MSE or None, factors) per bin, one batch of one session."""
        model = self.model_
        batch = _Batch(model.read_in[session], model.read_out[session], x, y)
        return _joint_terms(model, [batch])[0][:4]

    def _store_posterior_bank(self, x_t: list[torch.Tensor]) -> None:
        """The training trials' posteriors over g0: where the reverse step samples from."""
        means, logvars = [], []
        with torch.no_grad():
            for s, x in enumerate(x_t):
                for start in range(0, len(x), _PREDICT_BATCH):
                    mean, logvar = self.model_.encode(x[start : start + _PREDICT_BATCH], s)
                    means.append(mean.cpu())
                    logvars.append(logvar.cpu())
        self.g0_mean_ = torch.cat(means).numpy()
        self.g0_logvar_ = torch.cat(logvars).numpy()

    # -- adaptation ----------------------------------------------------------

    def to_device(self, device: str) -> SABLE:
        """Move a fitted (e.g. loaded, on CPU) model to ``device`` ("auto", "cpu", "cuda")
        to adapt and predict there; returns ``self``."""
        check_is_fitted(self, "model_")
        self.device = device
        self._set_device()
        self.model_.to(self.device_)
        return self

    def adapt(
        self,
        counts,
        reverse: bool | None = None,
        start: SABLE | None = None,
        velocity=None,
    ) -> SABLE:
        """A new fitted SABLE whose ``predict`` reads this unseen session (no labels used).

        Learns a new read-in and read-out for ``counts`` (trials, bins, channels)
        with the shared networks frozen; ``reverse`` (default: the ``reverse``
        hyperparameter) adds the reverse step. ``start``, an adaptation of this
        model to an earlier unseen session, adds that session's read-in/out to the
        candidate starting points (a chronic array drifts gradually, so the latest
        session is often closer than the training ones). ``velocity`` (trials,
        bins, outputs), when given, makes it a supervised recalibration instead:
        the behaviour loss of training replaces the behaviour matching (what SABLE
        reaches with the session's labels: its within-session ceiling). ``self``
        is left unchanged.
        """
        return self.adapt_together(
            counts, [{"reverse": reverse, "start": start, "velocity": velocity}]
        )[0]

    def adapt_together(self, counts, variants: Sequence[Mapping]) -> list[SABLE]:
        """:meth:`adapt` for several variants of one session at once, each a dict of its
        keywords (e.g. SABLE, its ablation without the reverse step, its recalibration).

        They adapt in lockstep, each with its own random streams, so each equals its own
        :meth:`adapt` call to float rounding; each step's batches of all of them go
        through the frozen encoder and generator in one call (:func:`_joint_terms`).
        """
        check_is_fitted(self, "model_")
        x = _check_counts(counts, "counts")
        if x.shape[2] != self.n_channels_:
            raise ValueError(
                f"counts must have the training sessions' {self.n_channels_} channels; "
                f"got {x.shape[2]}"
            )
        if not variants:
            raise ValueError("variants must hold at least one dict of adapt()'s keywords")
        for variant in variants:
            unknown = sorted(set(variant) - {"reverse", "start", "velocity"})
            if unknown:
                raise ValueError(f"unknown adapt() keyword(s) {unknown} in {variant!r}; "
                                 "expected reverse, start, velocity")  # fmt: skip
        runs = [self._adaptation(x, **variant) for variant in variants]
        self._adapt_lockstep(x, runs)
        return [run.new for run in runs]

    def _adaptation(
        self, x: np.ndarray, reverse: bool | None = None, start: SABLE | None = None, velocity=None
    ) -> _Adaptation:
        """A copy of this SABLE with a new read-in/out for ``x`` at its best start, and
        what adapting it needs (:meth:`adapt`'s arguments checked)."""
        if start is not None and getattr(start, "adapted_session_", None) is None:
            raise ValueError("start must be a SABLE returned by adapt()")
        y = None
        if velocity is not None:
            y = _check_velocity(velocity, x, "velocity")
            if y.shape[2] != self.n_outputs_:
                raise ValueError(f"velocity must have the {self.n_outputs_} outputs of training; "
                                 f"got {y.shape[2]}")  # fmt: skip
        new = copy.deepcopy(self)
        new.reverse = self.reverse if reverse is None else bool(reverse)
        n_train = new.n_train_sessions_
        model = new.model_
        # Drop an earlier adaptation: one adapted session per estimator.
        model.read_in = nn.ModuleList(list(model.read_in)[:n_train])
        model.read_out = nn.ModuleList(list(model.read_out)[:n_train])
        new.session_channels_ = new.session_channels_[:n_train]
        model.eval()
        starts = [(model.read_in[s], model.read_out[s]) for s in range(n_train)]
        if start is not None:
            s = start.adapted_session_
            starts.append((start.model_.read_in[s], start.model_.read_out[s]))
        x_t = new._tensor(x)
        init = new._best_start(x_t, starts)
        read_in = copy.deepcopy(starts[init][0])
        read_out = copy.deepcopy(starts[init][1])
        model.read_in.append(read_in)
        model.read_out.append(read_out)
        new.session_channels_ = [*new.session_channels_, int(x.shape[2])]
        new.adapted_session_ = n_train
        new.adapt_init_session_ = init
        new._match_offsets(x_t, n_train)
        for p in model.parameters():
            p.requires_grad_(False)
        params = [*read_in.parameters(), *read_out.parameters()]
        for p in params:
            p.requires_grad_(True)
        seed = new._seed() + _ADAPT_SEED_OFFSET
        bank_mean = new._tensor(new.g0_mean_)
        if y is not None:
            y = new._tensor((y - new.velocity_mean_) / new.velocity_scale_)
        run = _Adaptation(
            new=new,
            params=params,
            optimizer=torch.optim.Adam(params, lr=new.adapt_lr),
            rng=np.random.default_rng(seed),
            generator=torch.Generator(device=new.device_).manual_seed(seed),
            velocity=y,
            bank_mean=bank_mean,
            bank_std=new._tensor(np.exp(0.5 * new.g0_logvar_)),
            reverse=new.reverse and new.reverse_weight > 0,
        )
        if y is None and new.behavior_match > 0:
            run.behaviour_bank = new._behaviour_bank(bank_mean, x.shape[1])
        return run

    def _adapt_lockstep(self, x: np.ndarray, runs: list[_Adaptation]) -> None:
        """Train every run's read-in/out for ``adapt_epochs``, one batch of each per step."""
        x_t = self._tensor(x)
        n_bins = x.shape[1]
        shared = runs[0].new.model_  # the frozen networks (every copy holds the same weights)
        bar = tqdm(range(1, self.adapt_epochs + 1), desc="SABLE adapt", file=sys.stderr,
                   disable=not self.progress, leave=False)  # fmt: skip
        for epoch in bar:
            for run in runs:
                run.totals, run.n_seen = np.zeros(5), 0
            plans = [run.new._batches(len(x), run.rng) for run in runs]
            for step in zip(*plans, strict=True):
                batches = [run.batch(x_t, b, n_bins) for run, b in zip(runs, step, strict=True)]
                terms = _joint_terms(shared, batches)
                objectives = [run.objective(t) for run, t in zip(runs, terms, strict=True)]
                for run in runs:
                    run.optimizer.zero_grad(set_to_none=True)
                torch.stack(objectives).sum().backward()  # each run's sum reaches its own only
                for run, batch in zip(runs, step, strict=True):
                    nn.utils.clip_grad_norm_(run.params, _CLIP_NORM)
                    run.optimizer.step()
                    run.totals += len(batch) * np.array([v.item() for v in run.values])
                    run.n_seen += len(batch)
            for run in runs:
                loss, nll, kl, match, rev = run.totals / run.n_seen
                if not np.isfinite(loss):
                    raise RuntimeError(
                        f"adaptation diverged at epoch {epoch} (loss {loss}); "
                        f"try a lower adapt_lr (adapt_lr={self.adapt_lr})"
                    )
                run.history.append([epoch, loss, nll, kl, match, rev])
            bar.set_postfix(nll=f"{runs[0].history[-1][2]:.3f}")
        bar.close()
        for run in runs:
            for p in run.new.model_.parameters():
                p.requires_grad_(True)
            run.new.model_.eval()
            run.new.adapt_history_ = pd.DataFrame(run.history, columns=ADAPT_HISTORY_COLUMNS)

    def _best_start(self, x_t: torch.Tensor, starts) -> int:
        """The (read-in, read-out) pair that explains the new counts best (no labels).

        ``starts``: the training sessions' pairs, then an earlier adapted session's
        (index ``n_train_sessions_`` in ``adapt_init_session_``).
        """
        model, scores = self.model_, []
        with torch.no_grad():
            for read_in, read_out in starts:
                mean, _ = model.encode_with(x_t, read_in)
                log_rates = read_out(model.generate(mean, x_t.shape[1]))
                scores.append(_poisson_nll(log_rates, x_t).item())
        return int(np.argmin(scores))

    def _match_offsets(self, x_t: torch.Tensor, session: int) -> None:
        """Shift the new read-out's offsets so each channel's mean rate matches the new data."""
        with torch.no_grad():
            mean, _ = self.model_.encode(x_t, session)
            rates = torch.exp(
                self.model_.read_out[session](self.model_.generate(mean, x_t.shape[1]))
            )
            observed = x_t.mean(dim=(0, 1)).clamp_min(1e-3)
            self.model_.read_out[session].bias += torch.log(observed / rates.mean(dim=(0, 1)))

    def _behaviour_mmd(self, factors: torch.Tensor, bank, idx: np.ndarray) -> torch.Tensor:
        """MMD² between the behaviour predicted from a batch's factors and the training trials'
        ``idx`` (:func:`_bank_draw`)."""
        return _mmd_to(self.model_.velocity(factors).flatten(1), bank, idx)

    def _behaviour_bank(self, g0_mean: torch.Tensor, n_bins: int):
        """The training trials' predicted behaviour (trials, bins × outputs), the kernel widths
        (fractions of its median pairwise distance) and its mean self-similarity."""
        with torch.no_grad():
            trajectories = self.model_.velocity(self.model_.generate(g0_mean, n_bins)).flatten(1)
            distances = torch.cdist(trajectories, trajectories)
            median = distances[distances > 0].median()
            widths = median * torch.tensor(_MATCH_WIDTHS, device=self.device_)
            return trajectories, widths, _kernel(trajectories, trajectories, widths)

    # -- prediction ----------------------------------------------------------

    def _run(self, counts, session: int | None, what: str) -> np.ndarray:
        check_is_fitted(self, "model_")
        s = self._session(session)
        x = _check_counts(counts, "counts")
        if x.shape[2] != self.session_channels_[s]:
            raise ValueError(f"counts must have {self.session_channels_[s]} channels as at fit; "
                             f"got {x.shape[2]}")  # fmt: skip
        self.model_.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(x), _PREDICT_BATCH):
                xb = self._tensor(x[start : start + _PREDICT_BATCH])
                mean, _ = self.model_.encode(xb, s)
                factors = self.model_.generate(mean, xb.shape[1])
                if what == "velocity":
                    factors = self.model_.velocity(factors)
                elif what == "rates":
                    factors = torch.exp(self.model_.read_out[s](factors))
                out.append(factors.cpu().numpy())
        return np.concatenate(out).astype(np.float32)

    def predict(self, counts, session: int | None = None) -> np.ndarray:
        """Velocity (trials, bins, outputs) in the units of the fitted velocity."""
        z = self._run(counts, session, "velocity")
        return (z * self.velocity_scale_ + self.velocity_mean_).astype(np.float32)

    def latents(self, counts, session: int | None = None) -> np.ndarray:
        """Factors (trials, bins, factors) from the posterior mean of g0."""
        return self._run(counts, session, "factors")

    def rates(self, counts, session: int | None = None) -> np.ndarray:
        """Inferred firing rates (trials, bins, channels), counts per bin."""
        return self._run(counts, session, "rates")

    # -- persistence (TorchEstimator.save / load) ---------------------------

    def _checkpoint_fields(self) -> dict:
        return {
            "n_channels": int(self.n_channels_),
            "n_outputs": int(self.n_outputs_),
            "n_train_sessions": int(self.n_train_sessions_),
            "session_channels": [int(c) for c in self.session_channels_],
            "adapted_session": self.adapted_session_,
            "adapt_init_session": self.adapt_init_session_,
            "adapt_history": [
                {k: (int(v) if k == "epoch" else float(v)) for k, v in r.items()}
                for r in self.adapt_history_.to_dict("records")
            ],
            "velocity_mean": torch.from_numpy(self.velocity_mean_),
            "velocity_scale": torch.from_numpy(self.velocity_scale_),
            "g0_mean": torch.from_numpy(self.g0_mean_),
            "g0_logvar": torch.from_numpy(self.g0_logvar_),
        }

    def _restore_fields(self, state: dict, path: Path) -> None:
        self.n_channels_ = state["n_channels"]
        self.n_outputs_ = state["n_outputs"]
        self.n_train_sessions_ = state["n_train_sessions"]
        self.session_channels_ = list(state["session_channels"])
        self.adapted_session_ = state["adapted_session"]
        self.adapt_init_session_ = state["adapt_init_session"]
        expected = self.n_train_sessions_ + (self.adapted_session_ is not None)
        if len(self.session_channels_) != expected:
            raise ValueError(f"{path}: {len(self.session_channels_)} read-ins for {expected} "
                             "sessions in the checkpoint")  # fmt: skip
        self.adapt_history_ = pd.DataFrame(state["adapt_history"], columns=ADAPT_HISTORY_COLUMNS)
        self.velocity_mean_ = state["velocity_mean"].numpy()
        self.velocity_scale_ = state["velocity_scale"].numpy()
        self.g0_mean_ = state["g0_mean"].numpy()
        self.g0_logvar_ = state["g0_logvar"].numpy()
