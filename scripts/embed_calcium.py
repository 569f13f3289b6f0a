"""Fit one CEBRA model on a mouse's training repeats and embed every movie frame it saw."""

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from brainlatent.decoding.movie import movie_embedding
from brainlatent.device import add_device_argument, device_name, refuse_device_key
from brainlatent.io import atomic_path, load_npy, read_json, read_table
from brainlatent.preprocessing.calcium import pool_columns


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--neural", type=Path, required=True)
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument(
        "--info", type=Path, default=None, help="info.json: a pseudo-mouse's cells per seed"
    )
    parser.add_argument(
        "--pool-seed", type=int, default=0, help="a pseudo-mouse: embed the cells this seed drew"
    )
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--kind", choices=["time", "behavior", "hybrid"], required=True)
    parser.add_argument("--cebra", type=json.loads, default={}, help="JSON CEBRA parameters")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    add_device_argument(parser)
    parser.add_argument("--embedding", type=Path, required=True)
    args = parser.parse_args(argv)
    refuse_device_key(parser, args.cebra, "--cebra")
    device = device_name(args.device)  # recorded with the embedding, for calcium_consistency
    torch.set_num_threads(args.threads)
    labels = read_table(args.labels, ["frame", "repeat"])
    frame, repeat = labels["frame"].to_numpy(), labels["repeat"].to_numpy()
    neural = load_npy(args.neural, mmap=False)
    columns = pool_columns(read_json(args.info), args.pool_seed, args.info) if args.info else None
    embedding = movie_embedding(
        neural if columns is None else neural[:, columns],
        frame,
        repeat,
        load_npy(args.features, mmap=False),
        args.kind,
        {**args.cebra, "device": device, "threads": args.threads},
        seed=args.seed,
    )
    with atomic_path(args.embedding) as tmp, open(tmp, "wb") as f:
        np.savez(f, embedding=embedding, frame=frame, repeat=repeat, device=np.array(device))
    print(f"CEBRA-{args.kind}: {embedding.shape} embedding on {device}")


if __name__ == "__main__":
    main()
