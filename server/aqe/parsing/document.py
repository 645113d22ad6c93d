"""A parsed source file that can be edited incrementally (tree.edit + reparse with the old tree)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tree_sitter import Tree

from aqe.findings import Span
from aqe.parsing.languages import Language, parser_for
from aqe.parsing.source import SourceText


@dataclass(frozen=True)
class ContentChange:
    """One LSP content change: replace `span` (or the whole text when None) by `text`."""

    span: Span | None
    text: str


class ParsedDocument:
    """Source text, its language and its syntax tree. Editing returns a new document."""

    __slots__ = ("language", "path", "source", "tree", "version")

    def __init__(
        self, path: str, language: Language, source: SourceText, tree: Tree, version: int | None = None
    ) -> None:
        self.path = path
        self.language = language
        self.source = source
        self.tree = tree
        self.version = version

    @classmethod
    def parse(cls, path: str, text: str, language: Language, version: int | None = None) -> ParsedDocument:
        source = SourceText(text)
        tree = parser_for(language).parse(source.data)
        return cls(path, language, source, tree, version)

    @property
    def text(self) -> str:
        return self.source.text

    @property
    def has_syntax_errors(self) -> bool:
        return self.tree.root_node.has_error

    def edited(self, changes: Iterable[ContentChange], version: int | None = None) -> ParsedDocument:
        """Apply LSP content changes in order, re-using the old tree for an incremental parse."""
        tree = self.tree.copy()  # edit a copy: this document stays valid for readers holding it
        full_reparse = False

        def on_edit(before: SourceText, after: SourceText, start: int, old_end: int, new_end: int) -> None:
            tree.edit(
                start_byte=start,
                old_end_byte=old_end,
                new_end_byte=new_end,
                start_point=before.point_at_byte(start),
                old_end_point=before.point_at_byte(old_end),
                new_end_point=after.point_at_byte(new_end),
            )

        def on_replace() -> None:
            nonlocal full_reparse
            full_reparse = True

        source = apply_content_changes(self.source, changes, on_edit, on_replace)
        parser = parser_for(self.language)
        new_tree = parser.parse(source.data) if full_reparse else parser.parse(source.data, tree)
        return ParsedDocument(self.path, self.language, source, new_tree, version)


EditCallback = Callable[[SourceText, SourceText, int, int, int], None]


def apply_content_changes(
    source: SourceText,
    changes: Iterable[ContentChange],
    on_edit: EditCallback | None = None,
    on_replace: Callable[[], None] | None = None,
) -> SourceText:
    """The text after LSP content changes; callbacks see each ranged edit in byte offsets."""
    replaced = False
    for change in changes:
        if change.span is None:
            source = SourceText(change.text)
            replaced = True
            if on_replace is not None:
                on_replace()
            continue
        start = source.byte_at_position(change.span.start)
        old_end = max(start, source.byte_at_position(change.span.end))
        new_bytes = change.text.encode("utf-8", errors="surrogatepass")
        data = source.data[:start] + new_bytes + source.data[old_end:]
        after = SourceText(data.decode("utf-8", errors="surrogatepass"))
        if on_edit is not None and not replaced:
            on_edit(source, after, start, old_end, start + len(new_bytes))
        source = after
    return source
