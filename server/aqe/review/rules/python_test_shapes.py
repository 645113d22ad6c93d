"""Shapes shared by the Python test rules: which functions pytest collects, imports, callees.

Which functions are tests follows pytest's own collection (`aqe.review.pytest_collection`): module-
level functions and methods of collectable classes whose names match the project's patterns, in
files pytest would collect. Nested functions are never tests, whatever their name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tree_sitter import Node

from aqe.findings import TextEdit
from aqe.parsing.languages import Language
from aqe.review.pytest_collection import PytestCollection, collection_for, matches_prefix_or_glob
from aqe.review.rules.base import RuleContext, node_text, walk

_PYTHON = frozenset({Language.PYTHON})

# --- shared helpers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TestFunction:
    name: str
    node: Node
    """The `function_definition` node."""
    decorators: tuple[str, ...]


def _decorator_name(decorator: str) -> str:
    return decorator.split("(", 1)[0].strip()


def _is_fixture(decorators: tuple[str, ...]) -> bool:
    """`@pytest.fixture`, `@fixture(scope=...)`, `@pytest_asyncio.fixture`: setup code, not a test."""
    return any(_decorator_name(d).rsplit(".", 1)[-1] == "fixture" for d in decorators)


def _test_functions(ctx: RuleContext) -> list[_TestFunction]:
    """The functions pytest would collect as tests in this document, by the project's own rules."""
    if ctx.document.language is not Language.PYTHON:
        return []
    collection = collection_for(ctx.document.path)
    if not collection.collects_file(ctx.document.path):
        return []
    root = ctx.document.tree.root_node
    if _opts_out(root):
        return []
    local_classes = {node_text(c.child_by_field_name("name")): c for c, _ in _definitions(root, "class_definition")}
    tests: list[_TestFunction] = []
    for function, decorators in _definitions(root, "function_definition"):
        name = node_text(function.child_by_field_name("name"))
        if collection.collects_function(name) and not _is_fixture(decorators):
            tests.append(_TestFunction(name, function, decorators))
    for cls, _ in _definitions(root, "class_definition"):
        tests.extend(_class_tests(cls, collection, local_classes))
    tests.sort(key=lambda t: t.node.start_byte)
    return tests


def _definitions(block: Node, kind: str) -> Iterator[tuple[Node, tuple[str, ...]]]:
    """Definitions bound at this block's level: directly, decorated, or under if/try/with (still an
    attribute of the module or class, which is what pytest collects); never inside a function."""
    for child in block.named_children:
        definition, decorators = child, ()
        if child.type == "decorated_definition":
            decorators = tuple(node_text(d).lstrip("@").strip() for d in child.named_children if d.type == "decorator")
            definition = child.child_by_field_name("definition") or child
        if definition.type == kind:
            yield definition, decorators
        elif child.type in _COMPOUND_BLOCKS:
            yield from _definitions(child, kind)


_COMPOUND_BLOCKS = frozenset(
    {"if_statement", "elif_clause", "else_clause", "try_statement", "except_clause", "finally_clause",
     "with_statement", "block"}
)  # fmt: skip


def _opts_out(block: Node) -> bool:
    """`__test__ = False` at this level tells pytest not to collect the module or class."""
    for child in block.named_children:
        if child.type == "expression_statement" and child.named_child_count == 1:
            assignment = child.named_children[0]
            if assignment.type == "assignment" and node_text(assignment.child_by_field_name("left")) == "__test__":
                return node_text(assignment.child_by_field_name("right")) in ("False", "0", "None")
    return False


def _is_test_case_class(cls: Node, local_classes: dict[str, Node], seen: frozenset[str] = frozenset()) -> bool:
    """A `unittest.TestCase` subclass, directly or through a base class defined in the same file."""
    superclasses = cls.child_by_field_name("superclasses")
    if superclasses is None:
        return False
    for base in superclasses.named_children:
        name = node_text(base).rsplit(".", 1)[-1]
        if name.endswith("TestCase"):
            return True
        parent = local_classes.get(name)
        if parent is not None and name not in seen and _is_test_case_class(parent, local_classes, seen | {name}):
            return True
    return False


def _class_tests(cls: Node, collection: PytestCollection, local_classes: dict[str, Node]) -> list[_TestFunction]:
    """Test methods of a class pytest collects: a TestCase subclass (unittest's `test` prefix), or a
    class matching `python_classes` without an `__init__` (pytest skips those with a warning)."""
    body = cls.child_by_field_name("body")
    name = node_text(cls.child_by_field_name("name"))
    if body is None or _opts_out(body):
        return []
    methods = list(_definitions(body, "function_definition"))
    if _is_test_case_class(cls, local_classes):
        patterns: tuple[str, ...] = ("test",)  # unittest's own loader prefix
    elif collection.collects_class(name):
        if any(node_text(m.child_by_field_name("name")) == "__init__" for m, _ in methods):
            return []
        patterns = collection.python_functions
    else:
        return []
    tests = [
        _TestFunction(node_text(m.child_by_field_name("name")), m, decorators)
        for m, decorators in methods
        if matches_prefix_or_glob(node_text(m.child_by_field_name("name")), patterns) and not _is_fixture(decorators)
    ]
    for inner, _ in _definitions(body, "class_definition"):
        tests.extend(_class_tests(inner, collection, local_classes))
    return tests


def _test_code_nodes(ctx: RuleContext) -> Iterator[Node]:
    """Every node inside test functions, once each, even when a test is nested in another test."""
    tests = sorted((t.node for t in _test_functions(ctx)), key=lambda n: (n.start_byte, -n.end_byte))
    covered_until = -1
    for test in tests:
        if test.end_byte <= covered_until:
            continue
        covered_until = test.end_byte
        yield from walk(test)


def _enclosing_function(node: Node) -> Node | None:
    current = node.parent
    while current is not None and current.type != "function_definition":
        current = current.parent
    return current


def _import_map(root: Node) -> dict[str, str]:
    """Local name -> what it names (`t` -> `time`, `sleep` -> `time.sleep`), from every import."""
    names: dict[str, str] = {}
    for node in walk(root):
        if node.type == "import_statement":
            for child in node.named_children:
                if child.type == "dotted_name":
                    first = node_text(child).split(".", 1)[0]
                    names[first] = first
                elif child.type == "aliased_import":
                    target = child.child_by_field_name("name")
                    alias = child.child_by_field_name("alias")
                    if target is not None and alias is not None:
                        names[node_text(alias)] = node_text(target)
        elif node.type == "import_from_statement":
            module = node.child_by_field_name("module_name")
            if module is None:
                continue
            prefix = node_text(module)
            for child in node.children_by_field_name("name"):
                if child.type == "dotted_name":
                    names[node_text(child)] = f"{prefix}.{node_text(child)}"
                elif child.type == "aliased_import":
                    target = child.child_by_field_name("name")
                    alias = child.child_by_field_name("alias")
                    if target is not None and alias is not None:
                        names[node_text(alias)] = f"{prefix}.{node_text(target)}"
    return names


def _dotted(node: Node | None) -> str | None:
    """`a.b.c` for a chain of plain names; None when any link is a call, subscript, etc."""
    if node is None:
        return None
    if node.type == "identifier":
        return node_text(node)
    if node.type == "attribute":
        base = _dotted(node.child_by_field_name("object"))
        attr = node.child_by_field_name("attribute")
        if base is not None and attr is not None:
            return f"{base}.{node_text(attr)}"
    return None


def _resolve(dotted: str, imports: dict[str, str]) -> str:
    first, dot, rest = dotted.partition(".")
    return imports.get(first, first) + dot + rest


def _callee(call: Node) -> Node | None:
    return call.child_by_field_name("function")


def _last_name(callee: Node | None) -> str:
    """The called name itself: `assertEqual` in `self.assertEqual`, even after a call chain."""
    if callee is None:
        return ""
    if callee.type == "identifier":
        return node_text(callee)
    if callee.type == "attribute":
        return node_text(callee.child_by_field_name("attribute"))
    return ""


def _callee_object(callee: Node | None) -> str:
    if callee is None or callee.type != "attribute":
        return ""
    return node_text(callee.child_by_field_name("object"))


def _named_like(name: str, words: tuple[str, ...]) -> bool:
    """`assert_valid`, `assertEqual`, `check` match "assert"/"check"; `assertion`, `checkout` do not."""
    name = name.lstrip("_")
    for word in words:
        if name == word:
            return True
        if name.startswith(word):
            following = name[len(word)]
            if following == "_" or following.isupper():
                return True
    return False


def _statements(block: Node | None) -> list[Node]:
    if block is None:
        return []
    return [c for c in block.named_children if c.type != "comment"]


def _positional_args(call: Node) -> list[Node]:
    args = call.child_by_field_name("arguments")
    if args is None or args.type != "argument_list":
        return []
    return [
        a
        for a in args.named_children
        if a.type not in ("keyword_argument", "comment", "list_splat", "dictionary_splat")
    ]


def _is_test_case_method(function: Node) -> bool:
    """A method of a `unittest.TestCase` subclass, where `self.assert*` is the idiom, not pytest."""
    block = function.parent
    if block is not None and block.type == "decorated_definition":
        block = block.parent
    cls = block.parent if block is not None else None
    if cls is None or cls.type != "class_definition":
        return False
    return "TestCase" in node_text(cls.child_by_field_name("superclasses"))


def _line_ending(ctx: RuleContext) -> str:
    text = ctx.document.text
    if "\r\n" in text:
        return "\r\n"
    return "\r" if "\r" in text else "\n"


def _pytest_name_and_import(ctx: RuleContext) -> tuple[str, tuple[TextEdit, ...]]:
    """The name pytest is bound to at module level, or `pytest` plus the edit that imports it."""
    root = ctx.document.tree.root_node
    for child in root.named_children:
        if child.type != "import_statement":
            continue
        for imported in child.named_children:
            if imported.type == "dotted_name" and node_text(imported) == "pytest":
                return "pytest", ()
            if imported.type == "aliased_import" and node_text(imported.child_by_field_name("name")) == "pytest":
                return node_text(imported.child_by_field_name("alias")), ()
    return "pytest", (_insert_import_pytest(ctx, root),)


def _insert_import_pytest(ctx: RuleContext, root: Node) -> TextEdit:
    """At the top of the import block: after the docstring and `__future__` imports, which must stay first."""
    eol = _line_ending(ctx)
    statement = "import pytest"
    source = ctx.document.source
    insert_after: Node | None = None
    first_statement: Node | None = None
    for index, child in enumerate(c for c in root.named_children if c.type != "comment"):
        if first_statement is None:
            first_statement = child
        is_docstring = (
            index == 0
            and child.type == "expression_statement"
            and child.named_child_count == 1
            and child.named_children[0].type == "string"
        )
        if is_docstring or child.type == "future_import_statement":
            insert_after = child
            continue
        if child.type in ("import_statement", "import_from_statement"):
            line_start = source.line_starts[source.point_at_byte(child.start_byte)[0]]
            return ctx.edit(line_start, line_start, statement + eol)
        break
    if insert_after is not None:
        return ctx.edit(insert_after.end_byte, insert_after.end_byte, eol + statement)
    if first_statement is not None:
        line_start = source.line_starts[source.point_at_byte(first_statement.start_byte)[0]]
        return ctx.edit(line_start, line_start, statement + eol + eol)
    return ctx.edit(0, 0, statement + eol)


def _short(node: Node, limit: int = 60) -> str:
    text = " ".join(node_text(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _numeric_value(node: Node | None) -> float | None:
    if node is None:
        return None
    if node.type == "unary_operator":
        value = _numeric_value(node.child_by_field_name("argument"))
        if value is None:
            return None
        return -value if node_text(node.child_by_field_name("operator")) == "-" else value
    if node.type not in ("integer", "float"):
        return None
    literal = node_text(node).replace("_", "").rstrip("jJlL")
    try:
        return float(int(literal, 0)) if node.type == "integer" else float(literal)
    except ValueError:
        return None
