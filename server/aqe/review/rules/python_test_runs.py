"""Review rules for tests whose outcome does not depend on the code they run (QE109, QE110, QE111).

A `pytest.raises(Exception)` around several statements passes when the setup fails; an `async def`
test that no plugin awaits never runs its body; a value a test returns is thrown away by pytest.
Which tests exist follows pytest's collection (`python_test_shapes`), and which plugins await
coroutines follows the project's own configuration and conftest.py files.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from tree_sitter import Node

from aqe.findings import Finding, Fix, Severity
from aqe.review.pytest_collection import PytestCollection, collection_for
from aqe.review.rules.base import Rule, RuleContext, RuleInfo, node_text, walk
from aqe.review.rules.python_test_shapes import (
    _PYTHON,
    _callee,
    _callee_object,
    _decorator_name,
    _dotted,
    _enclosing_function,
    _import_map,
    _last_name,
    _positional_args,
    _resolve,
    _short,
    _statements,
    _test_functions,
    _TestFunction,
)
from aqe.review.stat_cache import StatCache

# --- QE109 broad-raises-block ------------------------------------------------------------------------

_BROAD = frozenset({"Exception", "BaseException"})


def _expected_types(call: Node) -> list[str]:
    args = _positional_args(call)
    if not args:
        return []
    expected = args[0]
    items = expected.named_children if expected.type == "tuple" else [expected]
    return [node_text(item).rsplit(".", 1)[-1] for item in items if item.type != "comment"]


def _has_keyword(call: Node, name: str) -> bool:
    arguments = call.child_by_field_name("arguments")
    return arguments is not None and any(
        a.type == "keyword_argument" and node_text(a.child_by_field_name("name")) == name
        for a in arguments.named_children
    )


class BroadRaisesBlock(Rule):
    info = RuleInfo(
        id="QE109",
        name="broad-raises-around-block",
        default_severity=Severity.WARNING,
        languages=_PYTHON,
        summary="`pytest.raises(Exception)` around more than one statement passes when any of them fails.",
        rationale=(
            "With a catch-all type and several statements inside, a typo, a failing setup line or a "
            "wrong argument raises *some* exception and the test passes without ever reaching the call "
            "it meant to check. ruff reports the broad type (PT011) and the long block (PT012) "
            "separately, and both are often silenced; together they make a test that cannot fail. "
            "Keep only the call that should raise inside the block and name the exception it raises. "
            "`self.assertRaises(Exception)` used as a context manager is reported the same way; a "
            "`match=` pattern narrows what passes, so it is not reported. There is no quick fix: only "
            "a person knows which statement should raise, and what."
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        imports: dict[str, str] | None = None
        for statement in ctx.nodes_of_type("with_statement"):
            body = _statements(statement.child_by_field_name("body"))
            if len(body) < 2:
                continue
            for item in walk(statement.named_children[0]) if statement.named_children else ():
                if item.type != "with_item":
                    continue
                call = item.child_by_field_name("value")
                if call is None or call.type != "call":
                    continue
                if imports is None:
                    imports = _import_map(ctx.document.tree.root_node)
                if not self._is_broad_raises(call, imports):
                    continue
                yield ctx.report(
                    self.info,
                    call,
                    f"`{_short(call)}` wraps {len(body)} statements: any exception from any of them "
                    "passes the test. Keep only the call that should raise inside, and name its exception.",
                )

    @staticmethod
    def _is_broad_raises(call: Node, imports: dict[str, str]) -> bool:
        callee = _callee(call)
        dotted = _dotted(callee)
        is_pytest = dotted is not None and _resolve(dotted, imports) == "pytest.raises"
        is_unittest = _last_name(callee) == "assertRaises" and _callee_object(callee) in ("self", "cls")
        if not (is_pytest or is_unittest) or _has_keyword(call, "match"):
            return False
        return any(name in _BROAD for name in _expected_types(call))


# --- QE110 async-test-not-awaited --------------------------------------------------------------------

_RUNNER_MARKS = frozenset({"asyncio", "anyio", "trio", "gen_test", "asyncio_cooperative", "tornado"})
_MARK_NAME = re.compile(r"\bmark\.(\w+)")
_PLAIN_MARK_PREFIXES = ("pytest.mark.", "mark.")
_AWAITING_BASE_WORDS = ("Async", "Aio", "asynctest")
_CONFTEST_SIGNS = ("pytest_pyfunc_call", "iscoroutinefunction", "mark.asyncio", "mark.anyio", "mark.trio",
                   "asyncio_mode", "anyio_backend", "trio_mode")  # fmt: skip
"""What in a conftest.py may make coroutine tests run: a hook that calls tests, marks added at
collection time, or a backend fixture the anyio plugin looks for."""


def _is_async(function: Node) -> bool:
    return bool(function.children) and function.children[0].type == "async"


def _marks_runner(texts: list[str]) -> bool:
    """`@pytest.mark.asyncio`, `pytestmark = [pytest.mark.anyio]`, `@pytest.mark.trio(...)`."""
    return any(mark in _RUNNER_MARKS for text in texts for mark in _MARK_NAME.findall(text))


def _pytestmark(block: Node | None) -> list[str]:
    if block is None:
        return []
    texts = []
    for child in block.named_children:
        if child.type == "expression_statement" and child.named_child_count == 1:
            assignment = child.named_children[0]
            if assignment.type == "assignment" and node_text(assignment.child_by_field_name("left")) == "pytestmark":
                texts.append(node_text(assignment.child_by_field_name("right")))
    return texts


def _enclosing_classes(function: Node) -> list[Node]:
    classes = []
    current = function.parent
    while current is not None:
        if current.type == "class_definition":
            classes.append(current)
        current = current.parent
    return classes


def _class_decorators(cls: Node) -> list[str]:
    parent = cls.parent
    if parent is None or parent.type != "decorated_definition":
        return []
    return [node_text(d).lstrip("@").strip() for d in parent.named_children if d.type == "decorator"]


def _class_may_await(cls: Node) -> bool:
    """An async TestCase (IsolatedAsyncioTestCase, AioHTTPTestCase, asynctest) awaits its tests; a base
    class from elsewhere may carry marks or a runner of its own, so it is given the benefit of the doubt."""
    superclasses = cls.child_by_field_name("superclasses")
    if superclasses is None:
        return False
    for base in superclasses.named_children:
        name = node_text(base)
        if any(word in name for word in _AWAITING_BASE_WORDS):
            return True
        if name.rsplit(".", 1)[-1] not in ("object", "TestCase"):
            return True
    return False


def _mentions_a_runner(_: Path, text: str) -> bool:
    return any(sign in text for sign in _CONFTEST_SIGNS)


_conftest_signs: StatCache[bool] = StatCache(_mentions_a_runner, missing=False)


def _project_awaits(document_path: str, collection: PytestCollection, document_text: str) -> bool:
    """The configuration awaits every coroutine test, or a conftest.py pytest loads may do so."""
    if collection.async_runners or any(sign in document_text for sign in ("pytest_pyfunc_call", "anyio_backend")):
        return True
    file = Path(document_path)
    if not file.is_absolute():
        return False
    for depth, directory in enumerate(file.parents):
        conftest = directory / "conftest.py"
        if conftest != file and conftest.is_file() and _conftest_signs.get(conftest):
            return True
        if directory == collection.rootdir or (collection.rootdir is None and depth >= 3):
            return False
    return False


def _test_may_be_awaited(test: _TestFunction, module_marks: list[str]) -> bool:
    if any(not _decorator_name(d).startswith(_PLAIN_MARK_PREFIXES) for d in test.decorators):
        return True  # a decorator of its own (`@async_test`, `@inlineCallbacks`) may run the coroutine
    if _marks_runner(list(test.decorators) + module_marks) or any(
        _decorator_name(d).endswith((".skip", ".skipif", ".xfail")) for d in test.decorators
    ):
        return True
    for cls in _enclosing_classes(test.node):
        if _class_may_await(cls) or _marks_runner(
            _class_decorators(cls) + _pytestmark(cls.child_by_field_name("body"))
        ):
            return True
    parameters = test.node.child_by_field_name("parameters")
    return "anyio_backend" in node_text(parameters)


class AsyncTestNotAwaited(Rule):
    info = RuleInfo(
        id="QE110",
        name="async-test-not-awaited",
        default_severity=Severity.WARNING,
        languages=_PYTHON,
        summary="An `async def` test that no configured plugin awaits: its body never runs.",
        rationale=(
            "pytest calls a test function and gets a coroutine back; without a plugin that awaits it, "
            "the body never runs (pytest skips such tests with a warning, and fails them from 8.4), and "
            "a plain unittest.TestCase method passes after only a RuntimeWarning. Mark the test for the "
            "plugin you use (`@pytest.mark.asyncio`, `@pytest.mark.anyio`, `@pytest.mark.trio`), set "
            "`asyncio_mode = auto`, or use `unittest.IsolatedAsyncioTestCase`. Not reported when the "
            "project's pytest configuration awaits every coroutine (asyncio_mode = auto, also through "
            "addopts; trio_mode = true), a runner mark is on the test, its class or the module's "
            "`pytestmark`, the test asks for `anyio_backend`, it has a decorator of its own, its class "
            "derives from an async TestCase or from a base class defined elsewhere, or a conftest.py "
            "pytest loads may run coroutines (a pytest_pyfunc_call hook, marks added at collection)."
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        tests = [test for test in _test_functions(ctx) if _is_async(test.node)]
        if not tests:
            return
        collection = collection_for(ctx.document.path)
        if _project_awaits(ctx.document.path, collection, ctx.document.text):
            return
        module_marks = _pytestmark(ctx.document.tree.root_node)
        for test in tests:
            if _enclosing_function(test.node) is not None or _test_may_be_awaited(test, module_marks):
                continue
            yield ctx.report(
                self.info,
                test.node.child_by_field_name("name") or test.node,
                f"`{test.name}` is a coroutine that no configured plugin awaits, so its body never runs: "
                "mark it (@pytest.mark.asyncio / anyio / trio) or set asyncio_mode = auto.",
            )


# --- QE111 return-in-test ----------------------------------------------------------------------------

_SKIP_CALLS = frozenset({"skip", "skipTest", "xfail", "fail", "exit"})
_BOOLEAN_EXPRESSIONS = frozenset({"comparison_operator", "boolean_operator", "not_operator"})


def _called_elsewhere(root: Node, name: str) -> bool:
    """A test another function calls is also a helper whose value is used."""
    return any(n.type == "call" and _last_name(_callee(n)) == name for n in walk(root))


class ReturnInTest(Rule):
    info = RuleInfo(
        id="QE111",
        name="return-value-in-test",
        default_severity=Severity.WARNING,
        languages=_PYTHON,
        summary="A test returns a value instead of asserting it; pytest ignores the value.",
        rationale=(
            "`return result == expected` in a test checks nothing: pytest discards what a test returns "
            "(and warns, PytestReturnNotNoneWarning; unittest warns since Python 3.11). Assert the "
            "value instead. A bare `return`, `return None`, a returned skip (`return pytest.skip(...)`) "
            "and tests that other code in the file calls as helpers are not reported. The quick fix "
            "turns a final `return <comparison>` into `assert <comparison>`, which has the same flow."
        ),
        has_fix=True,
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        root = ctx.document.tree.root_node
        for test in _test_functions(ctx):
            body = test.node.child_by_field_name("body")
            if body is None:
                continue
            returns = [n for n in walk(body) if n.type == "return_statement" and _enclosing_function(n) == test.node]
            returns = [r for r in returns if self._returns_a_value(r)]
            if not returns or _called_elsewhere(root, test.name):
                continue
            last_statement = _statements(body)[-1] if _statements(body) else None
            for statement in returns:
                value = statement.named_children[0]
                fix = None
                if statement == last_statement and value.type in _BOOLEAN_EXPRESSIONS:
                    keyword = statement.children[0]
                    fix = Fix(
                        title="Assert it instead", edits=(ctx.edit(keyword.start_byte, keyword.end_byte, "assert"),)
                    )
                yield ctx.report(
                    self.info,
                    statement,
                    f"`{test.name}` returns `{_short(value, 40)}`, which pytest ignores: assert it instead.",
                    fix=fix,
                )

    @staticmethod
    def _returns_a_value(statement: Node) -> bool:
        values = [c for c in statement.named_children if c.type != "comment"]
        if not values or values[0].type == "none":
            return False
        value = values[0]
        return not (value.type == "call" and _last_name(_callee(value)) in _SKIP_CALLS)


RULES: list[type[Rule]] = [BroadRaisesBlock, AsyncTestNotAwaited, ReturnInTest]
