"""tests.baseline: each kind of machine is held to its own recorded tables."""

from __future__ import annotations

import pandas as pd
import pytest

from tests import baseline

TABLE = "things_meg/metrics/retrieval.parquet"


def write(root, value):
    path = root / TABLE
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"metric": ["top5", "seconds"], "value": [value, 1.0]}).to_parquet(path)


@pytest.fixture
def sets(tmp_path, monkeypatch):
    """Two recorded sets of config 'tiny': this machine's (0.5) and another's (0.6)."""
    monkeypatch.setattr(baseline, "BASELINE", tmp_path / "baseline")
    monkeypatch.setattr(baseline, "machine", lambda: "here")
    write(tmp_path / "baseline" / "here" / "tiny", 0.5)
    write(tmp_path / "baseline" / "elsewhere" / "tiny", 0.6)
    return tmp_path


def test_a_machine_with_a_set_is_held_to_it_bit_for_bit(sets):
    write(sets / "results", 0.5)
    baseline.compare(sets / "results", "tiny")
    write(sets / "results", 0.6)  # another machine's numbers are not this one's
    with pytest.raises(AssertionError, match="tiny on here"):
        baseline.compare(sets / "results", "tiny")
    write(sets / "results", 0.5 + 1e-12)
    with pytest.raises(AssertionError, match="retrieval.parquet"):
        baseline.compare(sets / "results", "tiny")


def test_a_machine_without_a_set_passes_on_any_set_else_is_skipped(sets, monkeypatch):
    monkeypatch.setattr(baseline, "machine", lambda: "new-cpu")
    write(sets / "results", 0.6)
    baseline.compare(sets / "results", "tiny")
    write(sets / "results", 0.7)
    with pytest.raises(pytest.skip.Exception, match=r"new-cpu.*elsewhere, here"):
        baseline.compare(sets / "results", "tiny")


def test_machine_names_the_cpu_and_its_kernels():
    name = baseline.machine()
    assert "torch" in name and "openblas" in name and name == name.lower()
