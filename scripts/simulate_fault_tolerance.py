"""Fault-tolerance simulations: failure vs noise and depth (sigma*), the multiplier's neurons."""

import argparse
import json
from pathlib import Path

from brainlatent.fault_tolerance.experiment import run
from brainlatent.io import write_table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--settings", type=json.loads, required=True, help="JSON `fault_tolerance`")
    parser.add_argument("--phase", type=Path, required=True, help="phase-transition metrics")
    parser.add_argument("--scaling", type=Path, required=True, help="multiplier scaling metrics")
    args = parser.parse_args(argv)
    phase, scaling = run(args.settings, progress=lambda line: print(line, flush=True))
    write_table(args.phase, phase)
    write_table(args.scaling, scaling)


if __name__ == "__main__":
    main()
