"""Decode the movie frame of one mouse's held-out repeat: raw, PCA and CEBRA vs neuron count."""

import argparse
import json
from pathlib import Path

import torch

from brainlatent.decoding.movie import decode_movie_frames
from brainlatent.device import add_device_argument, refuse_device_key
from brainlatent.io import load_npy, read_json, read_table, write_table
from brainlatent.preprocessing.calcium import pool_columns


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mouse", required=True)
    parser.add_argument("--neural", type=Path, required=True)
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument(
        "--info", type=Path, default=None, help="info.json: a pseudo-mouse's cells per seed"
    )
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--methods", nargs="+", required=True)
    parser.add_argument("--neuron-counts", nargs="+", type=int, required=True)
    parser.add_argument("--seeds", nargs="+", type=int, required=True)
    parser.add_argument("--pca-dim", type=int, default=8)
    parser.add_argument("--window", type=int, default=30)
    parser.add_argument("--cebra", type=json.loads, default={}, help="JSON CEBRA parameters")
    parser.add_argument("--threads", type=int, default=1)
    add_device_argument(parser)
    parser.add_argument("--metrics", type=Path, required=True)
    args = parser.parse_args(argv)
    refuse_device_key(parser, args.cebra, "--cebra")
    torch.set_num_threads(args.threads)
    labels = read_table(args.labels, ["frame", "repeat"])
    info = read_json(args.info) if args.info else {}
    candidates = {seed: pool_columns(info, seed, args.info) for seed in args.seeds}
    table = decode_movie_frames(
        load_npy(args.neural, mmap=False),
        labels["frame"].to_numpy(),
        labels["repeat"].to_numpy(),
        load_npy(args.features, mmap=False),
        args.methods,
        args.neuron_counts,
        args.seeds,
        {**args.cebra, "device": args.device},
        pca_dim=args.pca_dim,
        window=args.window,
        candidates=None if any(c is None for c in candidates.values()) else candidates,
    )
    table.insert(0, "subject", args.mouse)
    table.insert(0, "dataset", "allen_calcium")
    print(table.query("metric == 'accuracy'").to_string())
    write_table(args.metrics, table)


if __name__ == "__main__":
    main()
