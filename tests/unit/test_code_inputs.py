"""The package files a workflow script runs: what its rule lists as inputs."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest

from brainlatent.code_inputs import imported_files, newest

REPO = Path(__file__).resolve().parents[2]


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def src(tmp_path):
    """A small ``brainlatent`` with every import form the real package uses."""
    write(
        tmp_path / "src",
        {
            "brainlatent/__init__.py": "from brainlatent.errors import DataError\n",
            "brainlatent/errors.py": "class DataError(Exception): ...\n",
            "brainlatent/io.py": "import numpy as np\n",
            "brainlatent/figures/__init__.py": "",
            "brainlatent/figures/style.py": "from ..io import save  # a relative import\n",
            "brainlatent/figures/motor.py": (
                "from brainlatent.figures import style\n"
                "from brainlatent.decoding.cross_session import (\n"
                "    METHODS,  # parenthesised, over lines\n"
                "    SABLE_METHODS,\n)\n"
                "def plot():\n    import brainlatent.metrics as m  # inside a function\n"
            ),
            "brainlatent/decoding/__init__.py": "",
            "brainlatent/decoding/cross_session.py": "from . import kernels\n",
            "brainlatent/decoding/kernels.py": "",
            "brainlatent/decoding/unused.py": "",
            "brainlatent/metrics.py": "import os; import brainlatent.seeding  # two on a line\n",
            "brainlatent/seeding.py": (
                "from brainlatent.models import (  # a comment with a ) in it\n"
                "    torch_model,\n)\n"
            ),
            "brainlatent/models/__init__.py": "",
            "brainlatent/models/torch_model.py": "import torch\n",
        },
    )
    write(tmp_path, {"scripts/plot.py": "from brainlatent.figures.motor import plot\n"})
    return tmp_path / "src"


def test_every_module_a_script_reaches_and_no_other(src):
    files = imported_files(src.parent / "scripts" / "plot.py", src)
    names = {str(Path(f).relative_to(src / "brainlatent")) for f in files}
    assert names == {
        "__init__.py",
        "errors.py",  # through the package's __init__
        "io.py",
        "figures/__init__.py",
        "figures/style.py",
        "figures/motor.py",
        "decoding/__init__.py",
        "decoding/cross_session.py",
        "decoding/kernels.py",
        "metrics.py",
        "seeding.py",  # import a; import b
        "models/__init__.py",  # a ")" in a comment inside the parentheses
        "models/torch_model.py",
    }
    assert files == sorted(files)


def test_a_continued_line_is_read_whole(src):
    """A name on the line after a backslash is found too."""
    write(
        src,
        {
            "brainlatent/extra.py": "",
            "brainlatent/errors.py": "from brainlatent import \\\n    extra\n",
        },
    )
    files = imported_files(src.parent / "scripts" / "plot.py", src)
    assert str(src / "brainlatent" / "extra.py") in files


def test_every_rule_but_the_downloads_declares_its_scripts_modules():
    """A rule without it keeps results of old science code; a download with it would
    re-verify hundreds of GB for an edit to shared code (the manifest fixes its output)."""
    rules = "\n".join(p.read_text() for p in sorted((REPO / "workflow" / "rules").glob("*.smk")))
    scripts = re.findall(r"script=script\((.+?)\),\n\s*(package=package\((.+?)\),)?", rules)
    assert len(scripts) > 50
    for name, declared, package_name in scripts:
        if name.strip('"f').startswith("download_"):
            assert not declared, name
        else:
            assert package_name == name, name


def test_relative_src_gives_relative_paths(src, monkeypatch):
    monkeypatch.chdir(src.parent)
    files = imported_files(Path("scripts/plot.py"), Path("src"))
    assert files and all(not Path(f).is_absolute() and f.startswith("src/") for f in files)


def test_the_text_scan_finds_what_the_syntax_tree_holds():
    """Every real script: the package modules its import statements name (read with
    ``ast``, slower) are among what the scan finds."""
    src = REPO / "src"
    for script in sorted((REPO / "scripts").glob("*.py")):
        found = set(imported_files(script, src))
        for node in ast.walk(ast.parse(script.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("brainlatent"):
                module = src.joinpath(*node.module.split("."))
                path = module / "__init__.py" if module.is_dir() else module.with_suffix(".py")
                assert str(path) in found, (script.name, node.module)


def test_newest_is_the_latest_modified_and_ties_go_by_name(tmp_path):
    paths = [tmp_path / name for name in ("a.py", "b.py", "c.py")]
    for path in paths:
        path.write_text("")
        os.utime(path, ns=(1_000, 1_000))
    assert newest([str(p) for p in paths]) == str(paths[2])  # a tie: the last by name
    os.utime(paths[0], ns=(2_000, 2_000))
    assert newest([str(p) for p in paths]) == str(paths[0])
    with pytest.raises(ValueError, match="no files"):
        newest([])
