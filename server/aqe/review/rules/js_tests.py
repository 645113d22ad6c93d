"""Review rules for JavaScript/TypeScript tests (jest, vitest, mocha, jasmine, ava, node:test).

Tests are the `it(...)`/`test(...)` calls `aqe.parsing.units` finds (with `.only`, `.concurrent`,
and the curried `test.each(table)(title, fn)`); the callback is the function passed to them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tree_sitter import Node

from aqe.findings import Finding, Fix, Severity
from aqe.parsing.languages import Language
from aqe.parsing.units import UnitKind
from aqe.review.rules.base import Rule, RuleContext, RuleInfo, node_text, walk

_JS_FAMILY = frozenset({Language.JAVASCRIPT, Language.TYPESCRIPT, Language.TSX})
_FUNCTIONS = frozenset({"arrow_function", "function_expression", "function", "generator_function"})
_STRINGS = frozenset({"string", "template_string"})


# --- shared helpers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TestCall:
    title: str
    call: Node
    """The call that receives the callback (the outer call of `test.each(table)(title, fn)`)."""
    callee: Node
    """What is called to declare the test: `it`, `test.only`, `test.each` (without the table)."""
    names: tuple[str, ...]
    """The callee's names from the base: ("test", "each") or ("it", "only")."""
    callback: Node | None


def _member_names(node: Node | None) -> list[str]:
    """Names along a callee, through member accesses and calls: `request(app).get(u).expect` ->
    [request, get, expect]."""
    names: list[str] = []
    while node is not None:
        if node.type == "member_expression":
            names.append(node_text(node.child_by_field_name("property")))
            node = node.child_by_field_name("object")
        elif node.type == "call_expression":
            node = node.child_by_field_name("function")
        elif node.type in ("identifier", "this"):
            names.append(node_text(node))
            break
        elif node.type in ("parenthesized_expression", "non_null_expression", "await_expression"):
            node = node.named_children[0] if node.named_children else None
        else:
            break
    names.reverse()
    return names


def _arguments(call: Node) -> list[Node]:
    args = call.child_by_field_name("arguments")
    if args is None or args.type != "arguments":
        return []
    return [a for a in args.named_children if a.type != "comment"]


def _test_calls(ctx: RuleContext) -> list[_TestCall]:
    if not ctx.document.language.is_js_family:
        return []
    calls: list[_TestCall] = []
    seen: set[int] = set()
    for unit, node in ctx.units:
        if unit.kind is not UnitKind.TEST_FUNCTION or node.type != "call_expression":
            continue
        call = node
        parent = node.parent
        if parent is not None and parent.type == "call_expression" and parent.child_by_field_name("function") == node:
            call = parent
        callee = node.child_by_field_name("function")
        if callee is None or call.id in seen:
            continue
        seen.add(call.id)
        callback = next((a for a in reversed(_arguments(call)) if a.type in _FUNCTIONS), None)
        calls.append(_TestCall(unit.name, call, callee, tuple(_member_names(callee)), callback))
    return calls


def _first_parameter(function: Node) -> str | None:
    single = function.child_by_field_name("parameter")
    if single is not None:
        return node_text(single)
    parameters = function.child_by_field_name("parameters")
    if parameters is None or not parameters.named_children:
        return None
    first = parameters.named_children[0]
    if first.type in ("required_parameter", "optional_parameter"):
        pattern = first.child_by_field_name("pattern")
        return node_text(pattern) if pattern is not None and pattern.type == "identifier" else None
    return node_text(first) if first.type == "identifier" else None


def _short(node: Node, limit: int = 60) -> str:
    text = " ".join(node_text(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- QE301 js-test-without-expect --------------------------------------------------------------------

_ASSERTION_NAMES = frozenset({"expect", "assert", "should"})
_HELPER_WORDS = ("expect", "assert", "verify", "check")
# ava's and node-tap's `t.is(...)`, `t.deepEqual(...)`: assertions on the test's own context argument.
_CONTEXT_ASSERTIONS = frozenset(
    {
        "is", "not", "deepEqual", "notDeepEqual", "like", "true", "false", "truthy", "falsy",
        "throws", "throwsAsync", "notThrows", "notThrowsAsync", "regex", "notRegex", "snapshot",
        "assert", "pass", "fail", "plan", "equal", "notEqual", "same", "notSame", "ok", "notOk",
        "match", "notMatch", "strictSame", "strictNotSame", "has", "hasStrict", "error", "rejects",
        "resolves", "resolveMatch", "strictEqual", "notStrictEqual", "deepStrictEqual",
        "notDeepStrictEqual",
        # tape's names and aliases
        "doesNotThrow", "looseEqual", "notLooseEqual", "deepLooseEqual", "notDeepLooseEqual", "equals",
        "isEqual", "strictEquals", "deepEquals", "isNot", "notEquals", "ifError", "ifErr", "iferror",
        "assertion", "doesNotMatch",
    }
)  # fmt: skip
_FUNCTIONS = frozenset({"function", "function_expression", "arrow_function"})
# What a test context does besides asserting; any other method on it is taken as an assertion, since
# suites add their own (deep-equal's `t.deepEqualTest(...)` on tape's Test.prototype).
_CONTEXT_NON_ASSERTIONS = frozenset(
    {"end", "test", "comment", "teardown", "timeoutAfter", "on", "skip", "todo", "only", "log", "context",
     "before", "after", "beforeEach", "afterEach", "capture", "captureFn", "intercept", "mock", "diagnostic",
     "signal", "name", "runOnly", "subtest"}
)  # fmt: skip


def _named_like(name: str, words: tuple[str, ...]) -> bool:
    """`expectSaga`, `assert_ok`, `verify` match; `checkbox`, `expected` do not."""
    for word in words:
        if name == word:
            return True
        if name.startswith(word):
            following = name[len(word)]
            if following == "_" or following.isupper():
                return True
    return False


def _asserts(callback: Node) -> bool:
    # The test's context argument, and those of the subtests it opens (tape's `t.test(..., (st) => ...)`).
    contexts = {_first_parameter(node) for node in walk(callback) if node.type in _FUNCTIONS} - {None}
    for node in walk(callback):
        if node.type == "member_expression" and node_text(node.child_by_field_name("property")) == "should":
            return True
        if node.type != "call_expression":
            continue
        callee = node.child_by_field_name("function")
        if callee is not None and callee.type == "subscript_expression":  # `st['throws'](...)`
            target, index = callee.child_by_field_name("object"), callee.child_by_field_name("index")
            if node_text(target) in contexts and node_text(index).strip("'\"`") in _CONTEXT_ASSERTIONS:
                return True
        names = _member_names(callee)
        if not names:
            continue
        if _ASSERTION_NAMES.intersection(names):
            return True
        if _named_like(names[-1], _HELPER_WORDS) and not (len(names) > 1 and names[-1] == "check"):
            return True  # a plain `locator.check()` ticks a checkbox, it asserts nothing
        if len(names) >= 2 and names[0] in contexts and names[1] not in _CONTEXT_NON_ASSERTIONS:
            return True
    return False


class JsTestWithoutExpect(Rule):
    info = RuleInfo(
        id="QE301",
        name="js-test-without-expect",
        default_severity=Severity.WARNING,
        languages=_JS_FAMILY,
        summary="An it()/test() callback that never calls expect or assert passes whenever it does not throw.",
        rationale=(
            "A test with no expect(...), assert, chai `should` or ava/tap/tape `t.is(...)` (in subtests "
            "too: `t.test(..., (st) => st.equal(...))`) only checks "
            "that its code ran without throwing; a wrong result, or a promise nobody awaited, still "
            "passes. Assert the outcome, and for asynchronous code await it or use "
            "`expect.assertions(n)` so a skipped callback fails the test. Calls to helpers named "
            "expect*/assert*/verify*/check* count as assertions; `.todo` and `.skip` tests are not "
            "reported since they do not run."
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for test in _test_calls(ctx):
            if test.callback is None or "skip" in test.names or "todo" in test.names:
                continue
            if _asserts(test.callback):
                continue
            yield ctx.report(
                self.info,
                test.callee,
                f"Test '{test.title}' never calls expect or assert, so it passes whenever it does "
                "not throw: assert the result or the effect it should have.",
            )


# --- QE302 focused-test ------------------------------------------------------------------------------

_FOCUSABLE = frozenset({"it", "test", "describe", "suite", "context", "specify"})
_UNAMBIGUOUS = frozenset({"it", "test", "describe"})
_SUITES = frozenset({"describe", "suite", "context"})
_FOCUSED_ALIASES = {"fit": "it", "fdescribe": "describe"}


def _looks_like_test_declaration(call: Node, names: list[str]) -> bool:
    """`it`/`test`/`describe` are the runners' globals; `context.only(x)` needs a title to be a suite."""
    if names[0] in _UNAMBIGUOUS or "each" in names:
        return True
    args = _arguments(call)
    return bool(args) and args[0].type in _STRINGS


def _only_member(callee: Node) -> Node | None:
    node: Node | None = callee
    while node is not None and node.type == "member_expression":
        if node_text(node.child_by_field_name("property")) == "only":
            return node
        node = node.child_by_field_name("object")
    return None


class FocusedTest(Rule):
    info = RuleInfo(
        id="QE302",
        name="focused-test",
        default_severity=Severity.ERROR,
        languages=_JS_FAMILY,
        summary="A focused test (.only, fit, fdescribe) makes the runner skip every other test.",
        rationale=(
            "`it.only`, `test.only`, `describe.only`, `fit` and `fdescribe` are for debugging one "
            "test locally. Committed, they make jest, vitest, mocha and jasmine silently skip the "
            "rest of the file (or suite), so CI goes green without running most of the tests. "
            "Remove the focus before committing; the fix does exactly that."
        ),
        has_fix=True,
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        if not ctx.document.language.is_js_family:
            return
        for node in ctx.nodes_of_type("call_expression"):
            callee = node.child_by_field_name("function")
            if callee is None:
                continue
            if callee.type == "identifier":
                finding = self._check_alias(ctx, node, callee)
            elif callee.type == "member_expression":
                finding = self._check_only(ctx, node, callee)
            else:
                continue
            if finding is not None:
                yield finding

    def _check_only(self, ctx: RuleContext, call: Node, callee: Node) -> Finding | None:
        names = _member_names(callee)
        if not names or names[0] not in _FOCUSABLE or "only" not in names:
            return None
        if not _looks_like_test_declaration(call, names):
            return None
        member = _only_member(callee)
        focused = member.child_by_field_name("object") if member is not None else None
        prop = member.child_by_field_name("property") if member is not None else None
        if member is None or focused is None or prop is None:
            return None
        fix = Fix(title="Remove `.only`", edits=(ctx.edit(focused.end_byte, member.end_byte, ""),))
        kind = "suite" if names[0] in _SUITES else "test"
        return ctx.report(
            self.info,
            prop,
            f"`{node_text(focused)}.only` runs only this {kind} and silently skips the others, "
            "also in CI: remove `.only` before committing.",
            fix=fix,
        )

    def _check_alias(self, ctx: RuleContext, call: Node, callee: Node) -> Finding | None:
        name = node_text(callee)
        unfocused = _FOCUSED_ALIASES.get(name)
        if unfocused is None:
            return None
        args = _arguments(call)
        if len(args) < 2 or args[0].type not in _STRINGS or args[1].type not in _FUNCTIONS:
            return None
        fix = Fix(
            title=f"Rename `{name}` to `{unfocused}`",
            edits=(ctx.edit(callee.start_byte, callee.end_byte, unfocused),),
        )
        return ctx.report(
            self.info,
            callee,
            f"`{name}` runs only this {'suite' if unfocused == 'describe' else 'test'} and silently "
            f"skips the others, also in CI: use `{unfocused}` before committing.",
            fix=fix,
        )


# --- QE303 timer-in-test -----------------------------------------------------------------------------

_TIMERS = frozenset({"setTimeout", "setInterval"})
_GLOBAL_OBJECTS = frozenset({"window", "global", "globalThis", "self"})


def _uses_fake_timers(root: Node) -> bool:
    """jest/vitest/sinon fake timers anywhere in the file make timer calls in tests deterministic."""
    for node in walk(root):
        if node.type != "call_expression":
            continue
        names = _member_names(node.child_by_field_name("function"))
        if "useFakeTimers" in names:
            return True
        if names and names[-1] == "install" and ("FakeTimers" in names or "lolex" in names):
            return True
    return False


def _timer_name(call: Node) -> str | None:
    names = _member_names(call.child_by_field_name("function"))
    if len(names) == 1 and names[0] in _TIMERS:
        return names[0]
    if len(names) == 2 and names[0] in _GLOBAL_OBJECTS and names[1] in _TIMERS:
        return names[1]
    return None


def _delay(call: Node) -> Node | None:
    """`setTimeout(fn, delay)`, or `setTimeout(delay)` from `timers/promises`."""
    args = _arguments(call)
    if args and args[0].type == "number":
        return args[0]
    return args[1] if len(args) >= 2 else None


def _is_zero(node: Node | None) -> bool:
    if node is None:
        return True
    if node.type != "number":
        return False
    try:
        return float(node_text(node).replace("_", "")) == 0
    except ValueError:
        return False


def _in_promise_constructor(node: Node, boundary: Node) -> bool:
    current = node.parent
    while current is not None and current != boundary:
        if current.type == "new_expression" and node_text(current.child_by_field_name("constructor")) == "Promise":
            return True
        current = current.parent
    return False


class TimerInTest(Rule):
    info = RuleInfo(
        id="QE303",
        name="timer-in-test",
        default_severity=Severity.WARNING,
        languages=_JS_FAMILY,
        summary="A test waits on real time with setTimeout/setInterval.",
        rationale=(
            "Real timers make a test as slow as its longest wait and flaky whenever the machine is "
            "slower than the guess (`await new Promise(r => setTimeout(r, 500))` is a sleep). Use "
            "fake timers (`jest.useFakeTimers()`, `vi.useFakeTimers()`, sinon's clock) and advance "
            "them, or await the condition itself (`waitFor`, `vi.waitFor`, an event or promise). "
            "Files that install fake timers and zero-delay timers (a macrotask flush) are not "
            "reported."
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        callbacks = [t.callback for t in _test_calls(ctx) if t.callback is not None]
        if not callbacks or _uses_fake_timers(ctx.document.tree.root_node):
            return
        reported: set[int] = set()
        for callback in callbacks:
            for node in walk(callback):
                if node.type != "call_expression" or node.id in reported:
                    continue
                timer = _timer_name(node)
                if timer is None or _is_zero(_delay(node)):
                    continue
                reported.add(node.id)
                if _in_promise_constructor(node, callback):
                    what = f"`{_short(node)}` inside a Promise is a fixed sleep"
                else:
                    what = f"`{timer}` ties the test to real time"
                yield ctx.report(
                    self.info,
                    node,
                    f"{what}, slow and flaky on a slower machine: use fake timers "
                    "(jest.useFakeTimers()/vi.useFakeTimers()) or await the condition instead.",
                )


RULES: list[type[Rule]] = [JsTestWithoutExpect, FocusedTest, TimerInTest]
