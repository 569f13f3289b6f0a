"""Figure meg_retrieval: top-5 retrieval and relative median rank per image model, ridge vs
brain module, among the test images (small set) and among test + never-seen images (large
set), side by side."""

import argparse
from pathlib import Path

from brainlatent.figures.meg import plot_retrieval
from brainlatent.figures.style import save_figure
from brainlatent.io import read_table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--metric", default="top5")
    parser.add_argument("--pdf", type=Path, required=True)
    parser.add_argument("--png", type=Path, required=True)
    args = parser.parse_args(argv)
    figure = plot_retrieval(read_table(args.metrics), args.metric, source=args.metrics)
    save_figure(figure, args.pdf, args.png)


if __name__ == "__main__":
    main()
