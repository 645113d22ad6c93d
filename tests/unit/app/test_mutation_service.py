"""Surviving mutants of one function against the project's tests, from the service and `aqe mutants`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aqe.app.mutation import MutationService, NoTestsToRun
from aqe.app.project import Project
from aqe.cli import main


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'calc'\n")
    calc = "def discount(total: int) -> int:\n    if total >= 100:\n        return total - 10\n    return total\n"
    (tmp_path / "calc.py").write_text(calc + "\n\ndef untested(value: int) -> int:\n    return value * 2\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_calc.py").write_text(
        "from calc import discount\n\n\ndef test_discount():\n    assert discount(150) == 140\n"
    )
    (tmp_path / "tests" / "test_other.py").write_text("def test_unrelated():\n    assert True\n")
    return tmp_path.resolve()


def test_the_service_runs_the_tests_that_import_the_module_and_reports_survivors(project: Path):
    run = MutationService(Project.load(project)).run("calc.py", "discount")

    assert run.tests == ("tests/test_calc.py::test_discount",)
    survivors = {outcome.mutant.description for outcome in run.survivors}
    assert "`>=` to `>`" in survivors  # no test tries a total of exactly 100
    assert "`-` to `+`" not in survivors
    assert run.killed + len(run.survivors) == run.total


def test_a_module_no_test_imports_has_nothing_to_judge_with(project: Path):
    (project / "tests" / "test_calc.py").unlink()
    with pytest.raises(NoTestsToRun):
        MutationService(Project.load(project)).run("calc.py", "discount")


def test_aqe_mutants_lists_survivors_on_their_lines_and_exits_1(project: Path, capsys):
    assert main(["mutants", "calc.py::discount", "--root", str(project)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("calc.py::discount: ")
    assert "calc.py:2:14: changing `>=` to `>` here breaks no test" in out


def test_aqe_mutants_json_gives_every_mutant_with_its_outcome(project: Path, capsys):
    assert main(["mutants", "calc.py::discount", "--root", str(project), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["target"] == {"path": "calc.py", "name": "discount"}
    statuses = {mutant["description"]: mutant["status"] for mutant in report["mutants"]}
    assert statuses["`>=` to `>`"] == "survived" and statuses["`-` to `+`"] == "killed"
    assert report["killed"] == sum(1 for status in statuses.values() if status == "killed")


def test_aqe_mutants_refuses_a_target_without_a_function(project: Path, capsys):
    assert main(["mutants", "calc.py", "--root", str(project)]) == 2
    assert "expected FILE::FUNCTION" in capsys.readouterr().err
