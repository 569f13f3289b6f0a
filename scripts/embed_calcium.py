"""Fit one CEBRA model on a mouse's training repeats and embed every movie frame it saw."""

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from brainlatent.decoding.movie import movie_embedding
from brainlatent.io import atomic_path, load_npy, read_table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--neural", type=Path, required=True)
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--kind", choices=["time", "behavior", "hybrid"], required=True)
    parser.add_argument("--cebra", type=json.loads, default={}, help="JSON CEBRA parameters")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--embedding", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    labels = read_table(args.labels, ["frame", "repeat"])
    frame, repeat = labels["frame"].to_numpy(), labels["repeat"].to_numpy()
    embedding = movie_embedding(
        load_npy(args.neural, mmap=False),
        frame,
        repeat,
        load_npy(args.features, mmap=False),
        args.kind,
        {**args.cebra, "threads": args.threads},
        seed=args.seed,
    )
    with atomic_path(args.embedding) as tmp, open(tmp, "wb") as f:
        np.savez(f, embedding=embedding, frame=frame, repeat=repeat)
    print(f"CEBRA-{args.kind}: {embedding.shape} embedding")


if __name__ == "__main__":
    main()
