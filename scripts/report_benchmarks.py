"""Render the make-bench results (benchmarks/results/*.json) as one HTML page for the report."""

import argparse
from pathlib import Path

from brainlatent.benchmark_report import render
from brainlatent.io import atomic_path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, nargs="+", required=True)
    parser.add_argument("--html", type=Path, required=True)
    args = parser.parse_args(argv)
    page = render(args.results)
    with atomic_path(args.html) as tmp:
        tmp.write_text(page)
    print(f"{len(args.results)} benchmark results → {args.html}")


if __name__ == "__main__":
    main()
