"""Inline suppressions: `# aqe: ignore[QE101]` (or `// aqe: ignore[...]`) on a finding's first line,
and the team's own suppressions of the same check in other tools on that line.

A bare `aqe: ignore` silences every rule on that line. The "Ignore here" code action writes the
same marker, so a person can always see and remove what was silenced. A team that already wrote
`# noqa: BLE001` or `# pylint: disable=broad-except` over a deliberate catch-all has reviewed that
line; reporting it again under another name is noise. `EQUIVALENT_SUPPRESSIONS` lists, per rule,
the other tools' codes that mean the same check (docs/rules.md shows the table); a bare `# noqa`
counts for every rule that has a ruff/flake8 equivalent, as it silences those tools entirely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aqe.findings import Finding, Position, Span, TextEdit
from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language

_MARKER = re.compile(r"(?P<lead>#|//)\s*aqe:\s*ignore(?:\[(?P<rules>[^\]]*)\])?", re.IGNORECASE)
_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
_PYLINT = re.compile(r"#\s*pylint\s*:\s*disable\s*=\s*(?P<names>[\w\-]+(?:\s*,\s*[\w\-]+)*)", re.IGNORECASE)
_ESLINT = re.compile(r"//\s*eslint-disable-(?:next-)?line\b(?P<names>[^\n]*)", re.IGNORECASE)


@dataclass(frozen=True)
class Equivalents:
    """Other tools' names for the check a rule makes: ruff/flake8 codes, pylint and eslint names."""

    noqa: tuple[str, ...] = ()
    pylint: tuple[str, ...] = ()
    eslint: tuple[str, ...] = ()


EQUIVALENT_SUPPRESSIONS: dict[str, Equivalents] = {
    "QE103": Equivalents(
        noqa=("BLE001", "S110", "S112", "E722", "SIM105"),
        pylint=("broad-except", "broad-exception-caught", "bare-except", "W0703", "W0718", "W0702"),
    ),
    "QE107": Equivalents(noqa=("F631",), pylint=("assert-on-tuple", "W0199")),
    "QE109": Equivalents(noqa=("PT011", "PT012")),
    "QE201": Equivalents(
        noqa=("BLE001", "S110", "S112", "E722", "SIM105"),
        pylint=("broad-except", "broad-exception-caught", "bare-except", "W0703", "W0718", "W0702"),
    ),
    "QE202": Equivalents(noqa=("B006",), pylint=("dangerous-default-value", "W0102")),
    "QE203": Equivalents(noqa=("C901",), pylint=("too-complex", "R1260")),
    "QE204": Equivalents(pylint=("unreachable", "W0101")),
    "QE205": Equivalents(
        noqa=("FIX001", "FIX002", "FIX003", "FIX004", "TD001", "TD002", "TD003", "TD004", "TD005"),
        pylint=("fixme", "W0511"),
    ),
    "QE301": Equivalents(eslint=("jest/expect-expect", "vitest/expect-expect")),
    "QE302": Equivalents(eslint=("jest/no-focused-tests", "vitest/no-focused-tests", "mocha/no-exclusive-tests")),
}


def _listed(rules: str) -> list[str]:
    return [item.strip() for item in rules.split(",") if item.strip()]


def _other_tool_silences(line: str, previous_line: str, equivalents: Equivalents) -> bool:
    noqa = _NOQA.search(line)
    if noqa is not None and equivalents.noqa:
        codes = noqa.group("codes")
        if codes is None or {c.upper() for c in re.split(r"[\s,]+", codes) if c} & set(equivalents.noqa):
            return True
    pylint = _PYLINT.search(line)
    if pylint is not None and {n.strip().lower() for n in pylint.group("names").split(",")} & {
        name.lower() for name in equivalents.pylint
    }:
        return True
    if equivalents.eslint:
        for text, kind in ((line, "line"), (previous_line, "next-line")):
            match = _ESLINT.search(text)
            if match is None or f"disable-{kind}" not in match.group(0).lower():
                continue
            names = match.group("names").split("--", 1)[0]
            listed = {n.strip() for n in names.split(",") if n.strip()}
            if not listed or listed & set(equivalents.eslint):
                return True
    return False


def is_suppressed(document: ParsedDocument, finding: Finding, rule_name: str | None = None) -> bool:
    line = finding.span.start.line
    if line >= document.source.line_count:
        return False
    text = document.source.line_text(line)
    equivalents = EQUIVALENT_SUPPRESSIONS.get(finding.rule_id)
    if equivalents is not None:
        previous = document.source.line_text(line - 1) if line > 0 else ""
        if _other_tool_silences(text, previous, equivalents):
            return True
    match = _MARKER.search(text)
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
