"""Decode the behaviour of a recording's held-out block from its embeddings and with the
standard decoders; consistency of CEBRA across seeds; the validation curves chosen on."""

import argparse
import json
from pathlib import Path

import pandas as pd

from brainlatent.datasets.recording import read_recording
from brainlatent.decoding.behavior import decode_behavior, load_embedding
from brainlatent.io import read_table, write_table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recording", type=Path, required=True, help="NWB or npz file")
    parser.add_argument("--reader", type=json.loads, default={}, help="JSON: read_recording kwargs")
    parser.add_argument("--name", required=True, help="the recording's name (dataset column)")
    parser.add_argument("--methods", nargs="+", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, required=True)
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--input-smoothing", default="0", help="Gaussian s.d. (s), or auto")
    parser.add_argument("--curves", type=Path, nargs="*", default=[], help="CEBRA's curves")
    parser.add_argument("--selection-settings", type=json.loads, default={}, help="JSON")
    parser.add_argument("--pca-dim", type=int, default=3)
    parser.add_argument("--fitted", type=Path, nargs="*", default=[], help="embedding .npz files")
    parser.add_argument("--neighbors", type=int, default=36)
    parser.add_argument("--knn-metric", default="cosine")
    parser.add_argument(
        "--bayesian", type=json.loads, default={}, help="JSON: the Bayesian decoder's settings"
    )
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--consistency", type=Path, required=True)
    parser.add_argument("--selection", type=Path, required=True, help="curves, choice marked")
    args = parser.parse_args(argv)
    recording = read_recording(args.recording, **args.reader)
    if recording.resampling:
        print(recording.resampling)
    fitted = {}
    for path in args.fitted:
        method, seed, embedding = load_embedding(path)
        fitted[(method, seed)] = embedding
    missing = [
        (m, s)
        for m in args.methods
        if m in ("cebra_behavior", "cebra_time", "pca")
        for s in (args.seeds if m != "pca" else [None])
        if (m, s) not in fitted
    ]
    if missing:
        raise SystemExit(f"no fitted embedding given for {missing} (--fitted)")
    smoothing = (
        args.input_smoothing if args.input_smoothing == "auto" else float(args.input_smoothing)
    )
    result = decode_behavior(
        recording,
        args.methods,
        args.seeds,
        test_fraction=args.test_fraction,
        input_smoothing_s=smoothing,
        selection_curves=pd.concat([read_table(p) for p in args.curves]) if args.curves else None,
        selection=args.selection_settings,
        fitted=fitted,
        pca_dim=args.pca_dim,
        n_neighbors=args.neighbors,
        metric=args.knn_metric,
        standard_params={"bayesian_params": args.bayesian},
        dataset=args.name,
    )
    print(result.metrics.to_string())
    print(result.consistency.to_string())
    write_table(args.selection, result.selection)
    write_table(args.consistency, result.consistency)
    write_table(args.metrics, result.metrics)


if __name__ == "__main__":
    main()
