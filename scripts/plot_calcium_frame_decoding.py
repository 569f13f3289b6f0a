"""Figure calcium_frame_decoding: frame accuracy vs number of neurons, CEBRA vs baselines."""

import argparse
from pathlib import Path

from brainlatent.figures.calcium import plot_frame_decoding
from brainlatent.figures.style import add_output_arguments, save_figure
from brainlatent.io import read_table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", type=Path, required=True)
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    save_figure(
        plot_frame_decoding(read_table(args.metrics), source=args.metrics),
        args.pdf,
        args.png,
        note=args.note,
    )


if __name__ == "__main__":
    main()
