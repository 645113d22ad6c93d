"""QE101 test-without-assertion: a collected test with no way to fail on a wrong result.

Real suites rarely assert only inline: a test calls `self._check_roundtrip(...)`, a module helper, a
conftest helper or a fixture that asserts; a mock assertion, `pytest.raises`, a snapshot fixture or a
hypothesis property does the checking. Each of those counts, following local calls (same file, same
class, conftest.py files up to the project root) two levels deep. A test whose documented purpose is
"does not raise" is left alone: passing when nothing raises is what it is for.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from tree_sitter import Node

from aqe.findings import Finding, Severity
from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language
from aqe.review.pytest_collection import collection_for
from aqe.review.rules.base import Rule, RuleContext, RuleInfo, node_text, walk
from aqe.review.rules.python_test_shapes import (
    _PYTHON,
    _callee,
    _callee_object,
    _decorator_name,
    _definitions,
    _dotted,
    _import_map,
    _last_name,
    _named_like,
    _resolve,
    _test_functions,
    _TestFunction,
)
from aqe.review.stat_cache import StatCache

_RAISING_PYTEST_CALLS = frozenset({"pytest.raises", "pytest.warns", "pytest.fail", "pytest.deprecated_call"})
_ASSERTION_WORDS = ("assert", "check", "verify", "expect")
_UNITTEST_FAILURES = ("fail",)  # self.fail, self.failIf, self.failUnless, self.failUnlessEqual, ...
_SKIP_DECORATORS = frozenset({"pytest.mark.skip", "mark.skip", "unittest.skip", "skip"})
_PROPERTY_DECORATORS = frozenset({"given", "hypothesis.given", "settings", "hypothesis.settings"})
_CHECKING_FIXTURES = frozenset(
    {
        "snapshot", "snapshot_json", "json_snapshot", "image_snapshot", "data_regression", "file_regression",
        "num_regression", "ndarrays_regression", "dataframe_regression", "image_regression", "benchmark",
    }
)  # fmt: skip
"""Fixtures that compare on their own (syrupy, pytest-regressions) or make the test a measurement."""
_NO_RAISE = re.compile(
    r"(?:n't|\bnot|\bnever)\s+(?:raise|crash|fail|throw|error|blow|warn|validate)"
    r"|\bno\s+(?:exceptions?|errors?|crash|warnings?)|\bwithout\s+(?:raising|errors?|exceptions?|crash|warnings?"
    r"|an?\s+(?:error|exception))|\bwould\s+(?:raise|fail|crash|error|throw)|\bsmoke[- ]?test|\bfor\s+coverage\b"
    r"|\bchecks?\s+that\s+.{0,60}?\b(?:can|works|runs|loads|imports|succeeds)\b",
    re.IGNORECASE,
)
_HELPER_DEPTH = 2


def _checks_directly(body: Node, imports: dict[str, str]) -> bool:
    """Any way a function can fail on a wrong result; an explicit `raise` counts, it fails the test too."""
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
        if _named_like(name, _UNITTEST_FAILURES) and _callee_object(callee) in ("self", "cls"):
            return True
    return False


def _called_names(body: Node) -> tuple[set[str], set[str]]:
    """Plain names called (`helper(...)`) and methods called on self/cls (`self._check(...)`)."""
    functions: set[str] = set()
    methods: set[str] = set()
    for node in walk(body):
        if node.type != "call":
            continue
        callee = _callee(node)
        if callee is None:
            continue
        if callee.type == "identifier":
            functions.add(node_text(callee))
        elif callee.type == "attribute" and _callee_object(callee) in ("self", "cls"):
            methods.add(_last_name(callee))
    return functions, methods


def _parameters(function: Node) -> set[str]:
    parameters = function.child_by_field_name("parameters")
    names: set[str] = set()
    for parameter in parameters.named_children if parameters is not None else ():
        name = parameter if parameter.type == "identifier" else parameter.child_by_field_name("name")
        if name is None and parameter.named_children:
            name = parameter.named_children[0]
        if name is not None and name.type == "identifier":
            names.add(node_text(name))
    return names


def _asserting_definitions(root: Node, imports: dict[str, str], known: frozenset[str]) -> tuple[set[str], set[str]]:
    """Module-level functions (helpers and fixtures) and class methods that check something, directly
    or through another such definition (`known` ones, e.g. from conftest.py, count as checking)."""
    functions = [(node_text(f.child_by_field_name("name")), f) for f, _ in _definitions(root, "function_definition")]
    methods = [
        (node_text(m.child_by_field_name("name")), m)
        for cls, _ in _definitions(root, "class_definition")
        if (body := cls.child_by_field_name("body")) is not None
        for m, _ in _definitions(body, "function_definition")
    ]
    checking_functions: set[str] = set()
    checking_methods: set[str] = set()
    for _ in range(_HELPER_DEPTH):
        for names, found in ((functions, checking_functions), (methods, checking_methods)):
            for name, function in names:
                body = function.child_by_field_name("body")
                if name in found or body is None:
                    continue
                if _checks_directly(body, imports) or _reaches(
                    body, function, checking_functions | known, checking_methods
                ):
                    found.add(name)
    return checking_functions, checking_methods


def _reaches(body: Node, function: Node, functions: set[str] | frozenset[str], methods: set[str]) -> bool:
    called, called_methods = _called_names(body)
    return bool(called & functions or called_methods & methods or _parameters(function) & functions)


def _checkers_in(path: Path, text: str) -> frozenset[str]:
    """Names of the functions and fixtures in one test-support module that check something."""
    root = ParsedDocument.parse(str(path), text, Language.PYTHON).tree.root_node
    return frozenset(_asserting_definitions(root, _import_map(root), frozenset())[0])


_module_checkers_cache: StatCache[frozenset[str]] = StatCache(_checkers_in, missing=frozenset())
_module_checkers = _module_checkers_cache.get


def conftest_checkers(document_path: str) -> frozenset[str]:
    """Checking helpers and fixtures of every conftest.py pytest would load for this file."""
    file = Path(document_path)
    if not file.is_absolute():
        return frozenset()
    root = collection_for(document_path).rootdir
    names: set[str] = set()
    for depth, directory in enumerate(file.parents):
        conftest = directory / "conftest.py"
        if conftest != file and conftest.is_file():
            names |= _module_checkers(conftest)
        if directory == root or (root is None and depth >= 3):
            break
    return frozenset(names)


_SUPPORT_FOLDERS = frozenset({"tests", "test", "testing"})


def _is_test_support(path: Path) -> bool:
    """Only test code is followed: a library function that raises is not an assertion helper."""
    name = path.name
    return (
        name.startswith(("test", "conftest")) or name.endswith("_test.py") or "testing" in name
        or any(part in _SUPPORT_FOLDERS for part in path.parts[:-1])
    )  # fmt: skip


def _module_files(document: Path, module: str, root: Path | None) -> Iterator[Path]:
    """Where `from <module> import ...` may live: relative to the file for `.x`, else from the project
    root or one of the file's folders up to it (pytest's rootdir-relative imports and sys.path)."""
    dots = len(module) - len(module.lstrip("."))
    parts = [p for p in module.lstrip(".").split(".") if p]
    if dots:
        bases = [document.parents[dots - 1]] if dots <= len(document.parents) else []
    else:
        bases = []
        for directory in document.parents:
            bases.append(directory)
            if directory == root or (root is None and len(bases) > 3):
                break
    for base in bases:
        stem = base.joinpath(*parts) if parts else base
        yield stem.with_suffix(".py") if parts else stem / "__init__.py"
        yield stem / "__init__.py"


def imported_checkers(document_path: str, root_node: Node) -> frozenset[str]:
    """Checking helpers imported by name from the project's own test-support modules
    (`from tests.util import elementary_test`, `from .helpers import compare`)."""
    file = Path(document_path)
    if not file.is_absolute():
        return frozenset()
    project_root = collection_for(document_path).rootdir
    names: set[str] = set()
    for statement in root_node.named_children:
        if statement.type != "import_from_statement":
            continue
        module = statement.child_by_field_name("module_name")
        imported = {
            node_text(n.child_by_field_name("alias") or n.child_by_field_name("name")) if n.type == "aliased_import"
            else node_text(n): node_text(n.child_by_field_name("name")) if n.type == "aliased_import" else node_text(n)
            for n in statement.children_by_field_name("name")
        }  # fmt: skip
        if module is None or not imported:
            continue
        for candidate in _module_files(file, node_text(module), project_root):
            if candidate != file and _is_test_support(candidate) and candidate.is_file():
                checking = _module_checkers(candidate)
                names.update(local for local, original in imported.items() if original in checking)
                break
    return frozenset(names)


_FORGOTTEN_ASSERTION = 2.0
"""Log-odds added when the test visibly meant to check something: `AssertionError(...)` built but
never raised, or a comparison left as a bare statement (`result == expected` without `assert`)."""


def _forgot_an_assertion(body: Node) -> bool:
    for node in walk(body):
        if node.type != "expression_statement" or node.named_child_count != 1:
            continue
        expression = node.named_children[0]
        if expression.type == "comparison_operator":
            return True
        if expression.type == "call" and _last_name(_callee(expression)).endswith(("Error", "Exception")):
            return True
    return False


def _only_imports(body: Node) -> bool:
    """`def test_import_parser(): from dateutil import parser`: the import is the check."""
    imports = 0
    for statement in body.named_children:
        if statement.type in ("import_statement", "import_from_statement"):
            imports += 1
        elif statement.type in ("comment", "pass_statement"):
            continue
        elif not (
            statement.type == "expression_statement"
            and statement.named_child_count == 1
            and statement.named_children[0].type == "string"
        ):
            return False
    return imports > 0


def _documented_as_not_raising(test: _TestFunction) -> bool:
    """The docstring, a comment in the test or its name says the point is that nothing raises."""
    texts = [test.name.replace("_", " ")]
    for node in walk(test.node):
        parent_type = node.parent.type if node.parent is not None else ""
        if node.type == "comment" or (node.type == "string" and parent_type == "expression_statement"):
            texts.append(node_text(node))
    return any(_NO_RAISE.search(text) for text in texts)


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
            "(the return value, the state change, the call on a mock). Only what pytest collects "
            "under the project's own configuration is a test (python_files, python_classes, "
            "python_functions, testpaths, norecursedirs); nested functions never are. Calls to "
            "helpers named assert_*/check_*/verify_*/expect*, to helpers, methods, fixtures or "
            "conftest.py functions or test-support modules that assert (two calls deep), snapshot "
            "and regression fixtures, the benchmark fixture and hypothesis properties count as "
            "assertions; skipped tests, tests that only import, and tests documented as checking "
            "that nothing raises (or that exist for coverage) are not reported."
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        tests = _test_functions(ctx)
        if not tests:
            return
        root = ctx.document.tree.root_node
        imports = _import_map(root)
        from_conftest = conftest_checkers(ctx.document.path) | imported_checkers(ctx.document.path, root)
        functions, methods = _asserting_definitions(root, imports, from_conftest)
        functions |= from_conftest | _CHECKING_FIXTURES
        for test in tests:
            decorators = {_decorator_name(d) for d in test.decorators}
            if decorators & (_SKIP_DECORATORS | _PROPERTY_DECORATORS):
                continue
            body = test.node.child_by_field_name("body")
            name_node = test.node.child_by_field_name("name")
            if body is None or name_node is None or _checks_directly(body, imports) or _only_imports(body):
                continue
            if _reaches(body, test.node, functions, methods) or _documented_as_not_raising(test):
                continue
            yield ctx.report(
                self.info,
                name_node,
                f"Test `{test.name}` asserts nothing, so it passes whenever no exception is raised: "
                "assert the result or the effect it should have.",
                evidence=_FORGOTTEN_ASSERTION if _forgot_an_assertion(body) else 0.0,
            )
