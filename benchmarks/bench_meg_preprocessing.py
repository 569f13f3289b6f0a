"""MEG preprocessing of one session at full size: peak memory and time vs reading the bytes.

The project's simulator (``scripts/simulate_things_meg.py``, the rule's command) writes
one session of subject BIGMEG1 as ds004212 distributes it: a CTF ``.ds`` per run
with the real 272 gradiometers plus the reference and misc channels of the real
``channels.tsv`` (310 channels), 1200 Hz, the real trial structure of each run
(~5.7 minutes, 225-226 events). ``scripts/preprocess_meg.py`` (the workflow's
command, ``preprocess_subject``) then preprocesses it with the recipe of
``config/config.yaml``, in a subprocess whose peak RSS is its own (``wait4``).

Two preprocessings are measured: the first run alone, then all runs. Preprocessing
goes run by run, so the first gives the per-run peak; the difference between them
is what the growing memory-mapped ``epochs.npy`` adds per run, and the two give
an estimate for a full 10-run session when fewer runs were simulated.

The time to read the raw ``.meg4`` bytes once (16 MiB chunks) is measured cold
(pages evicted with ``posix_fadvise(DONTNEED)``, checked with ``fincore``) and
warm; each preprocessing also starts with the files evicted.

    python benchmarks/bench_meg_preprocessing.py                     # 10 runs × ~6 min (~5 GB)
    python benchmarks/bench_meg_preprocessing.py --runs 2 --minutes 3  # what `make bench` runs

The full size writes ~0.5 GB per run and the simulator holds ~5 GB while it
writes a run; ``--workdir`` puts the data elsewhere than a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchinfo
import pandas as pd
import yaml

SUBJECT, SESSION = "BIGMEG1", 1
FULL_RUNS, FULL_SFREQ = 10, 1200.0
LIMIT_MB = 2048
CHUNK = 16 * 1024 * 1024


def trials_for(reference: Path, runs: list[int], minutes: float) -> tuple[int, float]:
    """``--trials-per-run`` that keeps each run within ``minutes`` (0: every event) and the
    longest resulting run in seconds (the simulator stops 2 s after the last event)."""
    onsets = [
        pd.read_csv(
            reference
            / f"sub-{SUBJECT}/ses-{SESSION:02d}/meg"
            / f"sub-{SUBJECT}_ses-{SESSION:02d}_task-main_run-{run:02d}_events.tsv",
            sep="\t",
        )["onset"].to_numpy()
        for run in runs
    ]
    budget = minutes * 60 - 2.0
    if all(o.max() <= budget for o in onsets):
        return 0, max(o.max() for o in onsets) + 2.0
    n = min(int((o <= budget).sum()) for o in onsets)
    if n < 10:
        sys.exit(f"--minutes {minutes} keeps only {n} events per run; give at least 1 minute")
    return n, max(o[:n].max() for o in onsets) + 2.0


def meg4_files(bids: Path, run: int | None = None) -> list[Path]:
    pattern = "*.meg4" if run is None else f"*_run-{run:02d}_meg.ds/*.meg4"
    return sorted(bids.rglob(pattern))


def evict(paths: list[Path]) -> None:
    """Drop the files' pages from the page cache (written back first); this process only."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def resident_bytes(paths: list[Path]) -> int | None:
    """Bytes of the files in the page cache (``fincore``), or None without it."""
    if shutil.which("fincore") is None:
        return None
    out = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES", *map(str, paths)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        return None
    return sum(int(line.split()[0]) for line in out.stdout.splitlines() if line.strip())


def read_once(paths: list[Path]) -> float:
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    start = time.perf_counter()
    for path in paths:
        with open(path, "rb", buffering=0) as f:
            while f.readinto(view):
                pass
    return time.perf_counter() - start


def simulate(args, bids: Path, work: Path, runs: list[int], trials: int, config: dict) -> dict:
    meg = config["things_meg"]
    cmd = [
        sys.executable,
        str(benchinfo.REPO / "scripts/simulate_things_meg.py"),
        "--reference", str(benchinfo.REPO / meg["reference_bids"]),
        "--bids", str(bids),
        "--stimuli", str(work / "stimuli"),
        "--truth", str(work / "truth"),
        "--subjects", SUBJECT,
        "--sessions", str(SESSION),
        "--runs", *map(str, runs),
        "--trials-per-run", str(trials),
        "--sfreq", str(args.sfreq),
        "--simulation", json.dumps(meg["simulate"]),
        "--seed", "0",
    ]  # fmt: skip
    result = benchinfo.run_measured(cmd, work / "simulate.log")
    if result["returncode"] != 0:
        sys.exit(f"simulation failed; see {work / 'simulate.log'}")
    return result


def preprocess(bids: Path, work: Path, runs: list[int], sfreq: float, config: dict) -> dict:
    out = work / f"preprocess-{len(runs)}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    cmd = [
        sys.executable,
        str(benchinfo.REPO / "scripts/preprocess_meg.py"),
        "--bids", str(bids),
        "--stimuli", str(work / "stimuli"),
        "--subject", SUBJECT,
        "--sessions", str(SESSION),
        "--runs", *map(str, runs),
        "--raw-sfreq", str(sfreq),
        "--recipe", json.dumps(config["things_meg"]["preprocess"]),
        "--epochs", str(out / "epochs.npy"),
        "--trials", str(out / "trials.parquet"),
        "--info", str(out / "epochs.json"),
    ]  # fmt: skip
    paths = meg4_files(bids)
    evict(paths)
    cached = resident_bytes(paths)
    result = benchinfo.run_measured(cmd, out / "preprocess.log")
    if result["returncode"] != 0:
        sys.exit(f"preprocessing failed; see {out / 'preprocess.log'}")
    info = json.loads((out / "epochs.json").read_text())
    epochs_mb = (out / "epochs.npy").stat().st_size / 1024**2
    trials = len(pd.read_parquet(out / "trials.parquet"))
    shutil.rmtree(out)
    return {
        **result,
        "runs": len(runs),
        "trials": trials,
        "channels": len(info["channels"]),
        "n_times": info["n_times"],
        "epochs_npy_mb": epochs_mb,
        "meg4_bytes_cached_at_start": cached,
    }


def stage_breakdown(bids: Path, sfreq: float, config: Path) -> dict:
    """The first run through ``read_run`` then ``epoch_run`` here; peak RSS after each."""
    import resource

    from brainlatent.preprocessing import meg

    params = meg.Preprocessing.from_config(
        yaml.safe_load(config.read_text())["things_meg"]["preprocess"]
    )
    session, out = f"{SESSION:02d}", {}

    def mark(stage: str, start: float | None) -> None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        seconds = None if start is None else time.perf_counter() - start
        out[stage] = {"seconds": seconds, "peak_rss_mb": peak}

    mark("after imports (brainlatent, MNE)", None)
    start = time.perf_counter()
    raw = meg.read_run(bids, SUBJECT, session, "01", sfreq)
    mark("read_run (read, pick, load)", start)
    stimuli = meg.stimulus_index(bids.parent / "stimuli")
    onsets = meg.run_trials(bids, SUBJECT, session, "01", stimuli)["onset"].to_numpy()
    start = time.perf_counter()
    meg.epoch_run(raw, onsets, params, bids)
    mark("epoch_run (filter, epoch, scale)", start)
    return out


def stages(bids: Path, work: Path, sfreq: float, config: Path) -> dict:
    """Peak RSS after each step of the first run's preprocessing (``read_run``, ``epoch_run``)."""
    paths = meg4_files(bids)
    evict(paths)
    log = work / "stages.log"
    cmd = [sys.executable, __file__, "--stage-breakdown", str(bids), "--sfreq", str(sfreq)]
    result = benchinfo.run_measured([*cmd, "--config", str(config)], log)
    if result["returncode"] != 0:
        sys.exit(f"stage breakdown failed; see {log}")
    return json.loads(log.read_text().strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=FULL_RUNS, help="runs of the session (1-10)")
    parser.add_argument(
        "--minutes", type=float, default=6.0, help="cap each run's length (real runs: ~5.7)"
    )
    parser.add_argument("--sfreq", type=float, default=FULL_SFREQ, help="raw sampling rate, Hz")
    parser.add_argument("--config", type=Path, default=benchinfo.REPO / "config/config.yaml")
    parser.add_argument("--workdir", type=Path, help="where to write the session (default: /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the simulated session")
    parser.add_argument("--stage-breakdown", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage_breakdown:
        print(json.dumps(stage_breakdown(args.stage_breakdown, args.sfreq, args.config)))
        return
    if not 1 <= args.runs <= FULL_RUNS:
        parser.error(f"--runs must be 1..{FULL_RUNS}")
    config = yaml.safe_load(args.config.read_text())
    reference = benchinfo.REPO / config["things_meg"]["reference_bids"]
    runs = list(range(1, args.runs + 1))
    trials, seconds = trials_for(reference, runs, args.minutes)

    work = Path(tempfile.mkdtemp(prefix="bench-meg-", dir=args.workdir))
    bids = work / "bids"
    try:
        sim = simulate(args, bids, work, runs, trials, config)
        paths = meg4_files(bids)
        raw_bytes = sum(p.stat().st_size for p in paths)
        first_run = meg4_files(bids, runs[0])
        evict(paths)
        cached_before_read = resident_bytes(paths)
        cold = read_once(paths)
        warm = min(read_once(paths) for _ in range(2))
        evict(first_run)
        cold_first = read_once(first_run)
        steps = stages(bids, work, args.sfreq, args.config)
        one = preprocess(bids, work, runs[:1], args.sfreq, config)
        every = one if len(runs) == 1 else preprocess(bids, work, runs, args.sfreq, config)
    finally:
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    n = len(runs)
    per_run_growth = (every["peak_rss_mb"] - one["peak_rss_mb"]) / (n - 1) if n > 1 else None
    per_run_seconds = (every["seconds"] - one["seconds"]) / (n - 1) if n > 1 else None
    full_estimate = (
        one["peak_rss_mb"] + (FULL_RUNS - 1) * per_run_growth
        if per_run_growth is not None
        else None
    )
    full_size = n == FULL_RUNS and trials == 0 and args.sfreq == FULL_SFREQ
    results = {
        "session": {
            "runs": n,
            "trials_per_run": trials or "all",
            "longest_run_seconds": seconds,
            "sfreq": args.sfreq,
            "meg4_mb": raw_bytes / 1024**2,
            "meg4_mb_per_run": raw_bytes / 1024**2 / n,
            "full_size": full_size,
        },
        "simulate": sim,
        "read": {
            "cold_seconds": cold,
            "warm_seconds": warm,
            "cold_first_run_seconds": cold_first,
            "cold_mb_per_s": raw_bytes / 1024**2 / cold,
            "meg4_bytes_cached_before_cold_read": cached_before_read,
        },
        "first_run_stages": steps,
        "preprocess_first_run": one,
        "preprocess_all_runs": every,
        "peak_rss_growth_mb_per_run": per_run_growth,
        "seconds_per_extra_run": per_run_seconds,
        "peak_rss_mb_estimate_10_runs": full_estimate if not full_size else every["peak_rss_mb"],
        "limit_mb": LIMIT_MB,
    }

    rows = []
    for label, r, read_s in (
        ("first run only", one, cold_first),
        (f"all {n} runs", every, cold),
    ):
        rows.append(
            [
                label,
                r["trials"],
                f"{r['channels']}×{r['n_times']}",
                r["seconds"],
                r["seconds"] / r["runs"],
                read_s,
                r["seconds"] / read_s,
                r["peak_rss_mb"],
                "yes" if r["peak_rss_mb"] <= LIMIT_MB else "**no**",
            ]
        )
    table = benchinfo.markdown_table(
        [
            "preprocessing",
            "trials",
            "epoch",
            "wall s",
            "wall s / run",
            "cold read s",
            "× read",
            "peak RSS MB",
            "≤ 2 GB",
        ],
        rows,
    )
    stage_table = benchinfo.markdown_table(
        ["first run, step", "seconds", "peak RSS MB so far"],
        [[stage, r["seconds"], r["peak_rss_mb"]] for stage, r in steps.items()],
    )
    read_table = benchinfo.markdown_table(
        ["raw .meg4 read", "MB", "seconds", "MB/s"],
        [
            ["cold (evicted)", raw_bytes / 1024**2, cold, raw_bytes / 1024**2 / cold],
            ["warm (cached, best of 2)", raw_bytes / 1024**2, warm, raw_bytes / 1024**2 / warm],
        ],
    )
    notes = [
        f"session: sub-{SUBJECT} ses-{SESSION:02d}, {n} runs × "
        f"{'every event' if not trials else f'{trials} events'} (longest run {seconds:.0f} s), "
        f"{args.sfreq:g} Hz, the real channel list written (272 MEG + reference + misc), "
        f"{raw_bytes / 1024**2 / n:.0f} MB of .meg4 per run",
        f"simulation: {sim['seconds']:.0f} s, peak RSS {sim['peak_rss_mb']:.0f} MB (not part of "
        "the workflow's preprocessing)",
        f"page cache before the cold read: {cached_before_read} bytes of the .meg4 files resident"
        " (fincore)",
    ]
    if per_run_growth is not None:
        notes.append(
            f"peak RSS grows {per_run_growth:.0f} MB per extra run (of which the pages of the "
            f"memory-mapped epochs.npy: {every['epochs_npy_mb'] / n:.0f} MB); linear estimate "
            f"for 10 runs of this length: {full_estimate:.0f} MB"
        )
        notes.append(
            f"each extra run adds {per_run_seconds:.1f} s of preprocessing (the first run's wall "
            "time also holds ~2-3 s of Python/MNE start-up)"
        )
    if not full_size:
        notes.append(
            "the full size (10 runs × ~5.7 min at 1200 Hz) was NOT run here; "
            "per-run numbers are the ones that carry over"
        )
    benchinfo.report(
        "meg_preprocessing",
        "MEG preprocessing of one session (scripts/preprocess_meg.py)",
        {"runs": n, "minutes": args.minutes, "sfreq": args.sfreq, "config": args.config.name},
        [("", table), ("", stage_table), ("", read_table)],
        results,
        ("numpy", "scipy", "mne", "mne-bids"),
        notes,
    )


if __name__ == "__main__":
    main()
