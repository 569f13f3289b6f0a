"""Snakemake DAG build time of the real config, against its goal and a reference.

Issue 20's goal: ``snakemake -n --configfile config/real.yaml`` (~3,850 jobs, 1,518 Allen
sessions) in at most 5 s, with ``-q`` and without it (a user's dry run prints every job),
with no data present and in a checkout where the default workflow has already run. The
machine's speed varies 1.4x from day to day, so the goal holds only if the measured time
times 1.4 is still within it.

Each case runs in a scratch copy of this checkout (its files without results/, logs/,
.snakemake/ or data/), so the measured code is this checkout's and nothing is written
into it. "results present" links ``results/``, ``logs/`` and ``data/`` of a checkout where
the default workflow ran (``--results-from``; by default this checkout, when it has
``results/``) into a second copy, with a copy of its ``.snakemake/metadata``.

Two references are measured in the same run, interleaved with the cases (the machine
is shared, so absolute times move; ratios measured together do not):

- ``snakemake --version``: Python and Snakemake's own start-up;
- a generated Snakefile of the real DAG's shape: as many jobs, the same fan-in (one
  download and one three-output preprocessing job per session, one index job reading every
  session's three outputs, and as many pooling jobs as the real config's pseudo-mice, each
  reading the index; the rest two-step chains), with trivial rules. Its time is what
  Snakemake itself needs for such a DAG; the real config's time over it is what this
  workflow adds.

Times are the best of ``--repeats`` (wall, and CPU from ``wait4``: user + system).

    python benchmarks/bench_dag.py [--repeats 3] [--results-from DIR] [--configs ...]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchinfo

SNAKEMAKE = Path(sys.executable).parent / "snakemake"
REAL = "config/real.yaml"
GOAL_S = 5.0
MARGIN = 1.4  # the machine's day-to-day variation
#: Not copied into the scratch checkouts: outputs and environments (top level), caches.
TOP_IGNORED = {".git", ".venv", ".snakemake", "results", "logs", "data", "build"}
CACHES = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".ruff_cache", "*.egg-info")


def scratch_copy(dest: Path) -> Path:
    """This checkout's files (not its outputs) under ``dest``."""

    def ignore(folder, names):
        skipped = set(CACHES(folder, names))
        if Path(folder) == benchinfo.REPO:
            skipped |= TOP_IGNORED & set(names)
        elif Path(folder) == benchinfo.REPO / "benchmarks":
            skipped.add("results")
        return skipped

    shutil.copytree(benchinfo.REPO, dest, ignore=ignore, symlinks=True)
    return dest


def with_results(dest: Path, source: Path) -> Path:
    """A scratch copy that sees ``source``'s results, logs, data and run metadata."""
    scratch_copy(dest)
    for name in ("results", "logs", "data"):
        if (source / name).exists():
            (dest / name).symlink_to((source / name).resolve(), target_is_directory=True)
    metadata = source / ".snakemake" / "metadata"
    if metadata.is_dir():
        shutil.copytree(metadata, dest / ".snakemake" / "metadata")
    return dest


def reference_snakefile(dest: Path, per_rule: dict[str, int], total: int) -> Path:
    """A trivial Snakefile with the real DAG's job count and fan-in (see the docstring)."""
    sessions = per_rule.get("download_allen_calcium", 0)
    pools = per_rule.get("pool_pseudo_mouse", 0)
    indexes = per_rule.get("index_calcium_sessions", 0)
    chains = max(0, (total - 1 - 2 * sessions - indexes - pools) // 2)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "Snakefile").write_text(f"""\
S = [f"s{{i:04d}}" for i in range({sessions})]
P = [f"p{{i}}" for i in range({pools})]
C = [f"c{{i:04d}}" for i in range({chains})]


rule all:
    input:
        expand("results/pool/{{p}}/out.npy", p=P),
        expand("results/chain/{{c}}/b.txt", c=C),


rule download:
    output:
        "data/{{s}}.nwb",
    shell:
        "touch {{output}}"


rule preprocess:
    input:
        "data/{{s}}.nwb",
    output:
        a="results/sub/{{s}}/neural.npy",
        b="results/sub/{{s}}/labels.parquet",
        c="results/sub/{{s}}/info.json",
    log:
        "logs/preprocess/{{s}}.log",
    shell:
        "touch {{output}} > {{log}}"


rule index:
    input:
        a=expand("results/sub/{{s}}/neural.npy", s=S),
        b=expand("results/sub/{{s}}/labels.parquet", s=S),
        c=expand("results/sub/{{s}}/info.json", s=S),
    output:
        "results/sub/sessions.parquet",
    shell:
        "touch {{output}}"


rule pool:
    input:
        "results/sub/sessions.parquet",
    output:
        "results/pool/{{p}}/out.npy",
    shell:
        "touch {{output}}"


rule chain_a:
    output:
        "results/chain/{{c}}/a.txt",
    shell:
        "touch {{output}}"


rule chain_b:
    input:
        "results/chain/{{c}}/a.txt",
    output:
        "results/chain/{{c}}/b.txt",
    shell:
        "touch {{output}}"
""")
    return dest


def measure(args: list[str], cwd: Path) -> tuple[float, float, str]:
    """One ``snakemake ARGS`` in ``cwd``: wall s, CPU s (user + system), its output."""
    env = dict(os.environ, PYTHONPATH=str(cwd / "src"))
    with tempfile.TemporaryFile("w+") as out:
        start = time.perf_counter()
        process = subprocess.Popen(
            [str(SNAKEMAKE), *args], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        text = out.read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"snakemake {' '.join(args)} failed in {cwd}:\n{text[-3000:]}")
    return wall, usage.ru_utime + usage.ru_stime, text


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
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--results-from",
        type=Path,
        default=benchinfo.REPO if (benchinfo.REPO / "results").is_dir() else None,
        help="a checkout where the default workflow ran (default: this one, if it has "
        "results/); without one, the 'results present' cases are skipped",
    )
    parser.add_argument(
        "--configs", nargs="*", default=["config/config.yaml"],
        help="further configs timed with -q, no data present (no goal)",
    )  # fmt: skip
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_dag_") as tmp:
        tmp = Path(tmp)
        clean = scratch_copy(tmp / "clean")
        ran = with_results(tmp / "ran", args.results_from) if args.results_from else None
        # Job counts first (and warm caches: the first start of a fresh venv is slow).
        _, _, text = measure(["-n", "--quiet", "rules", "--configfile", REAL], clean)
        total, per_rule = job_counts(text)
        reference = reference_snakefile(tmp / "reference", per_rule, total)
        _, _, text = measure(["-n", "--quiet", "rules"], reference)
        ref_total, _ = job_counts(text)

        cases = {  # name -> (cwd, snakemake arguments, goal)
            "snakemake --version": (clean, ["--version"], None),
            "reference DAG, -n -q": (reference, ["-n", "-q"], None),
            "reference DAG, -n": (reference, ["-n"], None),
            "real, no data, -n -q": (clean, ["-n", "-q", "--configfile", REAL], GOAL_S),
            "real, no data, -n": (clean, ["-n", "--configfile", REAL], GOAL_S),
        }
        if ran is not None:
            cases["real, results present, -n -q"] = (ran, cases["real, no data, -n -q"][1], GOAL_S)
            cases["real, results present, -n"] = (ran, cases["real, no data, -n"][1], GOAL_S)
        for config in args.configs:
            cases[f"{config}, no data, -n -q"] = (clean, ["-n", "-q", "--configfile", config], None)
        runs = {name: [] for name in cases}
        for _ in range(args.repeats):  # interleaved: each repeat sees the same load
            for name, (cwd, snakemake_args, _) in cases.items():
                wall, cpu, _ = measure(snakemake_args, cwd)
                runs[name].append((wall, cpu))

    best = {name: (min(w for w, _ in r), min(c for _, c in r)) for name, r in runs.items()}
    version_s = best["snakemake --version"][0]
    rows, results = [], {}
    for name, (_, _, goal) in cases.items():
        wall, cpu = best[name]
        ref = best["reference DAG, -n" if not name.endswith("-q") else "reference DAG, -n -q"]
        holds = None if goal is None else wall * MARGIN <= goal
        real = name.startswith("real")
        rows.append([
            name, wall, cpu, goal, "" if holds is None else ("yes" if holds else "no"),
            f"{ref[0]:.3g} / {ref[1]:.3g}" if real else None,
            f"{wall / ref[0]:.2f} / {cpu / ref[1]:.2f}" if real else None, wall / version_s,
            " / ".join(f"{w:.2f}" for w, _ in runs[name]),
        ])  # fmt: skip
        results[name] = {
            "wall_seconds": [w for w, _ in runs[name]],
            "cpu_seconds": [c for _, c in runs[name]],
            "best_wall_seconds": wall,
            "best_cpu_seconds": cpu,
            "goal_seconds": goal,
            "goal_holds_with_margin": holds,
            "reference_best_wall_cpu_seconds": list(ref) if real else None,
        }
    table = benchinfo.markdown_table(
        [
            "case", "best wall s", "best CPU s", "goal s", f"goal holds ×{MARGIN}",
            "reference DAG s, wall / CPU", "× reference, wall / CPU", "× --version (wall)",
            "each run wall s",
        ],
        rows,
    )  # fmt: skip
    notes = [
        f"real: snakemake -n [-q] --configfile {REAL}, {total} jobs "
        f"({per_rule.get('pool_pseudo_mouse', 0)} pseudo-mice pooling "
        f"{per_rule.get('download_allen_calcium', 0)} sessions); the reference DAG "
        f"{ref_total} jobs of the same shape with trivial rules",
        f"goal holds ×{MARGIN}: best wall × {MARGIN} ≤ {GOAL_S:g} s (the machine varies "
        f"{MARGIN}x from day to day)",
        "results present: "
        + (f"results/, logs/, data/ and .snakemake/metadata of {args.results_from}"
           if ran is not None else "skipped (no checkout with results/; --results-from)"),
        f"best of {args.repeats}, cases interleaved; includes Python and Snakemake start-up",
    ]  # fmt: skip
    floor = best["reference DAG, -n -q"][0]
    if floor * MARGIN > GOAL_S:
        notes.append(
            f"the reference DAG alone takes {floor:.3g} s with -q: on this machine today the "
            "goal is out of reach of this workflow's own code; Snakemake's time follows the "
            "DAG's jobs and input edges"
        )
    benchinfo.report(
        "dag",
        "Snakemake DAG build (dry run) against the 5 s goal",
        {"repeats": args.repeats, "results_from": str(args.results_from)},
        [("", table)],
        {
            "cases": results,
            "jobs": total,
            "jobs_per_rule": per_rule,
            "reference_jobs": ref_total,
            "goal_seconds": GOAL_S,
            "margin": MARGIN,
        },
        ("snakemake",),
        notes,
    )


if __name__ == "__main__":
    main()
