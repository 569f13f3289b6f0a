"""The conda environments, the lock and the rules agree with each other."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
#: conda-forge package name → PyPI name, where they differ.
CONDA_TO_PYPI = {"mne-base": "mne", "matplotlib-base": "matplotlib", "pytorch": "torch"}


def lock():
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version.strip()
    return pins


def test_lock_pins_the_cpu_torch_and_snakemake_reports():
    pins = lock()
    assert pins["torch"] == "2.13.0"
    assert pins["snakemake"].startswith("9.")
    # snakemake[reports] pulls these in.
    assert {"pygments", "jinja2", "docutils"} <= set(pins)


@pytest.mark.parametrize("env", sorted((REPO / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_conda_environment_matches_the_lock(env):
    pins = lock()
    spec = yaml.safe_load(env.read_text())
    assert spec["channels"][0] == "conda-forge"
    dependencies = []
    for dependency in spec["dependencies"]:
        if isinstance(dependency, dict):  # the pip: section, PyPI names and ==
            dependencies += [d.replace("==", "=") for d in dependency["pip"]]
        elif dependency != "pip":
            dependencies.append(dependency)
    for dependency in dependencies:
        name, _, version = dependency.partition("=")
        if name == "python":
            assert version == "3.11"
            continue
        pypi = CONDA_TO_PYPI.get(name, name)
        assert pypi in pins, f"{env.name}: {name} is not in requirements.lock"
        assert version == pins[pypi], f"{env.name}: {name}={version}, lock has {pins[pypi]}"


def rules():
    """Each rule's name, body and file; a rule made in a loop (``rule:`` + ``name:``) is named
    by its name expression."""
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text()
        for match in re.finditer(r"^\s*rule( \w+)?:\n((?:\s{4,}.*\n|\n)+)", text, re.MULTILINE):
            body = match.group(2)
            name = match.group(1) or re.search(r"name:\s*\n\s*(.+)", body).group(1)
            yield name.strip(), body, smk


@pytest.mark.parametrize(
    "name, body, path",
    list(rules()),
    ids=lambda x: x if isinstance(x, str) and "\n" not in x and len(x) < 60 else "",
)
def test_every_rule_declares_its_files_and_environment(name, body, path):
    for directive in ("input:", "output:", "log:", "benchmark:", "conda:", "shell:"):
        assert directive in body, f"rule {name} in {path.name} lacks {directive}"
    env = re.search(r'conda:\s*\n\s*"([^"]+)"', body).group(1)
    assert (path.parent / env).resolve().exists(), f"rule {name}: {env} does not exist"
    assert "> {log} 2>&1" in body, f"rule {name} does not send its output to its log"
    assert "script=script(" in body, f"rule {name} does not declare its script as an input"


def test_rule_files_raise_no_config_error():
    """Every config error is raised by brainlatent.plan (unit-tested there); the rule files
    only read the plan."""
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text()
        assert "raise " not in text and "ConfigError" not in text, smk.name


def test_make_clean_keeps_the_benchmark_results(tmp_path):
    """``make bench`` takes ten minutes and the report renders its JSON: ``make clean``
    removes what the workflow wrote (results, logs with the per-rule timings) and no more."""
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    for path in ("results/x.parquet", "logs/benchmarks/fit_ridge/a.tsv", ".snakemake/x"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    kept = tmp_path / "benchmarks" / "results" / "bench_ridge.json"
    kept.parent.mkdir(parents=True)
    kept.write_text("{}")
    subprocess.run(["make", "-s", "clean"], cwd=tmp_path, check=True)
    assert kept.exists()
    assert not any((tmp_path / name).exists() for name in ("results", "logs", ".snakemake"))


@pytest.mark.parametrize(
    ("version", "refused", "says"),
    [((3, 10, 12), True, "needs 3.11"), ((3, 12, 3), False, "resolved and tested on 3.11")],
)
def test_make_env_checks_the_python_version_first(tmp_path, version, refused, says):
    """The lock is resolved on 3.11: an older Python stops before the venv with the fix
    named (pip's own error is a resolver failure on some pin); a newer one is warned."""
    for name in ("Makefile", "requirements.lock", "pyproject.toml"):
        shutil.copy(REPO / name, tmp_path / name)
    fake = tmp_path / "fakepython"  # reports another version, then stops any venv attempt
    fake.write_text(
        f"#!{sys.executable}\nimport sys\nsys.version_info = {version}\n"
        "if sys.argv[1] == '-c': exec(sys.argv[2])\nelse: sys.exit('no venv in this test')\n"
    )
    fake.chmod(0o755)
    done = subprocess.run(
        ["make", "env", f"PYTHON={fake}"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert says in done.stderr
    assert ("no venv in this test" in done.stderr) is not refused
    assert not (tmp_path / ".venv").exists()
