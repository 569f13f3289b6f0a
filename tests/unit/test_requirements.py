"""The dependency lists agree with the code and with each other.

Every third-party module imported in src/, scripts/, tests/ or benchmarks/ (found by parsing
the files, not by importing them) must be declared in requirements.in (what ``make lock``
resolves), pinned in requirements.lock (what ``make env`` installs) and listed in
pyproject.toml: in ``[project.dependencies]`` when the library or a rule's script imports it
unconditionally; in an optional-dependencies group when only tests or benchmarks import it,
or when the code imports it under ``try: ... except ImportError``.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections import defaultdict
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUNTIME_DIRS = ("src", "scripts")
DEV_DIRS = ("tests", "benchmarks")
FIRST_PARTY = {"brainlatent", "tests"}
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(line: str) -> str | None:
    """The distribution name of a requirement line (extras, bounds, comments stripped)."""
    match = _NAME.match(line.split("#", 1)[0])
    return canonical(match.group(1)) if match else None


def local_modules() -> set[str]:
    """Modules importable by bare name: the scripts, benchmarks and test helpers themselves."""
    return {
        path.stem for folder in (*RUNTIME_DIRS, *DEV_DIRS) for path in (REPO / folder).glob("*.py")
    }


def _guarded(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """True when ``node`` sits in the body of a ``try`` that catches ImportError."""
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.Try) and child in parent.body:
            for handler in parent.handlers:
                caught = handler.type
                names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
                if any(
                    isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError")
                    for n in names
                ):
                    return True
        child, parent = parent, parents.get(parent)
    return False


def third_party_imports(folders) -> dict[str, dict[str, bool]]:
    """Top-level module → {file: whether every import of it there is ImportError-guarded}."""
    skip = set(sys.stdlib_module_names) | FIRST_PARTY | local_modules()
    found: dict[str, dict[str, bool]] = defaultdict(dict)
    for folder in folders:
        for path in sorted((REPO / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            parents = {
                child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)
            }
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top in skip:
                        continue
                    where = str(path.relative_to(REPO))
                    found[top][where] = found[top].get(where, True) and _guarded(node, parents)
    return found


@cache
def _distributions() -> dict[str, list[str]]:
    return packages_distributions()


def distributions(module: str) -> set[str]:
    """Canonical distribution names providing ``module`` (the module's own name if none is
    installed: then the check can only pass when the two names coincide)."""
    return {canonical(d) for d in _distributions().get(module, [module])}


@cache
def requirements_in() -> set[str]:
    lines = (REPO / "requirements.in").read_text(encoding="utf-8").splitlines()
    return {name for line in lines if (name := requirement_name(line))}


@cache
def lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[canonical(name.split("[")[0])] = version.strip()
    return pins


@cache
def pyproject() -> tuple[set[str], dict[str, set[str]]]:
    """([project.dependencies], {optional group: its names})."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    required = {requirement_name(d) for d in project.get("dependencies", [])}
    optional = {
        group: {requirement_name(d) for d in names}
        for group, names in project.get("optional-dependencies", {}).items()
    }
    return required, optional


def undeclared(folders, runtime: bool) -> list[str]:
    """One line per imported module some list lacks, naming the lists and a file."""
    required, optional = pyproject()
    anywhere = required.union(*optional.values())
    problems = []
    for module, files in sorted(third_party_imports(folders).items()):
        dists = distributions(module)
        optional_only = not runtime or all(files.values())
        in_pyproject = anywhere if optional_only else required
        where = "pyproject.toml " + ("(any group)" if optional_only else "[project.dependencies]")
        missing = [
            label
            for label, names in (
                ("requirements.in", requirements_in()),
                ("requirements.lock", set(lock())),
                (where, in_pyproject),
            )
            if not dists & names
        ]
        if missing:
            problems.append(
                f"{module} ({'/'.join(sorted(dists))}, imported in {min(files)}): "
                f"missing from {', '.join(missing)}"
            )
    return problems


def test_library_and_script_imports_are_declared():
    problems = undeclared(RUNTIME_DIRS, runtime=True)
    assert not problems, "\n".join(problems)


def test_test_and_benchmark_imports_are_declared():
    problems = undeclared(DEV_DIRS, runtime=False)
    assert not problems, "\n".join(problems)


def test_requirements_in_is_pinned_in_the_lock():
    unpinned = sorted(requirements_in() - set(lock()))
    assert not unpinned, f"requirements.in names not pinned in requirements.lock: {unpinned}"


def test_pyproject_lists_what_requirements_in_lists():
    required, optional = pyproject()
    declared = required.union(*optional.values())
    assert declared == requirements_in(), (
        f"only in pyproject.toml: {sorted(declared - requirements_in())}; "
        f"only in requirements.in: {sorted(requirements_in() - declared)}"
    )


def test_the_scan_sees_imports_and_guards():
    """The parser itself: a guarded import is optional, an unguarded one is not."""
    source = "try:\n    import alpha\nexcept ImportError:\n    alpha = None\nimport beta.sub\n"
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    imports = sorted(
        (node for node in ast.walk(tree) if isinstance(node, ast.Import)), key=lambda n: n.lineno
    )
    assert [_guarded(node, parents) for node in imports] == [True, False]
    assert requirement_name("snakemake[reports]>=9,<10  # comment") == "snakemake"
    assert requirement_name("huggingface_hub==2.4.0") == "huggingface-hub"
    assert requirement_name("# a comment") is None
    assert distributions("sklearn") == {"scikit-learn"}
    assert distributions("yaml") == {"pyyaml"}
