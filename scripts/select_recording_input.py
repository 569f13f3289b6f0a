"""Validation curve of one input width: fitted on the training block's first part, scored on
its tail."""

import argparse
import json
from pathlib import Path

from brainlatent.datasets.recording import read_recording
from brainlatent.decoding.behavior import split_index, validation_curve_of
from brainlatent.device import add_device_argument, refuse_device_key
from brainlatent.io import write_table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recording", type=Path, required=True, help="NWB or npz file")
    parser.add_argument("--reader", type=json.loads, default={}, help="JSON: read_recording kwargs")
    parser.add_argument("--name", required=True, help="the recording's name (dataset column)")
    parser.add_argument("--method", required=True, help="cebra_behavior, cebra_time or raw")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoothing", type=float, required=True, help="input Gaussian s.d. (s)")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument(
        "--selection", type=json.loads, default={}, help="JSON: recording.selection"
    )
    parser.add_argument("--neighbors", type=int, default=36)
    parser.add_argument("--knn-metric", default="cosine")
    parser.add_argument("--cebra", type=json.loads, default={}, help="JSON CEBRA parameters")
    parser.add_argument("--threads", type=int, default=1)
    add_device_argument(parser)
    parser.add_argument("--out", type=Path, required=True, help="the curve (.parquet)")
    args = parser.parse_args(argv)
    refuse_device_key(parser, args.cebra, "--cebra")
    recording = read_recording(args.recording, **args.reader)
    curve = validation_curve_of(
        recording,
        args.method,
        args.smoothing,
        split=split_index(len(recording.neural), args.test_fraction),
        seed=args.seed,
        validation_fraction=args.selection.get("validation_fraction", 0.2),
        eval_every=args.selection.get("eval_every", 250),
        cebra_params={**args.cebra, "device": args.device},
        n_neighbors=args.neighbors,
        metric=args.knn_metric,
        threads=args.threads,
        dataset=args.name,
        progress=True,
    )
    print(curve.to_string())
    write_table(args.out, curve)


if __name__ == "__main__":
    main()
