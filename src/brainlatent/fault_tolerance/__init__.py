"""Fault-tolerant computation with noisy neurons and the grid cells' error-correcting code.

After Zlokapa, Tan, Martyn, Fiete, Tegmark & Chuang (2022), *Fault-tolerant neural networks
from biological error correction codes* (arXiv:2202.12887): Boolean gates built from
neurons whose outputs carry additive Gaussian noise, each logical bit held in the modular
phases of a grid code (:mod:`.code`), gates that decode, apply their truth table and
re-encode (:mod:`.circuits`), von Neumann's bundles with majority restoration on top; the
noise threshold (:mod:`.threshold`), the neurons a two-bit multiplier needs
(:mod:`.scaling`), and biological neurons' noise in the model's units (:mod:`.biology`).
:mod:`.experiment` runs them as the ``fault_tolerance`` chain.
"""
