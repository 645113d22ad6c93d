"""One finding per defect: when a general rule and a more specific one hit the same code, keep the
specific one, whose message says what is wrong there and which may carry a fix.

`except Exception: pass` in a test is both a swallowed catch-all (QE201) and a test that passes
whether or not the exception is raised (QE103); a test whose only "check" is such a handler also
asserts nothing (QE101). Showing two or three diagnostics for one mistake reads as noise.
"""

from __future__ import annotations

from collections.abc import Sequence

from aqe.findings import Finding, Span
from aqe.parsing.document import ParsedDocument

SUBSUMED_BY: dict[str, tuple[str, ...]] = {
    "QE201": ("QE103",),
    "QE101": ("QE103",),
}
"""General rule -> the more specific rules that win when they report the same handler or test."""


def _test_function_span(document: ParsedDocument, finding: Finding) -> Span | None:
    """The whole function whose name a QE101 finding points at."""
    source = document.source
    start = source.byte_at_position(finding.span.start)
    node = document.tree.root_node.descendant_for_byte_range(start, start)
    while node is not None and node.type != "function_definition":
        node = node.parent
    return None if node is None else source.span_of_bytes(node.start_byte, node.end_byte)


def _covered(document: ParsedDocument, general: Finding, specific: Finding) -> bool:
    if general.rule_id == "QE101":
        function = _test_function_span(document, general)
        return function is not None and function.start <= specific.span.start and specific.span.end <= function.end
    return general.span.start.line == specific.span.start.line


def keep_most_specific(document: ParsedDocument, findings: Sequence[Finding]) -> list[Finding]:
    """`findings` of one document without those a more specific rule already reports."""
    by_rule: dict[str, list[Finding]] = {}
    for finding in findings:
        by_rule.setdefault(finding.rule_id, []).append(finding)
    kept: list[Finding] = []
    for finding in findings:
        winners = [w for rule in SUBSUMED_BY.get(finding.rule_id, ()) for w in by_rule.get(rule, ())]
        if not any(_covered(document, finding, winner) for winner in winners):
            kept.append(finding)
    return kept
