"""Consistency of CEBRA embeddings across mice: R² of linear maps between every pair (Fig. 4).

Each row's ``device`` is where its two embeddings were fitted (``"cpu/cuda"`` when the
source's and the target's differ).
"""

import argparse
from pathlib import Path

import pandas as pd

from brainlatent.decoding.frames import consistency_matrix
from brainlatent.errors import DataError
from brainlatent.io import load_npz, write_table


def _device(data, path) -> str:
    if "device" not in data:
        raise DataError(path, "no 'device' in the embedding: rerun embed_calcium to refit it")
    return str(data["device"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--kind",
        action="append",
        nargs="+",
        required=True,
        metavar=("KIND", "EMBEDDING"),
        help="a CEBRA kind then one embedding .npz per mouse (repeatable)",
    )
    parser.add_argument("--mice", nargs="+", required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    args = parser.parse_args(argv)
    tables = []
    for kind, *paths in args.kind:
        if len(paths) != len(args.mice):
            parser.error(f"--kind {kind}: {len(paths)} embeddings for {len(args.mice)} mice")
        loaded = {
            mouse: load_npz(path, ["embedding", "frame"])
            for mouse, path in zip(args.mice, paths, strict=True)
        }
        devices = {
            mouse: _device(loaded[mouse], path)
            for mouse, path in zip(args.mice, paths, strict=True)
        }
        matrix = consistency_matrix(
            {m: d["embedding"] for m, d in loaded.items()},
            {m: d["frame"] for m, d in loaded.items()},
        )
        print(f"CEBRA-{kind}\n{matrix.round(3).to_string()}")
        long = matrix.stack().dropna().rename("value").reset_index()
        long.insert(0, "kind", kind)
        long["device"] = [
            devices[s] if devices[s] == devices[t] else f"{devices[s]}/{devices[t]}"
            for s, t in zip(long["source"], long["target"], strict=True)
        ]
        tables.append(long)
    table = pd.concat(tables, ignore_index=True)
    table.insert(0, "dataset", "allen_calcium")
    table["metric"] = "r2"
    columns = ["dataset", "kind", "source", "target", "metric", "value", "device"]
    write_table(args.metrics, table[columns])


if __name__ == "__main__":
    main()
