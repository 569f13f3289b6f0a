"""Stack per-subject metrics tables into one long-format table."""

import argparse
from pathlib import Path

import pandas as pd

from brainlatent.evaluation import METRIC_COLUMNS
from brainlatent.io import read_table, write_table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tables", nargs="+", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    args = parser.parse_args(argv)
    metrics = pd.concat([read_table(t, METRIC_COLUMNS) for t in args.tables], ignore_index=True)
    write_table(args.metrics, metrics)
    print(f"{len(metrics)} rows from {len(args.tables)} tables")


if __name__ == "__main__":
    main()
