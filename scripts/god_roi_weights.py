"""Per-ROI contrast of ridge weights for low- vs high-level image features, one GOD subject."""

import argparse
import json
from pathlib import Path

import numpy as np

from brainlatent.datasets.god_fmri import ROI_LEVELS, ROIS
from brainlatent.decoding.fmri import roi_weights_subject
from brainlatent.evaluation import feature_lookup
from brainlatent.io import load_npy, read_table, write_table


def _features(paths: list[Path], images: np.ndarray) -> np.ndarray:
    """Feature matrices (``<name>.npy`` beside ``<name>.parquet``), rows matched to ``images``."""
    return np.hstack(
        [
            feature_lookup(load_npy(p), read_table(p.with_suffix(".parquet")), images, source=p)
            for p in paths
        ]
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subject", required=True)
    parser.add_argument("--samples", type=Path, required=True)
    parser.add_argument("--trials", type=Path, required=True)
    parser.add_argument("--voxels", type=Path, required=True)
    parser.add_argument("--low", type=Path, nargs="+", required=True, help="low-level .npy")
    parser.add_argument("--high", type=Path, nargs="+", required=True, help="high-level .npy")
    parser.add_argument("--alphas", type=json.loads, required=True, help="JSON list")
    parser.add_argument("--table", type=Path, required=True)
    args = parser.parse_args(argv)
    trials = read_table(args.trials)
    images = trials["image"].to_numpy()
    table = roi_weights_subject(
        args.subject,
        load_npy(args.samples, mmap=False),
        trials,
        read_table(args.voxels),
        _features(args.low, images),
        _features(args.high, images),
        ROIS,
        ROI_LEVELS,
        args.alphas,
        trials_source=args.trials,
        voxels_source=args.voxels,
    )
    print(table.to_string(index=False))
    write_table(args.table, table)


if __name__ == "__main__":
    main()
