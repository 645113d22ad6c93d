"""Text with its line table: converts between byte offsets (tree-sitter) and UTF-16 positions (LSP).

tree-sitter counts columns in UTF-8 bytes; LSP and SARIF count UTF-16 code units. An emoji is 4
bytes, 2 UTF-16 units and 1 Python character, so every conversion goes through this one class.
Line breaks are `\\n`, `\\r\\n` and a lone `\\r`, as the LSP specification defines them.
"""

from __future__ import annotations

import bisect
import re
from functools import cached_property

from aqe.findings import Position, Span

_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class SourceText:
    """Immutable text plus its UTF-8 bytes and line starts."""

    __slots__ = ("__dict__", "data", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.data = text.encode("utf-8", errors="surrogatepass")

    @cached_property
    def line_starts(self) -> list[int]:
        """Byte offset at which each line starts."""
        return [0, *(match.end() for match in _LINE_BREAK.finditer(self.data))]

    @property
    def line_count(self) -> int:
        return len(self.line_starts)

    def line_end_byte(self, line: int) -> int:
        """Byte offset of the end of `line`, before its line break."""
        starts = self.line_starts
        if line + 1 < len(starts):
            end = starts[line + 1]
            if end > 0 and self.data[end - 1] == 0x0A:
                end -= 1
            if end > starts[line] and self.data[end - 1] == 0x0D:
                end -= 1
            return end
        return len(self.data)

    def line_bytes(self, line: int) -> bytes:
        return self.data[self.line_starts[line] : self.line_end_byte(line)]

    def line_text(self, line: int) -> str:
        return self.line_bytes(line).decode("utf-8", errors="replace")

    def position_at_byte(self, offset: int) -> Position:
        offset = max(0, min(offset, len(self.data)))
        line = bisect.bisect_right(self.line_starts, offset) - 1
        return self.position_at_point(line, offset - self.line_starts[line])

    def position_at_point(self, row: int, byte_column: int) -> Position:
        """Convert a tree-sitter point (row, byte column) to an LSP position."""
        if row >= self.line_count:
            last = self.line_count - 1
            return Position(last, _utf16_len(self.line_text(last)))
        prefix = self.line_bytes(row)[:byte_column]
        return Position(row, _utf16_len(prefix.decode("utf-8", errors="replace")))

    def byte_at_position(self, position: Position) -> int:
        """Convert an LSP position to a byte offset, clamping past-the-end positions as LSP asks."""
        if position.line < 0:
            return 0
        if position.line >= self.line_count:
            return len(self.data)
        line_text = self.line_text(position.line)
        start = self.line_starts[position.line]
        units = 0
        consumed = 0
        for ch in line_text:
            if units >= position.character:
                break
            units += 2 if ord(ch) > 0xFFFF else 1
            consumed += len(ch.encode("utf-8", errors="surrogatepass"))
        return start + consumed

    def point_at_byte(self, offset: int) -> tuple[int, int]:
        """tree-sitter point (row, byte column) of a byte offset."""
        line = bisect.bisect_right(self.line_starts, offset) - 1
        return (line, offset - self.line_starts[line])

    def span_of_bytes(self, start: int, end: int) -> Span:
        return Span(self.position_at_byte(start), self.position_at_byte(end))

    def end_position(self) -> Position:
        return self.position_at_byte(len(self.data))
