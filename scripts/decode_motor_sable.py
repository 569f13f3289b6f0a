"""Adapt the fitted SABLE to each test session's calibration block (no behaviour), with and
without its reverse step, recalibrate it with the block's velocity (its ceiling), and decode
the evaluation trials."""

import argparse
import json
from pathlib import Path

from brainlatent.decoding import cross_session as cs
from brainlatent.io import write_table
from brainlatent.models.sable import SABLE
from brainlatent.preprocessing.motor import load_cohort


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=Path, nargs="+", required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--settings", type=json.loads, required=True, help="JSON: motor keys")
    parser.add_argument("--seed", type=int, required=True, help="the fit's seed (a column)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--metrics", type=Path, required=True)
    args = parser.parse_args(argv)
    motor = args.settings
    sessions = load_cohort(args.trials)
    model = SABLE.load(args.model).to_device(args.device)
    methods = [m for m in cs.SABLE_METHODS if m in motor["methods"]]
    timings = {}
    table = cs.evaluate(
        sessions,
        n_train_sessions=motor["n_train_sessions"],
        methods=methods,
        calibration_fraction=motor["calibration_fraction"],
        settings={"sable": {"model": model}},
        timings=timings,
        seed=args.seed,
    )
    print(table.pivot_table(index="days_apart", columns="method", values="value").round(3))
    print("seconds:", {m: round(t, 1) for m, t in timings.items()})
    write_table(args.metrics, table)


if __name__ == "__main__":
    main()
