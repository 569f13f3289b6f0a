"""How ``make test`` splits the suite between pytest-xdist workers (tests/conftest.py)."""

from __future__ import annotations

import re

from ..conftest import LONGEST_FIRST, REPO, SAME_WORKER, _module


def test_the_longest_first_list_names_existing_test_modules_once():
    assert len(set(LONGEST_FIRST)) == len(LONGEST_FIRST)
    for path in [*LONGEST_FIRST, *SAME_WORKER, *SAME_WORKER.values()]:
        assert (REPO / path).is_file(), f"{path} is listed in tests/conftest.py but missing"
        assert re.fullmatch(r"tests/(unit|workflow)/test_\w+\.py", path), path


def test_modules_sharing_the_tiny_run_go_to_one_worker():
    """Each worker builds a session fixture for itself: its users must share a worker."""
    users = sorted(
        path.relative_to(REPO).as_posix()
        for path in (REPO / "tests").rglob("test_*.py")
        if re.search(r"\btiny_project\b", path.read_text())
    )
    assert len(users) >= 2, users
    assert len({_module(f"{path}::test_x") for path in users}) == 1, users


def test_tests_of_a_module_share_its_unit_of_work():
    assert _module("tests/unit/test_sable.py::test_shapes[a-b]") == "tests/unit/test_sable.py"
    assert _module("tests/unit/test_x.py::TestY::test_z") == "tests/unit/test_x.py"
    assert (
        _module("tests/workflow/test_slurm_profile.py::test_tiny")
        == "tests/workflow/test_workflow.py"
    )
