"""Quarantine edits per the team's convention, and real reruns in the sandbox."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from aqe.findings import TextEdit
from aqe.flaky.analysis import analyze
from aqe.flaky.classify import RootCause
from aqe.flaky.history import History
from aqe.flaky.quarantine import quarantine_edits, uses_rerunfailures
from aqe.flaky.runs import FlakyRunner, RunPlan, expand_patterns, ingest_reports
from aqe.flaky.scoring import Verdict
from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language
from aqe.parsing.units import extract_units
from aqe.sandbox.runner import SandboxRefused, SandboxRunner


def _apply(text: str, edits: tuple[TextEdit, ...]) -> str:
    lines = text.splitlines(keepends=True)
    for edit in sorted(edits, key=lambda e: e.span.start, reverse=True):
        lines.insert(edit.span.start.line, edit.new_text)
    return "".join(lines)


def _unit(document: ParsedDocument, name: str):
    return next(u for u in extract_units(document) if u.name == name)


SOURCE = textwrap.dedent(
    '''\
    """Cart tests."""
    from __future__ import annotations

    from shop import Cart


    class TestCart:
        def test_total(self):
            assert Cart().total() == 0
    '''
)


def test_xfail_is_the_default_and_pytest_is_imported_where_imports_may_go(tmp_path):
    document = ParsedDocument.parse(str(tmp_path / "tests" / "test_cart.py"), SOURCE, Language.PYTHON)
    edits = quarantine_edits(document, _unit(document, "test_total"), "3 flips in 10 runs", rerunfailures=False)
    result = _apply(SOURCE, edits)
    assert result.splitlines()[2] == "import pytest"
    assert (
        '    @pytest.mark.xfail(strict=False, reason="flaky: 3 flips in 10 runs")\n    def test_total(self):' in result
    )
    compile(result, "test_cart.py", "exec")


def test_with_pytest_rerunfailures_the_flaky_marker_is_used(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project.optional-dependencies]\ntest = ["pytest-rerunfailures>=14"]\n')
    assert uses_rerunfailures(tmp_path)
    text = "import pytest\n\n\ndef test_total():\n    assert True\n"
    document = ParsedDocument.parse(str(tmp_path / "test_t.py"), text, Language.PYTHON)
    edits = quarantine_edits(document, _unit(document, "test_total"), "x", rerunfailures=True)
    assert [e.new_text for e in edits] == ["@pytest.mark.flaky(reruns=3)\n"]


def test_the_convention_is_also_read_from_markers_already_in_use(tmp_path):
    assert not uses_rerunfailures(tmp_path)
    assert uses_rerunfailures(tmp_path, "@pytest.mark.flaky(reruns=2)\ndef test_a(): ...")


def test_a_test_already_quarantined_gets_no_edit(tmp_path):
    text = "import pytest\n\n@pytest.mark.xfail(strict=False)\ndef test_total():\n    assert True\n"
    document = ParsedDocument.parse(str(tmp_path / "test_t.py"), text, Language.PYTHON)
    assert quarantine_edits(document, _unit(document, "test_total"), "x", rerunfailures=False) == ()


def test_quotes_in_the_reason_are_kept_valid_python(tmp_path):
    text = "def test_total():\n    assert True\n"
    document = ParsedDocument.parse(str(tmp_path / "test_t.py"), text, Language.PYTHON)
    edits = quarantine_edits(document, _unit(document, "test_total"), 'fails "sometimes" \\ often', rerunfailures=False)
    compile(_apply(text, edits), "test_t.py", "exec")


def test_every_test_runs_n_times_in_the_suite_and_one_that_failed_a_fifth_as_often_alone():
    assert RunPlan.for_budget(20) == RunPlan(in_order=10, shuffled=10, alone=4)
    assert RunPlan.for_budget(3) == RunPlan(in_order=2, shuffled=1, alone=1)
    assert RunPlan.for_budget(2) == RunPlan(in_order=1, shuffled=1, alone=1)
    with pytest.raises(ValueError):
        RunPlan.for_budget(1)


@pytest.fixture
def flaky_project(tmp_path) -> Path:
    root = tmp_path / "proj"
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "test_mixed.py").write_text(
        textwrap.dedent(
            """\
            STATE = {}


            def test_stable():
                assert 2 + 2 == 4


            def test_needs_setup():
                assert STATE.get("ready")


            def test_sets_up():
                STATE["ready"] = True
            """
        )
    )
    return root.resolve()


def _runner(project: Path, *, trusted: bool = True, timeout_s: float = 120, **options) -> tuple[FlakyRunner, History]:
    """The runner the CLI builds: the real sandbox, this interpreter, the project's own history."""
    history = History.for_workspace(project, ".aqe")
    runner = FlakyRunner(project, SandboxRunner(trusted=trusted), history, sys.executable, timeout_s=timeout_s,
                         memory_bytes=None, allow_network=False, **options)  # fmt: skip
    return runner, history


def test_reruns_in_the_sandbox_make_the_history_that_shows_an_order_dependent_test(flaky_project):
    messages: list[str] = []
    runner, history = _runner(flaky_project, progress=messages.append)
    summary = runner.run([], 6)
    assert [r.kind for r in summary.runs][:6] == ["suite", "suite", "suite", "shuffled", "shuffled", "shuffled"]
    assert summary.suspects == ("tests/test_mixed.py::test_needs_setup",)
    # It failed alone too, so the tests before it are searched for the one it needs (bisection).
    assert [r.kind for r in summary.runs][6:7] == ["isolated"]
    assert set([r.kind for r in summary.runs][7:]) == {"bisect"}
    assert len(messages) == len(summary.runs)
    verdicts = {v.test_id: v for v in analyze(history.rows(), flaky_project)}
    assert {test_id: v.score.runs for test_id, v in verdicts.items()} == {
        "tests/test_mixed.py::test_stable": 6,
        "tests/test_mixed.py::test_sets_up": 6,
        "tests/test_mixed.py::test_needs_setup": 7,  # and once alone
    }
    needs = verdicts["tests/test_mixed.py::test_needs_setup"]
    assert needs.score.by_kind["isolated"].failures == 1
    assert needs.score.by_kind["suite"].failures == 3  # it runs before test_sets_up in file order
    assert needs.order is not None and needs.order.culprit == "tests/test_mixed.py::test_sets_up"
    assert needs.cause is RootCause.ORDER_DEPENDENCY
    assert verdicts["tests/test_mixed.py::test_stable"].verdict is Verdict.STABLE
    assert not (flaky_project / ".aqe-junit.xml").exists()


def test_a_run_pytest_could_not_collect_is_not_recorded_and_the_others_go_on(flaky_project):
    (flaky_project / "conftest.py").write_text(
        textwrap.dedent(
            """\
            import os


            def pytest_configure(config):
                if config.getoption("--aqe-order"):
                    os.environ["BREAK_COLLECTION"] = "1"
            """
        )
    )
    (flaky_project / "tests" / "test_fragile.py").write_text(
        'import os\n\nif os.environ.get("BREAK_COLLECTION"):\n    raise ImportError("only when shuffled")\n\n\n'
        "def test_fragile():\n    assert True\n"
    )
    runner, history = _runner(flaky_project)
    summary = runner.run(["tests/test_fragile.py"], 4)
    suite = [r for r in summary.runs if r.kind == "suite"]
    shuffled = [r for r in summary.runs if r.kind == "shuffled"]
    assert suite and all((r.passed, r.failed, r.problem) == (1, 0, None) for r in suite)
    assert shuffled and all(
        r.problem == "pytest could not collect tests/test_fragile.py (ImportError: only when shuffled); "
        "nothing was recorded (pytest exited 2)"
        for r in shuffled
    )
    assert summary.suspects == ()
    rows = history.rows()
    assert {r.test_id for r in rows} == {"tests/test_fragile.py::test_fragile"}
    assert len(rows) == len(suite)


def test_a_run_whose_report_was_cut_short_is_not_recorded(flaky_project):
    (flaky_project / "conftest.py").write_text(
        "def pytest_unconfigure(config):\n"
        "    with open('.aqe-junit.xml', 'r+b') as report:  # after pytest wrote it\n"
        "        report.truncate(report.seek(0, 2) - 30)\n"
    )
    runner, history = _runner(flaky_project)
    summary = runner.run(["tests/test_mixed.py::test_stable"], 2)
    assert [r.problem for r in summary.runs] == [
        "JUnit report: the XML ends early (still being written, or its run was cut short)"
    ] * 2
    assert history.rows() == []


def test_an_untrusted_workspace_is_never_rerun(flaky_project):
    runner, history = _runner(flaky_project, trusted=False, timeout_s=60)
    with pytest.raises(SandboxRefused):
        runner.run([], 4)
    assert history.rows() == []


def test_configured_report_patterns_are_ingested_once(flaky_project):
    reports = flaky_project / "reports"
    reports.mkdir()
    (reports / "a.xml").write_text('<testsuite><testcase classname="tests.test_mixed" name="test_stable"/></testsuite>')
    (reports / "b.xml").write_text("<testsuite><testcase")
    history = History.for_workspace(flaky_project, ".aqe")
    paths = expand_patterns(flaky_project, ["reports/*.xml"])
    added, problems = ingest_reports(history, flaky_project, paths, "v1")
    assert [(p.name, n, known) for p, n, known in added] == [("a.xml", 1, False)]
    assert problems == [
        "b.xml: the XML ends early (still being written, or its run was cut short); "
        "not added to the history until it is complete"
    ]
    again, _ = ingest_reports(history, flaky_project, paths, "v1")
    assert [(p.name, known) for p, _, known in again] == [("a.xml", True)]
    (reports / "b.xml").write_text(
        '<testsuite><testcase classname="tests.test_mixed" name="test_sets_up"/></testsuite>'
    )
    completed, problems = ingest_reports(history, flaky_project, paths, "v1")
    assert [(p.name, n, known) for p, n, known in completed] == [("a.xml", 0, True), ("b.xml", 1, False)]
    assert problems == []


def test_reruns_are_stored_in_the_teams_postgresql_history(flaky_project, postgres_url):
    from aqe.flaky.postgres import PostgresHistory

    with PostgresHistory(postgres_url) as history:
        runner = FlakyRunner(flaky_project, SandboxRunner(trusted=True), history, sys.executable, timeout_s=120,
                             memory_bytes=None, allow_network=False)  # fmt: skip
        summary = runner.run(["tests/test_mixed.py"], 2)
        rows = history.rows()
    assert [r.kind for r in summary.runs][:2] == ["suite", "shuffled"]
    assert len(rows) == sum(r.passed + r.failed for r in summary.runs) >= 6
    assert {r.run_kind for r in rows} >= {"suite", "shuffled"}
