"""Bin one motor-cortex session's rewarded trials around movement onset or the go cue."""

import argparse
import json
from pathlib import Path

from brainlatent.datasets.motor_cortex import read_motor_session
from brainlatent.preprocessing.motor import bin_trials, save_trials


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nwb", type=Path, required=True)
    parser.add_argument("--trials", type=Path, required=True)
    parser.add_argument(
        "--settings",
        type=json.loads,
        required=True,
        help="JSON: bin_s, window_s, align, onset, groups, cursor_unit, artifacts",
    )
    args = parser.parse_args(argv)
    settings = args.settings
    session = read_motor_session(
        args.nwb, groups=settings["groups"], cursor_unit=settings.get("cursor_unit")
    )
    trials = bin_trials(
        session,
        bin_s=settings["bin_s"],
        window_s=tuple(settings["window_s"]),
        align=settings["align"],
        onset=settings.get("onset", "speed"),
        **settings["artifacts"],
    )
    print(
        f"{trials.session} ({trials.date}): {trials.counts.shape[0]} of {len(session.trials)} "
        f"trials, {trials.counts.shape[1]} bins × {trials.counts.shape[2]} channels, "
        f"{len(session.spike_times)} units, aligned on {trials.align}; dropped: "
        + ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in trials.dropped.items())
    )
    save_trials(args.trials, trials)


if __name__ == "__main__":
    main()
