"""From the history to what the user sees: per test, its score, what order does to it, its likely
root cause, and where it is defined. One function of the history, used by the CLI report, the
editor's diagnostics and the benchmark alike."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aqe.findings import Finding, FindingSource, Severity, Span
from aqe.flaky.bisect import BISECT_KIND, bisected_order
from aqe.flaky.classify import ADVICE, Classification, RootCause, TieBreaker, classify
from aqe.flaky.evidence import StaticFact, static_facts
from aqe.flaky.failures import read_failure
from aqe.flaky.history import HistoryRow
from aqe.flaky.identity import TestIdentity, TestSources
from aqe.flaky.scoring import OrderEvidence, TestScore, Verdict, order_evidence, score_tests
from aqe.parsing.languages import Language, language_for_path

RULE_ID = "flaky-test"

SimilarFailures = Callable[[str, int], list[str]]
"""(failure description, k) -> titles of similar known failure patterns, from the knowledge base's
`aqe/failure-patterns/*` in the workspace index."""
_SIMILAR_SHOWN = 3


@dataclass(frozen=True)
class TestVerdict:
    __test__ = False  # a name pytest would otherwise try to collect

    score: TestScore
    order: OrderEvidence | None
    classification: Classification | None
    definition: Span | None
    """Where the test is defined (its name), when its file and definition were found."""
    similar: tuple[str, ...] = ()
    """Known failure patterns that look like this test's failures (from the knowledge base)."""

    @property
    def test_id(self) -> str:
        return self.score.test_id

    @property
    def verdict(self) -> Verdict:
        return self.score.verdict

    @property
    def cause(self) -> RootCause | None:
        return self.classification.cause if self.classification else None

    def message(self) -> str:
        """`flaky: 7 flips in 20 runs (fails 35%, 95% CI 18-57%), likely order-dependent: ...`."""
        text = f"{self.verdict.label}: {self.score.summary()}"
        if self.classification is not None:
            text += f", {self.classification.explanation()}"
        return text

    def advice(self) -> str | None:
        return ADVICE[self.cause] if self.cause is not None else None


def analyze(
    rows: Sequence[HistoryRow],
    root: Path,
    band: tuple[float, float] = (0.1, 0.9),
    sources: TestSources | None = None,
    similar_failures: SimilarFailures | None = None,
    tie_breaker: TieBreaker | None = None,
) -> list[TestVerdict]:
    """Every test in the history, scored; nondeterministic ones also classified. The runs of a
    polluter search (bisection) are evidence about order, not samples of the test's failure rate."""
    sources = sources or TestSources(root)
    verdicts = []
    sampled = [row for row in rows if row.run_kind != BISECT_KIND]
    for score in score_tests(sampled, band):
        identity = TestIdentity(score.test_id, score.file, score.name, score.class_name)
        unit = sources.unit_of(identity)
        order = classification = None
        if score.is_nondeterministic:
            order = bisected_order(score.test_id, [*score.rows, *(r for r in rows if r.run_kind == BISECT_KIND)])
            if order is None and not _searched(score.test_id, rows):
                # Co-occurrence alone; a bisection that ran and found no culprit has refuted it.
                order = order_evidence(score, sampled)
            failures = [read_failure(message) for message in score.messages]
            classification = classify(score, order, code_facts(root, score), failures, tie_breaker)
        similar: tuple[str, ...] = ()
        if similar_failures is not None and score.is_nondeterministic:
            query = " ".join(
                [classification.cause.value if classification and classification.cause else "", *score.messages[:2],
                 sources.context_source(identity) or ""]
            )  # fmt: skip
            try:
                similar = tuple(similar_failures(query[:4000], _SIMILAR_SHOWN))
            except Exception:  # the knowledge base is a help here, never a reason to lose the verdict
                similar = ()
        verdicts.append(
            TestVerdict(score, order, classification, unit.name_span if unit is not None else None, similar)
        )
    return verdicts


def code_facts(root: Path, score: TestScore) -> list[StaticFact]:
    """What the test's code does (Python tests; other languages give no code facts yet)."""
    if score.file is None or language_for_path(score.file) is not Language.PYTHON:
        return []
    return static_facts(root, score.file, score.name, score.class_name)


def flaky_findings(verdicts: Sequence[TestVerdict], root: Path) -> list[Finding]:
    """A warning on the definition of every flaky test whose definition was found."""
    findings = []
    for verdict in verdicts:
        if verdict.verdict is not Verdict.FLAKY or verdict.definition is None or verdict.score.file is None:
            continue
        findings.append(
            Finding(
                path=str(root / verdict.score.file),
                span=verdict.definition,
                rule_id=RULE_ID,
                severity=Severity.WARNING,
                message=verdict.message(),
                source=FindingSource.FLAKY,
                confidence=verdict.score.confidence,
            )
        )
    return findings


def _searched(test_id: str, rows: Sequence[HistoryRow]) -> bool:
    return any(row.run_kind == BISECT_KIND and row.test_id == test_id for row in rows)
