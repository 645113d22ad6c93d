"""Finding the test that breaks (or sets up) an order-dependent test, as iDFlakies does: take the
tests that ran before it in a run where its outcome differed from its runs alone, and halve that
list while the outcome still differs, until one test is left; then confirm that the pair alone
(that test, then this one) reproduces it.

The search assumes one culprit, as iDFlakies' minimiser does for most victims; when halving loses
the effect (two tests needed together) it stops and names no one. Every run is a real run in the
sandbox, recorded in the history with the kind `bisect`, so the verdict is read back from the
history like every other piece of evidence.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aqe.flaky.history import HistoryRow
from aqe.flaky.scoring import OrderEvidence, OrderKind

BISECT_KIND = "bisect"
CONFIRMATIONS = 2
"""Runs of the final pair (culprit, then the test) that must all show the effect."""

RunOrder = Callable[[Sequence[str]], bool | None]
"""Runs these tests in this order; the last one's outcome: True failed, False passed, None not run."""


@dataclass(frozen=True)
class BisectResult:
    victim: str
    culprit: str | None
    runs: int
    fails_after: bool
    """True: the victim fails after the culprit (a polluter); False: passes only after it (a setter)."""


def bisect_culprit(victim: str, preceding: Sequence[str], fails_alone: bool, run: RunOrder) -> BisectResult:
    """The one test among `preceding` that flips the victim's outcome from its outcome alone."""
    candidates = [test for test in dict.fromkeys(preceding) if test != victim]
    runs = 0

    def flips(tests: Sequence[str]) -> bool:
        nonlocal runs
        runs += 1
        failed = run([*tests, victim])
        return failed is not None and failed != fails_alone

    while len(candidates) > 1:
        half = len(candidates) // 2
        first, second = candidates[:half], candidates[half:]
        if flips(first):
            candidates = first
        elif flips(second):
            candidates = second
        else:
            return BisectResult(victim, None, runs, not fails_alone)
    # The pair must flip every time: a test that fails at random can flip one run by chance.
    if candidates and all(flips(candidates) for _ in range(CONFIRMATIONS)):
        return BisectResult(victim, candidates[0], runs, not fails_alone)
    return BisectResult(victim, None, runs, not fails_alone)


def bisected_order(test_id: str, rows: Sequence[HistoryRow]) -> OrderEvidence | None:
    """The bisection's conclusion, read back from its recorded runs: the last two-test run (culprit,
    then this test) whose outcome differed from all this test's runs alone."""
    reports: dict[int, list[HistoryRow]] = defaultdict(list)
    for row in rows:
        if row.run_kind == BISECT_KIND:
            reports[row.report_id].append(row)
    isolated = [r for r in rows if r.test_id == test_id and r.run_kind == "isolated"]
    if not isolated:
        return None
    alone_failed = {r.outcome.is_failure for r in isolated}
    if len(alone_failed) != 1:
        return None  # its runs alone disagree: order is not what decides
    fails_alone = alone_failed.pop()
    searched = [r for report in reports.values() for r in report if r.test_id == test_id]
    pairs: dict[str, list[bool]] = defaultdict(list)  # culprit -> did each pair run show the effect
    for report in reports.values():
        ordered = sorted(report, key=lambda r: r.ordinal)
        if len(ordered) == 2 and ordered[1].test_id == test_id:
            pairs[ordered[0].test_id].append(ordered[1].outcome.is_failure != fails_alone)
    for culprit, effects in pairs.items():
        if len(effects) < CONFIRMATIONS or not all(effects):
            continue
        runs = len(searched)
        if fails_alone:
            return OrderEvidence(
                OrderKind.NEEDS_EARLIER,
                culprit,
                f"fails alone ({len(isolated)} of {len(isolated)} runs) and passes right after {culprit} "
                f"(found by bisection over the tests before it, {runs} runs)",
                confirmed=True,
            )
        return OrderEvidence(
            OrderKind.POLLUTED,
            culprit,
            f"passes alone ({len(isolated)} of {len(isolated)} runs) and fails right after {culprit}, the "
            f"polluter found by bisection over the tests before it ({runs} runs)",
            confirmed=True,
        )
    return None
