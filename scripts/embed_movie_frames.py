"""Embed every frame of natural movie one (from an NWB stimulus template): CEBRA's labels."""

import argparse
from pathlib import Path

from brainlatent.datasets.allen_calcium import read_session
from brainlatent.decoding.movie import frame_features
from brainlatent.errors import DataError
from brainlatent.io import save_npy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nwb", type=Path, required=True)
    parser.add_argument("--model", default="hog")
    parser.add_argument("--features", type=Path, required=True)
    args = parser.parse_args(argv)
    session = read_session(args.nwb, templates=True)
    if session.movie_template is None:
        raise DataError(args.nwb, "no natural_movie_one stimulus template")
    features = frame_features(session.movie_template, args.model)
    print(f"{features.shape[0]} frames × {features.shape[1]} {args.model} features")
    save_npy(args.features, features)


if __name__ == "__main__":
    main()
