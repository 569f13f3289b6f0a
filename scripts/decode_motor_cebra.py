"""CEBRA multi-session on the training sessions and each test session's calibration block;
one Wiener filter from the shared embedding decodes every test session's evaluation trials."""

import argparse
import json
from pathlib import Path

from brainlatent.decoding import cross_session as cs
from brainlatent.decoding.motor_settings import method_settings
from brainlatent.io import write_table
from brainlatent.preprocessing.motor import load_cohort


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=Path, nargs="+", required=True)
    parser.add_argument("--settings", type=json.loads, required=True, help="JSON: motor keys")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--metrics", type=Path, required=True)
    args = parser.parse_args(argv)
    motor = args.settings
    sessions = load_cohort(args.trials)
    settings = method_settings(motor, args.seed)
    settings["cebra"]["device"] = args.device
    timings = {}
    table = cs.evaluate(
        sessions,
        n_train_sessions=motor["n_train_sessions"],
        methods=["cebra"],
        calibration_fraction=motor["calibration_fraction"],
        settings=settings,
        timings=timings,
        seed=args.seed,
    )
    print(table[["session", "days_apart", "value"]].round(3).to_string(index=False))
    print(f"{timings['cebra']:.1f} s")
    write_table(args.metrics, table)


if __name__ == "__main__":
    main()
