"""Feedback nobody clicks: a finding without a quick fix that goes away because someone edited its code
was fixed by hand, which is an acceptance.

Without this, a wanted rule with no quick fix could only ever collect rejections (the odd mistaken
"Not our standard"), and its estimate would only fall. A finding counts as fixed by hand when, between
two analyses of the same document, it disappeared while the function (or class) it was in is still
there, the line it was on no longer is, and no `aqe: ignore` marker silenced it. A finding with a fix
is left to "Apply fix", which records its own acceptance; an edit that makes more than a few findings
vanish at once (a deletion, a paste, a revert) says nothing about any one of them and counts for none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aqe.findings import Finding, FindingSource, Position
from aqe.parsing.document import ParsedDocument
from aqe.parsing.units import CodeUnit, UnitKind, extract_units

MAX_AT_ONCE = 3
_LEARNED = (FindingSource.RULE, FindingSource.CONVENTION)


@dataclass(frozen=True)
class Seen:
    """A finding as one analysis saw it: its rule, the unit it was in and its line's text."""

    rule_id: str
    unit: str
    line_text: str


def seen_findings(document: ParsedDocument, findings: Iterable[Finding]) -> dict[Seen, Finding]:
    candidates = [f for f in findings if f.source in _LEARNED and f.fix is None]
    if not candidates:
        return {}
    units = [u for u in extract_units(document) if u.kind is not UnitKind.MODULE]
    seen = {}
    for finding in candidates:
        unit = _innermost(units, finding.span.start)
        if unit is None:
            continue
        line = finding.span.start.line
        text = document.source.line_text(line).strip() if line < document.source.line_count else ""
        if text:
            seen[Seen(finding.rule_id, unit.qualified_name, text)] = finding
    return seen


def fixed_by_hand(
    before: Mapping[Seen, Finding], after: Mapping[Seen, Finding], document: ParsedDocument
) -> list[Finding]:
    """The findings of `before` that the edit leading to `document` fixed by hand."""
    vanished = [key for key in before if key not in after]
    if not vanished or len(vanished) > MAX_AT_ONCE:
        return []
    units = {u.qualified_name: u for u in extract_units(document) if u.kind is not UnitKind.MODULE}
    lines = [line.strip() for line in document.text.splitlines()]
    fixed = []
    for key in vanished:
        unit = units.get(key.unit)
        if unit is None:
            continue  # the whole function went: deleted or renamed, not fixed
        inside = lines[unit.span.start.line : unit.span.end.line + 1]
        if key.line_text in inside:
            continue  # the line is still there: hidden or moved, not fixed
        if any(key.line_text in line and "aqe:" in line and "ignore" in line for line in lines):
            continue  # silenced with a marker ("Ignore here")
        fixed.append(before[key])
    return fixed


def _innermost(units: list[CodeUnit], position: Position) -> CodeUnit | None:
    best = None
    for unit in units:
        if unit.span.start <= position <= unit.span.end and (best is None or unit.span.start >= best.span.start):
            best = unit
    return best
