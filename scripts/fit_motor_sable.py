"""Fit SABLE (sequential VAE with behaviour) on a cohort's training sessions."""

import argparse
import json
from pathlib import Path

from brainlatent.decoding import cross_session as cs
from brainlatent.decoding.motor_settings import sable_params
from brainlatent.io import write_table
from brainlatent.preprocessing.motor import load_cohort


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=Path, nargs="+", required=True)
    parser.add_argument("--settings", type=json.loads, required=True, help="JSON: motor keys")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--history", type=Path, required=True)
    args = parser.parse_args(argv)
    motor = args.settings
    sessions = load_cohort(args.trials)
    train, _ = cs.split_sessions(sessions, motor["n_train_sessions"])
    print("training sessions:", ", ".join(t.session for t in train))
    model = cs.fit_sable(train, **sable_params(motor, args.seed, args.device))
    model.save(args.model)
    write_table(args.history, model.history_)


if __name__ == "__main__":
    main()
