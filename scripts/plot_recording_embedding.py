"""Figure recording_embedding: CEBRA embeddings coloured by behaviour, decoding error per method."""

import argparse
from pathlib import Path

from brainlatent.figures.recording import plot_recording_embedding
from brainlatent.figures.style import add_output_arguments, save_figure
from brainlatent.io import load_npz, read_table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--embeddings", type=Path, nargs="+", required=True)
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    embeddings = {}
    for path in args.embeddings:
        data = load_npz(path, ["method"])
        embeddings[str(data["method"])] = data
    figure = plot_recording_embedding(read_table(args.metrics), embeddings, source=args.metrics)
    save_figure(figure, args.pdf, args.png, note=args.note)


if __name__ == "__main__":
    main()
