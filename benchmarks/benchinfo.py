"""What every benchmark reports beside its numbers: the machine, the versions, a JSON copy.

Each ``bench_*.py`` prints markdown tables and writes the same content to
``benchmarks/results/<name>.json`` (git-ignored; ``make clean`` keeps it: the report
renders it. Snakemake's per-rule timings go to ``logs/benchmarks/<rule>/``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

from brainlatent.io import atomic_path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
#: Where results go; ``BRAINLATENT_BENCH_RESULTS`` moves them (the smoke tests write to a
#: temporary folder, not over ``make bench``'s).
RESULTS = Path(os.environ.get("BRAINLATENT_BENCH_RESULTS", HERE / "results"))
LOAD_NOTE = (
    "the machine may have been loaded by other processes (shared cores): absolute times are "
    "upper bounds; ratios are measured back to back in one process on the same data"
)


def _proc_field(path: str, key: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.split(":")[0].strip() == key:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine() -> dict:
    """CPU model, logical cores (all / usable by this process), RAM and load average."""
    mem_kb = _proc_field("/proc/meminfo", "MemTotal")
    available_kb = _proc_field("/proc/meminfo", "MemAvailable")
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count()
    return {
        "cpu": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "ram_gb": round(int(mem_kb.split()[0]) / 1024**2, 1) if mem_kb else None,
        "ram_available_gb": (
            round(int(available_kb.split()[0]) / 1024**2, 1) if available_kb else None
        ),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "os": platform.platform(),
    }


#: The machine as the benchmark started (load average before the measurements).
START = machine()


def versions(*packages: str) -> dict:
    """Python and each installed package's version (``None`` when not installed)."""
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def markdown_table(headers: list[str], rows: list[list]) -> str:
    """A GitHub markdown table; floats get 3 significant digits."""

    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
        return "" if value is None else str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _loads(values) -> str:
    return " / ".join(str(x) for x in values) if values else ""


def environment_table(info: dict, libs: dict) -> str:
    rows = [
        ["CPU", info["cpu"]],
        ["cores (usable)", f"{info['cores']} ({info['cores_usable']})"],
        ["RAM", f"{info['ram_gb']} GB ({info['ram_available_gb']} GB available at start)"],
        ["load average (1/5/15 min) at start", _loads(info["load_average_1_5_15"])],
        ["load average at end", _loads(info.get("load_average_at_end"))],
        *[[name, version or "not installed"] for name, version in libs.items()],
    ]
    return markdown_table(["", ""], rows)


def report(name: str, title: str, params: dict, tables: list[tuple[str, str]], results: dict,
           packages: tuple[str, ...], notes: list[str] = ()) -> Path:  # fmt: skip
    """Print the environment, ``tables`` (caption, markdown) and notes; write the JSON."""
    info, libs = dict(START), versions(*packages)
    info["load_average_at_end"] = machine()["load_average_1_5_15"]
    notes = [*notes, LOAD_NOTE]
    print(f"## {title}\n")
    print(environment_table(info, libs) + "\n")
    print("parameters: " + ", ".join(f"{k}={v}" for k, v in params.items()) + "\n")
    for caption, table in tables:
        if caption:
            print(f"{caption}\n")
        print(table + "\n")
    for note in notes:
        print(f"- {note}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "title": title,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "machine": info,
        "versions": libs,
        "parameters": params,
        "results": results,
        "notes": notes,
    }
    # whole or not at all: the report reads every results/*.json it finds
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"\nwritten: {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return path


def run_measured(cmd: list[str], log: Path, **kwargs) -> dict:
    """Run ``cmd`` to completion: wall seconds and the child's peak RSS (``wait4``'s ru_maxrss).

    ``wait4`` gives this child's own resource usage (with its waited-for
    descendants), so earlier children of the benchmark do not count.
    stdout and stderr go to ``log``.
    """
    import subprocess
    import time

    with open(log, "w") as out:
        start = time.perf_counter()
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, **kwargs)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    return {
        "seconds": wall,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "returncode": process.returncode,
    }
