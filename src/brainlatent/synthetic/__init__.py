"""Synthetic benchmarks with a known ground-truth latent (CEBRA Fig. 1, after pi-VAE)."""
