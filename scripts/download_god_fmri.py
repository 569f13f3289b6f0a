"""Download GOD (ds001246) perception runs, masks and events, and index the stimulus images.

Files land in a persistent cache (sizes and md5 verified, each written whole or
not at all); the BIDS output is a tree of links into it, so the rest of the
chain reads real and simulated data the same way. The ImageNet stimuli are not
downloadable: they are looked up by name in the configured folder.
"""

import argparse
from pathlib import Path

from brainlatent.datasets import god_fmri
from brainlatent.datasets.download import download_files, link_tree
from brainlatent.datasets.manifest import read_manifest, select_files
from brainlatent.io import atomic_path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--subjects", nargs="+", required=True)
    parser.add_argument("--cache", type=Path, default=Path("data/ds001246"))
    parser.add_argument("--images", type=Path, required=True, help="GOD's ImageNet images")
    parser.add_argument("--bids", type=Path, required=True)
    parser.add_argument("--stimuli", type=Path, required=True)
    args = parser.parse_args(argv)
    files = select_files(read_manifest(args.manifest), god_fmri.download_patterns(args.subjects))
    print(f"{len(files)} files, {files['size'].sum() / 1e9:.1f} GB")
    download_files(files, args.cache)
    names = set()  # the images the downloaded events show, read from the verified cache
    for subject in args.subjects:
        for run in god_fmri.perception_runs(args.cache, subject).itertuples(index=False):
            path = god_fmri.events_path(args.cache, subject, run.session, run.run)
            events = god_fmri.read_events(path)
            names |= set(events.loc[events["event_type"] == "stimulus", "stimulus_name"])
    index = god_fmri.index_stimuli(names, args.images)
    with atomic_path(args.stimuli) as out:
        out.mkdir(parents=True)
        index.to_csv(out / "stimuli.tsv", sep="\t", index=False)
    link_tree(files["path"], args.cache, args.bids)


if __name__ == "__main__":
    main()
