"""Flaky tests behind both front doors: the command line's report and the service the editor uses
give the same verdicts from the same history."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from aqe.app.flaky import FlakyService, open_project_history
from aqe.app.project import Project
from aqe.cli import main

TEST_FILE = textwrap.dedent("""\
    import random


    def test_stable():
        assert True


    def test_coin():
        assert random.random() < 0.5
    """)  # fmt: skip


def _report(coin: bool, stamp: int) -> str:
    failure = "" if coin else '<failure message="assert 0.73 &lt; 0.5">random.random()</failure>'
    return (
        f'<testsuite timestamp="2026-11-20T10:00:{stamp:02d}">'
        '<testcase classname="tests.test_game" name="test_stable" time="0.01"></testcase>'
        f'<testcase classname="tests.test_game" name="test_coin" time="0.01">{failure}</testcase></testsuite>'
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "game"
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "test_game.py").write_text(TEST_FILE)
    (root / "reports").mkdir()
    for index, coin in enumerate([True, False, True, False, False, True, True, False, True, True]):
        (root / "reports" / f"run-{index}.xml").write_text(_report(coin, index))
    (root / "pyproject.toml").write_text('[tool.aqe]\njunitPaths = ["reports/*.xml"]\n')
    return root.resolve()


def test_the_report_and_the_editors_verdicts_agree(project: Path, capsys):
    assert main(["flaky", "--root", str(project), "report", "--format", "json"]) == 0
    from_cli = {item["testId"]: item["verdict"] for item in json.loads(capsys.readouterr().out)["tests"]}

    loaded = Project.load(project)
    with open_project_history(loaded) as history:
        service = FlakyService(loaded, history)
        added, problems = service.ingest(service.configured_reports())
        assert problems == [] and all(known for _, _, known in added)  # the report ingested them once
        from_service = {verdict.test_id: verdict.verdict.value for verdict in service.verdicts()}
    assert from_cli == from_service
    assert from_service["tests/test_game.py::test_coin"] == "flaky"


def test_an_untrusted_project_reads_its_commit_without_running_git(project: Path):
    loaded = Project.load(project, client_options={"trusted": False})
    with open_project_history(loaded) as history:
        assert FlakyService(loaded, history).code_version() is None  # not a repository; and git never ran
