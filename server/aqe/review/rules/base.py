"""What a review rule is: stable metadata plus a `check` over one parsed document.

Rules are deterministic and tree-sitter based. They report through `RuleContext.report`, which
builds the `Finding` (path, UTF-16 span, default severity); the engine applies the user's
severity overrides and inline suppressions afterwards, so rules never read settings for that.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from tree_sitter import Node

from aqe.findings import Finding, FindingSource, FindingTag, Fix, Severity, Span, TextEdit
from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language
from aqe.parsing.units import CodeUnit, iter_units
from aqe.review.confidence import confidence


@dataclass(frozen=True)
class RuleInfo:
    """Stable metadata: `id` (e.g. QE101) and `name` never change once released."""

    id: str
    name: str
    default_severity: Severity
    languages: frozenset[Language]
    summary: str
    """One line for the docs table and the diagnostic's explanation."""
    rationale: str
    """Why it matters and what to do instead (the documentation paragraph)."""
    has_fix: bool = False


class ComplexityCounting(str, enum.Enum):
    """How QE203 counts: McCabe's graph count (ruff C901, flake8), or radon's wider count."""

    MCCABE = "mccabe"
    EXTENDED = "extended"


@dataclass(frozen=True)
class RuleOptions:
    """The settings rules may read (thresholds only; severities are applied by the engine)."""

    max_complexity: int = 10
    complexity_counting: ComplexityCounting = ComplexityCounting.MCCABE


@dataclass
class RuleContext:
    document: ParsedDocument
    options: RuleOptions = field(default_factory=RuleOptions)
    _units: list[tuple[CodeUnit, Node]] | None = None
    _nodes: list[Node] | None = None
    _nodes_by_type: dict[str, list[Node]] | None = None

    @property
    def nodes(self) -> list[Node]:
        """Every node of the tree in document order, walked once and shared by every rule.

        A Python-level walk of a 2,000-line file costs about as much as parsing it; five rules
        walking it each would dominate the time from keystroke to diagnostics.
        """
        if self._nodes is None:
            self._nodes = list(walk(self.document.tree.root_node))
        return self._nodes

    def nodes_of_type(self, *types: str) -> list[Node]:
        """The nodes of the given types, in document order."""
        if self._nodes_by_type is None:
            index: dict[str, list[Node]] = {}
            for node in self.nodes:
                index.setdefault(node.type, []).append(node)
            self._nodes_by_type = index
        if len(types) == 1:
            return self._nodes_by_type.get(types[0], [])
        found = [node for kind in types for node in self._nodes_by_type.get(kind, [])]
        found.sort(key=lambda node: node.start_byte)
        return found

    @property
    def units(self) -> list[tuple[CodeUnit, Node]]:
        """Units with their nodes, computed once per document and shared by every rule."""
        if self._units is None:
            self._units = list(iter_units(self.document))
        return self._units

    def span(self, node: Node) -> Span:
        return self.document.source.span_of_bytes(node.start_byte, node.end_byte)

    def edit(self, start_byte: int, end_byte: int, new_text: str) -> TextEdit:
        return TextEdit(self.document.source.span_of_bytes(start_byte, end_byte), new_text)

    def report(
        self,
        rule: RuleInfo,
        where: Node | Span,
        message: str,
        *,
        fix: Fix | None = None,
        tags: tuple[FindingTag, ...] = (),
        evidence: float = 0.0,
    ) -> Finding:
        """`evidence` shifts the rule's measured prior in log-odds (see `aqe.review.confidence`)."""
        span = where if isinstance(where, Span) else self.span(where)
        return Finding(
            path=self.document.path,
            span=span,
            rule_id=rule.id,
            severity=rule.default_severity,
            message=message,
            source=FindingSource.RULE,
            fix=fix,
            tags=tags,
            confidence=confidence(rule.id, evidence),
        )


class Rule(abc.ABC):
    info: ClassVar[RuleInfo]

    @abc.abstractmethod
    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        """Yield the findings of this rule in `ctx.document`; must not raise on broken syntax."""


def node_text(node: Node | None) -> str:
    return node.text.decode("utf-8", errors="replace") if node is not None and node.text else ""


def walk(node: Node) -> Iterator[Node]:
    """Every descendant of `node` (itself included), depth first, without recursion limits."""
    cursor = node.walk()
    visited_children = False
    while True:
        if not visited_children:
            yield cursor.node  # type: ignore[misc]
            if cursor.goto_first_child():
                continue
        if cursor.goto_next_sibling():
            visited_children = False
            continue
        if not cursor.goto_parent() or cursor.node == node:
            return
        visited_children = True
