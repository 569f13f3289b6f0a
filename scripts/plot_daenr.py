"""Figure daenr: held-out reconstructions at each beta, and SSIM, PixCorr and RSA per beta."""

import argparse
from pathlib import Path

from brainlatent.figures.daenr import plot_daenr
from brainlatent.figures.style import add_output_arguments, save_figure
from brainlatent.io import load_npz, read_table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--reconstructions", type=Path, required=True)
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    reconstructions = load_npz(args.reconstructions)
    fig = plot_daenr(read_table(args.metrics), reconstructions, source=str(args.metrics))
    save_figure(fig, args.pdf, args.png, note=args.note)


if __name__ == "__main__":
    main()
