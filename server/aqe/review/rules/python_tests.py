"""Review rules for Python tests (pytest and unittest): tests that cannot fail, or fail by chance.

Every rule here looks only inside the functions pytest would collect as tests under the project's
own configuration (`python_test_shapes`); pytest fixtures named `test_*` are not tests. QE101 lives
in `python_test_assertions`, which follows assertions through local helpers.
"""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from aqe.findings import Finding, Fix, Severity, Span, TextEdit
from aqe.review.rules.base import Rule, RuleContext, RuleInfo, node_text, walk
from aqe.review.rules.python_test_assertions import NoAssertionInTest
from aqe.review.rules.python_test_shapes import (
    _PYTHON,
    _callee,
    _callee_object,
    _dotted,
    _enclosing_function,
    _import_map,
    _is_test_case_method,
    _last_name,
    _numeric_value,
    _positional_args,
    _pytest_name_and_import,
    _resolve,
    _short,
    _statements,
    _test_code_nodes,
    _test_functions,
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
            "`asyncio.sleep(0)`, which only yields to the event loop, sleeps inside a polling "
            "loop and sleeps in functions defined inside the test (a stub that simulates slow work) "
            "are not reported."
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        imports: dict[str, str] | None = None
        test_starts = {test.node.start_byte for test in _test_functions(ctx)}
        for node in _test_code_nodes(ctx):
            if node.type != "call" or not _in_test_itself(node, test_starts):
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
        if _is_division_by_zero(call):
            return "other"  # `1/0`: the oldest "this line must not be reached"
        if call.type != "call":
            return None
        callee = _callee(call)
        dotted = _dotted(callee)
        if dotted is not None and _resolve(dotted, imports) == "pytest.fail":
            return "pytest"
        if _last_name(callee) == "fail" and _callee_object(callee) in ("self", "cls"):
            return "assertion"
    return None


def _is_division_by_zero(expression: Node) -> bool:
    if expression.type != "binary_operator" or node_text(expression.child_by_field_name("operator")) != "/":
        return False
    return _numeric_value(expression.child_by_field_name("right")) == 0


_IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError"})


def _deliberate(try_node: Node, handler: Node, imports: dict[str, str]) -> bool:
    """Handlers that are not a test swallowing a failure of the code under test: the test raises its
    own exception (to set up `sys.exc_info()`), guards an optional import, or fails right after the
    `try` when the handler runs (`try: f() except E: pass else: continue; raise AssertionError`)."""
    body = _statements(try_node.child_by_field_name("body"))
    if body and all(statement.type == "raise_statement" and statement.named_children for statement in body):
        return True
    type_names = {node_text(t).rsplit(".", 1)[-1] for t in _handler_types(handler)}
    if (
        type_names
        and type_names <= _IMPORT_ERRORS
        and any(n.type in ("import_statement", "import_from_statement") for s in body for n in walk(s))
    ):
        return True
    following = try_node.next_named_sibling
    while following is not None and following.type == "comment":
        following = following.next_named_sibling
    return following is not None and _failure_kind(following, imports) is not None


def _in_test_itself(node: Node, test_starts: set[int]) -> bool:
    """Not inside a function nested in the test (a callback, a stub, a helper): those are the code the
    test drives, with their own reasons to catch or wait."""
    function = _enclosing_function(node)
    return function is not None and function.start_byte in test_starts


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
            "the intent explicit with `contextlib.suppress(Error)`. Not reported: handlers in "
            "functions nested in the test (callbacks, stubs), a `try` that only raises the test's own "
            "exception, an optional import guarded by `except ImportError`, and a `try` followed by an "
            "unconditional failure. The quick fix rewrites a "
            "one-statement `try` with a single specific `except Error: pass` to "
            "`with pytest.raises(Error):`, which deliberately makes the exception required."
        ),
        has_fix=True,
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        imports: dict[str, str] | None = None
        test_starts = {test.node.start_byte for test in _test_functions(ctx)}
        for node in _test_code_nodes(ctx):
            if node.type != "try_statement" or not _in_test_itself(node, test_starts):
                continue
            if imports is None:
                imports = _import_map(ctx.document.tree.root_node)
            handlers = [c for c in node.named_children if c.type in ("except_clause", "except_group_clause")]
            for handler in handlers:
                if not _swallows(handler) or _expects_the_exception(node, handler, imports):
                    continue
                if _deliberate(node, handler, imports):
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
            return not any(
                _calls_a_non_number(side)
                for side in (node.child_by_field_name("left"), node.child_by_field_name("right"))
            )
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        return any(side is not None and _is_floating(side) for side in (left, right))
    return False


_NUMBER_FUNCTIONS = frozenset({"len", "sum", "float", "int", "abs", "round", "min", "max", "pow"})


def _calls_a_non_number(node: Node | None) -> bool:
    """`relativedelta(days=28) / 28` divides a date delta: only calls known to give numbers count."""
    return node is not None and any(
        n.type == "call" and _last_name(_callee(n)) not in _NUMBER_FUNCTIONS for n in walk(node)
    )


def _is_constant(node: Node) -> bool:
    return not any(n.type in ("identifier", "call", "attribute", "subscript") for n in walk(node))


_STORED_VALUES = frozenset({"identifier", "subscript", "attribute"})


def _expected_side(left: Node, right: Node) -> Node | None:
    """The side to wrap in approx: the floating one, preferring the literal expected value."""
    if _is_constant(left) and _is_constant(right):
        return None  # literal against literal checks Python's arithmetic, not the code under test
    floating = [side for side in (right, left) if _is_floating(side)]
    if not floating:
        return None
    expected = next((side for side in floating if _is_constant(side)), floating[0])
    actual = left if expected is right else right
    if actual.type in _STORED_VALUES:
        return None  # a value read back (`config["FLOAT"] == 1.2`) is the literal it was parsed from
    return expected


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
            "because it tests no code. Only a computed value (a call or arithmetic) is reported: a "
            'name, attribute or subscript read back (`config["RATE"] == 1.2`) usually holds the very '
            "literal it was parsed from, which compares exactly."
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
