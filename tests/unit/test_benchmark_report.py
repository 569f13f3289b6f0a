import json

import pytest

from brainlatent.benchmark_report import flatten, read_benchmark, render
from brainlatent.errors import DataError


def test_nested_results_flatten_to_dotted_leaves():
    leaves = flatten({"runs": [{"threads": 1, "fit": {"best": 2.5}}], "seconds": [1.0, 2.0]})
    assert leaves == {"runs.0.threads": 1, "runs.0.fit.best": 2.5, "seconds": [1.0, 2.0]}


def test_page_shows_each_benchmark_with_its_machine(tmp_path):
    bench = tmp_path / "dag.json"
    bench.write_text(json.dumps({
        "title": "Snakemake DAG <build>", "date": "2026-11-25", "machine": {"cpu": "EPYC"},
        "versions": {"snakemake": "9.27.1"}, "parameters": {"repeats": 3},
        "results": {"best_seconds": 6.2260634}, "notes": ["loaded machine"],
    }))  # fmt: skip
    ridge = tmp_path / "ridge_1x2x3.json"
    ridge.write_text(json.dumps({
        "shape": "1 trials", "machine": "EPYC, 2 cores", "numpy": "2.4.6",
        "results": {"sklearn": {"seconds": 3.5}},
    }))  # fmt: skip
    page = render([bench, ridge])
    assert page.count("<h2>") == 2 and "Snakemake DAG &lt;build&gt;" in page  # escaped
    assert "6.226" in page and "EPYC" in page and "9.27.1" in page and "loaded machine" in page
    assert "Ridge: 1 trials" in page and "sklearn.seconds" in page and "2.4.6" in page
    assert read_benchmark(ridge)["machine"] == {"machine": "EPYC, 2 cores"}


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"title": "no results"}'])
def test_a_bad_results_file_is_named(tmp_path, content):
    path = tmp_path / "broken.json"
    path.write_text(content)
    with pytest.raises(DataError, match="broken.json"):
        render([path])
