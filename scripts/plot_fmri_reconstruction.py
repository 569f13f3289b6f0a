"""Figure fmri_reconstruction: GOD test images, each subject's reconstructions, and the scores."""

import argparse
from pathlib import Path

import pandas as pd

from brainlatent.errors import DataError
from brainlatent.figures.fmri import RECONSTRUCTION_ARRAYS, plot_fmri_reconstruction
from brainlatent.figures.style import add_output_arguments, save_figure
from brainlatent.io import load_npz, read_table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", type=Path, nargs="+", required=True)
    parser.add_argument("--reconstructions", type=Path, nargs="+", required=True)
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    if len(args.metrics) != len(args.reconstructions):
        parser.error("--metrics and --reconstructions need one file per subject, in the same order")
    tables, reconstructions = [], {}
    for metrics_path, npz_path in zip(args.metrics, args.reconstructions, strict=True):
        table = read_table(metrics_path)
        if table.empty or "subject" not in table.columns:
            raise DataError(metrics_path, "no rows with a 'subject' column")
        subject = str(table["subject"].iloc[0])
        if subject in reconstructions:
            raise DataError(metrics_path, f"subject {subject!r} is given twice")
        reconstructions[subject] = load_npz(npz_path, RECONSTRUCTION_ARRAYS)
        tables.append(table)
    fig = plot_fmri_reconstruction(
        pd.concat(tables, ignore_index=True),
        reconstructions,
        source=" ".join(str(path) for path in args.metrics),
    )
    save_figure(fig, args.pdf, args.png, note=args.note)


if __name__ == "__main__":
    main()
