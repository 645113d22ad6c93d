"""Review rules for assertions that look like checks but cannot fail (QE105-QE108).

Each is a slip of the pen that Python accepts silently: a misspelt mock assertion is just another
attribute of the mock, `assertTrue`'s second argument is the failure message, a parenthesised
assertion is a non-empty tuple, and a value compared with itself is equal. None of them fails when
the code under test is wrong, which is exactly what a test is for.
"""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from aqe.findings import Finding, Fix, Severity
from aqe.review.rules.base import Rule, RuleContext, RuleInfo, node_text, walk
from aqe.review.rules.python_test_shapes import (
    _PYTHON,
    _callee,
    _callee_object,
    _enclosing_function,
    _last_name,
    _positional_args,
    _short,
    _test_code_nodes,
    _test_functions,
)

# --- QE105 misspelt-mock-assertion -------------------------------------------------------------------

MOCK_ASSERTIONS = frozenset(
    {
        "assert_called", "assert_called_once", "assert_called_with", "assert_called_once_with",
        "assert_any_call", "assert_has_calls", "assert_not_called", "assert_awaited", "assert_awaited_once",
        "assert_awaited_with", "assert_awaited_once_with", "assert_any_await", "assert_has_awaits",
        "assert_not_awaited",
    }
)  # fmt: skip
"""unittest.mock's assertion methods (Python 3.8+)."""
_UNPREFIXED = {name.removeprefix("assert_"): name for name in MOCK_ASSERTIONS}
del _UNPREFIXED["called"], _UNPREFIXED["awaited"]  # real attributes (`mock.called` is a bool)
_GUARDED_PREFIXES = ("assert", "assret")
"""Mock raises AttributeError for unknown attributes starting with these (any Python 3.5+), so a typo
behind them fails loudly; every other misspelling silently returns a child mock."""


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def intended_mock_assertion(name: str) -> str | None:
    """The mock assertion `name` was meant to be when it silently is not one, else None.

    `called_once_with` lost its `assert_`; `asert_called_once` misspells the prefix. A misspelling
    after a correct `assert_` is not returned: Mock raises on it, so the test already fails.
    """
    if name in MOCK_ASSERTIONS:
        return None
    if name in _UNPREFIXED:
        return _UNPREFIXED[name]
    prefix, _, rest = name.partition("_")
    if not rest or not prefix.startswith("a") or prefix.startswith(_GUARDED_PREFIXES):
        return None
    if _edit_distance(prefix, "assert") > 2:
        return None
    intended = f"assert_{rest}"
    return intended if intended in MOCK_ASSERTIONS else None


def _defines(root: Node, name: str) -> bool:
    """A fake in the same file that really has a method of this name (a hand-written spy)."""
    return any(n.type == "function_definition" and node_text(n.child_by_field_name("name")) == name for n in walk(root))


class MisspeltMockAssertion(Rule):
    info = RuleInfo(
        id="QE105",
        name="misspelt-mock-assertion",
        default_severity=Severity.WARNING,
        languages=_PYTHON,
        summary="A mock assertion that is not one: misspelt, missing `assert_`, or never called.",
        rationale=(
            "A Mock creates any attribute on first use, so `mock.called_once_with(x)`, "
            "`mock.asert_called_once()` and `mock.assert_called_once` (no parentheses) all run "
            "without error and check nothing: the test passes whatever the code did. Since Python 3.5 "
            "Mock raises on unknown names starting with `assert` or `assret`, so those already fail and "
            "are not reported; every other spelling is silent (Python 3.12 also guards `asert`, `aseert` "
            "and `assrt`, which are still reported for older versions). A method the same file defines (a "
            "hand-written spy) is not reported. The quick fix writes the real assertion name, or adds "
            "the missing call parentheses."
        ),
        has_fix=True,
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        root = ctx.document.tree.root_node
        for node in ctx.nodes_of_type("call", "expression_statement"):
            if node.type == "expression_statement":
                finding = self._uncalled(ctx, node)
            else:
                finding = self._misnamed(ctx, node, root)
            if finding is not None:
                yield finding

    def _misnamed(self, ctx: RuleContext, call: Node, root: Node) -> Finding | None:
        callee = _callee(call)
        if callee is None or callee.type != "attribute" or _callee_object(callee) in ("self", "cls"):
            return None
        name = _last_name(callee)
        intended = intended_mock_assertion(name)
        if intended is None or not _result_unused_or_asserted(call) or _defines(root, name):
            return None
        attribute = callee.child_by_field_name("attribute")
        assert attribute is not None
        fix = Fix(
            title=f"Rename to `{intended}`", edits=(ctx.edit(attribute.start_byte, attribute.end_byte, intended),)
        )
        return ctx.report(
            self.info,
            attribute,
            f"`{name}` is not a mock assertion: the mock makes up the attribute and the call checks "
            f"nothing, so this line always passes. Did you mean `{intended}`?",
            fix=fix,
        )

    def _uncalled(self, ctx: RuleContext, statement: Node) -> Finding | None:
        if statement.named_child_count != 1:
            return None
        expression = statement.named_children[0]
        if expression.type != "attribute" or _last_name(expression) not in MOCK_ASSERTIONS:
            return None
        name = _last_name(expression)
        fix = Fix(title=f"Call `{name}()`", edits=(ctx.edit(expression.end_byte, expression.end_byte, "()"),))
        return ctx.report(
            self.info,
            expression,
            f"`{_short(expression)}` names the assertion without calling it, so it checks nothing: add `()`.",
            fix=fix,
        )


def _result_unused_or_asserted(call: Node) -> bool:
    """A statement of its own, or the condition of an `assert` (a child mock is always truthy)."""
    parent = call.parent
    if parent is None:
        return False
    if parent.type == "expression_statement":
        return parent.named_child_count == 1
    return parent.type == "assert_statement" and parent.named_children[0] == call


# --- QE106 assert-true-with-expected -----------------------------------------------------------

_TRUTH_ASSERTIONS = {"assertTrue": "assertEqual", "assert_": "assertEqual", "failUnless": "assertEqual",
                     "assertFalse": None, "failIf": None}  # fmt: skip
_VALUE_LITERALS = frozenset({"integer", "float", "true", "false", "none", "list", "tuple", "dictionary", "set"})


def _looks_like_expected_value(node: Node) -> bool:
    """A message is text; a number, a constant, a container or a name like `expected` is a value."""
    if node.type == "unary_operator":
        argument = node.child_by_field_name("argument")
        return argument is not None and argument.type in ("integer", "float")
    if node.type in _VALUE_LITERALS:
        return True
    name = _last_name(node) if node.type in ("identifier", "attribute") else ""
    return name.lower().startswith(("expected", "expect_", "want"))


def _is_literal(node: Node) -> bool:
    """`assertTrue([1, True], [1.0, 1j])` lost the call under test: assertEqual would compare two literals."""
    return not any(n.type in ("identifier", "call", "attribute", "subscript") for n in walk(node))


class AssertTrueWithExpectedValue(Rule):
    info = RuleInfo(
        id="QE106",
        name="assert-true-with-expected",
        default_severity=Severity.WARNING,
        languages=_PYTHON,
        summary="`assertTrue(x, y)` with a value for y: y is only the failure message, never compared.",
        rationale=(
            "`self.assertTrue(result, 3)` reads like a comparison but checks only that `result` is "
            "truthy; the second argument is the message shown on failure. Use "
            "`self.assertEqual(result, 3)`. Reported when the second argument is a number, a "
            "constant, a container literal or a name starting with `expected`/`want`; a string or any "
            "other expression is taken as the message it is meant to be. The quick fix turns "
            "`assertTrue` into `assertEqual`; `assertFalse` has no fix, as its intent is unclear, nor has a "
            "first argument that is itself a literal (the call under test is missing, not the comparison)."
        ),
        has_fix=True,
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for node in ctx.nodes_of_type("call"):
            callee = _callee(node)
            method = _last_name(callee)
            if method not in _TRUTH_ASSERTIONS or _callee_object(callee) not in ("self", "cls"):
                continue
            args = _positional_args(node)
            arguments = node.child_by_field_name("arguments")
            named = [a for a in arguments.named_children if a.type != "comment"] if arguments is not None else []
            if len(args) != 2 or len(named) != 2 or not _looks_like_expected_value(args[1]):
                continue
            replacement = _TRUTH_ASSERTIONS[method]
            fix = None
            attribute = callee.child_by_field_name("attribute") if callee is not None else None
            if replacement is not None and attribute is not None and not _is_literal(args[0]):
                edit = ctx.edit(attribute.start_byte, attribute.end_byte, replacement)
                fix = Fix(title=f"Use self.{replacement}", edits=(edit,))
            yield ctx.report(
                self.info,
                node,
                f"`{_short(node)}` only checks that the first argument is "
                f"{'truthy' if method != 'assertFalse' and method != 'failIf' else 'falsy'}: "
                f"`{_short(args[1], 30)}` is the failure message, not an expected value.",
                fix=fix,
            )


# --- QE107 assert-on-tuple ---------------------------------------------------------------------------

_STRING_TYPES = frozenset({"string", "concatenated_string"})


class AssertOnTuple(Rule):
    info = RuleInfo(
        id="QE107",
        name="assert-on-tuple",
        default_severity=Severity.ERROR,
        languages=_PYTHON,
        summary="`assert (condition, message)` asserts a non-empty tuple, which is always true.",
        rationale=(
            "The parentheses make one tuple of the condition and the message, and a non-empty tuple "
            "is truthy, so the assertion never fails (Python only emits a SyntaxWarning at compile "
            "time, which test runs rarely show). Write `assert condition, message`. Reported in any "
            "Python file, tests or not. The quick fix drops the parentheses when the tuple is a "
            "condition and a string message; other tuples are left for a person to split."
        ),
        has_fix=True,
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for statement in ctx.nodes_of_type("assert_statement"):
            expressions = [c for c in statement.named_children if c.type != "comment"]
            if not expressions or expressions[0].type != "tuple":
                continue
            items = [c for c in expressions[0].named_children if c.type != "comment"]
            if not items:
                continue
            fix = None
            if len(expressions) == 1 and len(items) == 2 and items[1].type in _STRING_TYPES:
                text = f"{node_text(items[0])}, {node_text(items[1])}"
                edit = ctx.edit(expressions[0].start_byte, expressions[0].end_byte, text)
                fix = Fix(title="Assert the condition with its message: drop the parentheses", edits=(edit,))
            yield ctx.report(
                self.info,
                statement,
                f"`{_short(statement)}` asserts a non-empty tuple, which is always true: write "
                "`assert condition, message` without the parentheses.",
                fix=fix,
            )


# --- QE108 self-comparison ---------------------------------------------------------------------------

_ALWAYS_TRUE_OPERATORS = frozenset({"==", "is", ">=", "<="})
_SELF_EQUAL_METHODS = frozenset(
    {"assertEqual", "assertEquals", "assertIs", "assertGreaterEqual", "assertLessEqual", "assertCountEqual",
     "assertListEqual", "assertDictEqual", "assertSetEqual"}
)  # fmt: skip
_NAMES_OF_DELIBERATE_SELF_COMPARISON = ("eq", "equal", "ident", "reflex", "compar", "same", "hash", "cmp", "order",
                                        "cache", "memo", "idempot", "stable", "determin", "nan", "self")  # fmt: skip
_PURE_NODES = frozenset({"identifier", "attribute", "subscript", "integer", "float", "string", "string_start",
                         "string_content", "string_end", "true", "false", "none", ".", "[", "]"})  # fmt: skip


def _same_pure_value(left: Node, right: Node) -> bool:
    """Both sides spell the same plain value (names, attributes, literal subscripts): no calls whose
    results could differ, and at least one name, so `1 == 1` placeholders are QE101's business."""
    if " ".join(node_text(left).split()) != " ".join(node_text(right).split()):
        return False
    nodes = list(walk(left))
    return all(n.type in _PURE_NODES for n in nodes) and any(n.type == "identifier" for n in nodes)


def _deliberate(test_name: str) -> bool:
    """`test_eq_is_reflexive`, `test_property_is_cached`: comparing a value with itself is the point."""
    lowered = test_name.lower()
    return any(word in lowered for word in _NAMES_OF_DELIBERATE_SELF_COMPARISON)


class SelfComparison(Rule):
    info = RuleInfo(
        id="QE108",
        name="self-comparison-in-test",
        default_severity=Severity.WARNING,
        languages=_PYTHON,
        summary="A test compares a value with itself, which passes whatever the value is.",
        rationale=(
            "`assert result == result` or `self.assertEqual(total, total)` is almost always a typo for "
            "the expected value, and passes for any result. Compare with the value you expect. Only "
            "plain names, attributes and literal subscripts are compared (two calls may rightly "
            "differ), `!=` and `is not` are left alone (the NaN check), and so are tests whose names "
            "say the comparison is the point (equality, identity, hashing, caching, ordering)."
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        names = {test.node.start_byte: test.name for test in _test_functions(ctx)}
        for node in _test_code_nodes(ctx):
            pair = self._compared(node)
            if pair is None or not _same_pure_value(*pair):
                continue
            function = _enclosing_function(node)
            if function is None or _deliberate(names.get(function.start_byte, "")):
                continue
            yield ctx.report(
                self.info,
                node,
                f"`{_short(node)}` compares `{_short(pair[0], 30)}` with itself, so it passes whatever "
                "the value is: compare with the value you expect.",
            )

    @staticmethod
    def _compared(node: Node) -> tuple[Node, Node] | None:
        if node.type == "comparison_operator":
            parent = node.parent
            operands = [c for c in node.named_children if c.type != "comment"]
            operators = [node_text(c) for c in node.children if not c.is_named]
            if parent is None or parent.type != "assert_statement" or parent.named_children[0] != node:
                return None
            if len(operands) == 2 and len(operators) == 1 and operators[0] in _ALWAYS_TRUE_OPERATORS:
                return operands[0], operands[1]
            return None
        if node.type == "call":
            callee = _callee(node)
            if _last_name(callee) in _SELF_EQUAL_METHODS and _callee_object(callee) in ("self", "cls"):
                args = _positional_args(node)
                if len(args) >= 2:
                    return args[0], args[1]
        return None


RULES: list[type[Rule]] = [MisspeltMockAssertion, AssertTrueWithExpectedValue, AssertOnTuple, SelfComparison]
