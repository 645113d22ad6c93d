import random

import pytest

from aqe.findings import Span
from aqe.parsing.document import ContentChange, ParsedDocument
from aqe.parsing.languages import Language

SAMPLE = '''import os


def greet(name: str) -> str:
    """Say hello. 😀"""
    return f"hello {name}"\r\n

class Greeter:
    def run(self, names=None):
        for name in names or []:
            print(greet(name))
'''


def _span_of(doc: ParsedDocument, start: int, end: int) -> Span:
    return doc.source.span_of_bytes(start, end)


def test_an_edit_reparses_incrementally_to_the_same_tree_as_a_fresh_parse():
    doc = ParsedDocument.parse("m.py", SAMPLE, Language.PYTHON)
    start = doc.source.data.index(b"greet")
    edited = doc.edited([ContentChange(_span_of(doc, start, start + 5), "welcome")], version=2)
    fresh = ParsedDocument.parse("m.py", edited.text, Language.PYTHON)
    assert "def welcome(name: str)" in edited.text
    assert str(edited.tree.root_node) == str(fresh.tree.root_node)
    assert edited.version == 2


def test_editing_leaves_the_original_document_untouched():
    doc = ParsedDocument.parse("m.py", SAMPLE, Language.PYTHON)
    before = str(doc.tree.root_node)
    doc.edited([ContentChange(_span_of(doc, 0, 6), "# ")])
    assert doc.text == SAMPLE
    assert str(doc.tree.root_node) == before


def test_a_change_without_range_replaces_the_whole_text():
    doc = ParsedDocument.parse("m.py", SAMPLE, Language.PYTHON)
    edited = doc.edited([ContentChange(None, "x = 1\n")])
    assert edited.text == "x = 1\n"
    assert not edited.has_syntax_errors


def test_several_changes_in_one_notification_apply_in_order():
    doc = ParsedDocument.parse("m.py", "a = 1\n", Language.PYTHON)
    edited = doc.edited(
        [
            ContentChange(Span.of(0, 0, 0, 1), "bb"),  # "bb = 1"
            ContentChange(Span.of(0, 5, 0, 6), "22"),  # "bb = 22"
        ]
    )
    assert edited.text == "bb = 22\n"


@pytest.mark.parametrize(("language", "edits"), [(Language.PYTHON, 10_000), (Language.TYPESCRIPT, 2_000)])
def test_random_edits_then_their_inverses_restore_the_original(language, edits):
    """Each edit is undone in reverse order, as an editor's undo stack would, through the LSP path."""
    rng = random.Random(20261125)
    original = SAMPLE if language is Language.PYTHON else "const a = (x: number) => x * 2; // é😀\r\n"
    doc = ParsedDocument.parse("m", original, language)
    undo: list[ContentChange] = []
    alphabet = ["x", " ", "\n", "\r\n", "😀", "é", "(", ")", ":", "def ", "'"]
    for _ in range(edits):
        data = doc.source.data
        start = rng.randint(0, len(data))
        end = min(len(data), start + rng.randint(0, 4))
        while 0 < start < len(data) and (data[start] & 0xC0) == 0x80:
            start -= 1
        while end < len(data) and (data[end] & 0xC0) == 0x80:
            end += 1
        if start < len(data) and data[start] == 0x0A and start > 0 and data[start - 1] == 0x0D:
            start -= 1  # never split a CRLF pair: LSP positions cannot address its middle
        if end < len(data) and data[end] == 0x0A and end > 0 and data[end - 1] == 0x0D:
            end += 1
        end = max(start, end)
        removed = data[start:end].decode("utf-8")
        inserted = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 3)))
        span = doc.source.span_of_bytes(start, end)
        doc = doc.edited([ContentChange(span, inserted)])
        inserted_end = start + len(inserted.encode("utf-8"))
        undo.append(ContentChange(doc.source.span_of_bytes(start, inserted_end), removed))
    for change in reversed(undo):
        doc = doc.edited([change])
    assert doc.text == original
    assert str(doc.tree.root_node) == str(ParsedDocument.parse("m", original, language).tree.root_node)
