"""Figure meg_generation: test images beside their generations from MEG, their scores against
the shuffled-pairing baseline, and the scores over sliding windows."""

import argparse
from pathlib import Path

from brainlatent.errors import DataError
from brainlatent.figures.meg_generation import IMAGE_ARRAYS, plot_meg_generation
from brainlatent.figures.style import add_output_arguments, save_figure
from brainlatent.io import load_npz, read_table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--timecourse", type=Path, required=True)
    parser.add_argument("--images", type=Path, nargs="+", required=True, help="per subject")
    parser.add_argument("--n-examples", type=int, default=6)
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    images, sources = {}, {}
    for path in args.images:
        data = load_npz(path, ["subject", *IMAGE_ARRAYS])
        subject = str(data["subject"])
        if subject in images:
            raise DataError(path, f"subject {subject!r} is given twice")
        images[subject], sources[subject] = data, str(path)
    figure = plot_meg_generation(
        read_table(args.metrics),
        read_table(args.timecourse),
        images,
        n_examples=args.n_examples,
        source=f"{args.metrics} {args.timecourse}",
        image_sources=sources,
    )
    save_figure(figure, args.pdf, args.png, note=args.note)


if __name__ == "__main__":
    main()
