"""Which findings the learned standards still show: posteriors under the threshold, model confidence,
similarity to rejected model findings, learning switched off, and retrieval of accepted examples."""

from __future__ import annotations

from aqe.findings import Finding, FindingSource, Severity, Span
from aqe.learning.events import FeedbackEvent
from aqe.learning.filtering import ExampleRetriever, FindingFilter, LearningSettings
from aqe.learning.standards import fold_events
from aqe.learning.state import Origin, RejectedFinding, ReviewExample, StateFile

ON = LearningSettings(enabled=True, threshold=0.7, prior_strength=4.0, similarity=0.85)
OFF = LearningSettings(enabled=False, threshold=0.7, prior_strength=4.0, similarity=0.85)


def _finding(rule: str, source: FindingSource = FindingSource.RULE, confidence: float = 1.0, message: str = "m"):
    return Finding("src/a.py", Span.of(1, 0, 1, 4), rule, Severity.WARNING, message, source, confidence=confidence)


def _state(*events: tuple[str, str, str], rejected: list[RejectedFinding] | None = None) -> StateFile:
    log = [FeedbackEvent(kind, subject, {"area": area}) for kind, subject, area in events]
    return StateFile([Origin("own", "team", len(log), records=fold_events(log))], rejected=rejected or [])


def test_a_rule_rejected_again_and_again_is_hidden_and_the_reason_says_why():
    decision = FindingFilter(_state(*[("reject", "QE205", "code")] * 4), ON).decide(_finding("QE205"), "src/a.py")
    assert not decision.shown
    assert decision.reason == "0 accepted, 4 rejected: estimated acceptance 0.45 < 0.7"


def test_rejections_in_tests_do_not_hide_the_rule_in_other_code():
    rules = FindingFilter(_state(*[("reject", "QE205", "tests")] * 4, *[("accept", "QE205", "code")] * 6), ON)
    assert rules.decide(_finding("QE205"), "src/a.py").shown
    assert not rules.decide(_finding("QE205"), "tests/test_a.py").shown


def test_with_learning_off_nothing_learned_hides_a_finding():
    assert FindingFilter(_state(*[("reject", "QE205", "code")] * 9), OFF).decide(_finding("QE205"), "src/a.py").shown


def test_a_model_finding_under_the_threshold_is_hidden_even_with_learning_off():
    finding = _finding("model/bug", FindingSource.MODEL, confidence=0.4)
    assert not FindingFilter(StateFile(), OFF).decide(finding, "src/a.py").shown
    assert FindingFilter(StateFile(), OFF).decide(_finding("model/bug", FindingSource.MODEL, 0.8), "src/a.py").shown


def test_a_model_finding_like_a_rejected_one_is_hidden_and_a_different_one_is_not():
    rejected = RejectedFinding("model/bug", "model/bug\nthe loop never ends\nwhile True: poll(queue)")
    rules = FindingFilter(_state(rejected=[rejected]), ON)
    same = _finding("model/bug", FindingSource.MODEL, 0.9, "the loop never ends")
    other = _finding("model/bug", FindingSource.MODEL, 0.9, "division by zero when the cart is empty")
    assert not rules.decide(same, "src/a.py", "while True: poll(queue)").shown
    assert rules.decide(other, "src/a.py", "return total / len(items)").shown


def test_coverage_and_flaky_findings_are_never_hidden_by_learning():
    rules = FindingFilter(_state(*[("reject", "coverage-gap", "code")] * 9), ON)
    assert rules.decide(_finding("coverage-gap", FindingSource.COVERAGE), "src/a.py").shown


def test_keep_returns_only_what_is_shown():
    rules = FindingFilter(_state(*[("reject", "QE205", "code")] * 4), ON)
    kept = rules.keep([_finding("QE205"), _finding("QE101")], "src/a.py", lambda finding: "")
    assert [finding.rule_id for finding in kept] == ["QE101"]


def test_the_most_similar_accepted_fix_is_retrieved_first():
    examples = [
        ReviewExample("QE202", "mutable default", "def add(item, items=[]):", "def add(item, items=None):"),
        ReviewExample("QE201", "swallowed exception", "except Exception:\n    pass", "except KeyError:\n    log()"),
    ]
    found = ExampleRetriever(examples).similar("def add_all(item, items=[]):\n    items.append(item)", k=1)
    assert [example.subject for example in found] == ["QE202"]


def test_no_examples_retrieve_nothing():
    assert ExampleRetriever([]).similar("def f(): pass") == []
