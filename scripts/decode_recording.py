"""Decode the behaviour of a recording's held-out block: CEBRA-Behavior/-Time, PCA, raw."""

import argparse
import json
from pathlib import Path

import torch

from brainlatent.datasets.recording import read_recording
from brainlatent.decoding.behavior import (
    decode_behavior,
    embedding_filename,
    save_embedding,
)
from brainlatent.device import add_device_argument, refuse_device_key
from brainlatent.io import write_table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recording", type=Path, required=True, help="NWB or npz file")
    parser.add_argument("--reader", type=json.loads, default={}, help="JSON: read_recording kwargs")
    parser.add_argument("--methods", nargs="+", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, required=True)
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument(
        "--input-smoothing",
        type=float,
        default=0.0,
        help="Gaussian s.d. (s) of the embeddings' input",
    )
    parser.add_argument("--pca-dim", type=int, default=3)
    parser.add_argument("--neighbors", type=int, default=36)
    parser.add_argument("--knn-metric", default="cosine")
    parser.add_argument("--cebra", type=json.loads, default={}, help="JSON CEBRA parameters")
    parser.add_argument("--threads", type=int, default=1)
    add_device_argument(parser)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--consistency", type=Path, required=True)
    parser.add_argument("--embeddings", type=Path, required=True, help="folder of .npz files")
    args = parser.parse_args(argv)
    refuse_device_key(parser, args.cebra, "--cebra")
    torch.set_num_threads(args.threads)
    recording = read_recording(args.recording, **args.reader)
    if recording.resampling:
        print(recording.resampling)
    result = decode_behavior(
        recording,
        args.methods,
        args.seeds,
        {**args.cebra, "device": args.device},
        test_fraction=args.test_fraction,
        input_smoothing_s=args.input_smoothing,
        pca_dim=args.pca_dim,
        n_neighbors=args.neighbors,
        metric=args.knn_metric,
        threads=args.threads,
    )
    for method, seed in result.embeddings:
        save_embedding(
            args.embeddings / embedding_filename(method, seed), result, recording, method, seed
        )
    print(result.metrics.to_string())
    print(result.consistency.to_string())
    write_table(args.consistency, result.consistency)
    write_table(args.metrics, result.metrics)


if __name__ == "__main__":
    main()
