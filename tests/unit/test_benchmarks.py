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
