"""The benchmark scripts run to the end at toy sizes (their numbers are not checked here).

``make bench`` runs nowhere in CI, so a renamed function broke a benchmark unnoticed
(``stimulus_index`` moved, 2026-12-04): each script runs once at a size of seconds, writing
its results to a temporary folder (``BRAINLATENT_BENCH_RESULTS``), not over ``make bench``'s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

TOY = {
    "bench_meg_preprocessing.py": (["--runs", "1", "--minutes", "0.5"], "meg_preprocessing"),
    "bench_ridge.py": (
        ["--trials", "200", "--channels", "20", "--times", "10", "--dims", "4"]
        + ["--repeats", "1", "--rounds", "2"],
        "ridge_200x200x4",
    ),
    "bench_cebra_overhead.py": (
        ["--samples", "900", "--neurons", "20", "--iterations", "5", "--repeats", "1"],
        "cebra_overhead",
    ),
    "bench_brain_module.py": (
        ["--configs", "tiny", "--no-fit", "--seconds", "0.1", "--rounds", "1"],
        "brain_module",
    ),
}


@pytest.mark.parametrize("script", sorted(TOY))
def test_a_benchmark_runs_at_a_toy_size(script, tmp_path):
    args, result = TOY[script]
    env = {**os.environ, "BRAINLATENT_BENCH_RESULTS": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((tmp_path / f"{result}.json").read_text())


def test_meg_realism_reports_both_statistics_and_the_offset_at_a_toy_size(tmp_path):
    """benchmarks/meg_realism.py (the simulator's calibration against THINGS-MEG) on 24
    images in 3 sessions: every statistic it reports is there, finite where it must be."""
    out = tmp_path / "realism.json"
    args = ["--images", "24", "--sessions", "3", "--pairs", "20", "--step", "20"]
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "meg_realism.py"), *args,
         "--set", "n_noise_sources=20", "--out", str(out)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["params"]["n_noise_sources"] == 20 and result["n_images"] == 24
    assert max(int(t) for t in result["T1_curve"]) == 1300  # THINGS-data's epoch, to 1.3 s
    for key in ("T1_peak_accuracy", "T1_offset_peak_accuracy", "T2_max_nc"):
        assert 0 <= result[key] <= 100, key
    assert result["T1_offset_peak_time_ms"] >= 500
