"""Figure synthetic_latents: latent-recovery R² per method beside the CEBRA paper's medians."""

import argparse
from pathlib import Path

from brainlatent.figures.calcium import plot_synthetic_latents
from brainlatent.figures.style import add_output_arguments, save_figure
from brainlatent.io import read_table
from brainlatent.synthetic.benchmark import paper_medians


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument(
        "--paper_values", type=Path, required=True, help="resources/paper_values.yaml"
    )
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    medians = paper_medians(args.paper_values)
    figure = plot_synthetic_latents(read_table(args.metrics), medians, source=args.metrics)
    save_figure(figure, args.pdf, args.png, note=args.note)


if __name__ == "__main__":
    main()
