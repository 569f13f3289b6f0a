"""Figure fmri_roi_weights: contrast of ridge weights for low- vs high-level features per ROI."""

import argparse
from pathlib import Path

import pandas as pd

from brainlatent.figures.fmri import plot_fmri_roi_weights
from brainlatent.figures.style import add_output_arguments, save_figure
from brainlatent.io import read_table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tables", type=Path, nargs="+", required=True)
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    table = pd.concat([read_table(path) for path in args.tables], ignore_index=True)
    fig = plot_fmri_roi_weights(table, source=" ".join(str(path) for path in args.tables))
    save_figure(fig, args.pdf, args.png, note=args.note)


if __name__ == "__main__":
    main()
