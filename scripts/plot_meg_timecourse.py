"""Figure meg_timecourse: top-5 retrieval over sliding windows, one line per image model."""

import argparse
from pathlib import Path

from brainlatent.figures.meg import plot_timecourse
from brainlatent.figures.style import add_output_arguments, save_figure
from brainlatent.io import read_table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--metric", default="top5")
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    figure = plot_timecourse(read_table(args.metrics), args.metric, source=args.metrics)
    save_figure(figure, args.pdf, args.png, note=args.note)


if __name__ == "__main__":
    main()
