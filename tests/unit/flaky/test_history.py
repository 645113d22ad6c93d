"""Test identities, code versions and the SQLite history."""

from __future__ import annotations

import sqlite3
import subprocess
import textwrap
from pathlib import Path

import pytest

from aqe.flaky.history import History, HistoryError
from aqe.flaky.identity import TestSources, code_version, identify
from aqe.flaky.junit import JUnitReport, Outcome, TestCaseResult, read_junit


def _case(name: str, classname: str = "tests.test_cart", outcome: Outcome = Outcome.PASSED, file=None):
    return TestCaseResult(name, classname, file, outcome, 0.01, "" if outcome is Outcome.PASSED else "boom", 1000.0)


@pytest.fixture
def project(tmp_path) -> Path:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_cart.py").write_text(
        textwrap.dedent(
            """\
            class TestCart:
                def test_add(self):
                    assert 1


            def test_total():
                assert 2
            """
        )
    )
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "cart.test.ts").write_text("describe('Cart', () => {\n  it('adds items', () => {});\n});\n")
    return tmp_path


def test_a_pytest_classname_becomes_a_node_id(project):
    identity = identify(_case("test_add[2]", "tests.test_cart.TestCart"), project)
    assert identity.test_id == "tests/test_cart.py::TestCart::test_add[2]"
    assert (identity.file, identity.name, identity.class_name) == ("tests/test_cart.py", "test_add", "TestCart")


def test_a_file_attribute_from_another_checkout_is_placed_in_this_one(project):
    case = _case("Cart adds items", "Cart adds items", file="/ci/build/repo/web/cart.test.ts")
    identity = identify(case, project)
    assert identity.test_id == "web/cart.test.ts::Cart adds items"
    assert identity.file == "web/cart.test.ts"


def test_an_unknown_module_keeps_the_reports_own_names(project):
    identity = identify(_case("addsItems", "com.shop.CartTest"), project)
    assert identity.test_id == "com.shop.CartTest::addsItems" and identity.file is None


def test_the_definition_of_a_test_is_found_for_python_and_javascript(project):
    sources = TestSources(project)
    python = sources.unit_of(identify(_case("test_add", "tests.test_cart.TestCart"), project))
    assert python is not None and python.name_span.start.line == 1
    js = sources.unit_of(identify(_case("Cart adds items", "Cart adds items", file="web/cart.test.ts"), project))
    assert js is not None and js.name == "adds items"


def test_the_test_hash_changes_when_the_test_changes(project):
    identity = identify(_case("test_total"), project)
    before = TestSources(project).test_hash(identity)
    path = project / "tests" / "test_cart.py"
    path.write_text(path.read_text().replace("assert 2", "assert 3"))
    assert TestSources(project).test_hash(identity) not in (None, before)


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def test_the_code_version_is_the_commit_plus_a_hash_of_uncommitted_changes(project):
    assert code_version(project, trusted=True) is None  # not a repository
    _git(project, "init", "-q")
    _git(project, "add", ".")
    _git(project, "-c", "user.email=t@example.org", "-c", "user.name=t", "commit", "-qm", "one")
    clean = code_version(project, trusted=True)
    assert clean is not None and len(clean) == 40
    path = project / "tests" / "test_cart.py"
    path.write_text(path.read_text() + "\n# changed\n")
    dirty = code_version(project, trusted=True)
    assert dirty.startswith(clean + "+") and dirty != clean


def _report(cases, digest="d1") -> JUnitReport:
    return JUnitReport("report.xml", digest, tuple(cases), ())


def test_ingesting_the_same_report_twice_adds_nothing(project, tmp_path):
    history = History(tmp_path / ".aqe" / "flaky-history.sqlite3")
    report = _report([_case("test_total"), _case("test_add", "tests.test_cart.TestCart", Outcome.FAILED)])
    first = history.ingest(report, project, version="v1")
    again = history.ingest(report, project, version="v1")
    assert (first.added, first.already_known) == (2, False)
    assert (again.added, again.already_known) == (0, True)
    rows = history.rows()
    assert [(r.test_id, r.outcome, r.code_version, r.run_kind) for r in rows] == [
        ("tests/test_cart.py::test_total", Outcome.PASSED, "v1", "ingested"),
        ("tests/test_cart.py::TestCart::test_add", Outcome.FAILED, "v1", "ingested"),
    ]
    assert rows[0].test_hash is not None and rows[1].message == "boom"


def test_a_real_report_file_round_trips(project, tmp_path):
    path = tmp_path / "r.xml"
    path.write_text(
        '<testsuite timestamp="2026-11-20T10:00:00">'
        '<testcase classname="tests.test_cart" name="test_total" time="0.5"/></testsuite>'
    )
    history = History(tmp_path / "h.sqlite3")
    history.ingest(read_junit(path), project, version="v1")
    (row,) = history.rows()
    assert (row.test_id, row.duration_s, row.outcome) == ("tests/test_cart.py::test_total", 0.5, Outcome.PASSED)
    assert history.stamp() == (1, 1)


def test_history_written_by_a_newer_version_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "h.sqlite3"
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA user_version=99")
    connection.close()
    with pytest.raises(HistoryError, match="newer aqe"):
        History(path).rows()
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA user_version").fetchone()[0] == 99


def test_a_damaged_history_file_is_a_clear_error(tmp_path):
    path = tmp_path / "h.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(HistoryError, match="not a usable test history"):
        History(path).rows()


def test_a_history_that_cannot_be_created_is_a_clear_error(project, tmp_path):
    (tmp_path / ".aqe").write_text("a file where the history's folder should be")
    history = History.for_workspace(tmp_path, ".aqe")
    with pytest.raises(HistoryError, match=r"\.aqe: cannot create the folder for the test history \(File exists\)"):
        history.ingest(_report([_case("test_total")]), project, version="v1")
    with pytest.raises(HistoryError, match="cannot create the folder"):
        history.check_writable()


def test_checking_that_the_history_can_be_written_makes_it(tmp_path):
    history = History.for_workspace(tmp_path, ".aqe")
    history.check_writable()
    assert history.path.is_file() and history.stamp() == (0, 0)


def test_two_writers_do_not_lose_reports(project, tmp_path):
    import threading

    history_path = tmp_path / "shared.sqlite3"
    History(history_path).rows()

    errors: list[BaseException] = []

    def write(prefix: str) -> None:
        history = History(history_path)
        try:
            for i in range(30):
                history.ingest(_report([_case("test_total")], digest=f"{prefix}-{i}"), project, version="v")
        except BaseException as error:  # a thread's exception would otherwise vanish, leaving only the count
            errors.append(error)

    threads = [threading.Thread(target=write, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert History(history_path).stamp() == (60, 60)
