"""Boolean circuits of noisy neurons, with the grid code's protection and without it.

Every gate here reads the *sum* of its input bits and applies a truth table to it
(:data:`GATES`): XOR, AND and OR of two bits, the majority of three. Every population of
neurons, whichever the code, adds Gaussian noise of s.d. ``σ`` to each neuron's output.

- **Protected** (:func:`grid_gate`): each bit is a grid-code state (:class:`~.code.GridCode`);
  the gate adds the input phases (a population tuned to the summed phase), scores every
  possible sum, takes the winner and writes the truth table's output bit as a fresh code
  state. Analog noise never passes a gate: it can only make the decoder pick a wrong sum, a
  *digital* error. Those are then corrected as von Neumann (1956) did, with bundles of
  ``R`` wires per logical bit and a restoring stage (each wire replaced by the majority of
  three wires of its bundle, chosen by random permutations, itself a noisy grid-code gate).
- **Unprotected** (:func:`rate_gate`): the same circuit with each bit held by the mean rate
  of a population of as many neurons (plain redundancy, no code), decoded by rounding the
  summed rate, and ``R`` independent copies read by one final majority vote.
- **Rate code with restoration** (``xor_chain(..., protected=False, restore=True)``): the
  unprotected gates with von Neumann's restoring layer of the protected chain (majority-of-3
  rate gates): what the restoration alone does, with fewer neurons per wire and layer than
  the grid code's chain (60 against 88 at the defaults).

All functions are vectorised over leading axes (noise levels, trials, wires); ``sigma``
broadcasts against the leading shape.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from brainlatent.fault_tolerance.code import GridCode

#: Gates as (fan-in, output bit for each input sum 0..fan-in).
GATES: dict[str, tuple[int, tuple[int, ...]]] = {
    "xor": (2, (0, 1, 0)),
    "and": (2, (0, 0, 1)),
    "or": (2, (0, 1, 1)),
    "maj": (3, (0, 0, 1, 1)),
}


def _gate(name: str) -> tuple[int, np.ndarray]:
    fan_in, truth = GATES[name]
    return fan_in, np.asarray(truth, dtype=np.int8)


def grid_gate(
    name: str, inputs: Sequence[np.ndarray], code: GridCode, sigma, gen: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One grid-code gate: ``inputs`` are population vectors (complex, ``(..., M)``);
    returns the output population's vectors and the output bits the decoder chose."""
    fan_in, truth = _gate(name)
    if len(inputs) != fan_in:
        raise ValueError(f"gate {name} takes {fan_in} inputs, got {len(inputs)}")
    summed = np.ones_like(inputs[0])
    for phasor in inputs:  # phase addition: the product of the normalised phasors
        summed = summed * (phasor / np.maximum(np.abs(phasor), 1e-12))
    sigma = np.asarray(sigma, dtype=np.float64)
    s = code.population_noise(sigma)[..., None].astype(np.float32)
    noise = gen.standard_normal((2, *summed.shape), dtype=np.float32)
    summed = summed + s * (noise[0] + 1j * noise[1])
    scores = code.scores(summed, fan_in + 1)
    s = code.score_noise(sigma)[..., None].astype(np.float32)
    scores = scores + s * gen.standard_normal(scores.shape, dtype=np.float32)
    bits = truth[np.argmax(scores, axis=-1)]
    return code.encode(bits, sigma, gen), bits


def rate_gate(
    name: str, inputs: Sequence[np.ndarray], neurons: int, sigma, gen: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The same gate without a code: ``inputs`` are population mean rates (a bit ± noise);
    the summed rate (a population of ``neurons``, noisy) is rounded to the nearest sum."""
    fan_in, truth = _gate(name)
    s = np.asarray(sigma, dtype=np.float64) / np.sqrt(neurons)
    total = sum(inputs) + s * gen.standard_normal(inputs[0].shape)
    bits = truth[np.clip(np.rint(total), 0, fan_in).astype(np.int64)]
    return bits + s * gen.standard_normal(bits.shape), bits


def _majority(bits: np.ndarray) -> np.ndarray:
    """The majority of the last axis (an odd number of wires)."""
    return (2 * bits.sum(axis=-1) > bits.shape[-1]).astype(np.int8)


def xor_chain(
    code: GridCode,
    sigmas,
    depths: Sequence[int],
    bundle: int,
    n_trials: int,
    gen: np.random.Generator,
    protected: bool = True,
    restore: bool | None = None,
) -> dict[str, np.ndarray]:
    """Failure of a chain of XOR gates (the parity of ``depth + 1`` random bits) at each
    depth of ``depths``, for each noise level: arrays of shape ``(len(sigmas), len(depths))``.

    XOR masks no error, so every uncorrected gate error reaches the output: the hardest case.
    ``restore`` (default: ``protected``): a restoring layer after every XOR, each wire the
    majority of three wires of its bundle, made of the chain's own kind of gate.
    ``failure``: the probability that the final majority of the ``bundle`` wires is wrong;
    ``wire_error``: the mean fraction of wrong wires (protected: after restoration).
    """
    if bundle < 1 or bundle % 2 == 0:
        raise ValueError(f"bundle must be an odd number of wires, got {bundle}")
    depths = sorted(set(int(d) for d in depths))
    if depths[0] < 1:
        raise ValueError(f"depths must be >= 1, got {depths}")
    restore = protected if restore is None else restore
    sigma = np.asarray(sigmas, dtype=np.float64).reshape(-1, 1, 1)
    shape = (sigma.shape[0], n_trials, bundle)
    truth = gen.integers(0, 2, size=(sigma.shape[0], n_trials, 1)).astype(np.int8)
    neurons = code.neurons * code.modules  # the unprotected populations: as many neurons

    def fresh(bits):
        bits = np.broadcast_to(bits, shape)
        if protected:
            return code.encode(bits, sigma, gen)
        return bits + sigma / np.sqrt(neurons) * gen.standard_normal(shape)

    wires = fresh(truth)
    failure = np.empty((sigma.shape[0], len(depths)))
    wire_error = np.empty_like(failure)
    for layer in range(1, depths[-1] + 1):
        bit = gen.integers(0, 2, size=truth.shape).astype(np.int8)
        truth = truth ^ bit
        if protected:
            wires, bits = grid_gate("xor", [wires, fresh(bit)], code, sigma, gen)
        else:
            wires, bits = rate_gate("xor", [wires, fresh(bit)], neurons, sigma, gen)
        if restore:  # each wire becomes the majority of three wires of its bundle
            picks = [gen.permutation(bundle) for _ in range(3)]
            inputs = [wires[:, :, p] for p in picks]
            if protected:
                wires, bits = grid_gate("maj", inputs, code, sigma, gen)
            else:
                wires, bits = rate_gate("maj", inputs, neurons, sigma, gen)
        if layer in depths:
            i = depths.index(layer)
            wrong = bits != truth
            failure[:, i] = (_majority(bits) != truth[..., 0]).mean(axis=1)
            wire_error[:, i] = wrong.mean(axis=(1, 2))
    return {"depths": np.asarray(depths), "failure": failure, "wire_error": wire_error}


#: The two-bit multiplier (a1 a0) × (b1 b0) = (p3 p2 p1 p0): four partial products and two
#: half adders, as (output, gate, inputs), in order.
MULTIPLIER: tuple[tuple[str, str, tuple[str, str]], ...] = (
    ("p0", "and", ("a0", "b0")),
    ("t1", "and", ("a1", "b0")),
    ("t2", "and", ("a0", "b1")),
    ("t3", "and", ("a1", "b1")),
    ("p1", "xor", ("t1", "t2")),
    ("c1", "and", ("t1", "t2")),
    ("p2", "xor", ("t3", "c1")),
    ("p3", "and", ("t3", "c1")),
)
MULTIPLIER_INPUTS = ("a0", "a1", "b0", "b1")
MULTIPLIER_OUTPUTS = ("p0", "p1", "p2", "p3")


def multiplier_neurons(code: GridCode) -> int:
    """Neurons of the protected multiplier: an encoding population per input bit and module;
    per gate, a summed-phase and an output population per module and a score population per
    candidate sum."""
    per_population = code.neurons
    gates = sum(
        (2 * code.modules + GATES[gate][0] + 1) * per_population for _, gate, _ in MULTIPLIER
    )
    return len(MULTIPLIER_INPUTS) * code.modules * per_population + gates


def multiplier_failure(code: GridCode, sigma: float, n_trials: int, seed: int) -> float:
    """Probability that a protected two-bit multiplier gets any product bit wrong, over
    random inputs. The draws depend on ``seed`` only, not on the code's neurons: calls that
    differ in ``code.neurons`` share their random numbers (a monotone search in K)."""
    gen = np.random.default_rng(seed)
    a = gen.integers(0, 4, size=n_trials)
    b = gen.integers(0, 4, size=n_trials)
    bits = {"a0": a & 1, "a1": a >> 1, "b0": b & 1, "b1": b >> 1}
    wires = {name: code.encode(bits[name], sigma, gen) for name in MULTIPLIER_INPUTS}
    out = {}
    for name, gate, (x, y) in MULTIPLIER:
        wires[name], out[name] = grid_gate(gate, [wires[x], wires[y]], code, sigma, gen)
    product = sum(out[name].astype(np.int64) << i for i, name in enumerate(MULTIPLIER_OUTPUTS))
    return float(np.mean(product != a * b))
