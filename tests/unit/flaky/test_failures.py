"""Failure evidence: exception types, frames and compared values, read from reports pytest really
wrote (the tests run in the sandbox, as `aqe flaky run` runs them)."""

from __future__ import annotations

import sys
import textwrap

import pytest

from aqe.flaky.failures import FailureFacts, read_failure, value_difference
from aqe.flaky.history import History
from aqe.flaky.runs import FlakyRunner
from aqe.sandbox.runner import SandboxRunner


@pytest.fixture(scope="module")
def failures(tmp_path_factory) -> dict[str, FailureFacts]:
    root = tmp_path_factory.mktemp("proj")
    (root / "tests").mkdir()
    (root / "tests" / "helpers.py").write_text(
        textwrap.dedent(
            """\
            import socket


            def connect_to_service():
                with socket.socket() as client:
                    client.connect(("127.0.0.1", 1))
            """
        )
    )
    (root / "tests" / "test_cases.py").write_text(
        textwrap.dedent(
            """\
            from helpers import connect_to_service


            def test_service():
                connect_to_service()


            def test_spool(tmp_path):
                open(tmp_path / "missing.txt").read()


            def test_total():
                assert 0.1 + 0.2 == 0.3


            def test_shares():
                assert sum([0.7, 0.2, 0.1]) == 1.0


            def test_names():
                assert ["b", "a"] == ["a", "b"]
            """
        )
    )
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["tests"]\n')
    history = History.for_workspace(root, ".aqe")
    runner = FlakyRunner(
        root, SandboxRunner(trusted=True), history, sys.executable, timeout_s=120, memory_bytes=None,
        allow_network=False,
    )  # fmt: skip
    runner.run([], 2)
    return {row.name: read_failure(row.message) for row in history.rows() if row.outcome.is_failure}


def test_an_exception_raised_in_the_standard_library_names_its_type_errno_and_frames(failures):
    facts = failures["test_service"]
    assert facts.exception in ("ConnectionRefusedError", "OSError")  # refused, or no route without a network
    assert facts.errno in (111, 101, 99)
    assert [(f.file, f.function) for f in facts.frames] == [
        ("tests/test_cases.py", "test_service"),
        ("tests/helpers.py", "connect_to_service"),
    ]


def test_a_file_system_error_keeps_its_type(failures):
    assert failures["test_spool"].exception == "FileNotFoundError"
    assert failures["test_spool"].errno == 2


def test_the_values_an_assertion_compared_are_kept(failures):
    assert failures["test_total"].exception == "AssertionError"
    assert failures["test_total"].compared == ("(0.1 + 0.2)", "0.3")
    assert failures["test_shares"].compared == ("0.9999999999999999", "1.0")
    assert failures["test_names"].compared == ("['b', 'a']", "['a', 'b']")


def test_what_the_compared_values_look_like(failures):
    shares = value_difference([failures["test_shares"]])
    assert shares is not None and shares.kind == "float-rounding"
    names = value_difference([failures["test_names"]])
    assert names is not None and names.kind == "permutation"


def test_the_side_that_varies_between_failing_runs_is_named():
    runs = [read_failure(f"assert {value} == 0\nE   assert {value} == 0") for value in (1733312000, 1733312001)]
    difference = value_difference(runs)
    assert difference is not None
    assert (difference.varying_side, difference.values, difference.kind) == (
        "left",
        ("1733312000", "1733312001"),
        None,
    )


def test_text_without_a_traceback_gives_no_type():
    assert read_failure("something went wrong").exception is None
