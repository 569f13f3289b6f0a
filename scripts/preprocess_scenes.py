"""Average one mouse's natural-scene responses per image: scenes.npz (responses and images)."""

import argparse
from pathlib import Path

from brainlatent.preprocessing.scenes import preprocess_scenes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nwb", type=Path, required=True)
    parser.add_argument("--scenes", type=Path, required=True)
    parser.add_argument("--image-size", type=int, default=None, help="rows (default: native)")
    args = parser.parse_args(argv)
    scenes = preprocess_scenes(args.nwb, args.scenes, args.image_size)
    print(
        f"{scenes.responses.shape[0]} images × {scenes.responses.shape[1]} neurons, "
        f"{scenes.n_presentations.min()}–{scenes.n_presentations.max()} presentations per image, "
        f"images {scenes.images.shape[1]}×{scenes.images.shape[2]}"
    )


if __name__ == "__main__":
    main()
