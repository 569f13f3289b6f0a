"""Decoding from neural embeddings: which movie frame was on screen (Schneider et al. 2023).

``frames`` holds the kNN frame decoder, the neuron-count sweep of Fig. 5 and
the across-mouse linear consistency of Fig. 4; the embeddings themselves come
from :mod:`brainlatent.models.cebra_models` or the baselines in ``frames``.
"""
