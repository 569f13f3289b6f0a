"""Write a simulated hippocampal recording (rat on a linear track, place cells) as NWB."""

import argparse
import json
from pathlib import Path

from brainlatent.datasets.simulate_place_cells import (
    simulate_session,
    simulation_from_config,
    write_nwb,
    write_truth,
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nwb", type=Path, required=True)
    parser.add_argument("--truth", type=Path, required=True)
    parser.add_argument(
        "--simulation",
        type=json.loads,
        default={},
        help="JSON: preset and overrides (null: preset's)",
    )
    args = parser.parse_args(argv)
    settings = {key: value for key, value in args.simulation.items() if value is not None}
    session = simulate_session(simulation_from_config(settings))
    mean_rate = session.counts.mean() * session.params.rate_hz
    print(
        f"{session.counts.shape[0]} bins × {session.counts.shape[1]} neurons, "
        f"{session.lap.max() + 1} laps, mean rate {mean_rate:.2f} Hz"
    )
    write_nwb(session, args.nwb)
    write_truth(session, args.truth)


if __name__ == "__main__":
    main()
