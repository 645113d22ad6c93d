"""Rerun evidence: the polluter of an order-dependent test, found by bisection over real sandboxed runs."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from aqe.flaky.analysis import analyze
from aqe.flaky.bisect import BISECT_KIND, bisect_culprit
from aqe.flaky.classify import RootCause
from aqe.flaky.history import History
from aqe.flaky.runs import FlakyRunner
from aqe.flaky.scoring import OrderKind
from aqe.sandbox.runner import SandboxRunner

_NEUTRAL = "\n\n".join(f"def test_step_{index}():\n    assert len('abc') == 3" for index in range(6))


def _project(root: Path) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "settings.py").write_text("OPTIONS = {'verbose': False}\n")
    (root / "tests" / "test_a_setup.py").write_text(
        textwrap.dedent(
            """\
            from settings import OPTIONS


            def test_turn_on_verbose_output():
                OPTIONS["verbose"] = True
                assert OPTIONS["verbose"]
            """
        )
        + "\n\n"
        + _NEUTRAL
        + "\n"
    )
    (root / "tests" / "test_b_output.py").write_text(
        textwrap.dedent(
            """\
            from settings import OPTIONS


            def test_quiet_by_default():
                assert OPTIONS["verbose"] is False
            """
        )
    )
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["tests"]\n')
    return root.resolve()


def test_the_polluter_is_found_by_bisection_and_named_in_the_verdict(tmp_path):
    root = _project(tmp_path / "proj")
    history = History.for_workspace(root, ".aqe")
    runner = FlakyRunner(
        root, SandboxRunner(trusted=True), history, sys.executable, timeout_s=120, memory_bytes=None,
        allow_network=False,
    )  # fmt: skip
    summary = runner.run([], 4)
    victim = "tests/test_b_output.py::test_quiet_by_default"
    polluter = "tests/test_a_setup.py::test_turn_on_verbose_output"
    assert summary.suspects == (victim,)
    bisect_runs = [r for r in summary.runs if r.kind == BISECT_KIND]
    assert 2 <= len(bisect_runs) <= 6  # log2 of the 7 tests before it, and the pair twice
    verdict = {v.test_id: v for v in analyze(history.rows(), root)}[victim]
    assert verdict.order is not None and verdict.order.kind is OrderKind.POLLUTED
    assert verdict.order.culprit == polluter
    assert verdict.cause is RootCause.SHARED_STATE
    assert "polluter found by bisection" in verdict.classification.evidence[0]
    assert verdict.score.runs == 4 + 1  # the bisection's runs are not samples of its failure rate


def test_bisection_halves_the_preceding_tests_and_confirms_the_pair():
    asked: list[tuple[str, ...]] = []

    def run(tests):
        asked.append(tuple(tests))
        return "t3" in tests  # fails whenever t3 ran before it

    result = bisect_culprit("victim", [f"t{i}" for i in range(8)], fails_alone=False, run=run)
    assert result.culprit == "t3" and result.fails_after
    assert asked[-2:] == [("t3", "victim"), ("t3", "victim")]
    assert result.runs == len(asked) <= 7


def test_no_culprit_when_the_effect_needs_two_tests_together():
    result = bisect_culprit("victim", ["a", "b", "c", "d"], False, lambda tests: {"a", "d"} <= set(tests))
    assert result.culprit is None


def _row(test: str, outcome: str, kind: str, ordinal: int, report: int):
    from aqe.flaky.history import HistoryRow
    from aqe.flaky.junit import Outcome

    failed = outcome == "F"
    return HistoryRow(
        f"tests/test_m.py::{test}", "tests/test_m.py", test, None, "v", "h", float(report),
        Outcome.FAILED if failed else Outcome.PASSED, 0.01, "assert 1 == 2" if failed else "", kind, report, ordinal,
    )  # fmt: skip


def test_a_bisection_that_found_no_culprit_refutes_what_suite_runs_suggested(tmp_path):
    # test_y ran before test_x in every failing suite run and never in a passing one: co-occurrence says
    # "polluted by test_y". Alone, test_x passed twice.
    rows, report = [], 0
    for failed in (True, False, True, False, True, False):
        report += 1
        order = ("test_y", "test_x") if failed else ("test_x", "test_y")
        for ordinal, name in enumerate(order):
            rows.append(_row(name, "F" if failed and name == "test_x" else "P", "suite", ordinal, report))
    for _ in range(2):
        report += 1
        rows.append(_row("test_x", "P", "isolated", 0, report))
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_m.py").write_text("def test_x():\n    assert 1 == 2\n\ndef test_y():\n    pass\n")

    suggested = next(v for v in analyze(rows, tmp_path) if v.score.name == "test_x")
    assert suggested.order is not None and suggested.order.kind is OrderKind.POLLUTED
    assert not suggested.order.confirmed

    # The bisection ran the pair (test_y, then test_x) twice and test_x passed both times.
    for _ in range(2):
        report += 1
        rows += [_row("test_y", "P", BISECT_KIND, 0, report), _row("test_x", "P", BISECT_KIND, 1, report)]
    refuted = next(v for v in analyze(rows, tmp_path) if v.score.name == "test_x")
    assert refuted.order is None
