"""Figure calcium_consistency: R² between the CEBRA embeddings of every pair of mice."""

import argparse
from pathlib import Path

from brainlatent.figures.calcium import plot_consistency
from brainlatent.figures.style import add_output_arguments, save_figure
from brainlatent.io import read_table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", type=Path, required=True)
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    save_figure(
        plot_consistency(read_table(args.metrics), source=args.metrics),
        args.pdf,
        args.png,
        note=args.note,
    )


if __name__ == "__main__":
    main()
