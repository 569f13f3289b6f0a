"""The ``make bench`` results as one HTML page for the Snakemake report.

Each ``benchmarks/bench_*.py`` writes ``benchmarks/results/<name>.json``: a title, the
machine and library versions, the parameters and a ``results`` mapping (the ridge
benchmark: its shape, per-library results and versions at the top level). The page
shows each file as tables: the flattened results (one row per leaf, e.g.
``brainlatent.seconds``), then the parameters and the environment, so a number is
never shown without the machine it was measured on.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from brainlatent.errors import DataError

SECTIONS = ("results", "parameters", "machine", "versions")


def read_benchmark(path: str | Path) -> dict:
    """One results file, normalised to ``title`` + :data:`SECTIONS` (+ ``notes``)."""
    try:
        payload = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise DataError(path, f"cannot read benchmark results ({error})") from error
    if not isinstance(payload, dict) or "results" not in payload:
        raise DataError(path, "not a benchmark results file: no 'results' mapping")
    if "title" in payload:
        return payload
    # bench_ridge.py: shape, results and versions side by side
    versions = {k: v for k, v in payload.items() if k not in ("shape", "results", "machine")}
    return {
        "title": f"Ridge: {payload.get('shape', Path(path).stem)}",
        "results": payload["results"],
        "parameters": {"shape": payload.get("shape")},
        "machine": {"machine": payload.get("machine")},
        "versions": versions,
    }


def flatten(value, prefix: str = "") -> dict[str, object]:
    """Leaves of nested mappings and lists, keyed by dotted paths (``runs.0.threads``)."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        items = ((str(k), v) for k, v in enumerate(value))
    else:
        return {prefix or "value": value}
    leaves: dict[str, object] = {}
    for key, item in items:
        leaves.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return leaves


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_format(v) for v in value)
    return str(value)


def _table(mapping: dict) -> str:
    leaves = flatten(mapping) if mapping else {}
    if not leaves:
        return "<p>(none)</p>"
    column = pd.Series({k: _format(v) for k, v in leaves.items()}, name="value")
    return column.to_frame().to_html(border=0, escape=True)


def render(paths: list[str | Path]) -> str:
    """An HTML page with one section per results file, in the order given."""
    parts = ["<html><head><meta charset='utf-8'><title>Benchmarks</title></head><body>"]
    parts.append("<h1>Benchmarks (make bench)</h1>")
    for path in paths:
        bench = read_benchmark(path)
        parts.append(f"<h2>{html.escape(str(bench['title']))}</h2>")
        if bench.get("date"):
            parts.append(f"<p>{html.escape(str(bench['date']))}, {Path(path).name}</p>")
        for section in SECTIONS:
            parts.append(f"<h3>{section}</h3>{_table(bench.get(section) or {})}")
        notes = bench.get("notes") or []
        if notes:
            items = "".join(f"<li>{html.escape(str(n))}</li>" for n in notes)
            parts.append(f"<ul>{items}</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)
