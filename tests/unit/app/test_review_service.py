"""The review behind both front doors: rules, conventions and providers, then the learned filter; an
open document and the same file on disk are reviewed alike."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from aqe.app.learning import LearningService
from aqe.app.review import ReviewService
from aqe.config import Settings
from aqe.engine import Engine, OpenDocument
from aqe.findings import Finding, FindingSource, Position, Severity, Span
from aqe.learning.events import ACCEPT, FeedbackEvent, FeedbackLog

WORKSPACES = Path(__file__).resolve().parents[2] / "workspaces"
CONVENTION = "convention/tests.assertion-style"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    target = tmp_path / "shop"
    shutil.copytree(WORKSPACES / "learning", target)
    return target.resolve()


def _service(root: Path, *, mined: bool = True) -> ReviewService:
    engine = Engine(Settings(), [root])
    learning = LearningService(engine)
    if mined:
        learning.mine_conventions(root)
    return ReviewService(engine, learning)


def _rules(findings: tuple[Finding, ...]) -> list[str]:
    return sorted(finding.rule_id for finding in findings)


def _reject(root: Path, subject: str, area: str, times: int = 3) -> None:
    log = FeedbackLog(root / ".aqe" / "feedback.jsonl")
    for _ in range(times):
        log.record(FeedbackEvent("reject", subject, {"area": area, "source": "rule"}))


def test_a_file_on_disk_gets_the_rules_findings(root: Path):
    review = _service(root).review_file(root / "src" / "shop" / "cart.py")
    assert _rules(review.findings) == ["QE202", "QE205", "QE205"]


def test_a_test_file_against_a_strong_convention_gets_a_convention_finding(root: Path):
    review = _service(root).review_file(root / "tests" / "test_legacy.py")
    assert CONVENTION in _rules(review.extras)


def test_no_convention_finding_before_the_folder_was_mined(root: Path):
    review = _service(root, mined=False).review_file(root / "tests" / "test_legacy.py")
    assert review.extras == ()


def test_a_rule_the_team_rejected_is_hidden(root: Path):
    _reject(root, "QE205", "code")
    review = _service(root).review_file(root / "src" / "shop" / "cart.py")
    assert _rules(review.findings) == ["QE202"]


def test_an_open_document_is_reviewed_like_the_same_file_on_disk(root: Path):
    _reject(root, "convention/tests.framework", "tests")
    service = _service(root)
    path = root / "tests" / "test_legacy.py"
    uri = path.as_uri()
    service.engine.open_document(uri, str(path), path.read_text(), 1, "python")
    opened = service.review_open_document(uri)
    assert opened is not None
    assert opened.findings == service.review_file(path).findings
    assert _rules(opened.findings) == [CONVENTION]


def test_a_failing_provider_is_left_out_and_the_others_still_count(root: Path):
    service = _service(root)

    def broken(uri: str, document: OpenDocument) -> list[Finding]:
        raise RuntimeError("provider bug")

    def coverage(uri: str, document: OpenDocument) -> list[Finding]:
        span = Span(Position(0, 0), Position(0, 1))
        return [
            Finding(document.path, span, "coverage/uncovered", Severity.HINT, "not covered", FindingSource.COVERAGE)
        ]

    service.add_provider(broken)
    service.add_provider(coverage)
    review = service.review_file(root / "src" / "shop" / "cart.py")
    assert "coverage/uncovered" in _rules(review.extras)
    assert _rules(review.analysis.findings) == ["QE202", "QE205", "QE205"]


def test_a_finding_an_edit_removes_is_recorded_as_fixed_by_hand_for_open_documents_only(root: Path):
    service = _service(root)
    path = root / "src" / "shop" / "cart.py"
    uri = path.as_uri()
    text = path.read_text()
    service.engine.open_document(uri, str(path), text, 1, "python")
    service.review_open_document(uri)
    service.review_file(path)
    log = FeedbackLog(root / ".aqe" / "feedback.jsonl")
    assert list(log.events()) == []
    service.engine.open_document(uri, str(path), text.replace("    # TODO: apply discounts\n", ""), 2, "python")
    service.review_open_document(uri)
    assert [(event.kind, event.subject) for event in log.events()] == [(ACCEPT, "QE205")]
