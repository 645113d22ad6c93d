"""Fixed by hand: a finding without a fix that an edit made go away is an acceptance; a deleted
function, a marker, a moved line or a mass edit is not."""

from __future__ import annotations

import textwrap

from aqe.config import Settings
from aqe.engine import Engine
from aqe.learning.implicit import fixed_by_hand, seen_findings
from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language

BEFORE = textwrap.dedent(
    """
    def total(cart):
        # TODO: apply discounts
        return sum(cart)


    def count(cart):
        # TODO: count quantities
        return len(cart)
    """
)


def _seen(text: str):
    document = ParsedDocument.parse("src/cart.py", text, Language.PYTHON)
    return document, seen_findings(document, Engine(Settings()).analyze_document(document))


def _fixed(after_text: str) -> list[str]:
    _, before = _seen(BEFORE)
    document, after = _seen(after_text)
    return [finding.message for finding in fixed_by_hand(before, after, document)]


def test_removing_the_todo_inside_a_function_is_a_fix_by_hand():
    assert _fixed(BEFORE.replace("    # TODO: apply discounts\n", "")) == ["TODO comment: TODO: apply discounts"]


def test_deleting_the_whole_function_is_not_a_fix():
    assert _fixed(BEFORE.split("def count")[0]) == []


def test_an_ignore_marker_is_not_a_fix():
    assert _fixed(BEFORE.replace("# TODO: apply discounts", "# TODO: apply discounts  # aqe: ignore[QE205]")) == []


def test_a_line_that_only_moved_is_not_a_fix():
    moved = BEFORE.replace("def total(cart):", "\n\ndef total(cart):")
    assert _fixed(moved) == []


def test_findings_with_a_quick_fix_are_left_to_apply_fix():
    document, seen = _seen("def add(item, items=[]):\n    items.append(item)\n")
    assert seen == {}
    assert document is not None


def test_many_findings_vanishing_at_once_count_for_none():
    many = "\n".join(f"def f{n}():\n    # TODO: {n}\n    return {n}\n" for n in range(5))
    _, before = _seen(many)
    cleared = many
    for n in range(5):
        cleared = cleared.replace(f"    # TODO: {n}\n", "")
    document, after = _seen(cleared)
    assert fixed_by_hand(before, after, document) == []
