"""Within-session, fixed and aligned (PCA/CCA) decoding of hand velocity on the test sessions,
the per-target latent trajectories before/after alignment for the figure, and what each
session brings (trials kept and dropped, channels)."""

import argparse
import json
from pathlib import Path

import numpy as np

from brainlatent.decoding import cross_session as cs
from brainlatent.decoding.motor_settings import method_settings
from brainlatent.io import atomic_path, write_table
from brainlatent.preprocessing.motor import load_cohort


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=Path, nargs="+", required=True)
    parser.add_argument("--settings", type=json.loads, required=True, help="JSON: motor keys")
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--trajectories", type=Path, required=True)
    parser.add_argument("--sessions", type=Path, required=True)
    args = parser.parse_args(argv)
    motor = args.settings
    sessions = cs.sort_sessions(load_cohort(args.trials))
    methods = [m for m in cs.BASELINE_METHODS if m in motor["methods"]]
    timings = {}
    table = cs.evaluate(
        sessions,
        n_train_sessions=motor["n_train_sessions"],
        methods=methods,
        calibration_fraction=motor["calibration_fraction"],
        settings=method_settings(motor),
        timings=timings,
    )
    print(table.pivot_table(index="days_apart", columns="method", values="value").round(3))
    print("seconds:", {m: round(t, 1) for m, t in timings.items()})
    # The reference (last training session) and the farthest test session.
    train, tests = cs.split_sessions(sessions, motor["n_train_sessions"])
    paths = cs.trajectories_before_after(
        train[-1],
        tests[-1],
        n_components=motor["aligned"]["n_components"],
        smoothing_s=motor["decoder"]["smoothing_s"],
        sqrt=motor["aligned"]["sqrt"],
    )
    summary = cs.session_table(sessions, motor["n_train_sessions"], motor["calibration_fraction"])
    print(summary.drop(columns=["dataset", "subject"]).to_string(index=False))
    write_table(args.metrics, table)  # the outputs once everything is computed
    write_table(args.sessions, summary)
    with atomic_path(args.trajectories) as tmp, open(tmp, "wb") as f:
        np.savez(f, **{key: np.asarray(value) for key, value in paths.items()})


if __name__ == "__main__":
    main()
