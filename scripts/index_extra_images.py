"""Index the extra retrieval candidates: THINGS images never shown in THINGS-MEG."""

import argparse
from pathlib import Path

from brainlatent.datasets import stimuli, things_meg
from brainlatent.errors import DataError
from brainlatent.io import atomic_path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--events",
        nargs="+",
        type=Path,
        required=True,
        help="BIDS folders whose events.tsv files list the images shown (every run of the "
        "dataset: the reference small files, and the downloaded runs)",
    )
    parser.add_argument("--images", type=Path, required=True, help="things_meg.stimuli_dir")
    parser.add_argument("--number", type=int, required=True, help="extra images to index")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--stimuli", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    shown = set()
    for folder in args.events:
        for path in sorted(folder.glob("sub-*/ses-*/meg/*_events.tsv")):
            shown.update(things_meg.image_trials(things_meg.read_events(path))["image"].tolist())
    available = stimuli.things_image_numbers(args.images)
    chosen = stimuli.unseen_images(available, shown, args.number, args.seed, args.images)
    try:
        index = things_meg.index_stimuli(args.images, chosen)
    except DataError as error:  # its message speaks of the images the events show
        problem = error.problem.replace("the events show", "never shown (extra candidates)")
        raise DataError(error.path, problem) from None
    print(f"{len(index)} THINGS images never shown ({len(shown)} shown) indexed from {args.images}")
    with atomic_path(args.stimuli) as out:
        out.mkdir(parents=True)
        index.to_csv(out / "stimuli.tsv", sep="\t", index=False)


if __name__ == "__main__":
    main()
