"""Snakemake DAG build time: ``snakemake -n -q`` on the real and the default config.

Runs in the repository (as a user would), with no data present: the real config
(``config/real.yaml``, download mode) plans every download and every job of the
full study (~3,600 jobs, 1,518 Allen sessions), the default config the simulated
one. Time is the best of ``--repeats`` dry runs; the job count comes from the
``total`` line of ``snakemake -n --quiet rules``. Results present in ``results/``
or ``data/`` would shrink the DAG, so their presence is recorded.

    python benchmarks/bench_dag.py [--configs config/real.yaml config/config.yaml --repeats 3]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import benchinfo

SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def dry_run(config: str, *quiet: str) -> tuple[float, str]:
    cmd = [str(SNAKEMAKE), "-n", "--quiet", *quiet, "--configfile", config]
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=benchinfo.REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return elapsed, out.stdout + out.stderr


def job_counts(text: str) -> tuple[int, dict[str, int]]:
    """The last job-stats table of ``--quiet rules`` output: total and per rule."""
    tables = text.split("Job stats:")
    if len(tables) < 2:
        raise ValueError("no 'Job stats:' table in snakemake's output")
    per_rule = {}
    for line in tables[-1].splitlines():
        match = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if match:
            per_rule[match[1]] = int(match[2])
        elif per_rule and "total" in per_rule:
            break
    total = per_rule.pop("total")
    return total, per_rule


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--configs", nargs="+", default=["config/real.yaml", "config/config.yaml"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    present = [name for name in ("results", "data") if (benchinfo.REPO / name).exists()]

    results, rows = {}, []
    for config in args.configs:
        times = [dry_run(config)[0] for _ in range(args.repeats)]  # snakemake -n -q
        _, text = dry_run(config, "rules")
        total, per_rule = job_counts(text)
        results[config] = {
            "seconds": times,
            "best_seconds": min(times),
            "jobs": total,
            "jobs_per_rule": per_rule,
        }
        biggest = sorted(per_rule.items(), key=lambda kv: -kv[1])[:3]
        rows.append(
            [
                config,
                min(times),
                " / ".join(f"{t:.2f}" for t in times),
                total,
                ", ".join(f"{rule} {n}" for rule, n in biggest),
            ]
        )
    table = benchinfo.markdown_table(
        ["config", "best s", "each run s", "jobs", "largest rules"], rows
    )
    notes = [
        f"command: snakemake -n --quiet --configfile CONFIG in {benchinfo.REPO.name}/, best of "
        f"{args.repeats}; includes Python and Snakemake start-up",
        "results/ or data/ present: "
        + (", ".join(present) if present else "neither")
        + (" (the DAG may be smaller than with no data)" if present else ""),
    ]
    benchinfo.report(
        "dag",
        "Snakemake DAG build (dry run)",
        {"configs": args.configs, "repeats": args.repeats},
        [("", table)],
        {"configs": results, "data_present": present},
        ("snakemake",),
        notes,
    )


if __name__ == "__main__":
    main()
