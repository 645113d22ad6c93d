"""The learning maths: Beta posteriors with a prior of strength ewcLambda, areas that inherit the
subject's posterior, resets, undo, and which events count."""

from __future__ import annotations

import pytest

from aqe.learning.events import FeedbackEvent
from aqe.learning.standards import PRIOR_MEAN, Counts, Standards, fold_events, posterior_mean


def _events(*pairs: tuple[str, str], area: str = "code") -> list[FeedbackEvent]:
    return [FeedbackEvent(kind, subject, {"area": area}, at=float(n)) for n, (kind, subject) in enumerate(pairs)]


def _standards(events: list[FeedbackEvent], strength: float = 4.0, threshold: float = 0.7) -> Standards:
    return Standards(fold_events(events), prior_strength=strength, threshold=threshold)


def test_the_posterior_mean_adds_the_prior_pseudo_counts_to_the_observations():
    assert posterior_mean(Counts(accepted=6, rejected=2), 0.9, 4.0) == pytest.approx((3.6 + 6) / (4 + 8))


def test_without_prior_strength_the_estimate_is_the_observed_rate():
    assert posterior_mean(Counts(accepted=3, rejected=1), 0.9, 0.0) == pytest.approx(0.75)


def test_a_subject_without_feedback_is_shown_at_the_prior_mean():
    estimate = _standards([]).estimate("QE101")
    assert (estimate.acceptance, estimate.shown) == (PRIOR_MEAN, True)


def test_one_rejection_of_a_fresh_rule_keeps_it_and_a_second_hides_it():
    one = _standards(_events(("reject", "QE205")))
    two = _standards(_events(("reject", "QE205"), ("reject", "QE205")))
    assert one.shown("QE205")
    assert not two.shown("QE205")


def test_one_rejection_does_not_erase_a_long_record_of_acceptances():
    record = [("accept", "QE101")] * 20 + [("reject", "QE101")] * 3
    standards = _standards(_events(*record))
    assert standards.estimate("QE101").acceptance == pytest.approx((3.6 + 20) / (4 + 23))
    assert standards.shown("QE101")


def test_a_stronger_prior_needs_more_rejections_to_hide_a_rule():
    rejections = _events(*[("reject", "QE205")] * 3)
    assert not _standards(rejections, strength=4.0).shown("QE205")
    assert _standards(rejections, strength=40.0).shown("QE205")


def test_the_threshold_decides_what_is_shown():
    events = _events(("accept", "QE101"), ("reject", "QE101"), ("reject", "QE101"))
    acceptance = _standards(events).estimate("QE101").acceptance
    assert _standards(events, threshold=acceptance - 0.01).shown("QE101")
    assert not _standards(events, threshold=acceptance + 0.01).shown("QE101")


def test_an_area_learns_its_own_rate_with_the_subject_as_its_prior():
    in_tests = _events(*[("reject", "QE205")] * 6, area="tests")
    in_code = _events(*[("accept", "QE205")] * 12, area="code")
    standards = _standards(in_tests + in_code)
    assert standards.shown("QE205", "code")
    assert not standards.shown("QE205", "tests")


def test_an_area_without_feedback_follows_the_subject():
    standards = _standards(_events(*[("reject", "QE205")] * 6, area="tests"))
    assert standards.estimate("QE205", "code").acceptance == standards.estimate("QE205").acceptance


def test_apply_counts_as_acceptance_and_suppression_counts_as_neither():
    records = fold_events(_events(("apply", "testgen"), ("accept", "testgen"), ("suppress", "testgen")))
    counts = records["testgen"].total
    assert (counts.accepted, counts.rejected, counts.suppressed) == (2, 0, 1)


def test_an_undo_turns_an_acceptance_into_a_rejection():
    counts = fold_events(_events(("accept", "QE101"), ("accept", "QE101"), ("undo", "QE101")))["QE101"].total
    assert (counts.accepted, counts.rejected) == (1, 1)


def test_a_reset_forgets_the_subject_before_it_and_only_that_subject():
    records = fold_events(
        _events(("reject", "QE205"), ("reject", "QE205"), ("reject", "QE101"), ("reset", "QE205"), ("accept", "QE205"))
    )
    assert (records["QE205"].total.accepted, records["QE205"].total.rejected) == (1, 0)
    assert records["QE101"].total.rejected == 1


def test_sources_are_read_from_the_subject_name():
    records = fold_events(_events(("reject", "convention/naming.tests"), ("reject", "model/bug"), ("reject", "QE1")))
    assert {s: r.source for s, r in records.items()} == {
        "convention/naming.tests": "convention", "model/bug": "model", "QE1": "rule",
    }  # fmt: skip
