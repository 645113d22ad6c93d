"""Verdicts, intervals and what run order reveals."""

from __future__ import annotations

import itertools
import random

import pytest

from aqe.flaky.history import HistoryRow
from aqe.flaky.junit import Outcome
from aqe.flaky.scoring import (
    MIN_RUNS_FOR_STABLE_OR_FAILING,
    OrderKind,
    Verdict,
    order_evidence,
    score_tests,
    wilson_interval,
)

_clock = itertools.count(1)


def _row(test_id: str, failed: bool, *, kind: str = "suite", report: int = 0, ordinal: int = 0, version: str = "v1",
         message: str = "assert False", duration: float = 0.01) -> HistoryRow:  # fmt: skip
    return HistoryRow(
        test_id=test_id, file="tests/test_x.py", name=test_id.rsplit("::", 1)[-1], class_name=None,
        code_version=version, test_hash="h", run_at=float(next(_clock)),
        outcome=Outcome.FAILED if failed else Outcome.PASSED, duration_s=duration,
        message=message if failed else "", run_kind=kind, report_id=report, ordinal=ordinal,
    )  # fmt: skip


def _runs(test_id: str, pattern: str, **kwargs) -> list[HistoryRow]:
    """'PFPP' -> pass, fail, pass, pass."""
    return [_row(test_id, c == "F", report=i, **kwargs) for i, c in enumerate(pattern)]


def test_wilson_interval_matches_the_published_values():
    interval = wilson_interval(7, 20)
    assert interval.low == pytest.approx(0.1812, abs=1e-4)
    assert interval.high == pytest.approx(0.5671, abs=1e-4)
    assert wilson_interval(0, 10).low == 0.0 and wilson_interval(10, 10).high == 1.0
    assert wilson_interval(0, 0).width == 1.0


def test_more_runs_give_a_narrower_interval_and_more_confidence():
    few = score_tests(_runs("t::a", "PFPF"))[0]
    many = score_tests(_runs("t::a", "PF" * 20))[0]
    assert few.failure_rate == many.failure_rate == 0.5
    assert many.interval.width < few.interval.width
    assert many.confidence > few.confidence


def test_a_test_that_passed_and_failed_on_one_version_inside_the_band_is_flaky():
    score = score_tests(_runs("t::a", "PPFPFFPPFP"))[0]
    assert score.verdict is Verdict.FLAKY
    assert (score.runs, score.failures, score.flips) == (10, 4, 6)
    assert score.summary() == "6 flips in 10 runs (fails 40%, 95% CI 17-69%)"


def test_always_passing_is_stable_and_almost_always_failing_is_failing():
    assert score_tests(_runs("t::a", "P" * 10))[0].verdict is Verdict.STABLE
    assert score_tests(_runs("t::a", "F" * 19 + "P"))[0].verdict is Verdict.FAILING
    assert score_tests(_runs("t::a", "F" * 10))[0].verdict is Verdict.FAILING


def test_the_band_is_configurable():
    rows = _runs("t::a", "F" + "P" * 19)  # 5%
    assert score_tests(rows)[0].verdict is Verdict.STABLE
    assert score_tests(rows, band=(0.01, 0.9))[0].verdict is Verdict.FLAKY


def test_only_the_latest_code_version_counts():
    old = _runs("t::a", "PFPF", version="v1")
    new = _runs("t::a", "PPPPP", version="v2")
    score = score_tests([*old, *new])[0]
    assert (score.code_version, score.runs, score.verdict) == ("v2", 5, Verdict.STABLE)


def test_a_failure_on_another_version_is_not_a_flip():
    rows = [*_runs("t::a", "FF", version="v1"), *_runs("t::a", "PPPPP", version="v2")]
    assert score_tests(rows)[0].verdict is Verdict.STABLE


def test_one_run_is_too_few_to_tell():
    assert score_tests(_runs("t::a", "F"))[0].verdict is Verdict.UNKNOWN


@pytest.mark.parametrize("pattern", ["PP", "PPPP", "FF", "FFFF"])
def test_a_few_runs_with_one_outcome_are_too_few_to_call_a_test_stable_or_failing(pattern):
    score = score_tests(_runs("t::a", pattern))[0]
    assert score.verdict is Verdict.UNKNOWN and score.verdict.label == "not enough runs to tell"


def test_from_five_runs_one_outcome_is_a_verdict_and_both_outcomes_are_flaky_from_two():
    assert score_tests(_runs("t::a", "PPPPP"))[0].verdict is Verdict.STABLE
    assert score_tests(_runs("t::a", "FFFFF"))[0].verdict is Verdict.FAILING
    assert score_tests(_runs("t::a", "PF"))[0].verdict is Verdict.FLAKY
    assert MIN_RUNS_FOR_STABLE_OR_FAILING == 5 and 0.5**MIN_RUNS_FOR_STABLE_OR_FAILING < 0.05 <= 0.5 ** (
        MIN_RUNS_FOR_STABLE_OR_FAILING - 1
    )


def test_skipped_runs_do_not_count():
    rows = _runs("t::a", "PFPF")
    skipped = _row("t::a", False, report=99)
    rows.append(HistoryRow(**{**skipped.__dict__, "outcome": Outcome.SKIPPED}))
    assert score_tests(rows)[0].runs == 4


def _suite_runs(orders: list[list[str]], fails: callable) -> list[HistoryRow]:
    rows = []
    for report, order in enumerate(orders):
        for ordinal, test in enumerate(order):
            rows.append(_row(test, fails(test, order[:ordinal]), kind="shuffled", report=report, ordinal=ordinal))
    return rows


def _alone(test: str, failed: bool, runs: int, start: int) -> list[HistoryRow]:
    return [_row(test, failed, kind="isolated", report=start + i) for i in range(runs)]


def test_a_test_polluted_by_an_earlier_one_is_recognised_with_its_culprit():
    tests = ["t::setup_debug", "t::log_level", "t::other"]
    orders = [random.Random(seed).sample(tests, 3) for seed in range(12)]
    rows = _suite_runs(orders, lambda test, before: test == "t::log_level" and "t::setup_debug" in before)
    rows += _alone("t::log_level", False, 3, 100)
    scores = {s.test_id: s for s in score_tests(rows)}
    evidence = order_evidence(scores["t::log_level"], rows)
    assert evidence is not None and evidence.kind is OrderKind.POLLUTED
    assert evidence.culprit == "t::setup_debug"
    assert evidence.detail.startswith("passes alone, fails after t::setup_debug")


def test_a_test_that_needs_an_earlier_one_is_recognised():
    tests = ["t::create", "t::lookup", "t::other"]
    orders = [random.Random(seed).sample(tests, 3) for seed in range(12)]
    rows = _suite_runs(orders, lambda test, before: test == "t::lookup" and "t::create" not in before)
    rows += _alone("t::lookup", True, 3, 100)
    score = next(s for s in score_tests(rows) if s.test_id == "t::lookup")
    evidence = order_evidence(score, rows)
    assert evidence is not None and evidence.kind is OrderKind.NEEDS_EARLIER and evidence.culprit == "t::create"


def test_random_failures_show_no_order_effect():
    tests = ["t::a", "t::b", "t::c"]
    orders = [random.Random(seed).sample(tests, 3) for seed in range(16)]
    coin = random.Random(7)
    rows = _suite_runs(orders, lambda test, before: test == "t::b" and coin.random() < 0.4)
    rows += [_row("t::b", coin.random() < 0.4, kind="isolated", report=100 + i) for i in range(4)]
    score = next(s for s in score_tests(rows) if s.test_id == "t::b")
    assert order_evidence(score, rows) is None


def test_the_fisher_test_matches_a_hand_computed_table():
    from aqe.flaky.scoring import fisher_one_sided

    # 8 of 16 suite runs failed, 0 of 4 alone: C(12,4) / C(20,4) that all 4 alone runs would pass by chance.
    assert fisher_one_sided(8, 16, 0, 4) == pytest.approx(495 / 4845)
    assert fisher_one_sided(4, 4, 0, 16) == pytest.approx(1 / 4845)


def test_passing_a_few_runs_alone_by_chance_is_not_taken_for_an_order_effect():
    rows = [_row("t::job", i % 2 == 0, kind="suite", report=i, ordinal=0) for i in range(16)]
    rows += _alone("t::job", False, 4, 100)
    score = score_tests(rows)[0]
    assert order_evidence(score, rows) is None


def test_passing_every_run_alone_while_failing_most_of_the_suite_is_an_order_effect():
    rows = [_row("t::victim", i % 4 != 0, kind="suite", report=i, ordinal=0) for i in range(16)]
    rows += _alone("t::victim", False, 4, 100)
    evidence = order_evidence(score_tests(rows)[0], rows)
    assert evidence is not None and evidence.kind is OrderKind.PASSES_ALONE
