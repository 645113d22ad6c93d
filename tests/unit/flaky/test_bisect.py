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
