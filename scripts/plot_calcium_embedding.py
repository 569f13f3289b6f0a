"""Figure calcium_embedding: one mouse's CEBRA embeddings in 3D, coloured by movie frame."""

import argparse
from pathlib import Path

from brainlatent.figures.calcium import plot_embedding
from brainlatent.figures.style import add_output_arguments, save_figure
from brainlatent.io import load_npz


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--embeddings", nargs="+", type=Path, required=True)
    parser.add_argument("--kinds", nargs="+", required=True)
    parser.add_argument("--mouse", required=True)
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    if len(args.kinds) != len(args.embeddings):
        parser.error("give one --kinds entry per --embeddings file")
    embeddings = {}
    for kind, path in zip(args.kinds, args.embeddings, strict=True):
        data = load_npz(path, ["embedding", "frame"])
        embeddings[kind] = (data["embedding"], data["frame"])
    figure = plot_embedding(embeddings, title=f"Allen natural movie one, mouse {args.mouse}")
    save_figure(figure, args.pdf, args.png, note=args.note)


if __name__ == "__main__":
    main()
