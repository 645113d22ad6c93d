"""Inputs mined from the code under test: the values that make its own logic run.

A placeholder such as `"abc"` rarely reaches the code that does the work: the underscore a function
replaces, the suffixes in its rule table, the boundary of its comparison. So the function's body and
the bodies of the same-module functions it calls are read for what they look at (literals, regular
expressions, the module-level tables they read, `endswith`/`in` operands, `len(x) < n`), and each is
turned into a value that reaches it: a string that contains the separator, one that matches the
pattern, the table's keys, strings on both sides of a length boundary. Nothing here runs the code;
the probe decides which of these values are worth a test (see aqe.testgen.probe).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from tree_sitter import Node

from aqe.parsing.document import ParsedDocument
from aqe.review.rules.base import node_text, walk
from aqe.testgen.regex_samples import regex_samples

MAX_STRINGS = 40
MAX_NUMBERS = 40
_MAX_LENGTH = 80
_CALLEE_DEPTH = 2
_REGEX_FUNCTIONS = frozenset({"compile", "sub", "subn", "match", "search", "fullmatch", "findall", "finditer", "split"})
_AFFIX_METHODS = frozenset({"endswith", "startswith", "removesuffix", "removeprefix"})
_SEPARATOR_METHODS = frozenset({"replace", "split", "rsplit", "partition", "rpartition", "count", "find", "index"})
_TABLE_TYPES = frozenset({"dictionary", "list", "tuple", "set", "call", "binary_operator", "list_comprehension",
                          "set_comprehension", "dictionary_comprehension", "generator_expression"})  # fmt: skip
# Text a str parameter should meet at least once: accents (transliteration, slugs) and another script.
NON_ASCII = ("Crème Brûlée", "東京")


@dataclass(frozen=True)
class MinedInputs:
    strings: tuple[str, ...] = ()
    """Python source of str values, the most targeted first."""
    numbers: tuple[str, ...] = ()
    """Python source of numbers the code compares with or looks up (neighbours are added later)."""


def mine_inputs(document: ParsedDocument, body: Node) -> MinedInputs:
    """Values for the function whose body is `body`, from it, its same-module callees and the
    module-level tables they read."""
    functions = _top_level_functions(document)
    tables = _top_level_tables(document)
    bodies = _with_callees(body, functions)
    read_tables = _tables_read(bodies, tables)
    found = _Found()
    for node in bodies:
        found.visit(node, in_table=False)
    for node in read_tables:
        found.visit(node, in_table=True)
    strings = [*found.targeted, *found.literals, *NON_ASCII, *found.table_strings, *found.lengths]
    unique = [text for text in dict.fromkeys(strings) if len(text) <= _MAX_LENGTH]
    return MinedInputs(
        tuple(_python_string(text) for text in unique[:MAX_STRINGS]),
        tuple(dict.fromkeys(found.numbers))[:MAX_NUMBERS],
    )


def merge_sources(first: Iterable[str], second: Iterable[str], limit: int) -> tuple[str, ...]:
    """Literal sources from both, in order, without two spellings of the same value (`"a"`, `'a'`)."""
    seen: dict[object, str] = {}
    for source in [*first, *second]:
        try:
            key: object = ast.literal_eval(source)
        except (ValueError, SyntaxError):
            key = source
        seen.setdefault((type(key).__name__, key) if isinstance(key, str | int | float) else source, source)
    return tuple(seen.values())[:limit]


class _Found:
    """What the walk collected, by how directly it reaches the code's logic."""

    def __init__(self) -> None:
        self.targeted: list[str] = []
        """Strings built to reach one operation: contain the separator, match the pattern."""
        self.literals: list[str] = []
        self.table_strings: list[str] = []
        self.lengths: list[str] = []
        self.numbers: list[str] = []

    def visit(self, root: Node, in_table: bool) -> None:
        for node in walk(root):
            if node.type == "string":
                value = _string_value(node)
                if value is not None and not _is_docstring(node):
                    (self.table_strings if in_table else self.literals).append(value)
                    if in_table and _looks_like_regex(value):
                        self.targeted += regex_samples(value)
            elif node.type in ("integer", "float"):
                negative = node.parent is not None and node.parent.type == "unary_operator"
                self.numbers.append(
                    ("-" if negative and node_text(node.parent).startswith("-") else "") + node_text(node)
                )
            elif node.type == "call":
                self._call(node)
            elif node.type == "comparison_operator":
                self._comparison(node)

    def _call(self, node: Node) -> None:
        function = node.child_by_field_name("function")
        arguments = node.child_by_field_name("arguments")
        if function is None or arguments is None or function.type != "attribute":
            return
        method = node_text(function.child_by_field_name("attribute"))
        first = next((a for a in arguments.named_children if a.type != "comment"), None)
        if first is None:
            return
        if method in _REGEX_FUNCTIONS and node_text(function.child_by_field_name("object")) == "re":
            pattern = _string_value(first)
            if pattern is not None:
                self.targeted += regex_samples(pattern)
        elif method in _AFFIX_METHODS:
            for value in _strings_in(first):
                suffix = method in ("endswith", "removesuffix")
                self.targeted.append(f"word{value}" if suffix else f"{value}word")
        elif method in _SEPARATOR_METHODS:
            self.targeted += [f"ab{value}cd" for value in _strings_in(first) if value]

    def _comparison(self, node: Node) -> None:
        operands = [child for child in node.named_children if child.type != "comment"]
        operators = [node_text(child) for child in node.children if not child.is_named]
        if len(operands) != 2:
            return
        left, right = operands
        if any(op in ("in", "not in") for op in operators):
            self.targeted += [f"ab{value}cd" for value in _strings_in(left) if value]
            return
        for measured, bound in ((left, right), (right, left)):
            if measured.type == "call" and node_text(measured.child_by_field_name("function")) == "len":
                number = _int_value(bound)
                if number is not None and 0 <= number <= _MAX_LENGTH:
                    self.lengths += ["a" * size for size in (number - 1, number, number + 1) if size >= 0]


def _python_string(text: str) -> str:
    """Source for `text` with double quotes, as the project's formatter would write it."""
    source = repr(text)
    if source.startswith("'") and '"' not in text:
        source = '"' + source[1:-1].replace("\\'", "'") + '"'
    return source


def _string_value(node: Node) -> str | None:
    """The str a literal spells (None for bytes, f-strings with fields, or other expressions)."""
    if node.type == "concatenated_string":
        parts = [_string_value(child) for child in node.named_children]
        return None if any(part is None for part in parts) else "".join(p for p in parts if p is not None)
    if node.type != "string" or any(child.type == "interpolation" for child in node.named_children):
        return None
    try:
        value = ast.literal_eval(node_text(node).removeprefix("f").removeprefix("F"))
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, str) else None


def _strings_in(node: Node) -> list[str]:
    """A string literal, or the string literals of a tuple/list/set (`endswith(("s", "x"))`)."""
    if node.type in ("tuple", "list", "set", "parenthesized_expression"):
        return [value for child in node.named_children for value in _strings_in(child)]
    value = _string_value(node)
    return [value] if value is not None else []


def _int_value(node: Node) -> int | None:
    try:
        value = ast.literal_eval(node_text(node))
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _is_docstring(node: Node) -> bool:
    return node.parent is not None and node.parent.type == "expression_statement"


def _looks_like_regex(value: str) -> bool:
    """A table entry that is a pattern (pluralize's rules), not a plain word."""
    return bool(re.search(r"[\\^$()\[\]|?*+{}]", value))


def _top_level_functions(document: ParsedDocument) -> dict[str, Node]:
    functions: dict[str, Node] = {}
    for child in document.tree.root_node.named_children:
        definition = child.child_by_field_name("definition") if child.type == "decorated_definition" else child
        if definition is not None and definition.type == "function_definition":
            body = definition.child_by_field_name("body")
            if body is not None:
                functions[node_text(definition.child_by_field_name("name"))] = body
    return functions


def module_assignments(document: ParsedDocument, block: Node | None = None) -> Iterator[tuple[str, Node, Node]]:
    """`NAME = value` statements at the top of the module (or of `block`): the name, the value's node
    and the assignment's (which holds the annotation, if any)."""
    for child in (block or document.tree.root_node).named_children:
        if child.type != "expression_statement" or not child.named_children:
            continue
        assignment = child.named_children[0]
        if assignment.type != "assignment":
            continue
        left, right = assignment.child_by_field_name("left"), assignment.child_by_field_name("right")
        if left is not None and right is not None and left.type == "identifier":
            yield node_text(left), right, assignment


def _top_level_tables(document: ParsedDocument) -> dict[str, Node]:
    """Module-level `NAME = {...}` / `[...]` / `re.compile(...)` / `A + B`: their right-hand sides."""
    return {name: value for name, value, _ in module_assignments(document) if value.type in _TABLE_TYPES}


def _identifiers(node: Node) -> set[str]:
    return {node_text(n) for n in walk(node) if n.type == "identifier"}


def _with_callees(body: Node, functions: dict[str, Node]) -> list[Node]:
    """The body, then the bodies of the module's functions it calls (two calls deep)."""
    bodies, frontier, seen = [body], [body], {body.id}
    for _ in range(_CALLEE_DEPTH):
        called = [functions[name] for node in frontier for name in sorted(_identifiers(node)) if name in functions]
        frontier = [node for node in called if node.id not in seen]
        seen |= {node.id for node in frontier}
        bodies += frontier
    return bodies


def _tables_read(bodies: list[Node], tables: dict[str, Node]) -> list[Node]:
    """The tables the bodies name, and the tables those are built from (`ALL = BASE + EXTRA`)."""
    names = sorted({name for body in bodies for name in _identifiers(body) if name in tables})
    read: list[str] = []
    while names:
        name = names.pop(0)
        if name in read:
            continue
        read.append(name)
        names += sorted(other for other in _identifiers(tables[name]) if other in tables and other not in read)
    return [tables[name] for name in read]
