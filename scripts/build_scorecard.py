"""Rule scorecard: the papers' headline numbers beside this run's (results/scorecard.*)."""

import argparse
import json
from pathlib import Path

from brainlatent.io import atomic_path, read_table, write_table
from brainlatent.scorecard import build_scorecard, load_values, render_html


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--values", type=Path, required=True, help="resources/paper_values.yaml")
    parser.add_argument("--tables", nargs="*", default=[], help="the metrics tables built")
    parser.add_argument(
        "--data", required=True, help='JSON {dataset: "simulated" | "real" | "real, subset"}'
    )
    parser.add_argument("--parquet", type=Path, required=True)
    parser.add_argument("--html", type=Path, required=True)
    args = parser.parse_args(argv)
    values = load_values(args.values)
    tables = {path: read_table(path) for path in args.tables}
    table = build_scorecard(values, tables, json.loads(args.data))
    write_table(args.parquet, table)
    with atomic_path(args.html) as tmp:
        tmp.write_text(render_html(table, values_file="/".join(args.values.parts[-2:])))
    print(table[["id", "per", "paper_value", "run_value", "status", "within_spread"]].to_string())


if __name__ == "__main__":
    main()
