"""The pi-VAE continuous-label simulation used for CEBRA's Figure 1.

Zhou & Wei (2020) draw a label ``u ~ U[0, 2π]`` and a 2-D latent
``z ~ N((u, 2 sin u), diag(0.6 - 0.3|sin u|, 0.3|sin u|))``, pad ``z`` with
zeros to the number of neurons, map it through a randomly initialised RealNVP
flow (4 blocks of 2 affine coupling layers, a fixed permutation between
blocks), squash the output to log-rates ``2.2 tanh(·)`` and draw Poisson counts.
Schneider, Lee & Mathis (2023) reuse exactly this process (15,000 samples, 100
neurons). Because the flow and the squashing are invertible, the rates are an
injective function of ``z``, so ``z`` is recoverable in principle; the
benchmark asks whether an embedding recovers it up to a *linear* map.

The flow's weights follow Keras's defaults used by pi-VAE (Glorot-uniform
kernels, zero biases) but are drawn from ``seed`` rather than left unseeded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brainlatent.seeding import rng

#: Log-rates are ``LOG_RATE_GAIN * tanh(flow output)``, so rates lie in (e^-2.2, e^2.2).
LOG_RATE_GAIN = 2.2
#: Bound on the coupling log-scales, as in pi-VAE (keeps the flow well conditioned).
SCALE_BOUND = 0.1


@dataclass(frozen=True)
class PiVAEData:
    """One simulated session: label, true latent, Poisson rates and counts.

    ``u`` (n,) and ``z`` (n, 2) and ``rates`` (n, neurons) are float64;
    ``spikes`` (n, neurons) are float32 counts, ready for torch.
    """

    u: np.ndarray
    z: np.ndarray
    rates: np.ndarray
    spikes: np.ndarray


@dataclass(frozen=True)
class AffineCoupling:
    """``[a, b] -> [b * exp(s(a)) + t(a), a]``: invertible whatever the MLP computing s, t.

    ``a`` is the first ``n_kept`` inputs; ``s`` is bounded by ``SCALE_BOUND``
    so the map stays close to volume preserving.
    """

    weights: tuple[np.ndarray, ...]  # (W1, b1, W2, b2, W3, b3) of a 2-hidden-layer ReLU MLP

    @property
    def n_kept(self) -> int:
        return self.weights[0].shape[0]

    def _scale_shift(self, kept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w1, b1, w2, b2, w3, b3 = self.weights
        hidden = np.maximum(kept @ w1 + b1, 0.0)
        hidden = np.maximum(hidden @ w2 + b2, 0.0)
        out = hidden @ w3 + b3
        n_moved = out.shape[1] // 2
        return SCALE_BOUND * np.tanh(out[:, :n_moved]), out[:, n_moved:]

    def forward(self, x: np.ndarray) -> np.ndarray:
        kept, moved = x[:, : self.n_kept], x[:, self.n_kept :]
        s, t = self._scale_shift(kept)
        return np.concatenate([moved * np.exp(s) + t, kept], axis=1)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        n_moved = y.shape[1] - self.n_kept
        moved_out, kept = y[:, :n_moved], y[:, n_moved:]
        s, t = self._scale_shift(kept)
        return np.concatenate([kept, (moved_out - t) * np.exp(-s)], axis=1)


@dataclass(frozen=True)
class RealNVPFlow:
    """Coupling layers and permutations (index arrays) on ``n_dim`` dimensions, in order."""

    n_dim: int
    steps: tuple[AffineCoupling | np.ndarray, ...]

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        for step in self.steps:
            x = step.forward(x) if isinstance(step, AffineCoupling) else x[:, step]
        return x

    def inverse(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        for step in reversed(self.steps):
            y = step.inverse(y) if isinstance(step, AffineCoupling) else y[:, np.argsort(step)]
        return y


def _glorot(gen: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    limit = np.sqrt(6.0 / (n_in + n_out))
    return gen.uniform(-limit, limit, size=(n_in, n_out))


def _coupling(gen: np.random.Generator, n_dim: int) -> AffineCoupling:
    n_kept = n_dim // 2
    n_moved = n_dim - n_kept
    hidden = max(n_kept // 2, 1)  # pi-VAE's width: a quarter of the layer's dimension
    sizes = [(n_kept, hidden), (hidden, hidden), (hidden, 2 * n_moved)]
    weights: list[np.ndarray] = []
    for n_in, n_out in sizes:
        weights += [_glorot(gen, n_in, n_out), np.zeros(n_out)]
    return AffineCoupling(tuple(weights))


def make_flow(n_dim: int, seed: int, n_blocks: int = 4, layers_per_block: int = 2) -> RealNVPFlow:
    """pi-VAE's random RealNVP on ``n_dim`` dimensions: blocks of couplings, permuted between."""
    if n_dim < 2:
        raise ValueError(f"the flow needs at least 2 dimensions (the latent's); got {n_dim}")
    gen = rng(seed, "pivae", "flow", n_dim)
    steps: list[AffineCoupling | np.ndarray] = []
    for block in range(n_blocks):
        if block > 0:
            steps.append(gen.permutation(n_dim))
        steps += [_coupling(gen, n_dim) for _ in range(layers_per_block)]
    return RealNVPFlow(n_dim, tuple(steps))


def sample_latents(n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``u`` (n,) uniform on [0, 2π) and ``z`` (n, 2) with pi-VAE's label-dependent variance."""
    gen = rng(seed, "pivae", "latent")
    u = gen.uniform(0.0, 2.0 * np.pi, size=n_samples)
    mean = np.stack([u, 2.0 * np.sin(u)], axis=1)
    var = np.stack([0.6 - 0.3 * np.abs(np.sin(u)), 0.3 * np.abs(np.sin(u))], axis=1)
    z = mean + np.sqrt(var) * gen.standard_normal((n_samples, 2))
    return u, z


def rates_from_latents(z: np.ndarray, flow: RealNVPFlow) -> np.ndarray:
    """Poisson rates: zero-pad ``z`` to the flow's dimension, apply it, squash to log-rates."""
    z = np.asarray(z, dtype=np.float64)
    padded = np.zeros((len(z), flow.n_dim))
    padded[:, : z.shape[1]] = z
    return np.exp(LOG_RATE_GAIN * np.tanh(flow.forward(padded)))


def simulate(n_samples: int = 15000, n_neurons: int = 100, seed: int = 0) -> PiVAEData:
    """Simulate the benchmark; label, flow and spikes each draw from their own child seed."""
    if n_samples < 1:
        raise ValueError(f"n_samples must be positive; got {n_samples}")
    u, z = sample_latents(n_samples, seed)
    rates = rates_from_latents(z, make_flow(n_neurons, seed))
    spikes = rng(seed, "pivae", "spikes").poisson(rates).astype(np.float32)
    return PiVAEData(u=u, z=z, rates=rates, spikes=spikes)
