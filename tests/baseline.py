"""The metrics tables of the tiny test configs, as the workflow wrote them before a change.

Refactors must not move a number: the workflow tests compare their tables, bit for bit, with
the copies under ``tests/data/baseline/<machine>/<config>/``. Bit for bit holds only on one
kind of CPU: torch and OpenBLAS pick their kernels by instruction set (AVX2, AVX-512) and
vendor, and the tiny configs' short trainings carry the rounding far (on an AVX-512 AMD EPYC
the tiny MEG generation's PixCorr moved by 0.06 from the set recorded elsewhere). So each kind
of machine keeps its own set, named by :func:`machine`; a machine with a set is held to it,
and a machine without one passes if its tables equal any recorded set and is skipped (with
the reason) otherwise. To accept a change that is meant to move numbers, rerun the tiny
configs and refresh this machine's set (say why in the commit; ``--drop-others`` removes
the other machines' sets, which the change made stale)::

    python -m tests.baseline --refresh [--configs tiny_recording] [--drop-others]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "tests" / "data" / "baseline"  # <machine>/<config>/<table>
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


def machine() -> str:
    """This kind of machine, as far as float rounding goes: the CPU's vendor and model, the
    instruction set torch dispatches to and OpenBLAS's kernel architecture."""
    import numpy  # noqa: F401  (loads OpenBLAS, for threadpool_info)
    import torch
    from threadpoolctl import threadpool_info

    cpu = {}
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            cpu.setdefault(key.strip(), value.strip())
    blas = [i.get("architecture") for i in threadpool_info() if i.get("internal_api") == "openblas"]
    words = [
        cpu.get("vendor_id", platform.machine()),
        cpu.get("model name", platform.processor()),
        f"torch {torch.backends.cpu.get_cpu_capability()}",
        f"openblas {blas[0] if blas else 'none'}",
    ]
    return re.sub(r"[^a-z0-9]+", "-", " ".join(words).lower()).strip("-")


def _differences(results: Path, expected_root: Path) -> list[str]:
    """What differs between ``results`` and one recorded set (empty: nothing)."""
    problems = []
    for relative in metric_tables(expected_root):
        old = _without_wall_clock(pd.read_parquet(expected_root / relative))
        if not (results / relative).exists():
            problems.append(f"{relative}: not written")
            continue
        new = _without_wall_clock(pd.read_parquet(results / relative))
        if "method" in old:  # methods added since (new decoders) are not the baseline's
            new = new[new["method"].isin(set(old["method"]))].reset_index(drop=True)
        missing = [c for c in old.columns if c not in new.columns]
        if missing:
            problems.append(f"{relative}: columns {missing} are gone")
            continue
        try:
            pd.testing.assert_frame_equal(
                new[list(old.columns)], old, check_exact=True, obj=str(relative)
            )
        except AssertionError as error:
            problems.append(str(error))
    return problems


def compare(results: Path, config: str) -> None:
    """Assert every baseline table of ``config`` is in ``results`` with the same values.

    Columns and methods added since the baseline are ignored; its rows (but wall-clock
    times), columns and values must be identical (bit for bit), to this machine's set (see
    the module docstring for machines without one)."""
    import pytest

    sets = {p.parent.name: p for p in sorted(BASELINE.glob(f"*/{config}")) if p.is_dir()}
    assert sets, f"no baseline tables for {config} under {BASELINE}"
    here = machine()
    if here in sets:
        problems = _differences(results, sets[here])
        assert not problems, f"{config} on {here}:\n" + "\n".join(problems)
        return
    differences = {name: _differences(results, root) for name, root in sets.items()}
    if any(not problems for problems in differences.values()):
        return
    pytest.skip(
        f"no {config} baseline recorded on this kind of machine ({here}) and the tables "
        f"equal none of the others ({', '.join(sets)}: float rounding differs between CPUs); "
        f"record one with python -m tests.baseline --refresh --configs {config}"
    )


def refresh(project: Path | None = None, configs=CONFIGS, drop_others: bool = False) -> None:
    """Run each tiny config (of ``configs``) in a copy of this checkout and store its tables
    as this machine's set (``drop_others``: and delete other machines' sets of them)."""
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
            target = BASELINE / machine() / config
            shutil.rmtree(target, ignore_errors=True)
            if drop_others:
                for other in BASELINE.glob(f"*/{config}"):
                    shutil.rmtree(other)
                    if not any(p.is_dir() for p in other.parent.iterdir()):  # no config left
                        shutil.rmtree(other.parent)  # its MACHINE.md with it
            for relative in metric_tables(root / "results"):
                (target / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(root / "results" / relative, target / relative)
            shutil.rmtree(root / "results")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refresh", action="store_true", required=True)
    parser.add_argument("--project", type=Path, help="an existing copy to run in")
    parser.add_argument("--configs", nargs="+", default=CONFIGS, help="only these (default: all)")
    parser.add_argument(
        "--drop-others", action="store_true", help="delete other machines' sets of these configs"
    )
    args = parser.parse_args()
    refresh(args.project, args.configs, args.drop_others)
