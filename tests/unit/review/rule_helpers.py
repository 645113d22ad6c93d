"""Helpers for rule tests: parse a snippet, run one rule, apply a fix and check what it left."""

from __future__ import annotations

import itertools
import textwrap

from aqe.findings import Finding, Fix, Span
from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language
from aqe.review.rules.base import Rule, RuleContext


def python_doc(text: str, path: str = "tests/test_orders.py") -> ParsedDocument:
    return ParsedDocument.parse(path, textwrap.dedent(text), Language.PYTHON)


def js_doc(text: str, path: str = "src/cart.test.ts", language: Language = Language.TYPESCRIPT) -> ParsedDocument:
    return ParsedDocument.parse(path, textwrap.dedent(text), language)


def run(rule: type[Rule], doc: ParsedDocument) -> list[Finding]:
    return list(rule().check(RuleContext(doc)))


def covered_text(doc: ParsedDocument, span: Span) -> str:
    """The source text a span covers, read back through the UTF-16 positions."""
    start = doc.source.byte_at_position(span.start)
    end = doc.source.byte_at_position(span.end)
    return doc.source.data[start:end].decode("utf-8")


def apply_fix(doc: ParsedDocument, fix: Fix) -> str:
    """Apply non-overlapping edits from last to first, so earlier offsets stay valid."""
    data = doc.source.data
    spans = [(doc.source.byte_at_position(e.span.start), doc.source.byte_at_position(e.span.end), e) for e in fix.edits]
    spans.sort(key=lambda item: (item[0], item[1]))
    for (_, previous_end, _), (next_start, _, _) in itertools.pairwise(spans):
        assert previous_end <= next_start, "fix edits overlap"
    for start, end, edit in reversed(spans):
        data = data[:start] + edit.new_text.encode("utf-8") + data[end:]
    return data.decode("utf-8")


def fixed(rule: type[Rule], doc: ParsedDocument, finding: Finding) -> tuple[str, list[Finding]]:
    """The text after applying `finding`'s fix and what `rule` still reports there.

    Fails the test when the fix is missing or produces code that does not parse.
    """
    assert finding.fix is not None, f"{finding.rule_id} offered no fix"
    text = apply_fix(doc, finding.fix)
    after = ParsedDocument.parse(doc.path, text, doc.language)
    assert not after.has_syntax_errors, f"fix produced broken code:\n{text}"
    return text, run(rule, after)
