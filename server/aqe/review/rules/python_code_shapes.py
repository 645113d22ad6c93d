"""Small shapes shared by the defect-prone-code rules: statements, line geometry, message snippets."""

from __future__ import annotations

import re

from tree_sitter import Node

from aqe.parsing.languages import Language
from aqe.parsing.source import SourceText
from aqe.review.rules.base import RuleContext

_PYTHON = frozenset({Language.PYTHON})
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_MESSAGE_SNIPPET = 80


def _is_python(ctx: RuleContext) -> bool:
    return ctx.document.language is Language.PYTHON


def _statements(block: Node) -> list[Node]:
    return [child for child in block.named_children if child.type != "comment"]


def _first_child_of_type(node: Node, type_name: str) -> Node | None:
    for child in node.children:
        if child.type == type_name:
            return child
    return None


def _snippet(text: str, limit: int = _MESSAGE_SNIPPET) -> str:
    """Collapse whitespace so a multi-line construct reads as one line in a diagnostic."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _line_break_of(source: SourceText, row: int) -> str:
    """The break ending `row`, else the file's first one: inserted lines must match the file."""
    end = source.line_end_byte(row)
    following = source.data[end : end + 2]
    if following.startswith(b"\r\n"):
        return "\r\n"
    if following[:1] in (b"\r", b"\n"):
        return following[:1].decode("ascii")
    first = _LINE_BREAK.search(source.data)
    return first.group().decode("ascii") if first else "\n"


def _leading_whitespace(source: SourceText, row: int) -> str:
    line = source.line_text(row)
    return line[: len(line) - len(line.lstrip(" \t"))]


def _start_row(source: SourceText, node: Node) -> int:
    """Rows from our line table, not tree-sitter's points, which know only `\\n` as a line break."""
    return source.point_at_byte(node.start_byte)[0]


def _end_row(source: SourceText, node: Node) -> int:
    return source.point_at_byte(node.end_byte)[0]


def _starts_its_line(source: SourceText, node: Node) -> bool:
    row, column = source.point_at_byte(node.start_byte)
    return not source.line_bytes(row)[:column].strip()
