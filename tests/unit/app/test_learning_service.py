"""Learning behind both front doors: feedback, the verdict it leads to, reset, show, export and import."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from aqe.app.learning import LearningService
from aqe.config import Settings
from aqe.engine import Engine
from aqe.findings import Finding, Position, Severity, Span
from aqe.learning.state import StateFileError

WORKSPACES = Path(__file__).resolve().parents[2] / "workspaces"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    target = tmp_path / "shop"
    shutil.copytree(WORKSPACES / "learning", target)
    return target.resolve()


@pytest.fixture
def learning(root: Path) -> LearningService:
    return LearningService(Engine(Settings(), [root]))


def _todo(root: Path) -> Finding:
    span = Span(Position(10, 4), Position(10, 27))
    return Finding(str(root / "src/shop/cart.py"), span, "QE205", Severity.INFO, "TODO comment: TODO: apply discounts")


def test_one_rejection_keeps_a_rule_shown_and_a_second_hides_it(learning: LearningService, root: Path):
    first = learning.record_feedback(root, "src/shop/cart.py", _todo(root), "reject").after
    assert (first.rejected, first.shown, first.rejections_to_hide) == (1, True, 1)
    second = learning.record_feedback(root, "src/shop/cart.py", _todo(root), "reject")
    assert (second.before.shown, second.after.rejected, second.after.shown) == (True, 2, False)
    assert learning.learned()["folders"][0]["hidden"] == ["QE205"]


def test_undoing_a_rejection_withdraws_it_and_only_it(learning: LearningService, root: Path):
    learning.record_feedback(root, "src/shop/cart.py", _todo(root), "reject")
    second = learning.record_feedback(root, "src/shop/cart.py", _todo(root), "reject")
    restored = learning.retract(root, second, "src/shop/cart.py")
    assert (restored.rejected, restored.shown) == (1, True)
    kinds = [event.kind for event in learning.root_state(root).store.log.events()]
    assert kinds == ["reject", "reject", "retract"]  # the log keeps everything; the retraction withdraws one


def test_reset_brings_a_hidden_rule_back(learning: LearningService, root: Path):
    for _ in range(2):
        learning.record_feedback(root, "src/shop/cart.py", _todo(root), "reject")
    assert learning.reset(" QE205 ") == "QE205"
    assert learning.verdict(root, "QE205", "src/shop/cart.py").shown
    assert learning.learned()["folders"][0]["hidden"] == []


def test_a_reset_needs_a_subject(learning: LearningService):
    with pytest.raises(ValueError, match="name a rule"):
        learning.reset("  ")


def test_an_exported_state_imported_by_another_project_adds_its_counts(learning: LearningService, root: Path, tmp_path):
    for _ in range(2):
        learning.record_feedback(root, "src/shop/cart.py", _todo(root), "reject")
    exported = tmp_path / "exported.json"
    assert learning.export_to(root, exported)["subjects"] == 1
    other_root = tmp_path / "other"
    shutil.copytree(WORKSPACES / "learning", other_root)
    other = LearningService(Engine(Settings(), [other_root.resolve()]))
    outcome = other.import_from(other_root.resolve(), exported)
    assert (outcome.subjects, outcome.skipped_own) == (1, False)
    assert not other.verdict(other_root.resolve(), "QE205", "src/shop/cart.py").shown


def test_importing_a_projects_own_export_counts_nothing_twice(learning: LearningService, root: Path, tmp_path):
    learning.record_feedback(root, "src/shop/cart.py", _todo(root), "reject")
    exported = tmp_path / "exported.json"
    exported.write_text(learning.export_text(root))
    outcome = learning.import_from(root, exported)
    assert (outcome.subjects, outcome.skipped_own) == (0, True)
    assert learning.verdict(root, "QE205", "src/shop/cart.py").rejected == 1


def test_a_damaged_import_is_refused_and_a_damaged_state_is_not_exported(learning: LearningService, root, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    with pytest.raises(StateFileError):
        learning.import_from(root, bad)
    (root / ".aqe").mkdir(exist_ok=True)
    (root / ".aqe" / "learning-imported.json").write_text("not json")
    learning.recompute_all()
    assert learning.root_state(root).error is not None
    with pytest.raises(StateFileError):
        learning.export_text(root)


def test_show_lists_each_subject_with_its_evidence(learning: LearningService, root: Path):
    learning.record_feedback(root, "src/shop/cart.py", _todo(root), "accept")
    folder = learning.learned()["folders"][0]
    row = next(row for row in folder["subjects"] if row["subject"] == "QE205")
    assert row["evidence"].startswith("1 accepted, 0 rejected")
    assert json.dumps(folder)  # what the editor's command answers is plain JSON
