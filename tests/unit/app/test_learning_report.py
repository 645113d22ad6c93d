"""What the user is told about learning: after each "Not our standard", and the learned state as Markdown."""

from __future__ import annotations

import shutil
from pathlib import Path

from aqe.app.learning import LearningService
from aqe.app.learning_report import feedback_message, learned_markdown
from aqe.config import Settings
from aqe.engine import Engine
from aqe.findings import Finding, Position, Severity, Span

WORKSPACES = Path(__file__).resolve().parents[2] / "workspaces"


def _service(tmp_path: Path) -> tuple[LearningService, Path]:
    root = tmp_path / "shop"
    shutil.copytree(WORKSPACES / "learning", root)
    root = root.resolve()
    return LearningService(Engine(Settings(), [root])), root


def _finding(root: Path, rule: str = "QE205") -> Finding:
    return Finding(str(root / "src/shop/cart.py"), Span(Position(10, 4), Position(10, 9)), rule, Severity.INFO, "TODO")


def test_the_first_rejection_says_what_the_next_one_will_do(tmp_path):
    learning, root = _service(tmp_path)
    recorded = learning.record_feedback(root, "src/shop/cart.py", _finding(root), "reject")
    assert feedback_message(recorded, 0.7) == (
        "QE205: rejection recorded (1 rejection, 0 accepted); one more rejection will hide it in this workspace."
    )


def test_the_rejection_that_hides_a_rule_says_so_and_how_to_undo(tmp_path):
    learning, root = _service(tmp_path)
    learning.record_feedback(root, "src/shop/cart.py", _finding(root), "reject")
    recorded = learning.record_feedback(root, "src/shop/cart.py", _finding(root), "reject")
    message = feedback_message(recorded, 0.7)
    assert message is not None
    assert message.startswith("QE205 is now hidden in this workspace after 2 rejections (0 accepted).")
    assert "Undo" in message


def test_a_rule_with_a_long_record_of_acceptances_says_it_stays_shown(tmp_path):
    learning, root = _service(tmp_path)
    for _ in range(12):
        learning.record_feedback(root, "src/shop/cart.py", _finding(root), "accept")
    recorded = learning.record_feedback(root, "src/shop/cart.py", _finding(root), "reject")
    message = feedback_message(recorded, 0.7)
    assert message is not None and "stays shown while its estimated acceptance" in message


def test_acceptances_and_ignores_say_nothing(tmp_path):
    learning, root = _service(tmp_path)
    for kind in ("accept", "suppress"):
        assert feedback_message(learning.record_feedback(root, "src/shop/cart.py", _finding(root), kind), 0.7) is None


def test_the_learned_state_reads_as_markdown_with_what_is_hidden(tmp_path):
    learning, root = _service(tmp_path)
    for _ in range(2):
        learning.record_feedback(root, "src/shop/cart.py", _finding(root), "reject")
    learning.record_feedback(root, "src/shop/cart.py", _finding(root, "QE202"), "accept")
    learning.mine_conventions(root)
    text = learned_markdown(learning.learned())
    hidden = text.split("### Hidden in this workspace")[1].split("### Still shown")[0]
    shown = text.split("### Still shown")[1]
    assert "| `QE205` | 0 | 2 | 0 |" in hidden and "QE202" not in hidden
    assert "| `QE202` | 1 | 0 | 0 |" in shown
    assert "`tests.assertion-style` | 9 of 10 test files use plain assert" in text
    assert not text.lstrip().startswith("{")  # Markdown, not JSON
