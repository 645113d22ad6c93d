"""Review rules for Python tests (pytest and unittest): tests that cannot fail, or fail by chance.

Every rule here looks only inside test functions as `aqe.parsing.units` classifies them (a
`test_*` function in a test file or a test class); pytest fixtures named `test_*` are not tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tree_sitter import Node

from aqe.findings import Finding, Fix, Severity, Span, TextEdit
from aqe.parsing.languages import Language
from aqe.parsing.units import UnitKind
from aqe.review.rules.base import Rule, RuleContext, RuleInfo, node_text, walk

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
    if ctx.document.language is not Language.PYTHON:
        return []
    return [
        _TestFunction(unit.name, node, unit.decorators)
        for unit, node in ctx.units
        if unit.kind is UnitKind.TEST_FUNCTION
        and node.type == "function_definition"
        and not _is_fixture(unit.decorators)
    ]


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


# --- QE101 test-without-assertion --------------------------------------------------------------------

_RAISING_PYTEST_CALLS = frozenset({"pytest.raises", "pytest.warns", "pytest.fail", "pytest.deprecated_call"})
_ASSERTION_WORDS = ("assert", "check", "verify", "expect")
_SKIP_DECORATORS = frozenset({"pytest.mark.skip", "mark.skip", "unittest.skip", "skip"})


def _checks_something(body: Node, imports: dict[str, str]) -> bool:
    """Any way a test can fail on a wrong result; an explicit `raise` counts, it fails the test too."""
    for node in walk(body):
        if node.type in ("assert_statement", "raise_statement"):
            return True
        if node.type != "call":
            continue
        callee = _callee(node)
        dotted = _dotted(callee)
        if dotted is not None and _resolve(dotted, imports) in _RAISING_PYTEST_CALLS:
            return True
        name = _last_name(callee)
        is_method = callee is not None and callee.type == "attribute"
        if _named_like(name, _ASSERTION_WORDS) and not (is_method and name == "check"):
            return True  # a plain `page.check("#terms")` ticks a checkbox, it asserts nothing
        if name == "fail" and _callee_object(callee) in ("self", "cls"):
            return True
    return False


class NoAssertionInTest(Rule):
    info = RuleInfo(
        id="QE101",
        name="test-without-assertion",
        default_severity=Severity.WARNING,
        languages=_PYTHON,
        summary="A test function that asserts nothing passes whenever its code does not raise.",
        rationale=(
            "A test with no assert, no pytest.raises/pytest.warns, no self.assert* and no mock "
            "assertion only proves that the code ran without an exception; a wrong result still "
            "passes, so the test gives coverage without protection. Assert the outcome you expect "
            "(the return value, the state change, the call on a mock). If not raising is really "
            "the point, say so with an explicit assertion on the result. Calls to helpers named "
            "assert_*/check_*/verify_*/expect* count as assertions; skipped tests are not reported."
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        tests = _test_functions(ctx)
        if not tests:
            return
        imports = _import_map(ctx.document.tree.root_node)
        for test in tests:
            if any(_decorator_name(d) in _SKIP_DECORATORS for d in test.decorators):
                continue
            body = test.node.child_by_field_name("body")
            name_node = test.node.child_by_field_name("name")
            if body is None or name_node is None or _checks_something(body, imports):
                continue
            yield ctx.report(
                self.info,
                name_node,
                f"Test `{test.name}` asserts nothing, so it passes whenever no exception is raised: "
                "assert the result or the effect it should have.",
            )


# --- QE102 sleep-in-test -----------------------------------------------------------------------------

_SLEEPS = {
    "time.sleep": "time.sleep",
    "asyncio.sleep": "asyncio.sleep",
    "trio.sleep": "trio.sleep",
    "anyio.sleep": "anyio.sleep",
}


def _in_polling_loop(call: Node) -> bool:
    """A sleep between checks of a condition is the polling this rule recommends, not a fixed wait."""
    current = call.parent
    while current is not None and current.type not in ("function_definition", "lambda"):
        if current.type == "while_statement":
            return True
        if current.type == "for_statement" and any(
            n.type in ("break_statement", "return_statement") for n in walk(current)
        ):
            return True
        current = current.parent
    return False


class SleepInTest(Rule):
    info = RuleInfo(
        id="QE102",
        name="sleep-in-test",
        default_severity=Severity.WARNING,
        languages=_PYTHON,
        summary="A test waits a fixed time with time.sleep/asyncio.sleep.",
        rationale=(
            "A fixed sleep is a guess about how long something takes: too short and the test fails "
            "on a busy CI machine, too long and every run pays for it. Wait for the condition "
            "itself (poll it with a timeout, await the event or future, join the thread) or "
            "control time with a fake clock (freezegun, time-machine, a clock parameter). "
            "`asyncio.sleep(0)`, which only yields to the event loop, and sleeps inside a polling "
            "loop are not reported."
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        imports: dict[str, str] | None = None
        for node in _test_code_nodes(ctx):
            if node.type != "call":
                continue
            dotted = _dotted(_callee(node))
            if dotted is None or not dotted.endswith("sleep"):
                continue
            if imports is None:
                imports = _import_map(ctx.document.tree.root_node)
            resolved = _resolve(dotted, imports)
            if resolved not in _SLEEPS:
                continue
            args = _positional_args(node)
            if args and _numeric_value(args[0]) == 0:
                continue
            if _in_polling_loop(node):
                continue
            yield ctx.report(
                self.info,
                node,
                f"`{_short(node)}` waits a fixed time, which is slow and still flaky on a slower "
                "machine: poll for the condition you are waiting for (with a timeout) or use a "
                "fake clock.",
            )


# --- QE103 test-swallows-exception -------------------------------------------------------------------

_BROAD_EXCEPTIONS = frozenset({"Exception", "BaseException"})
_LOGGING_NAMES = frozenset({"logging", "logger", "log", "traceback", "warnings"})


def _handler_types(handler: Node) -> list[Node]:
    """The exception types an `except` clause names; empty for a bare `except:`."""
    types: list[Node] = []
    for child in handler.named_children:
        if child.type in ("block", "comment"):
            continue
        if child.type == "as_pattern":
            child = child.named_children[0] if child.named_children else child
        while child.type == "parenthesized_expression" and child.named_children:
            child = child.named_children[0]
        if child.type == "tuple":
            types.extend(c for c in child.named_children if c.type != "comment")
        else:
            types.append(child)
    return types


def _is_log_call(node: Node) -> bool:
    if node.type != "call":
        return False
    callee = _callee(node)
    if callee is not None and callee.type == "identifier":
        return node_text(callee) == "print"
    dotted = _dotted(callee)
    if dotted is None:
        return False
    return any(part.strip("_").lower() in _LOGGING_NAMES for part in dotted.split(".")[:-1])


def _swallows(handler: Node) -> bool:
    """The handler's body only passes, continues, returns nothing or logs."""
    statements = _statements(handler.child_by_field_name("body") or _last_block(handler))
    if not statements:
        return False
    for statement in statements:
        if statement.type in ("pass_statement", "continue_statement"):
            continue
        if statement.type == "return_statement" and not statement.named_children:
            continue
        if statement.type == "expression_statement" and statement.named_child_count == 1:
            expression = statement.named_children[0]
            if expression.type in ("ellipsis", "string") or _is_log_call(expression):
                continue
        return False
    return True


def _last_block(node: Node) -> Node | None:
    blocks = [c for c in node.named_children if c.type == "block"]
    return blocks[-1] if blocks else None


def _failure_kind(statement: Node, imports: dict[str, str]) -> str | None:
    """What an unconditional failure raises: "pytest" (pytest.fail's BaseException), "assertion" or "other"."""
    if statement.type == "assert_statement":
        condition = statement.named_children[0] if statement.named_children else None
        return "assertion" if condition is not None and condition.type == "false" else None
    if statement.type == "raise_statement":
        raised = node_text(statement.named_children[0]) if statement.named_children else ""
        return "assertion" if raised.startswith("AssertionError") else "other"
    if statement.type == "expression_statement" and statement.named_child_count == 1:
        call = statement.named_children[0]
        if call.type != "call":
            return None
        callee = _callee(call)
        dotted = _dotted(callee)
        if dotted is not None and _resolve(dotted, imports) == "pytest.fail":
            return "pytest"
        if _last_name(callee) == "fail" and _callee_object(callee) in ("self", "cls"):
            return "assertion"
    return None


def _catches(type_names: list[str], failure: str) -> bool:
    if not type_names or "BaseException" in type_names:
        return True
    if failure == "assertion":
        return "Exception" in type_names or "AssertionError" in type_names
    if failure == "other":
        return "Exception" in type_names
    return False


def _expects_the_exception(try_node: Node, handler: Node, imports: dict[str, str]) -> bool:
    """The old idiom `try: call(); fail() except E: pass` (or a failing `else:`) does assert."""
    for clause in try_node.named_children:
        if clause.type == "else_clause" and any(_failure_kind(s, imports) for s in _statements(_last_block(clause))):
            return True
    body = _statements(try_node.child_by_field_name("body"))
    failure = _failure_kind(body[-1], imports) if body else None
    if failure is None:
        return False
    type_names = [node_text(t).rsplit(".", 1)[-1] for t in _handler_types(handler)]
    return not _catches(type_names, failure)


def _except_header_span(ctx: RuleContext, handler: Node) -> Span:
    colon = next((c for c in handler.children if c.type == ":"), None)
    end = colon.end_byte if colon is not None else handler.end_byte
    return ctx.document.source.span_of_bytes(handler.start_byte, end)


class SwallowedExceptionInTest(Rule):
    info = RuleInfo(
        id="QE103",
        name="test-swallows-exception",
        default_severity=Severity.WARNING,
        languages=_PYTHON,
        summary="A test catches an exception and carries on, so it passes whether or not it is raised.",
        rationale=(
            "An `except` that only passes, continues or logs inside a test turns a failure into a "
            "pass: the test can no longer tell working code from broken code. If the exception is "
            "the expected outcome, assert it with `pytest.raises(Error)` (or `self.assertRaises`), "
            "which also fails when nothing is raised; if it is tolerated, narrow the type and make "
            "the intent explicit with `contextlib.suppress(Error)`. The quick fix rewrites a "
            "one-statement `try` with a single specific `except Error: pass` to "
            "`with pytest.raises(Error):`, which deliberately makes the exception required."
        ),
        has_fix=True,
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        imports: dict[str, str] | None = None
        for node in _test_code_nodes(ctx):
            if node.type != "try_statement":
                continue
            if imports is None:
                imports = _import_map(ctx.document.tree.root_node)
            handlers = [c for c in node.named_children if c.type in ("except_clause", "except_group_clause")]
            for handler in handlers:
                if not _swallows(handler) or _expects_the_exception(node, handler, imports):
                    continue
                types = _handler_types(handler)
                caught = ", ".join(node_text(t) for t in types) if types else "every exception"
                yield ctx.report(
                    self.info,
                    _except_header_span(ctx, handler),
                    f"This test catches {caught} and carries on, so it passes whether or not the "
                    "exception is raised: assert it with pytest.raises(...) if it is expected, "
                    "otherwise let it fail the test.",
                    fix=self._fix(ctx, node, handlers, handler),
                )

    def _fix(self, ctx: RuleContext, try_node: Node, handlers: list[Node], handler: Node) -> Fix | None:
        if len(handlers) != 1 or handler.type != "except_clause":
            return None
        if any(c.type in ("else_clause", "finally_clause") for c in try_node.named_children):
            return None
        types = _handler_types(handler)
        if len(types) != 1 or node_text(types[0]).rsplit(".", 1)[-1] in _BROAD_EXCEPTIONS:
            return None
        handler_body = _statements(_last_block(handler))
        if len(handler_body) != 1 or handler_body[0].type != "pass_statement":
            return None
        if len(_statements(try_node.child_by_field_name("body"))) != 1:
            return None
        header_end = next((c for c in try_node.children if c.type == ":"), None)
        if header_end is None:
            return None
        exception = node_text(types[0])
        function = _enclosing_function(try_node)
        import_edits: tuple[TextEdit, ...] = ()
        if function is not None and _is_test_case_method(function):
            context_manager = f"self.assertRaises({exception})"
        else:
            pytest_name, import_edits = _pytest_name_and_import(ctx)
            context_manager = f"{pytest_name}.raises({exception})"
        source = ctx.document.source
        handler_line = source.point_at_byte(handler.start_byte)[0]
        removal_start = source.line_end_byte(handler_line - 1)
        edits = (
            *import_edits,
            ctx.edit(try_node.start_byte, header_end.end_byte, f"with {context_manager}:"),
            ctx.edit(removal_start, handler.end_byte, ""),
        )
        return Fix(title=f"Assert the exception: use `with {context_manager}:`", edits=edits)


# --- QE104 float-equality-assertion ------------------------------------------------------------------

_ARITHMETIC = frozenset({"+", "-", "*", "/", "//", "%", "**"})
_UNITTEST_EQUALITY = {
    "assertEqual": "assertAlmostEqual",
    "assertEquals": "assertAlmostEqual",
    "assertNotEqual": "assertNotAlmostEqual",
    "assertNotEquals": "assertNotAlmostEqual",
}


def _is_floating(node: Node) -> bool:
    """A float literal, or arithmetic whose result is a float (a float operand or a true division)."""
    if node.type == "float":
        return True
    if node.type == "unary_operator":
        argument = node.child_by_field_name("argument")
        return argument is not None and _is_floating(argument)
    if node.type == "parenthesized_expression":
        return bool(node.named_children) and _is_floating(node.named_children[0])
    if node.type == "binary_operator":
        operator = node_text(node.child_by_field_name("operator"))
        if operator not in _ARITHMETIC:
            return False
        if operator == "/":
            return True
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        return any(side is not None and _is_floating(side) for side in (left, right))
    return False


def _is_constant(node: Node) -> bool:
    return not any(n.type in ("identifier", "call", "attribute", "subscript") for n in walk(node))


def _expected_side(left: Node, right: Node) -> Node | None:
    """The side to wrap in approx: the floating one, preferring the literal expected value."""
    if _is_constant(left) and _is_constant(right):
        return None  # literal against literal checks Python's arithmetic, not the code under test
    floating = [side for side in (right, left) if _is_floating(side)]
    if not floating:
        return None
    return next((side for side in floating if _is_constant(side)), floating[0])


def _equality_operands(comparison: Node) -> tuple[Node, Node] | None:
    operands = [c for c in comparison.named_children if c.type != "comment"]
    operators = [c.type for c in comparison.children if not c.is_named]
    if len(operands) != 2 or operators not in (["=="], ["!="]):
        return None
    return operands[0], operands[1]


class FloatEqualityAssertion(Rule):
    info = RuleInfo(
        id="QE104",
        name="float-equality-assertion",
        default_severity=Severity.WARNING,
        languages=_PYTHON,
        summary="A test asserts exact equality between floating-point values.",
        rationale=(
            "Floating-point arithmetic rounds: `0.1 + 0.2 == 0.3` is False, and a harmless "
            "refactoring that reorders operations can flip such an assertion. Compare with a "
            "tolerance instead: `assert total == pytest.approx(0.3)`, or `self.assertAlmostEqual` "
            "in unittest. Comparisons with `0.0` are reported too (a computed value is rarely "
            "exactly zero), integers are not, and a literal compared with a literal is left alone "
            "because it tests no code."
        ),
        has_fix=True,
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for node in _test_code_nodes(ctx):
            if node.type == "comparison_operator" and _inside_assert(node):
                finding = self._check_comparison(ctx, node)
            elif node.type == "call":
                finding = self._check_unittest_call(ctx, node)
            else:
                continue
            if finding is not None:
                yield finding

    def _check_comparison(self, ctx: RuleContext, comparison: Node) -> Finding | None:
        operands = _equality_operands(comparison)
        if operands is None:
            return None
        expected = _expected_side(*operands)
        if expected is None:
            return None
        pytest_name, import_edits = _pytest_name_and_import(ctx)
        wrapped = f"{pytest_name}.approx({node_text(expected)})"
        fix = Fix(
            title=f"Compare with {pytest_name}.approx({_short(expected, 30)})",
            edits=(*import_edits, ctx.edit(expected.start_byte, expected.end_byte, wrapped)),
        )
        return ctx.report(
            self.info,
            comparison,
            f"`{_short(comparison)}` compares floats exactly and breaks on rounding "
            f"(0.1 + 0.2 != 0.3): compare with pytest.approx(...).",
            fix=fix,
        )

    def _check_unittest_call(self, ctx: RuleContext, call: Node) -> Finding | None:
        callee = _callee(call)
        method = _last_name(callee)
        if method not in _UNITTEST_EQUALITY or _callee_object(callee) != "self":
            return None
        args = _positional_args(call)
        if len(args) < 2 or _expected_side(args[0], args[1]) is None:
            return None
        replacement = _UNITTEST_EQUALITY[method]
        fix: Fix | None = None
        attribute = callee.child_by_field_name("attribute") if callee is not None else None
        if attribute is not None and len(args) <= 3:
            edits = [ctx.edit(attribute.start_byte, attribute.end_byte, replacement)]
            if len(args) == 3:
                edits.append(ctx.edit(args[2].start_byte, args[2].start_byte, "msg="))
            fix = Fix(title=f"Use self.{replacement}", edits=tuple(edits))
        return ctx.report(
            self.info,
            call,
            f"`self.{method}` compares floats exactly and breaks on rounding (0.1 + 0.2 != 0.3): "
            f"use self.{replacement}.",
            fix=fix,
        )


def _inside_assert(node: Node) -> bool:
    current = node.parent
    while current is not None:
        if current.type == "assert_statement":
            return True
        if current.type in ("function_definition", "lambda", "block"):
            return False
        current = current.parent
    return False


RULES: list[type[Rule]] = [NoAssertionInTest, SleepInTest, SwallowedExceptionInTest, FloatEqualityAssertion]
