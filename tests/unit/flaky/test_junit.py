"""JUnit XML from pytest, jest-junit and Surefire, and what damage does to a report."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from aqe.flaky import junit
from aqe.flaky.junit import JUnitFormatError, Outcome, read_junit


def _write(tmp_path: Path, text: str, name: str = "report.xml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_a_real_pytest_report_is_read_in_the_order_the_tests_ran(tmp_path):
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_mix.py").write_text(
        textwrap.dedent(
            """\
            import pytest

            def test_passes():
                assert True

            def test_fails():
                assert 1 == 2, "one is not two"

            @pytest.mark.skip(reason="later")
            def test_skipped():
                pass

            class TestGroup:
                def test_in_class(self):
                    raise RuntimeError("boom")
            """
        )
    )
    report = tmp_path / "junit.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", "tests"],
        cwd=tmp_path, capture_output=True, timeout=120,
    )  # fmt: skip
    parsed = read_junit(report)
    assert [(c.classname, c.name, c.outcome) for c in parsed.cases] == [
        ("tests.test_mix", "test_passes", Outcome.PASSED),
        ("tests.test_mix", "test_fails", Outcome.FAILED),
        ("tests.test_mix", "test_skipped", Outcome.SKIPPED),
        ("tests.test_mix.TestGroup", "test_in_class", Outcome.FAILED),
    ]
    assert "one is not two" in parsed.cases[1].message
    assert "RuntimeError: boom" in parsed.cases[3].message
    assert all(c.duration_s is not None and c.suite_timestamp is not None for c in parsed.cases)
    assert parsed.problems == ()


def test_jest_junit_with_file_attributes(tmp_path):
    path = _write(
        tmp_path,
        """\
        <?xml version="1.0" encoding="UTF-8"?>
        <testsuites name="jest tests" tests="2" failures="1" time="1.2">
          <testsuite name="Cart" timestamp="2026-11-20T10:00:00" tests="2" file="web/cart.test.ts">
            <testcase classname="Cart adds items" name="Cart adds items" time="0.01"/>
            <testcase classname="Cart totals" name="Cart totals" time="0.02">
              <failure message="expect(received).toBe(expected)">Error: expected 3, received 2</failure>
            </testcase>
          </testsuite>
        </testsuites>
        """,
    )
    cases = read_junit(path).cases
    assert [(c.file, c.name, c.outcome) for c in cases] == [
        ("web/cart.test.ts", "Cart adds items", Outcome.PASSED),
        ("web/cart.test.ts", "Cart totals", Outcome.FAILED),
    ]
    assert cases[1].message.startswith("expect(received).toBe(expected)\nError: expected 3")


def test_surefire_reruns_count_as_earlier_failed_attempts(tmp_path):
    path = _write(
        tmp_path,
        """\
        <testsuite name="com.shop.CartTest" tests="1">
          <testcase classname="com.shop.CartTest" name="addsItems" time="0.3">
            <flakyFailure message="timeout" type="java.util.concurrent.TimeoutException">stack</flakyFailure>
            <flakyFailure message="timeout again" type="java.util.concurrent.TimeoutException"/>
          </testcase>
        </testsuite>
        """,
    )
    cases = read_junit(path).cases
    assert [(c.outcome, c.attempt) for c in cases] == [(Outcome.FAILED, 1), (Outcome.FAILED, 2), (Outcome.PASSED, 0)]


def test_an_error_outranks_a_failure_and_a_skip(tmp_path):
    path = _write(
        tmp_path,
        '<testsuite><testcase classname="m" name="t"><skipped/><failure message="f"/><error message="e"/>'
        "</testcase></testsuite>",
    )
    (case,) = read_junit(path).cases
    assert (case.outcome, case.message) == (Outcome.ERROR, "e")


def test_truncated_report_keeps_the_cases_before_the_damage_and_says_it_is_cut_short(tmp_path):
    body = "".join(f'<testcase classname="m" name="t{i}" time="0.1"/>' for i in range(5))
    path = _write(tmp_path, f"<testsuites><testsuite>{body}<testcase classname=")
    report = read_junit(path)
    assert [c.name for c in report.cases] == ["t0", "t1", "t2", "t3", "t4"]
    assert report.truncated
    assert report.problems == ("report.xml: the XML ends early (still being written, or its run was cut short)",)


@pytest.mark.parametrize("tail", ["", "<failure>Traceback", "<![CDATA[trace", '<testcase name="a&am'])
def test_every_way_of_ending_early_is_truncation(tmp_path, tail):
    report = read_junit(_write(tmp_path, f'<testsuite><testcase classname="m" name="t"/>{tail}'))
    assert report.truncated and [c.name for c in report.cases] == ["t"]


def test_damage_before_the_end_is_not_truncation(tmp_path):
    path = _write(tmp_path, '<testsuite><testcase classname="m" name="t"/><bad <x/></testsuite>')
    report = read_junit(path)
    assert not report.truncated and [c.name for c in report.cases] == ["t"]
    assert "malformed XML at line 1" in report.problems[0]


@pytest.mark.skipif(sys.platform != "linux", reason="named pipes")
def test_the_cases_come_from_the_bytes_that_were_hashed(tmp_path):
    """The digest and the cases must describe the same bytes, or a report rewritten while it is read
    would not be recognised when its complete version comes: so the report is read once. A named pipe
    with a single writer shows it without timing: a second opening would wait for a writer for ever."""
    fifo = tmp_path / "report.xml"
    os.mkfifo(fifo)
    data = b'<testsuite><testcase classname="m" name="only"/></testsuite>'
    results: list[object] = []

    def read() -> None:
        results.append(read_junit(fifo))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    with open(fifo, "wb") as handle:  # pairs with the reader's first opening
        handle.write(data)
    reader.join(timeout=30)
    if reader.is_alive():  # it opened the pipe again: give it an end of file so the thread ends
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=5)
    assert results, "read_junit opened the report a second time"
    (report,) = results
    assert report.digest == hashlib.sha256(data).hexdigest()  # type: ignore[attr-defined]
    assert [c.name for c in report.cases] == ["only"]  # type: ignore[attr-defined]


def test_a_case_without_a_name_is_skipped_and_named(tmp_path):
    path = _write(tmp_path, '<testsuite><testcase classname="m"/><testcase classname="m" name="ok"/></testsuite>')
    report = read_junit(path)
    assert [c.name for c in report.cases] == ["ok"]
    assert "without a name" in report.problems[0]


def test_entity_expansion_is_refused_quickly(tmp_path):
    entities = ['<!ENTITY a0 "ha">'] + [f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10)]
    path = _write(tmp_path, f'<!DOCTYPE testsuite [{"".join(entities)}]><testsuite><testcase name="&a9;"/></testsuite>')
    started = time.monotonic()
    with pytest.raises(JUnitFormatError, match="refused unsafe XML"):
        read_junit(path)
    assert time.monotonic() - started < 5


def test_something_that_is_not_junit_is_a_clear_error(tmp_path):
    with pytest.raises(JUnitFormatError, match="not a JUnit report"):
        read_junit(_write(tmp_path, "<coverage/>"))
    with pytest.raises(JUnitFormatError, match="empty file"):
        read_junit(_write(tmp_path, ""))


def test_a_folder_is_named_as_one(tmp_path):
    with pytest.raises(JUnitFormatError, match=f"^{tmp_path.name}: a folder, not a JUnit report$"):
        read_junit(tmp_path)


def test_a_report_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    path = _write(tmp_path, '<testsuite><testcase name="t"/></testsuite>')
    monkeypatch.setattr(junit, "MAX_REPORT_BYTES", 10)
    with pytest.raises(JUnitFormatError, match="over the"):
        read_junit(path)


def test_the_same_bytes_have_the_same_digest(tmp_path):
    first = read_junit(_write(tmp_path, '<testsuite><testcase name="t"/></testsuite>', "a.xml"))
    second = read_junit(_write(tmp_path, '<testsuite><testcase name="t"/></testsuite>', "b.xml"))
    assert first.digest == second.digest
