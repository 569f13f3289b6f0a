"""Figure fault_tolerance_scaling: neurons a two-bit multiplier needs against neuron noise."""

import argparse
from pathlib import Path

from brainlatent.figures.fault_tolerance import plot_scaling
from brainlatent.figures.style import add_output_arguments, save_figure
from brainlatent.io import read_table
from brainlatent.scorecard import load_values


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument(
        "--paper_values", type=Path, required=True, help="resources/paper_values.yaml"
    )
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    paper = {
        v.id: v.value
        for v in load_values(args.paper_values)
        if v.figure == "fault_tolerance_scaling"
    }
    save_figure(
        plot_scaling(read_table(args.metrics), paper, source=args.metrics),
        args.pdf,
        args.png,
        note=args.note,
    )


if __name__ == "__main__":
    main()
