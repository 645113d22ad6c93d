"""Units of code: the module, its classes, functions, methods and tests, with names, ranges,
docstrings and decorators. Later features (index, test generation, coverage gaps) work on units."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath

from tree_sitter import Node

from aqe.findings import Span
from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language


class UnitKind(str, enum.Enum):
    MODULE = "module"
    CLASS = "class"
    FUNCTION = "function"
    METHOD = "method"
    TEST_FUNCTION = "test_function"
    TEST_CLASS = "test_class"

    @property
    def is_test(self) -> bool:
        return self in (UnitKind.TEST_FUNCTION, UnitKind.TEST_CLASS)

    @property
    def is_callable(self) -> bool:
        return self in (UnitKind.FUNCTION, UnitKind.METHOD, UnitKind.TEST_FUNCTION)


@dataclass(frozen=True)
class CodeUnit:
    kind: UnitKind
    name: str
    qualified_name: str
    language: Language
    span: Span
    name_span: Span
    start_byte: int
    end_byte: int
    docstring: str | None = None
    decorators: tuple[str, ...] = ()
    parent: str | None = None


_PY_TEST_FILE = re.compile(r"^(test_.*|.*_test|tests?)\.py$")
_JS_TEST_FILE = re.compile(r"\.(test|spec)\.[cm]?[jt]sx?$")
_JS_TEST_CALLS = frozenset({"it", "test"})
_JS_SUITE_CALLS = frozenset({"describe", "suite", "context"})


def is_test_file(path: str) -> bool:
    """pytest's and jest's default file patterns, plus anything under a tests/ or __tests__/ folder."""
    pure = PurePath(path)
    name = pure.name
    if _PY_TEST_FILE.match(name) or _JS_TEST_FILE.search(name):
        return True
    return any(part in ("tests", "test", "__tests__") for part in pure.parts[:-1])


def _text(node: Node | None) -> str:
    return node.text.decode("utf-8", errors="replace") if node is not None and node.text else ""


def _unit(
    doc: ParsedDocument,
    kind: UnitKind,
    name: str,
    node: Node,
    name_node: Node | None,
    parent: CodeUnit | None,
    docstring: str | None = None,
    decorators: tuple[str, ...] = (),
) -> CodeUnit:
    src = doc.source
    name_node = name_node or node
    qualified = f"{parent.qualified_name}.{name}" if parent and parent.kind is not UnitKind.MODULE else name
    return CodeUnit(
        kind=kind,
        name=name,
        qualified_name=qualified,
        language=doc.language,
        span=src.span_of_bytes(node.start_byte, node.end_byte),
        name_span=src.span_of_bytes(name_node.start_byte, name_node.end_byte),
        start_byte=node.start_byte,
        end_byte=node.end_byte,
        docstring=docstring,
        decorators=decorators,
        parent=parent.qualified_name if parent and parent.kind is not UnitKind.MODULE else None,
    )


def iter_units(doc: ParsedDocument) -> Iterator[tuple[CodeUnit, Node]]:
    """Yield every unit with its syntax node, outermost first (the module comes first)."""
    root = doc.tree.root_node
    module_name = PurePath(doc.path).stem
    docstring = _python_docstring(root) if doc.language is Language.PYTHON else None
    module = _unit(doc, UnitKind.MODULE, module_name, root, None, None, docstring)
    yield module, root
    if doc.language is Language.PYTHON:
        yield from _python_units(doc, root, module, is_test_file(doc.path), in_test_class=False)
    else:
        yield from _js_units(doc, root, module)


def extract_units(doc: ParsedDocument) -> list[CodeUnit]:
    return [unit for unit, _ in iter_units(doc)]


# --- Python ---------------------------------------------------------------------------------------


def _python_docstring(node: Node) -> str | None:
    block = node if node.type == "module" else node.child_by_field_name("body")
    if block is None:
        return None
    for child in block.named_children:
        if child.type == "comment":
            continue
        if child.type == "expression_statement" and child.named_child_count == 1:
            expr = child.named_children[0]
            if expr.type == "string":
                return _string_literal_value(expr)
        return None
    return None


def _string_literal_value(node: Node) -> str:
    parts = [_text(c) for c in node.named_children if c.type == "string_content"]
    return "".join(parts).strip() if parts else ""


_PY_COMPOUND = frozenset(
    {
        "if_statement", "elif_clause", "else_clause", "try_statement", "except_clause", "finally_clause",
        "with_statement", "for_statement", "while_statement", "match_statement", "case_clause", "block",
    }
)  # fmt: skip


def _python_units(
    doc: ParsedDocument, block: Node, parent: CodeUnit, test_file: bool, in_test_class: bool
) -> Iterator[tuple[CodeUnit, Node]]:
    for child in block.named_children:
        decorators: tuple[str, ...] = ()
        definition = child
        if child.type == "decorated_definition":
            decorators = tuple(
                _text(d).lstrip("@").strip() for d in child.named_children if d.type == "decorator"
            )
            definition = child.child_by_field_name("definition") or child
        if definition.type == "function_definition":
            name_node = definition.child_by_field_name("name")
            name = _text(name_node)
            in_class = parent.kind in (UnitKind.CLASS, UnitKind.TEST_CLASS)
            if name.startswith("test") and (in_test_class or (test_file and not in_class)):
                kind = UnitKind.TEST_FUNCTION
            else:
                kind = UnitKind.METHOD if in_class else UnitKind.FUNCTION
            unit = _unit(
                doc, kind, name, child, name_node, parent, _python_docstring(definition), decorators
            )
            yield unit, definition
            body = definition.child_by_field_name("body")
            if body is not None:
                yield from _python_units(doc, body, unit, test_file, in_test_class=False)
        elif definition.type == "class_definition":
            name_node = definition.child_by_field_name("name")
            name = _text(name_node)
            bases = _text(definition.child_by_field_name("superclasses"))
            is_test_class = ("TestCase" in bases) or (test_file and name.startswith("Test"))
            kind = UnitKind.TEST_CLASS if is_test_class else UnitKind.CLASS
            unit = _unit(
                doc, kind, name, child, name_node, parent, _python_docstring(definition), decorators
            )
            yield unit, definition
            body = definition.child_by_field_name("body")
            if body is not None:
                yield from _python_units(doc, body, unit, test_file, in_test_class=is_test_class)
        elif child.type in _PY_COMPOUND:
            # Definitions under `if TYPE_CHECKING:`, `except ImportError:` fallbacks, loops or
            # `match` arms still belong to the enclosing unit.
            yield from _python_units(doc, child, parent, test_file, in_test_class)


# --- JavaScript / TypeScript ----------------------------------------------------------------------

_JS_FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "function", "generator_function"})


def _js_units(doc: ParsedDocument, node: Node, parent: CodeUnit) -> Iterator[tuple[CodeUnit, Node]]:
    for child in node.named_children:
        kind: UnitKind | None = None
        name_node: Node | None = None
        body: Node | None = None
        unit_node = child
        if child.type in ("function_declaration", "generator_function_declaration"):
            kind, name_node, body = UnitKind.FUNCTION, child.child_by_field_name("name"), child
        elif child.type in ("class_declaration", "abstract_class_declaration", "class"):
            kind, name_node = UnitKind.CLASS, child.child_by_field_name("name")
            body = child.child_by_field_name("body")
        elif child.type == "method_definition":
            kind, name_node, body = UnitKind.METHOD, child.child_by_field_name("name"), child
        elif child.type == "variable_declarator":
            value = child.child_by_field_name("value")
            if value is not None and value.type in _JS_FUNCTION_VALUES:
                kind, name_node, body = UnitKind.FUNCTION, child.child_by_field_name("name"), value
        elif child.type == "call_expression":
            test = _js_test_call(child)
            if test is not None:
                kind, title_node = test
                name_node = title_node
                body = child.child_by_field_name("arguments")
        if kind is None or name_node is None:
            yield from _js_units(doc, child, parent)
            continue
        name = _js_name(name_node)
        unit = _unit(doc, kind, name, unit_node, name_node, parent)
        yield unit, unit_node
        if body is not None:
            yield from _js_units(doc, body, unit)


def _js_name(node: Node) -> str:
    if node.type in ("string", "template_string"):
        return _text(node).strip("'\"`")
    return _text(node)


def _js_test_call(call: Node) -> tuple[UnitKind, Node] | None:
    """`it("...", fn)` / `test.only(...)` / `describe.skip(...)`: the kind and the title node."""
    callee = call.child_by_field_name("function")
    base = callee
    while base is not None and base.type == "member_expression":
        base = base.child_by_field_name("object")
    if base is None or base.type != "identifier":
        return None
    name = _text(base)
    if name in _JS_TEST_CALLS:
        kind = UnitKind.TEST_FUNCTION
    elif name in _JS_SUITE_CALLS:
        kind = UnitKind.TEST_CLASS
    else:
        return None
    args = call.child_by_field_name("arguments")
    if args is None or args.named_child_count == 0:
        return None
    title = args.named_children[0]
    return kind, title
