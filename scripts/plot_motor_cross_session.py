"""Figure motor_cross_session: R² on unseen sessions vs days apart, latents before/after CCA."""

import argparse
from pathlib import Path

from brainlatent.figures.motor import plot_motor_cross_session
from brainlatent.figures.style import add_output_arguments, save_figure
from brainlatent.io import load_npz, read_table

#: What the figure reads from each cohort's trajectories file.
TRAJECTORY_ARRAYS = (
    "reference_session", "test_session", "days_apart", "reference", "test_before", "test_after"
)  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", type=Path, nargs="+", required=True, help="one per cohort")
    parser.add_argument("--trajectories", type=Path, nargs="+", required=True)
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    if len(args.metrics) != len(args.trajectories):
        parser.error("give one --trajectories file per --metrics table")
    trajectories = [load_npz(path, TRAJECTORY_ARRAYS) for path in args.trajectories]
    figure = plot_motor_cross_session(
        [read_table(path) for path in args.metrics], trajectories, sources=args.metrics
    )
    save_figure(figure, args.pdf, args.png, note=args.note)


if __name__ == "__main__":
    main()
