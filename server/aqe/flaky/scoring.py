"""Verdicts from the history: is a test flaky, how flaky, how sure are we, and does order matter.

A test that both passed and failed on the same code version (same commit and diff, same test
source) is nondeterministic. Its score is its failure rate there; with the `flakyScoreMin` ..
`flakyScoreMax` band (0.1 .. 0.9 by default) a test failing in that band is flaky, one failing more
often is failing (broken, not flaky), less often is stable enough not to flag; stable and failing
need 5 runs (fewer are "unknown": not enough runs to tell). The rate comes with a 95% Wilson score
interval, which behaves at 0 and 1 and for few runs where the normal approximation does not; the
confidence is one minus the interval's width, so it grows with the number of runs.
"""

from __future__ import annotations

import enum
import itertools
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from aqe.flaky.history import HistoryRow

Z_95 = 1.959963984540054


class Verdict(str, enum.Enum):
    FLAKY = "flaky"
    STABLE = "stable"
    FAILING = "failing"
    UNKNOWN = "unknown"
    """Fewer runs on the current version than it takes to tell."""

    @property
    def label(self) -> str:
        """The verdict in a sentence: `unknown` reads as what it means."""
        return "not enough runs to tell" if self is Verdict.UNKNOWN else self.value


MIN_RUNS_FOR_STABLE_OR_FAILING = 5
"""Runs on one version before a test is called stable or failing, which for a test that only passed
(or only failed) is a claim about runs not seen: a test failing half the time, the most flaky kind,
passes 5 runs in a row 3% of the time, 4 runs 6%. Passing and failing inside the band on one version
is flaky at any count from `min_runs`: that is seen, not inferred."""


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    @property
    def width(self) -> float:
        return self.high - self.low


def wilson_interval(failures: int, runs: int, z: float = Z_95) -> Interval:
    if runs <= 0:
        return Interval(0.0, 1.0)
    p = failures / runs
    denominator = 1 + z * z / runs
    centre = (p + z * z / (2 * runs)) / denominator
    half = z * math.sqrt(p * (1 - p) / runs + z * z / (4 * runs * runs)) / denominator
    # At 0 and at n failures the bound is exactly 0 or 1; the formula's rounding would say 0.9999999999999999.
    low = 0.0 if failures == 0 else max(0.0, centre - half)
    high = 1.0 if failures == runs else min(1.0, centre + half)
    return Interval(low, high)


@dataclass(frozen=True)
class KindCount:
    runs: int
    failures: int


@dataclass(frozen=True)
class TestScore:
    __test__ = False  # a name pytest would otherwise try to collect

    test_id: str
    file: str | None
    name: str
    class_name: str | None
    code_version: str | None
    test_hash: str | None
    runs: int
    failures: int
    flips: int
    failure_rate: float
    interval: Interval
    confidence: float
    verdict: Verdict
    by_kind: Mapping[str, KindCount] = field(hash=False)
    messages: tuple[str, ...]
    pass_durations: tuple[float, ...]
    fail_durations: tuple[float, ...]
    rows: tuple[HistoryRow, ...] = field(hash=False, repr=False)

    @property
    def is_nondeterministic(self) -> bool:
        return 0 < self.failures < self.runs

    def summary(self) -> str:
        """`7 flips in 20 runs (fails 35%, 95% CI 18-57%)`."""
        low, high = round(self.interval.low * 100), round(self.interval.high * 100)
        flips = f"{self.flips} flip{'s' if self.flips != 1 else ''}"
        return f"{flips} in {self.runs} runs (fails {self.failure_rate:.0%}, 95% CI {low}-{high}%)"


def _group_key(row: HistoryRow) -> tuple[str | None, str | None]:
    return (row.code_version, row.test_hash)


def score_tests(
    rows: Iterable[HistoryRow], band: tuple[float, float] = (0.1, 0.9), min_runs: int = 2
) -> list[TestScore]:
    """One score per test, from its runs on the latest code version it ran on."""
    by_test: dict[str, list[HistoryRow]] = defaultdict(list)
    for row in rows:
        if row.outcome.value != "skipped":
            by_test[row.test_id].append(row)
    scores = []
    for test_id, test_rows in by_test.items():
        latest = max(test_rows, key=lambda r: r.run_at)
        group = [r for r in test_rows if _group_key(r) == _group_key(latest)]
        scores.append(_score(test_id, group, band, min_runs))
    return sorted(scores, key=lambda s: s.test_id)


def _score(test_id: str, rows: Sequence[HistoryRow], band: tuple[float, float], min_runs: int) -> TestScore:
    rows = sorted(rows, key=lambda r: (r.run_at, r.report_id, r.ordinal))
    failed = [r.outcome.is_failure for r in rows]
    runs, failures = len(rows), sum(failed)
    flips = sum(1 for a, b in itertools.pairwise(failed) if a != b)
    rate = failures / runs if runs else 0.0
    interval = wilson_interval(failures, runs)
    low, high = band
    if runs < min_runs:
        verdict = Verdict.UNKNOWN
    elif 0 < failures < runs and low <= rate <= high:
        verdict = Verdict.FLAKY
    elif runs < MIN_RUNS_FOR_STABLE_OR_FAILING:
        verdict = Verdict.UNKNOWN
    elif rate > high:
        verdict = Verdict.FAILING
    else:
        verdict = Verdict.STABLE
    kinds: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row, is_failure in zip(rows, failed, strict=True):
        kinds[row.run_kind][0] += 1
        kinds[row.run_kind][1] += int(is_failure)
    messages = tuple(dict.fromkeys(r.message for r in rows if r.outcome.is_failure and r.message))[:5]
    last = rows[-1]
    return TestScore(
        test_id=test_id,
        file=last.file,
        name=last.name,
        class_name=last.class_name,
        code_version=last.code_version,
        test_hash=last.test_hash,
        runs=runs,
        failures=failures,
        flips=flips,
        failure_rate=rate,
        interval=interval,
        confidence=round(1.0 - interval.width, 3),
        verdict=verdict,
        by_kind={kind: KindCount(*counts) for kind, counts in kinds.items()},
        messages=messages,
        pass_durations=tuple(r.duration_s for r in rows if not r.outcome.is_failure and r.duration_s is not None),
        fail_durations=tuple(r.duration_s for r in rows if r.outcome.is_failure and r.duration_s is not None),
        rows=tuple(rows),
    )


class OrderKind(str, enum.Enum):
    POLLUTED = "polluted"
    """Passes alone; fails when a certain other test ran before it (that test leaves state behind)."""
    NEEDS_EARLIER = "needs-earlier"
    """Fails alone; passes only when a certain other test ran before it (and set something up)."""
    PASSES_ALONE = "passes-alone"
    FAILS_ALONE = "fails-alone"


@dataclass(frozen=True)
class OrderEvidence:
    kind: OrderKind
    culprit: str | None
    detail: str
    confirmed: bool = False
    """Shown by runs made to test it (the bisection's pair runs), not read from co-occurrence in suite
    runs: with many tests before a random flake, one of them precedes every failure by chance."""


def order_evidence(score: TestScore, all_rows: Sequence[HistoryRow]) -> OrderEvidence | None:
    """Does the outcome follow from which tests ran before it? Looks at every run of the test in a
    suite (in order or shuffled) and at its runs alone."""
    isolated = score.by_kind.get("isolated")
    in_suite = [r for r in score.rows if r.run_kind in ("suite", "shuffled", "ingested")]
    reports: dict[int, list[HistoryRow]] = defaultdict(list)
    for row in all_rows:
        reports[row.report_id].append(row)
    table: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # before&fail, before&pass, else&fail, else&pass
    candidates: set[str] = set()
    seen: list[tuple[set[str], bool]] = []
    for row in in_suite:
        before = {r.test_id for r in reports[row.report_id] if r.ordinal < row.ordinal and r.test_id != score.test_id}
        candidates |= {r.test_id for r in reports[row.report_id] if r.test_id != score.test_id}
        seen.append((before, row.outcome.is_failure))
    for candidate in candidates:
        cells = table[candidate]
        for before, is_failure in seen:
            cells[(0 if candidate in before else 2) + (0 if is_failure else 1)] += 1
    alone_pass = isolated is not None and isolated.runs > 0 and isolated.failures == 0
    alone_fail = isolated is not None and isolated.runs > 0 and isolated.failures == isolated.runs
    suite_failures = sum(1 for _, failed in seen if failed)
    suite_passes = len(seen) - suite_failures

    def strongest(kind_cells: Iterable[tuple[str, list[int]]]) -> str | None:
        ranked = sorted(kind_cells, key=lambda item: (-sum(item[1]), item[0]))
        return ranked[0][0] if ranked else None

    polluters = [(c, t) for c, t in table.items() if t[0] >= 2 and t[1] == 0 and t[2] == 0 and t[3] >= 2]
    if polluters and not alone_fail:
        culprit = strongest(polluters)
        cells = table[culprit]  # type: ignore[index]
        return OrderEvidence(
            OrderKind.POLLUTED,
            culprit,
            f"passes alone, fails after {culprit} (failed all {cells[0]} runs after it, passed all {cells[3]} without)",
        )
    setters = [(c, t) for c, t in table.items() if t[1] >= 2 and t[0] == 0 and t[3] == 0 and t[2] >= 2]
    if setters and not alone_pass:
        culprit = strongest(setters)
        cells = table[culprit]  # type: ignore[index]
        return OrderEvidence(
            OrderKind.NEEDS_EARLIER,
            culprit,
            f"fails when run without {culprit} before it (passed all {cells[1]} runs after it, failed all "
            f"{cells[2]} without)",
        )
    # Without a culprit, "passes alone" is evidence only when chance cannot explain it: a test failing
    # 40% of the time passes 4 runs alone in 13% of cases. One-sided Fisher exact test at 5%.
    if isolated is not None and isolated.runs >= 2 and seen:
        alone = isolated.runs
        if alone_pass and suite_failures and fisher_one_sided(suite_failures, len(seen), 0, alone) < 0.05:
            return OrderEvidence(
                OrderKind.PASSES_ALONE, None, f"passes all {alone} runs alone, fails only in the suite"
            )
        if alone_fail and suite_passes and fisher_one_sided(alone, alone, suite_failures, len(seen)) < 0.05:
            return OrderEvidence(OrderKind.FAILS_ALONE, None, f"fails all {alone} runs alone, passes only in the suite")
    return None


def fisher_one_sided(failures_a: int, runs_a: int, failures_b: int, runs_b: int) -> float:
    """P(group A has at least `failures_a` failures) if both groups fail at the same rate: the one-sided
    Fisher exact test that A fails more often than B."""
    total_failures, total = failures_a + failures_b, runs_a + runs_b
    ways = sum(
        math.comb(total_failures, k) * math.comb(total - total_failures, runs_a - k)
        for k in range(failures_a, min(runs_a, total_failures) + 1)
    )
    return ways / math.comb(total, runs_a)


def duration_spread(score: TestScore) -> float | None:
    """Coefficient of variation of the test's durations; None with too few measurements."""
    durations = [*score.pass_durations, *score.fail_durations]
    if len(durations) < 3:
        return None
    mean = statistics.fmean(durations)
    return statistics.pstdev(durations) / mean if mean > 0 else None
