"""End-to-end time and peak memory of the default config (opt-in: ``--run``; ~10 minutes).

Copies the project (Snakefile, workflow, scripts, config, envs, resources, src,
profiles) to a temporary folder and runs ``snakemake --cores all`` there, with
the copy's ``src/`` first on ``PYTHONPATH``, under ``/usr/bin/time -v`` when it
exists, while this process polls the total RSS of Snakemake's process tree.
Reports the wall time and the CPU time against issue 20's goals (5 minutes, 450
CPU-s summed over jobs, each with the 1.4x margin of the machine's day-to-day
variation), the peak RSS of the largest job and the sum over jobs (``max_rss`` of
the rules' own ``benchmark:`` TSVs in the copy's ``logs/benchmarks/``), the peak
total RSS of the tree, the slowest jobs, and the time per rule.

CPU time is counted three ways, because the obvious one undercounts: the
``cpu_time`` column of Snakemake's benchmark files is sampled every 0.5 s for a
job's first 15 s and every 30 s after that, so whatever a long job spends after its
last sample is lost (up to 30 s a job). The exact total is the whole process
tree's, from ``wait4`` (user + system of Snakemake and every job); Snakemake's own
share (scheduling, benchmark threads, metadata) is its process's CPU time, polled
every 0.5 s until it exits; the jobs' total is the difference.

    python benchmarks/bench_default_run.py --run                 # make bench-full
    python benchmarks/bench_default_run.py --run --config config/tests/tiny.yaml --cores 1

Without ``--run`` it only says what it would do (``make bench`` does not run it).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import benchinfo
import pandas as pd

PROJECT = ("Snakefile", "workflow", "scripts", "config", "envs", "resources", "src", "profiles")
BIN = Path(sys.executable).parent
#: Issue 20's goals for the default config on 2 cores, and the machine's day-to-day variation.
GOAL_WALL_S = 300.0
GOAL_JOB_CPU_S = 450.0
MARGIN = 1.4


def copy_project(root: Path) -> Path:
    project = root / "project"
    project.mkdir()
    for name in PROJECT:
        source = benchinfo.REPO / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy(source, project / name)
    return project


class TreeRSS(threading.Thread):
    """Polls the summed RSS of a process and its descendants (psutil) until stopped, and
    the CPU time of Snakemake's own process (``snakemake``, below ``/usr/bin/time``)."""

    def __init__(self, pid: int, interval: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_mb, self.peak_processes = 0.0, 0
        self.snakemake_cpu_s = 0.0
        self.done = threading.Event()

    def run(self):
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self.done.wait(self.interval):
            total, count = 0, 0
            try:
                processes = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for process in processes:
                try:
                    total += process.memory_info().rss
                    count += 1
                    if _is_snakemake(process):  # below /usr/bin/time, or the root without it
                        times = process.cpu_times()
                        self.snakemake_cpu_s = max(self.snakemake_cpu_s, times.user + times.system)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            if total / 1024**2 > self.peak_mb:
                self.peak_mb, self.peak_processes = total / 1024**2, count


def _is_snakemake(process) -> bool:
    """The scheduling process: ``python .../snakemake ...`` (not ``/usr/bin/time -v snakemake``,
    a job's shell or its script)."""
    try:
        command = process.cmdline()
    except Exception:  # noqa: BLE001 - psutil raises several kinds for a vanished process
        return False
    return len(command) > 1 and Path(command[1]).name == "snakemake"


def goal_rows(wall: float, job_cpu: float, sampled_cpu: float, applies: bool) -> list[list]:
    """(goal, measured, goal, measured × margin, met) rows for the goals table; ``applies``:
    the run is of the config the goals are set for (else met is "n/a")."""
    rows = []
    for name, measured, goal in (
        ("wall time, s", wall, GOAL_WALL_S),
        ("CPU time of the jobs, s (whole tree - Snakemake)", job_cpu, GOAL_JOB_CPU_S),
        ("CPU time of the jobs, s (benchmark files, sampled)", sampled_cpu, GOAL_JOB_CPU_S),
    ):
        met = (measured * MARGIN <= goal) if applies else "n/a"
        rows.append([name, round(measured, 1), goal, round(measured * MARGIN, 1), met])
    return rows


def gnu_time(log: str) -> dict:
    """Wall time and maximum resident set size from ``/usr/bin/time -v``'s report."""
    out = {}
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", log)
    if rss:
        out["max_rss_mb_single_process"] = int(rss[1]) / 1024
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", log)
    if wall:
        seconds = 0.0
        for part in wall[1].split(":"):
            seconds = 60 * seconds + float(part)
        out["wall_seconds"] = seconds
    return out


def job_benchmarks(project: Path) -> pd.DataFrame:
    """One row per job: its benchmark TSV's first row (``s``, ``max_rss`` in MB, ...)."""
    rows = []
    timings = project / "logs" / "benchmarks"
    for path in sorted(timings.rglob("*.tsv")):
        table = pd.read_csv(path, sep="\t")
        if table.empty:
            continue
        row = table.iloc[0].to_dict()
        row["job"] = path.relative_to(timings).with_suffix("").as_posix()
        rows.append(row)
    frame = pd.DataFrame(rows)
    for column in ("s", "max_rss", "cpu_time"):
        if column in frame:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def per_rule(jobs: pd.DataFrame) -> pd.DataFrame:
    """Per rule (a job's first path part): jobs, summed wall and sampled CPU seconds, and
    the largest job's peak RSS; the most wall time first."""
    if jobs.empty:
        return pd.DataFrame(columns=["rule", "jobs", "s", "cpu_time", "max_rss"])
    grouped = jobs.assign(rule=jobs["job"].str.split("/").str[0]).groupby("rule")
    table = grouped.agg(
        jobs=("job", "size"),
        s=("s", "sum"),
        cpu_time=("cpu_time", "sum"),
        max_rss=("max_rss", "max"),
    )
    return table.sort_values("s", ascending=False).reset_index()


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", action="store_true", help="really run it (~10 min, all cores)")
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--cores", default="all")
    parser.add_argument("--workdir", type=Path, help="where to copy the project (default: /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the copy and its results")
    args = parser.parse_args()
    command = ["snakemake", "--cores", args.cores, "--configfile", args.config]
    if not args.run:
        print(
            f"would copy the project to a temporary folder and run `{' '.join(command)}` there "
            "(about 10 minutes of every core for the default config); pass --run"
        )
        return

    root = Path(tempfile.mkdtemp(prefix="bench-default-", dir=args.workdir))
    try:
        project = copy_project(root)
        env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": os.pathsep.join(
                [str(project / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
        }
        cmd = [str(BIN / "snakemake"), *command[1:]]
        if Path("/usr/bin/time").exists():
            cmd = ["/usr/bin/time", "-v", *cmd]
        log = root / "snakemake.log"
        with open(log, "w") as out:
            start = time.perf_counter()
            process = subprocess.Popen(
                cmd, cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT
            )
            poller = TreeRSS(process.pid)
            poller.start()
            _, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - start
            poller.done.set()
            poller.join()
        text = log.read_text()
        returncode = os.waitstatus_to_exitcode(status)
        if returncode != 0:
            kept = root / "snakemake.log"
            args.keep = True
            sys.exit(f"snakemake failed ({returncode}); see {kept}\n{text[-3000:]}")
        jobs = job_benchmarks(project)
    finally:
        if args.keep:
            print(f"kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    timed = gnu_time(text)
    tree_cpu = usage.ru_utime + usage.ru_stime
    job_cpu = tree_cpu - poller.snakemake_cpu_s
    sampled_cpu = float(jobs["cpu_time"].sum()) if "cpu_time" in jobs else float("nan")
    largest = jobs.sort_values("max_rss", ascending=False).head(5)
    slowest = jobs.sort_values("s", ascending=False).head(5)
    results = {
        "config": args.config,
        "cores": args.cores,
        "wall_seconds": wall,
        "returncode": returncode,
        "jobs": len(jobs),
        "largest_job": largest.iloc[0][["job", "max_rss", "s"]].to_dict() if len(jobs) else None,
        "sum_job_max_rss_mb": float(jobs["max_rss"].sum()) if len(jobs) else None,
        "sum_job_seconds": float(jobs["s"].sum()) if len(jobs) else None,
        "cpu_seconds_tree": tree_cpu,
        "cpu_seconds_snakemake": poller.snakemake_cpu_s,
        "cpu_seconds_jobs": job_cpu,
        "cpu_seconds_jobs_benchmark_files": sampled_cpu,
        "goals": {
            "wall_seconds": GOAL_WALL_S,
            "job_cpu_seconds": GOAL_JOB_CPU_S,
            "margin": MARGIN,
        },
        "peak_tree_rss_mb_polled": poller.peak_mb,
        "processes_at_tree_peak": poller.peak_processes,
        "max_rss_mb_single_process_wait4": usage.ru_maxrss / 1024,
        "gnu_time": timed,
        "per_job": jobs.to_dict(orient="records"),
    }
    goals = benchinfo.markdown_table(
        ["goal (issue 20)", "measured", "goal", f"measured × {MARGIN}", "met"],
        goal_rows(wall, job_cpu, sampled_cpu, applies=args.config == "config/config.yaml"),
    )
    summary = benchinfo.markdown_table(
        ["measure", "value"],
        [
            ["wall time s", wall],
            ["CPU s, whole tree (wait4: user + system)", tree_cpu],
            ["CPU s, Snakemake's own process", poller.snakemake_cpu_s],
            ["jobs (benchmark TSVs)", len(jobs)],
            ["sum of job times s", results["sum_job_seconds"]],
            ["largest job max_rss MB", largest.iloc[0]["max_rss"] if len(jobs) else None],
            ["largest job", largest.iloc[0]["job"] if len(jobs) else None],
            ["sum of jobs' max_rss MB", results["sum_job_max_rss_mb"]],
            ["peak RSS of the whole tree MB (polled every 0.5 s)", poller.peak_mb],
            ["max RSS of one process MB (wait4)", usage.ru_maxrss / 1024],
        ],
    )
    top = benchinfo.markdown_table(
        ["largest jobs", "max_rss MB", "s"],
        [[r["job"], r["max_rss"], r["s"]] for _, r in largest.iterrows()],
    )
    slow = benchinfo.markdown_table(
        ["slowest jobs", "s", "max_rss MB"],
        [[r["job"], r["s"], r["max_rss"]] for _, r in slowest.iterrows()],
    )
    rules = per_rule(jobs)
    results["per_rule"] = rules.to_dict(orient="records")
    by_rule = benchinfo.markdown_table(
        ["rule", "jobs", "wall s (sum)", "CPU s (sum, sampled)", "max_rss MB (largest job)"],
        [[r["rule"], r["jobs"], r["s"], r["cpu_time"], r["max_rss"]] for _, r in rules.iterrows()],
    )
    name = "default_run" if args.config == "config/config.yaml" else f"run_{Path(args.config).stem}"
    benchinfo.report(
        name,
        f"End-to-end run of {args.config}",
        {"config": args.config, "cores": args.cores},
        [("", goals), ("", summary), ("", top), ("", slow), ("", by_rule)],
        results,
        ("snakemake", "numpy", "torch", "mne", "cebra"),
        [
            "sum of jobs' max_rss adds peaks that need not coincide: an upper bound on the "
            "concurrent total; the polled tree peak is a lower bound (0.5 s sampling)",
            f"goals are for the default config on 2 cores; met: measured × {MARGIN} ≤ goal. "
            "The benchmark files' cpu_time is sampled (every 30 s after a job's first 15 s) "
            "and misses each long job's last stretch; the whole tree's CPU less Snakemake's "
            "own process is the exact count",
        ],
    )


if __name__ == "__main__":
    main()
