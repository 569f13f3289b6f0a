"""Figure meg_retrieval: top-5 retrieval and relative median rank per image model, ridge vs
brain module, among the test images (small set) and among test + never-seen images (large
set), side by side."""

import argparse
from pathlib import Path

from brainlatent.figures.meg import plot_retrieval
from brainlatent.figures.style import add_output_arguments, save_figure
from brainlatent.io import read_table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--metric", default="top5")
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    figure = plot_retrieval(read_table(args.metrics), args.metric, source=args.metrics)
    save_figure(figure, args.pdf, args.png, note=args.note)


if __name__ == "__main__":
    main()
