"""Coverage per function: which statements and branches of each function did not run, in the text
the user has now.

One result per function, not per line (a gutter full of red is noise; "3 lines of `apply_discount`
never ran" is a task). When the text changed since the measurement, lines are mapped by content
(difflib over per-line hashes): a line that is still there keeps its data, a changed line has none,
and the hint says it is stale. Without a record of the measured text, nothing is pointed at.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from tree_sitter import Node

from aqe.coverage.model import BranchCount, FileCoverage, hash_lines
from aqe.findings import Finding, FindingSource, Severity, Span
from aqe.parsing.document import ParsedDocument
from aqe.parsing.units import CodeUnit, UnitKind, is_test_file, iter_units

RULE_ID = "uncovered"
STALE_RULE_ID = "coverage-stale"


@dataclass(frozen=True)
class LineMap:
    """Measured line -> current line (both 1-based); `exact` when the text is unchanged."""

    exact: bool
    known: bool
    """False when the measured text is unknown and the file has changed: no line can be trusted."""
    forward: dict[int, int]
    changed_lines: int = 0


def map_lines(measured: tuple[str, ...] | None, current_text: str) -> LineMap:
    current = hash_lines(current_text)
    if measured is None:
        return LineMap(exact=False, known=False, forward={})
    if measured == current:
        return LineMap(exact=True, known=True, forward={n: n for n in range(1, len(current) + 1)})
    matcher = difflib.SequenceMatcher(None, measured, current, autojunk=False)
    forward: dict[int, int] = {}
    for block in matcher.get_matching_blocks():
        for offset in range(block.size):
            forward[block.a + offset + 1] = block.b + offset + 1
    changed = len(measured) - len(forward)
    return LineMap(exact=False, known=True, forward=forward, changed_lines=changed)


@dataclass(frozen=True)
class FunctionCoverage:
    name: str
    qualified_name: str
    kind: UnitKind
    name_span: Span
    span: Span
    statements: int
    covered: int
    missing_lines: tuple[int, ...]
    """0-based lines in the current text."""
    partial_branches: tuple[tuple[int, BranchCount], ...]
    """(0-based line, branch count) for branches where some ways out never ran."""
    branches_total: int
    branches_taken: int

    @property
    def percent(self) -> float:
        measured = self.statements + self.branches_total
        if measured == 0:
            return 100.0
        return 100.0 * (self.covered + self.branches_taken) / measured

    @property
    def has_gap(self) -> bool:
        return bool(self.missing_lines or self.partial_branches)


@dataclass(frozen=True)
class FileHints:
    path: str
    functions: tuple[FunctionCoverage, ...]
    stale: bool
    """The file changed since it was measured (lines were mapped by content)."""
    unknown: bool
    """The file changed and the measured text is unknown: no function is reported."""
    changed_lines: int
    measured_at: float | None
    source: str


def _body_start_line(node: Node, unit: CodeUnit) -> int:
    """0-based first line of the body: a Python `def` line runs when the module loads, so it belongs
    to the enclosing code, not to the function."""
    body = node.child_by_field_name("body")
    if body is None:
        value = node.child_by_field_name("value")  # JS `const f = () => ...`
        body = value.child_by_field_name("body") if value is not None else None
    return body.start_point[0] if body is not None else unit.span.start.line


_CALLABLE = (UnitKind.FUNCTION, UnitKind.METHOD)


def function_coverage(document: ParsedDocument, coverage: FileCoverage) -> FileHints:
    """Coverage of each function of `document` (tests and test files are not reported)."""
    line_map = map_lines(coverage.line_hashes, document.text)
    if coverage.line_hashes is None:
        # Unknown measured text: trust the data only when the file has not changed since.
        unknown = not _unchanged_since(document, coverage)
        if not unknown:
            line_map = LineMap(exact=True, known=True, forward={n: n for n in range(1, document.text.count("\n") + 2)})
    else:
        unknown = False
    stale = not line_map.exact
    base = FileHints(document.path, (), stale, unknown, line_map.changed_lines, coverage.measured_at, coverage.source)
    if unknown or is_test_file(document.path):
        return base

    executed = {line_map.forward[n] - 1 for n in coverage.executed if n in line_map.forward}
    missing = {line_map.forward[n] - 1 for n in coverage.missing if n in line_map.forward}
    branches = {line_map.forward[n] - 1: c for n, c in coverage.branches.items() if n in line_map.forward}

    units = [
        (unit, node, _body_start_line(node, unit)) for unit, node in iter_units(document) if unit.kind in _CALLABLE
    ]
    # Innermost first, so a nested function's lines are not counted in its parent.
    units.sort(key=lambda item: item[0].span.end.line - item[2])

    def owner(line: int) -> CodeUnit | None:
        for unit, _node, body_start in units:
            if body_start <= line <= unit.span.end.line:
                return unit
        return None

    ran: dict[CodeUnit, set[int]] = {unit: set() for unit, _, _ in units}
    missed: dict[CodeUnit, set[int]] = {unit: set() for unit, _, _ in units}
    owned_branches: dict[CodeUnit, list[tuple[int, BranchCount]]] = {unit: [] for unit, _, _ in units}
    for line in executed | missing:
        unit = owner(line)
        if unit is not None:
            (missed if line in missing else ran)[unit].add(line)
    for line, count in branches.items():
        unit = owner(line)
        if unit is not None:
            owned_branches[unit].append((line, count))
    results = []
    for unit, _node, _start in sorted(units, key=lambda item: item[0].span.start):
        own = owned_branches[unit]
        results.append(
            FunctionCoverage(
                name=unit.name,
                qualified_name=unit.qualified_name,
                kind=unit.kind,
                name_span=unit.name_span,
                span=unit.span,
                statements=len(ran[unit] | missed[unit]),
                covered=len(ran[unit]),
                missing_lines=tuple(sorted(missed[unit])),
                partial_branches=tuple(sorted((ln, c) for ln, c in own if c.taken < c.total)),
                branches_total=sum(c.total for _, c in own),
                branches_taken=sum(c.taken for _, c in own),
            )
        )
    return FileHints(
        document.path,
        tuple(r for r in results if r.statements or r.branches_total),
        stale,
        False,
        line_map.changed_lines,
        coverage.measured_at,
        coverage.source,
    )


def _unchanged_since(document: ParsedDocument, coverage: FileCoverage) -> bool:
    import os

    if coverage.measured_at is None:
        return True  # nothing says when it was measured: the data is all there is
    try:
        modified = os.stat(document.path).st_mtime
        with open(document.path, encoding="utf-8", errors="replace") as handle:
            on_disk = handle.read()
    except OSError:
        return False
    return modified <= coverage.measured_at + 1 and on_disk == document.text


def line_ranges(lines: Iterable[int]) -> str:
    """0-based lines -> "12-14, 20" in 1-based numbers, as people read them."""
    numbers = sorted({line + 1 for line in lines})
    ranges: list[str] = []
    start = previous = None
    for number in numbers:
        if start is None:
            start = previous = number
        elif previous is not None and number == previous + 1:
            previous = number
        else:
            ranges.append(f"{start}" if start == previous else f"{start}-{previous}")
            start = previous = number
    if start is not None:
        ranges.append(f"{start}" if start == previous else f"{start}-{previous}")
    return ", ".join(ranges)


def describe(function: FunctionCoverage, *, stale: bool) -> str:
    parts = []
    if function.missing_lines:
        count = len(function.missing_lines)
        noun = "statement" if function.statements == 1 else "statements"
        parts.append(
            f"{count} of {function.statements} {noun} never ran (line{'s' if count > 1 else ''} "
            f"{line_ranges(function.missing_lines)})"
        )
    if function.partial_branches:
        shown = ", ".join(f"line {line + 1}: {c.taken} of {c.total}" for line, c in function.partial_branches)
        count = len(function.partial_branches)
        parts.append(f"{count} branch{'es' if count > 1 else ''} only partly taken ({shown})")
    message = f"`{function.name}`: " + "; ".join(parts) + f"; {function.percent:.0f}% covered"
    if stale:
        message += " (stale: the file changed since coverage was measured; changed lines are not shown)"
    return message


def coverage_findings(hints: FileHints) -> list[Finding]:
    """One finding per function with a gap; or one notice when the data cannot be placed at all."""
    if hints.unknown:
        return [
            Finding(
                path=hints.path,
                span=Span.of(0, 0, 0, 0),
                rule_id=STALE_RULE_ID,
                severity=Severity.INFO,
                message="coverage data is older than this file and aqe does not know the measured text; "
                "re-run the tests with coverage to see what is not covered",
                source=FindingSource.COVERAGE,
            )
        ]
    return [
        Finding(
            path=hints.path,
            span=function.name_span,
            rule_id=RULE_ID,
            severity=Severity.INFO,
            message=describe(function, stale=hints.stale),
            source=FindingSource.COVERAGE,
            confidence=0.7 if hints.stale else 1.0,
        )
        for function in hints.functions
        if function.has_gap
    ]
