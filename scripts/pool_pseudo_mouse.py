"""Pool every mouse's neurons into one pseudo-mouse (rows: the same frame of the same repeat)."""

import argparse
import json
from pathlib import Path

from brainlatent.preprocessing.calcium import write_pseudo_mouse


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--neural", nargs="+", type=Path, required=True)
    parser.add_argument("--labels", nargs="+", type=Path, required=True)
    parser.add_argument("--infos", nargs="+", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-neural", type=Path, required=True)
    parser.add_argument("--out-labels", type=Path, required=True)
    parser.add_argument("--out-info", type=Path, required=True)
    args = parser.parse_args(argv)
    if not len(args.neural) == len(args.labels) == len(args.infos):
        parser.error("give one --labels and one --infos per --neural")
    areas = sorted({json.loads(p.read_text())["area"] for p in args.infos})
    pooled = write_pseudo_mouse(
        list(zip(args.neural, args.labels, strict=True)),
        args.out_neural,
        args.out_labels,
        args.out_info,
        seed=args.seed,
        area="+".join(areas),
    )
    print(f"pseudo-mouse: {pooled.neural.shape[0]} rows × {pooled.neural.shape[1]} neurons")


if __name__ == "__main__":
    main()
