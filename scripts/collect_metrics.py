"""Stack per-subject metrics tables into one long-format table."""

import argparse
from pathlib import Path

import pandas as pd

from brainlatent.errors import DataError
from brainlatent.evaluation import METRIC_COLUMNS
from brainlatent.io import read_table, write_table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tables", nargs="+", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument(
        "--columns",
        choices=["retrieval", "any"],
        default="retrieval",
        help="check the retrieval metrics schema, or only that all tables share columns",
    )
    args = parser.parse_args(argv)
    columns = METRIC_COLUMNS if args.columns == "retrieval" else None
    tables = [read_table(t, columns) for t in args.tables]
    for path, table in zip(args.tables, tables, strict=True):
        if list(table.columns) != list(tables[0].columns):
            raise DataError(path, f"columns {list(table.columns)} differ from {args.tables[0]}")
    metrics = pd.concat(tables, ignore_index=True)
    write_table(args.metrics, metrics)
    print(f"{len(metrics)} rows from {len(args.tables)} tables")


if __name__ == "__main__":
    main()
