"""Fit one embedding of a recording (CEBRA of one seed, or PCA) on its training block."""

import argparse
import json
import re
from pathlib import Path

import pandas as pd
import torch

from brainlatent.datasets.recording import read_recording
from brainlatent.decoding.behavior import (
    fit_recording_embedding,
    resolve_input,
    save_embedding,
    select_input,
    split_index,
)
from brainlatent.device import add_device_argument, refuse_device_key
from brainlatent.io import read_table


def parse_embedding(name: str) -> tuple[str, int | None]:
    """``cebra_behavior_seed0`` -> ("cebra_behavior", 0); ``pca`` -> ("pca", None)."""
    match = re.fullmatch(r"(cebra_behavior|cebra_time)_seed(\d+)|(pca)", name)
    if match is None:
        raise SystemExit(f"unknown embedding {name!r}: expected <cebra method>_seed<N> or pca")
    return (match[3], None) if match[3] else (match[1], int(match[2]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recording", type=Path, required=True, help="NWB or npz file")
    parser.add_argument("--reader", type=json.loads, default={}, help="JSON: read_recording kwargs")
    parser.add_argument("--embedding", required=True, help="cebra_behavior_seed0, ..., or pca")
    parser.add_argument("--input-smoothing", default="0", help="Gaussian s.d. (s), or auto")
    parser.add_argument("--curves", type=Path, nargs="*", default=[], help="CEBRA's curves")
    parser.add_argument(
        "--selection", type=json.loads, default={}, help="JSON: recording.selection"
    )
    parser.add_argument("--neighbors", type=int, default=36)
    parser.add_argument("--knn-metric", default="cosine")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--pca-dim", type=int, default=3)
    parser.add_argument("--cebra", type=json.loads, default={}, help="JSON CEBRA parameters")
    parser.add_argument("--threads", type=int, default=1)
    add_device_argument(parser)
    parser.add_argument("--out", type=Path, required=True, help="the embedding (.npz)")
    args = parser.parse_args(argv)
    refuse_device_key(parser, args.cebra, "--cebra")
    torch.set_num_threads(args.threads)
    method, seed = parse_embedding(args.embedding)
    smoothing = (
        args.input_smoothing if args.input_smoothing == "auto" else float(args.input_smoothing)
    )
    curves = pd.concat([read_table(p) for p in args.curves]) if args.curves else None
    recording = read_recording(args.recording, **args.reader)
    sigma, cebra_params, _ = resolve_input(
        smoothing,
        {**args.cebra, "device": args.device},
        curves,
        select=lambda: select_input(  # PCA: a kNN fit per width, made here
            recording,
            method,
            test_fraction=args.test_fraction,
            selection=args.selection,
            n_neighbors=args.neighbors,
            metric=args.knn_metric,
            pca_dim=args.pca_dim,
        ),
    )
    fitted = fit_recording_embedding(
        recording,
        method,
        seed,
        smoothing_s=sigma,
        cebra_params=cebra_params,
        test_fraction=args.test_fraction,
        pca_dim=args.pca_dim,
        threads=args.threads,
        progress=True,
    )
    split = split_index(len(recording.neural), args.test_fraction)
    save_embedding(args.out, fitted, recording, method, seed, split)
    print(f"{args.embedding}: input smoothing {sigma:g} s, {fitted.iterations} iterations")


if __name__ == "__main__":
    main()
