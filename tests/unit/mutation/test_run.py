"""Mutants of one function run against tests in one sandboxed pytest session."""

import sys
import textwrap
from pathlib import Path

import pytest

from aqe.mutation.mutants import function_mutants
from aqe.mutation.run import MutationRunFailed, run_mutants
from aqe.sandbox.runner import SandboxRunner

SHOP = textwrap.dedent(
    """
    def pluralize(word, count=2):
        if count == 1:
            return word
        return word + "s"


    def spin(limit):
        total = 0
        while total < limit:
            total += 1
        return total


    class Box:
        def area(self, width, height):
            return super().__repr__() if width < 0 else width * height
    """
)

TESTS = textwrap.dedent(
    """
    from shop import Box, pluralize, spin


    def test_plural():
        assert pluralize("cat") == "cats"


    def test_area():
        assert Box().area(2, 3) == 6


    def test_spin():
        assert spin(3) == 3
    """
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "shop.py").write_text(SHOP)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_shop.py").write_text(TESTS)
    return tmp_path


def _run(project: Path, name: str, tests: list[str], **options):
    mutants = function_mutants("shop.py", (project / "shop.py").read_text(), name)
    return run_mutants(
        project, SandboxRunner(trusted=True), sys.executable, "shop", mutants, tests,
        timeout_s=60, memory_bytes=None, allow_network=False, **options,
    )  # fmt: skip


def test_a_test_kills_the_mutants_it_notices(project: Path):
    run = _run(project, "pluralize", ["tests/test_shop.py::test_plural"])
    status = {outcome.mutant.description: outcome.status for outcome in run.outcomes}
    assert status["`+` to `-`"] == "killed"  # "cat" - "s" raises
    assert status["`==` to `!=`"] == "killed"  # the default count now returns the word alone
    assert status["`1` to `2`"] == "killed"
    assert {outcome.status for outcome in run.outcomes} <= {"killed", "survived"}
    assert run.total == len(run.outcomes) == run.killed
    assert run.tests == ("tests/test_shop.py::test_plural",)


def test_the_killing_test_is_named(project: Path):
    run = _run(project, "pluralize", ["tests/test_shop.py"], every_killer=True)
    plus = next(outcome for outcome in run.outcomes if outcome.mutant.original == "+")
    assert plus.killed_by == ("tests/test_shop.py::test_plural",)


def test_a_method_using_super_is_swapped_in_place(project: Path):
    run = _run(project, "Box.area", ["tests/test_shop.py::test_area"])
    status = {outcome.mutant.description: outcome.status for outcome in run.outcomes}
    assert status["`*` to `/`"] == "killed"
    assert status["`<` to `<=`"] == "survived"  # no test gives a width of 0


def test_a_mutant_that_loops_forever_is_a_timeout_and_the_run_goes_on(project: Path):
    run = _run(project, "spin", ["tests/test_shop.py::test_spin"])
    status = {outcome.mutant.description: outcome.status for outcome in run.outcomes}
    assert status["`+=` to `-=`"] == "timeout"
    assert status["`<` to `<=`"] == "killed"
    assert "not run" not in status.values()


def test_only_the_tests_that_call_the_function_judge_its_mutants(project: Path):
    run = _run(project, "pluralize", ["tests/test_shop.py"])
    assert run.tests == ("tests/test_shop.py::test_plural",)  # test_area and test_spin never call it


def test_tests_that_fail_unmutated_are_left_out(project: Path):
    (project / "tests" / "test_broken.py").write_text("def test_broken():\n    assert False\n")
    run = _run(project, "pluralize", ["tests/test_broken.py", "tests/test_shop.py::test_plural"])
    assert run.failing_tests == ("tests/test_broken.py::test_broken",)
    assert run.killed > 0


def test_tests_that_do_not_collect_fail_the_run(project: Path):
    (project / "tests" / "test_shop.py").write_text("import nowhere_to_be_found\n")
    with pytest.raises(MutationRunFailed, match="pytest did not run the tests"):
        _run(project, "pluralize", ["tests/test_shop.py"])
