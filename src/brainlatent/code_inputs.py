"""The package files a workflow script runs, found from its import statements.

Snakemake reruns a job when its rule's inputs are newer than its outputs, and it sees a
shell rule's script only as a path on the command line: an edit to the science in
``src/brainlatent`` (a decoder, a metric, a simulator) left every result of the old code
standing. Each rule therefore lists the modules its script imports, directly or through
other modules, as inputs. The imports are read from the source text (every ``import`` statement,
also those inside functions), not by importing, so planning a run loads nothing heavy.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

PACKAGE = "brainlatent"


def imported_files(script: str | Path, src: str | Path) -> list[str]:
    """Every file of the package under ``src`` that ``script`` may run, sorted.

    Modules imported anywhere in the script or in a module it reaches, with the
    ``__init__.py`` of each package on the way (Python runs them on import). Paths are
    ``src`` joined with the file's path inside it, so a relative ``src`` gives relative
    paths. A name that is no file under ``src`` (an attribute, a module of another
    distribution) is left out.
    """
    src = Path(src)
    found: set[Path] = set()
    todo = [Path(script)]
    while todo:
        path = todo.pop()
        for name in _imports(str(path), _module_of(path, src)):
            for file in _files(name, src):
                if file not in found:
                    found.add(file)
                    todo.append(file)
    return sorted(str(f) for f in found)


def newest(paths: list[str]) -> str:
    """The most recently modified of ``paths`` (ties: the last by name, so a copy of the
    project keeps its choice)."""
    if not paths:
        raise ValueError("no files to choose from")
    return max(paths, key=lambda p: (os.stat(p).st_mtime_ns, p))


def _module_of(path: Path, src: Path) -> str | None:
    """The dotted name of a package file (``None`` for a script outside ``src``)."""
    try:
        parts = path.relative_to(src).with_suffix("").parts
    except ValueError:
        return None
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


#: ``from X import names`` and ``import names`` statements at the start of a line; names in
#: parentheses may span lines. Read as text: parsing every module's syntax tree took 0.5 s, a
#: tenth of planning the real config's 3,656 jobs.
_FROM = re.compile(r"^[ \t]*from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)", re.M)
_IMPORT = re.compile(r"^[ \t]*import[ \t]+([^\n]*)", re.M)


@cache
def _imports(path: str, module: str | None) -> tuple[str, ...]:
    """Dotted names ``path`` imports: ``import a.b`` gives a.b; ``from a import b`` gives a
    and a.b (b may be a submodule); relative imports resolved against ``module``. A line
    in a docstring that reads as an import counts too: a file too many is harmless."""
    text = Path(path).read_text(encoding="utf-8")
    # one statement a line: comments out, continued lines joined, `a; b` split
    text = re.sub(r"#[^\n]*", "", text).replace("\\\n", " ").replace(";", "\n")
    is_package = path.endswith("__init__.py")
    names = []
    for line in _IMPORT.findall(text):
        names += [_name(word) for word in _words(line)]
    for base, listed in _FROM.findall(text):
        level = len(base) - len(base.lstrip("."))
        base = base.lstrip(".")
        if level:  # relative: from the module's package, up level - 1 more
            parent = (module or "").split(".")
            parent = parent if is_package else parent[:-1]
            parent = parent[: len(parent) - (level - 1)]
            base = ".".join([*parent, base] if base else parent)
        names.append(base)
        names += [f"{base}.{_name(word)}" for word in _words(listed) if word != "*"]
    return tuple(n for n in names if n == PACKAGE or n.startswith(f"{PACKAGE}."))


def _words(listed: str) -> list[str]:
    """The names of an import list, one line or parenthesised over lines: "a as b, c"
    gives ["a as b", "c"]."""
    words = listed.strip().strip("()").replace("\n", ",").split(",")
    return [w.strip() for w in words if w.strip()]


def _name(word: str) -> str:
    return word.split()[0]


@cache
def _files(name: str, src: Path) -> tuple[Path, ...]:
    """The files Python runs for ``import name``: each package's ``__init__.py`` on the way
    and the module itself."""
    parts = name.split(".")
    files = []
    for depth in range(1, len(parts) + 1):
        stem = src.joinpath(*parts[:depth])
        if (stem / "__init__.py").is_file():
            files.append(stem / "__init__.py")
        elif stem.with_suffix(".py").is_file():
            files.append(stem.with_suffix(".py"))
            break
        else:
            break
    return tuple(files)
