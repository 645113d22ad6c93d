"""The one type every feature reports through: diagnostics, SARIF, JSON and text all read `Finding`.

Positions are 0-based lines and UTF-16 code-unit columns, the unit LSP and SARIF both default to,
so no consumer has to convert (the conversion happens once, in `aqe.parsing.source`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    HINT = "hint"

    @property
    def rank(self) -> int:
        """Higher is more severe; used for `--fail-on` and sorting."""
        return {"error": 3, "warning": 2, "info": 1, "hint": 0}[self.value]

    @classmethod
    def parse(cls, value: str) -> Severity:
        try:
            return cls(value.strip().lower())
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown severity {value!r} (expected one of: {names})") from None


class FindingSource(str, enum.Enum):
    RULE = "rule"
    MODEL = "model"
    COVERAGE = "coverage"
    FLAKY = "flaky"
    CONVENTION = "convention"


@dataclass(frozen=True, order=True)
class Position:
    line: int
    character: int


@dataclass(frozen=True, order=True)
class Span:
    start: Position
    end: Position

    @classmethod
    def of(cls, start_line: int, start_char: int, end_line: int, end_char: int) -> Span:
        return cls(Position(start_line, start_char), Position(end_line, end_char))

    def overlaps(self, other: Span) -> bool:
        """True when the spans share a position (touching ends count: a cursor at a word's end is on it)."""
        return not (self.end < other.start or other.end < self.start)


@dataclass(frozen=True)
class TextEdit:
    span: Span
    new_text: str


@dataclass(frozen=True)
class Fix:
    """A quick fix: edits to the finding's own file that remove the finding when applied."""

    title: str
    edits: tuple[TextEdit, ...]


class FindingTag(str, enum.Enum):
    """Extra meaning an editor can render (faded unreachable code, struck-through deprecations)."""

    UNNECESSARY = "unnecessary"
    DEPRECATED = "deprecated"


@dataclass(frozen=True)
class Finding:
    path: str
    span: Span
    rule_id: str
    severity: Severity
    message: str
    source: FindingSource = FindingSource.RULE
    fix: Fix | None = None
    confidence: float = 1.0
    tags: tuple[FindingTag, ...] = field(default=())

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.span.start.line, self.span.start.character, self.rule_id)
