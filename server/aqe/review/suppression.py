"""Inline suppressions: `# aqe: ignore[QE101]` (or `// aqe: ignore[...]`) on a finding's first line.

A bare `aqe: ignore` silences every rule on that line. The "Ignore here" code action writes the
same marker, so a person can always see and remove what was silenced.
"""

from __future__ import annotations

import re

from aqe.findings import Finding, Position, Span, TextEdit
from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language

_MARKER = re.compile(r"(?P<lead>#|//)\s*aqe:\s*ignore(?:\[(?P<rules>[^\]]*)\])?", re.IGNORECASE)


def _listed(rules: str) -> list[str]:
    return [item.strip() for item in rules.split(",") if item.strip()]


def is_suppressed(document: ParsedDocument, finding: Finding, rule_name: str | None = None) -> bool:
    line = finding.span.start.line
    if line >= document.source.line_count:
        return False
    match = _MARKER.search(document.source.line_text(line))
    if match is None:
        return False
    if match.group("rules") is None:
        return True
    wanted = {item.lower() for item in _listed(match.group("rules"))}
    return finding.rule_id.lower() in wanted or (rule_name is not None and rule_name.lower() in wanted)


def suppression_edit(document: ParsedDocument, finding: Finding) -> TextEdit:
    """The edit that adds this finding's rule to the line's marker, creating the marker if needed."""
    line = finding.span.start.line
    text = document.source.line_text(line)
    match = _MARKER.search(text)
    utf16 = len(text.encode("utf-16-le")) // 2
    if match is not None and match.group("rules") is not None:
        rules = [*_listed(match.group("rules")), finding.rule_id]
        start = len(text[: match.start("rules")].encode("utf-16-le")) // 2
        end = len(text[: match.end("rules")].encode("utf-16-le")) // 2
        return TextEdit(Span(Position(line, start), Position(line, end)), ", ".join(rules))
    lead = "#" if document.language is Language.PYTHON else "//"
    spacing = "  " if lead == "#" else " "
    marker = f"{spacing}{lead} aqe: ignore[{finding.rule_id}]"
    end_of_line = Position(line, utf16)
    return TextEdit(Span(end_of_line, end_of_line), marker)
