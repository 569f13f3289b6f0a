"""One sample per image for one GOD subject: ROI voxels, block means, repeats averaged."""

import argparse
from pathlib import Path

from brainlatent.io import save_npy, write_table
from brainlatent.preprocessing.fmri import preprocess_subject


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bids", type=Path, required=True)
    parser.add_argument("--stimuli", type=Path, required=True)
    parser.add_argument("--subject", required=True)
    parser.add_argument("--rois", nargs="+", required=True, help="ROIs whose voxels are kept")
    parser.add_argument("--delay", type=float, default=3.0, help="haemodynamic delay (s)")
    parser.add_argument("--samples", type=Path, required=True)
    parser.add_argument("--trials", type=Path, required=True)
    parser.add_argument("--voxels", type=Path, required=True)
    args = parser.parse_args(argv)
    samples, trials, voxels = preprocess_subject(
        args.bids, args.stimuli, args.subject, args.rois, args.delay
    )
    counts = trials.groupby("split")["n_blocks"].agg(["count", "mean"])
    print(f"sub-{args.subject}: {samples.shape[1]} voxels\n{counts.to_string()}")
    save_npy(args.samples, samples)
    write_table(args.trials, trials)
    write_table(args.voxels, voxels)


if __name__ == "__main__":
    main()
