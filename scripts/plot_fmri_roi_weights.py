"""Figure fmri_roi_weights: contrast of ridge weights for low- vs high-level features per ROI."""

import argparse
from pathlib import Path

import pandas as pd

from brainlatent.figures.fmri import plot_fmri_roi_weights
from brainlatent.figures.style import save_figure
from brainlatent.io import read_table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tables", type=Path, nargs="+", required=True)
    parser.add_argument("--pdf", type=Path, required=True)
    parser.add_argument("--png", type=Path, required=True)
    args = parser.parse_args(argv)
    table = pd.concat([read_table(path) for path in args.tables], ignore_index=True)
    fig = plot_fmri_roi_weights(table, source=" ".join(str(path) for path in args.tables))
    save_figure(fig, args.pdf, args.png)


if __name__ == "__main__":
    main()
