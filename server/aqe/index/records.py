"""From parsed files and knowledge entries to index records plus the text each one is embedded from."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from aqe.index.knowledge import KNOWLEDGE_KIND, KnowledgeEntry
from aqe.index.store import IndexRecord
from aqe.parsing.document import ParsedDocument
from aqe.parsing.units import CodeUnit, UnitKind, iter_units

CODE_CATEGORY = "code"
TESTS_CATEGORY = "code/tests"
SOURCE_CATEGORY = "code/source"
MODULES_CATEGORY = "code/modules"

_PREVIEW_LINES = 12
_PREVIEW_CHARS = 1200
_MODULE_HEADER_CHARS = 3000
"""A module is embedded from its start (docstring, imports, constants), not its whole body: its
functions and classes are units of their own."""
_MAX_UNIT_CHARS = 16_000


@dataclass(frozen=True)
class PreparedRecord:
    record: IndexRecord
    embedding_text: str


def category_of(unit: CodeUnit) -> str:
    if unit.kind is UnitKind.MODULE:
        return MODULES_CATEGORY
    return TESTS_CATEGORY if unit.kind.is_test else SOURCE_CATEGORY


def unit_text(document: ParsedDocument, unit: CodeUnit) -> str:
    data = document.source.data[unit.start_byte : unit.end_byte]
    if unit.kind in (UnitKind.CLASS, UnitKind.TEST_CLASS):
        return _class_outline(data.decode("utf-8", errors="replace"))[:_MAX_UNIT_CHARS]
    limit = _MODULE_HEADER_CHARS if unit.kind is UnitKind.MODULE else _MAX_UNIT_CHARS
    return data[: limit * 4].decode("utf-8", errors="replace")[:limit]


def _class_outline(text: str) -> str:
    """A class as its header, docstring, class-level lines and method signatures: its methods are
    units of their own, and embedding their bodies twice would double the cost of a scan."""
    lines = text.splitlines()
    kept: list[str] = []
    body_indent: int | None = None
    in_method = False
    method_indent = 0
    for line in lines:
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if not stripped:
            continue
        if in_method and indent > method_indent:
            continue
        in_method = False
        if body_indent is None and kept:
            body_indent = indent
        if stripped.startswith(("def ", "async def ")) and body_indent is not None and indent == body_indent:
            kept.append(line)
            in_method, method_indent = True, indent
            continue
        kept.append(line)
    return "\n".join(kept)


def records_for_document(document: ParsedDocument, relative_path: str) -> list[PreparedRecord]:
    """One record per unit (module, classes, functions, methods, tests). Keys are stable across edits
    that do not rename a unit; a repeated name in one file gets `#2`, `#3`, ..."""
    prepared: list[PreparedRecord] = []
    seen: dict[str, int] = {}
    for unit, _node in iter_units(document):
        base_key = f"{relative_path}::{unit.qualified_name}"
        if unit.kind is UnitKind.MODULE:
            base_key = f"{relative_path}::"
        seen[base_key] = seen.get(base_key, 0) + 1
        key = base_key if seen[base_key] == 1 else f"{base_key}#{seen[base_key]}"
        text = unit_text(document, unit)
        embedding_text = f"{unit.qualified_name}\n{text}"
        content_hash = hashlib.sha1(f"{unit.kind.value}\x1f{embedding_text}".encode()).hexdigest()
        record = IndexRecord(
            key=key,
            path=relative_path,
            kind=unit.kind.value,
            symbol=unit.qualified_name,
            category=category_of(unit),
            content_hash=content_hash,
            language=unit.language.value,
            start_line=unit.span.start.line,
            start_character=unit.span.start.character,
            end_line=unit.span.end.line,
            end_character=unit.span.end.character,
            text=_preview(text),
        )
        prepared.append(PreparedRecord(record, embedding_text))
    return prepared


def record_for_knowledge(entry: KnowledgeEntry) -> PreparedRecord:
    record = IndexRecord(
        key=entry.key,
        path=entry.source,
        kind=KNOWLEDGE_KIND,
        symbol=entry.title,
        category=entry.category,
        content_hash=entry.content_hash,
        text=f"{entry.title}\n\n{entry.body}",
    )
    return PreparedRecord(record, entry.embedding_text)


def _preview(text: str) -> str:
    lines = text.splitlines()[:_PREVIEW_LINES]
    return "\n".join(lines)[:_PREVIEW_CHARS]
