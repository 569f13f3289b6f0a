"""The metrics tables of the tiny test configs, as the workflow wrote them before a change.

Refactors must not move a number: the workflow tests compare their tables with the copies
under ``tests/data/baseline/<config>/``. To accept a change that is meant to move numbers,
rerun the tiny configs and refresh the copies (say why in the commit)::

    python -m tests.baseline --refresh [--configs tiny_recording]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "tests" / "data" / "baseline"
# Each tiny config and the result tables it writes (metrics only: inputs and histories
# are checked by their own tests).
TABLES = (
    "**/metrics/*.parquet",
    "**/evaluate/*.parquet",
    "**/decode/metrics.parquet",
    "**/roi_weights.parquet",
    "**/daenr/metrics.parquet",
)
CONFIGS = ("tiny", "tiny_calcium", "tiny_recording", "god_fmri")
#: Rows that measure the machine, not the method (the synthetic benchmark's run time).
WALL_CLOCK_METRICS = ("seconds",)


def metric_tables(results: Path) -> list[Path]:
    """The metrics tables under a ``results/`` folder, relative to it, sorted."""
    found = {p.relative_to(results) for pattern in TABLES for p in results.glob(pattern)}
    return sorted(found)


def _without_wall_clock(table: pd.DataFrame) -> pd.DataFrame:
    if "metric" in table:
        table = table[~table["metric"].isin(WALL_CLOCK_METRICS)]
    return table.reset_index(drop=True)


def compare(results: Path, config: str) -> None:
    """Assert every baseline table of ``config`` is in ``results`` with the same values.

    Columns and methods added since the baseline are ignored; its rows (but wall-clock
    times), columns and values must be identical (bit for bit)."""
    expected_root = BASELINE / config
    expected = metric_tables(expected_root)
    assert expected, f"no baseline tables for {config} in {expected_root}"
    for relative in expected:
        old = _without_wall_clock(pd.read_parquet(expected_root / relative))
        new = _without_wall_clock(pd.read_parquet(results / relative))
        if "method" in old:  # methods added since (new decoders) are not the baseline's
            new = new[new["method"].isin(set(old["method"]))].reset_index(drop=True)
        missing = [c for c in old.columns if c not in new.columns]
        assert not missing, f"{relative}: columns {missing} are gone"
        pd.testing.assert_frame_equal(
            new[list(old.columns)],
            old,
            check_exact=True,
            obj=str(relative),
        )


def refresh(project: Path | None = None, configs=CONFIGS) -> None:
    """Run each tiny config (of ``configs``) in a copy of this checkout and store its tables."""
    unknown = sorted(set(configs) - set(CONFIGS))
    if unknown:
        raise SystemExit(f"unknown configs {unknown}; expected some of {list(CONFIGS)}")
    with tempfile.TemporaryDirectory() as tmp:
        root = project or Path(tmp) / "project"
        if project is None:
            shutil.copytree(
                REPO,
                root,
                ignore=shutil.ignore_patterns(
                    ".venv", ".git", "results", "logs", ".snakemake", "__pycache__"
                ),
            )
        for config in configs:
            subprocess.run(
                [
                    str(Path(sys.executable).parent / "snakemake"),
                    "--cores",
                    "2",
                    "--configfile",
                    f"config/tests/{config}.yaml",
                ],
                cwd=root,
                check=True,
                env={
                    **os.environ,
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                },
            )
            target = BASELINE / config
            shutil.rmtree(target, ignore_errors=True)
            for relative in metric_tables(root / "results"):
                (target / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(root / "results" / relative, target / relative)
            shutil.rmtree(root / "results")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refresh", action="store_true", required=True)
    parser.add_argument("--project", type=Path, help="an existing copy to run in")
    parser.add_argument("--configs", nargs="+", default=CONFIGS, help="only these (default: all)")
    args = parser.parse_args()
    refresh(args.project, args.configs)
