"""Convention mining: the team's standards as the workspace shows them, each with its support.

Every Python file is read once into observations (one per place that follows some option of a
convention: a function's naming style, a test file's assertion style, an `except` block that re-raises
with or without `from`, ...). The profile counts them per option; a convention whose leading option
holds at least `conventionMinSupport` of at least `conventionMinSamples` places is strong, and a place
that follows another option of a strong convention becomes a finding whose message carries the
evidence ("41 of 43 test files use plain assert").

Observations are kept per file, so an edit or a save re-reads one file, not the workspace. Only
Python is mined; JavaScript and TypeScript conventions are not (yet) learned.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath

from tree_sitter import Node, Query, QueryCursor

from aqe.findings import Finding, FindingSource, Severity, Span
from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language
from aqe.parsing.units import CodeUnit, UnitKind, is_test_file, iter_units
from aqe.review.deliberate_names import deliberately_named
from aqe.workspace import Workspace

RULE_PREFIX = "convention/"
_MAX_FILES = 5000
_MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class ConventionInfo:
    id: str
    title: str
    unit: str
    """What one observation is, plural: "test files", "functions", "except blocks"."""
    phrases: Mapping[str, str]
    """How to say that a place follows an option, plural ("use plain assert")."""

    def phrase(self, option: str, *, singular: bool = False) -> str:
        text = self.phrases.get(option, f"follow '{option}'")
        if singular:
            verb, _, rest = text.partition(" ")
            text = f"{_singular(verb)} {rest}".strip()
        return text


def _singular(verb: str) -> str:
    return {"use": "uses", "are": "is", "have": "has", "live": "lives", "re-raise": "re-raises",
            "import": "imports", "set": "sets"}.get(verb, verb)  # fmt: skip


CONVENTIONS: dict[str, ConventionInfo] = {
    info.id: info
    for info in (
        ConventionInfo("naming.functions", "Function naming", "functions",
                       {"snake_case": "are named in snake_case", "camelCase": "are named in camelCase"}),
        ConventionInfo("naming.classes", "Class naming", "classes",
                       {"PascalCase": "are named in PascalCase", "other": "are named otherwise (not PascalCase)"}),
        ConventionInfo("naming.tests", "Test naming", "test functions",
                       {"test_snake_case": "are named test_snake_case", "testCamelCase": "are named testCamelCase"}),
        ConventionInfo("tests.file-naming", "Test file naming", "test files",
                       {"test_module.py": "are named test_<module>.py",
                        "module_test.py": "are named <module>_test.py"}),
        ConventionInfo("tests.location", "Where tests live", "test files",
                       {"tests folder": "live in a tests/ folder", "beside code": "live beside the code"}),
        ConventionInfo("tests.framework", "Test framework", "test files",
                       {"pytest": "use plain pytest functions", "unittest": "use unittest.TestCase classes"}),
        ConventionInfo("tests.assertion-style", "Assertion style", "test files",
                       {"plain assert": "use plain assert", "assert methods": "use self.assert* methods"}),
        ConventionInfo("tests.setup-style", "Test set-up", "test files with set-up",
                       {"fixtures": "use pytest fixtures", "setup methods": "use setUp/setup_method methods"}),
        ConventionInfo("docstrings.coverage", "Docstrings on public code", "public functions and classes",
                       {"documented": "have a docstring", "undocumented": "have no docstring"}),
        ConventionInfo("docstrings.style", "Docstring style", "docstrings with sections",
                       {"google": "use Google style (Args:/Returns:)", "numpy": "use NumPy style (Parameters/-----)",
                        "sphinx": "use Sphinx style (:param x:)"}),
        ConventionInfo("errors.raise-from", "Re-raising inside except", "raises of a new exception in except blocks",
                       {"with from": "chain the cause with `raise ... from`", "without from": "raise without `from`"}),
        ConventionInfo("imports.package-style", "Imports within a package", "imports of the file's own package",
                       {"relative": "use relative imports (from . import x)", "absolute": "use absolute imports"}),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Observation:
    convention: str
    option: str
    span: Span
    name: str = ""
    """What follows the option, for the message (a function's name); empty for a whole file."""


@dataclass(frozen=True)
class OptionCount:
    option: str
    count: int


@dataclass(frozen=True)
class Convention:
    """One mined convention: how many places follow each option."""

    info: ConventionInfo
    options: tuple[OptionCount, ...]
    """Most followed first."""

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def total(self) -> int:
        return sum(option.count for option in self.options)

    @property
    def dominant(self) -> OptionCount:
        return self.options[0]

    @property
    def share(self) -> float:
        return self.dominant.count / self.total if self.total else 0.0

    def is_strong(self, min_share: float, min_samples: int) -> bool:
        return self.total >= min_samples and self.share >= min_share and len(self.options) >= 1

    @property
    def evidence(self) -> str:
        return f"{self.dominant.count} of {self.total} {self.info.unit} {self.info.phrase(self.dominant.option)}"

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.info.title,
            "dominant": self.dominant.option,
            "support": self.dominant.count,
            "total": self.total,
            "share": round(self.share, 4),
            "options": {option.option: option.count for option in self.options},
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class ConventionProfile:
    conventions: Mapping[str, Convention]

    def strong(self, min_share: float, min_samples: int) -> list[Convention]:
        return [c for c in self.conventions.values() if c.is_strong(min_share, min_samples)]

    def to_json(self) -> list[dict[str, object]]:
        return [self.conventions[key].to_json() for key in sorted(self.conventions)]


def profile_of(observations: Iterable[Observation]) -> ConventionProfile:
    return profile_from_counts([Counter((o.convention, o.option) for o in observations)])


def profile_from_counts(per_file: Iterable[Counter[tuple[str, str]]]) -> ConventionProfile:
    counts: dict[str, Counter[str]] = {}
    for file_counts in per_file:
        for (convention, option), number in file_counts.items():
            counts.setdefault(convention, Counter())[option] += number
    conventions = {}
    for key, counter in counts.items():
        ordered = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
        conventions[key] = Convention(CONVENTIONS[key], tuple(OptionCount(o, n) for o, n in ordered))
    return ConventionProfile(conventions)


def deviations(
    profile: ConventionProfile, path: str, observations: Iterable[Observation], *, min_share: float, min_samples: int
) -> list[Finding]:
    """Findings for the places in one file that break a strong convention."""
    findings = []
    strong = {c.id: c for c in profile.strong(min_share, min_samples)}
    said_of_file: set[str] = set()  # "This file uses ..." once per convention, not once per line
    for observation in observations:
        convention = strong.get(observation.convention)
        if convention is None or observation.option == convention.dominant.option:
            continue
        if not observation.name:
            if convention.id in said_of_file:
                continue
            said_of_file.add(convention.id)
        subject = f"`{observation.name}`" if observation.name else "This file"
        message = (
            f"{subject} {convention.info.phrase(observation.option, singular=True)}; "
            f"{convention.evidence} (team convention: {convention.info.title.lower()})"
        )
        findings.append(
            Finding(
                path=path,
                span=observation.span,
                rule_id=RULE_PREFIX + convention.id,
                severity=Severity.INFO,
                message=message,
                source=FindingSource.CONVENTION,
                confidence=round(convention.share, 4),
            )
        )
    return findings


# --- observing one file ------------------------------------------------------------------------------

_SNAKE = re.compile(r"^_*[a-z][a-z0-9]*(_[a-z0-9]+)*_*$")
_CAMEL = re.compile(r"^_*[a-z][a-z0-9]*([A-Z][a-z0-9]*)+$")
_PASCAL = re.compile(r"^_*[A-Z][a-zA-Z0-9]*$")
_TEST_SNAKE = re.compile(r"^test_[a-z0-9_]+$")
_TEST_CAMEL = re.compile(r"^test[A-Z][A-Za-z0-9]*$")
_GOOGLE = re.compile(r"^\s*(Args|Arguments|Returns|Raises|Yields):\s*$", re.M)
_NUMPY = re.compile(r"^\s*(Parameters|Returns|Raises|Yields)\s*\n\s*-{3,}\s*$", re.M)
_SPHINX = re.compile(r"^\s*:(param|returns?|raises?|type|rtype)\b", re.M)


def test_framework_of(text: str, kinds: set[UnitKind]) -> str:
    """ "unittest" for a file of TestCase classes that use the assert methods, else "pytest". Shared
    with test generation, which writes new tests in the framework the team uses."""
    return "unittest" if "TestCase" in text and UnitKind.TEST_CLASS in kinds and "self.assert" in text else "pytest"


def observe(document: ParsedDocument, relative: str) -> tuple[Observation, ...]:
    """Every observation in one Python file (workspace-relative path, for the layout conventions)."""
    if document.language is not Language.PYTHON:
        return ()
    found: list[Observation] = []
    units = list(iter_units(document))
    testing = is_test_file(relative)
    top = Span.of(0, 0, 0, 0)
    for unit, node in units:
        found.extend(_unit_observations(unit, node, testing))
    captures = _captures(document)
    if testing and PurePosixPath(relative).name != "conftest.py":
        found.extend(_test_file_observations(document, relative, units, top, captures))
    found.extend(_statement_observations(document, relative, captures))
    return tuple(found)


def _unit_observations(unit: CodeUnit, node: Node, testing: bool) -> Iterator[Observation]:
    name = unit.name
    if unit.kind is UnitKind.TEST_FUNCTION:
        if _TEST_SNAKE.match(name):
            yield Observation("naming.tests", "test_snake_case", unit.name_span, name)
        elif _TEST_CAMEL.match(name):
            yield Observation("naming.tests", "testCamelCase", unit.name_span, name)
        return
    dunder = name.startswith("__") and name.endswith("__")
    if unit.kind in (UnitKind.FUNCTION, UnitKind.METHOD) and not dunder and not testing:
        if _CAMEL.match(name) and not name.startswith(("setUp", "tearDown")):
            yield Observation("naming.functions", "camelCase", unit.name_span, name)
        elif _SNAKE.match(name) and "_" in name.strip("_"):  # one lowercase word fits either style
            yield Observation("naming.functions", "snake_case", unit.name_span, name)
    if unit.kind is UnitKind.CLASS and not deliberately_named(name, node):
        yield Observation("naming.classes", "PascalCase" if _PASCAL.match(name) else "other", unit.name_span, name)
    public = not name.startswith("_") and unit.kind in (UnitKind.FUNCTION, UnitKind.METHOD, UnitKind.CLASS)
    if public and not testing:
        documented = bool(unit.docstring and unit.docstring.strip())
        yield Observation("docstrings.coverage", "documented" if documented else "undocumented", unit.name_span, name)
    if unit.docstring and not testing:
        style = _docstring_style(unit.docstring)
        if style is not None:
            yield Observation("docstrings.style", style, unit.name_span, name)


def _docstring_style(docstring: str) -> str | None:
    if _NUMPY.search(docstring):
        return "numpy"
    if _GOOGLE.search(docstring):
        return "google"
    if _SPHINX.search(docstring):
        return "sphinx"
    return None


def _test_file_observations(
    document: ParsedDocument,
    relative: str,
    units: list[tuple[CodeUnit, Node]],
    top: Span,
    captures: dict[str, list[Node]],
) -> Iterator[Observation]:
    kinds = {unit.kind for unit, _ in units}
    if UnitKind.TEST_FUNCTION not in kinds and UnitKind.TEST_CLASS not in kinds:
        return
    parts = PurePosixPath(relative).parts
    name = parts[-1]
    if name.endswith("_test.py"):
        yield Observation("tests.file-naming", "module_test.py", top)
    elif name.startswith("test_"):
        yield Observation("tests.file-naming", "test_module.py", top)
    in_folder = any(part in ("tests", "test", "testing") for part in parts[:-1])
    if not any(part.lower() in _NOT_TEST_FOLDERS for part in parts[:-1]):
        yield Observation("tests.location", "tests folder" if in_folder else "beside code", top)
    text = document.text
    yield Observation("tests.framework", test_framework_of(text, kinds), _first_test_span(units) or top)
    plain, methods = _assertions(captures)
    if plain or methods:
        style = "assert methods" if len(methods) > len(plain) else "plain assert"
        where = (methods if style == "assert methods" else plain)[0]
        yield Observation("tests.assertion-style", style, document.source.span_of_bytes(*where))
    setup_methods = [unit for unit, _ in units if unit.name in ("setUp", "setup_method", "setUpClass", "setup_class")]
    fixtures = [unit for unit, _ in units if any(d.startswith(("pytest.fixture", "fixture")) for d in unit.decorators)]
    if setup_methods and len(setup_methods) >= len(fixtures):
        yield Observation("tests.setup-style", "setup methods", setup_methods[0].name_span, setup_methods[0].name)
    elif fixtures:
        yield Observation("tests.setup-style", "fixtures", fixtures[0].name_span, fixtures[0].name)


# `test_*.py` files here are benchmarks, examples or tooling: they say nothing of where tests live.
_NOT_TEST_FOLDERS = frozenset({"bench", "benches", "benchmark", "benchmarks", "perf", "examples", "docs", "scripts"})


def _first_test_span(units: list[tuple[CodeUnit, Node]]) -> Span | None:
    for unit, _ in units:
        if unit.kind in (UnitKind.TEST_CLASS, UnitKind.TEST_FUNCTION):
            return unit.name_span
    return None


_QUERY_SOURCE = """
(assert_statement) @assert
(call function: (attribute) @method)
(raise_statement) @raise
(import_from_statement) @import
"""


@cache
def _query(language: object) -> Query:
    return Query(language, _QUERY_SOURCE)  # type: ignore[arg-type]


def _captures(document: ParsedDocument) -> dict[str, list[Node]]:
    """The nodes the conventions look at, found by one tree-sitter query (in C, not a Python walk)."""
    return QueryCursor(_query(document.tree.language)).captures(document.tree.root_node)


def _assertions(captures: dict[str, list[Node]]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    plain = [(node.start_byte, node.start_byte + len("assert")) for node in captures.get("assert", ())]
    methods: list[tuple[int, int]] = []
    for function in captures.get("method", ()):
        text = function.text.decode("utf-8", errors="replace") if function.text else ""
        if re.fullmatch(r"self\.assert[A-Z]\w*", text):
            methods.append((function.start_byte, function.end_byte))
    return sorted(plain), sorted(methods)


def _statement_observations(
    document: ParsedDocument, relative: str, captures: dict[str, list[Node]]
) -> Iterator[Observation]:
    package = _top_package(relative)
    source = document.source
    for raised in sorted(captures.get("raise", ()), key=lambda node: node.start_byte):
        handler = _enclosing_except(raised)
        if handler is None:
            continue
        value = raised.named_children
        if not value or (len(value) == 1 and value[0].type == "identifier" and _is_bound_name(handler, value[0])):
            continue  # `raise` or `raise error`: re-raising the caught exception itself
        has_from = any(child.type == "from" for child in raised.children)
        span = source.span_of_bytes(raised.start_byte, raised.start_byte + len("raise"))
        yield Observation("errors.raise-from", "with from" if has_from else "without from", span)
    if package is None:
        return
    for node in sorted(captures.get("import", ()), key=lambda node: node.start_byte):
        module = node.child_by_field_name("module_name")
        if module is None or not module.text or _inside_function(node):
            continue  # a lazy import inside a function is placed for a reason (a cycle, start-up cost)
        span = source.span_of_bytes(node.start_byte, node.end_byte)
        if module.type == "relative_import":
            yield Observation("imports.package-style", "relative", span)
        elif module.text.decode("utf-8", errors="replace").split(".")[0] == package:
            yield Observation("imports.package-style", "absolute", span)


def _inside_function(node: Node | None) -> bool:
    while node is not None and node.type not in ("function_definition", "lambda"):
        node = node.parent
    return node is not None


def _is_bound_name(except_clause: Node, name: Node) -> bool:
    """`except E as error: ... raise error` re-raises the caught exception."""
    for child in except_clause.children:
        if child.type == "as_pattern":
            alias = child.child_by_field_name("alias")
            if alias is not None and alias.text == name.text:
                return True
            for part in child.named_children:
                if part.type == "as_pattern_target" and part.text == name.text:
                    return True
    return False


def _enclosing_except(node: Node) -> Node | None:
    """The `except` block a raise is in, unless a function or class defined inside it comes first."""
    parent = node.parent
    while parent is not None:
        if parent.type == "except_clause":
            return parent
        if parent.type in ("function_definition", "lambda", "class_definition"):
            return None
        parent = parent.parent
    return None


def _top_package(relative: str) -> str | None:
    """The first folder of a module inside a package (`shop` for src/shop/cart.py), by path shape:
    a `src/` folder is skipped; test files and top-level scripts have none."""
    parts = list(PurePosixPath(relative).parts)
    if parts and parts[0] == "src":
        parts = parts[1:]
    if len(parts) < 2 or parts[0] in ("tests", "test", "testing", "docs", "examples", "scripts"):
        return None
    return parts[0] if parts[0].isidentifier() else None


# --- the workspace -----------------------------------------------------------------------------------


class WorkspaceConventions:
    """Observations of every Python file of one workspace folder, updated file by file."""

    def __init__(self, root: Path, workspace: Workspace) -> None:
        self.root = root
        self.workspace = workspace
        self._by_file: dict[str, tuple[Observation, ...]] = {}
        self._counts: dict[str, Counter[tuple[str, str]]] = {}
        self._profile: ConventionProfile | None = None

    def scan(self, limit: int = _MAX_FILES) -> int:
        files = 0
        for path in self.workspace.iter_source_files([self.root]):
            if path.suffix != ".py":
                continue
            text = self.workspace.read_text(path, _MAX_BYTES)
            if isinstance(text, str):
                self.update(path, text)
                files += 1
            if files >= limit:
                break
        return files

    def relative(self, path: Path) -> str | None:
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return None

    def update(self, path: Path, text: str, document: ParsedDocument | None = None) -> tuple[Observation, ...]:
        relative = self.relative(path)
        if relative is None or path.suffix != ".py":
            return ()
        document = document or ParsedDocument.parse(relative, text, Language.PYTHON)
        observations = observe(document, relative)
        counts = Counter((o.convention, o.option) for o in observations)
        if self._counts.get(relative) != counts:  # typing moves spans, rarely the counts
            self._counts[relative] = counts
            self._profile = None
        self._by_file[relative] = observations
        return observations

    def forget(self, path: Path) -> None:
        relative = self.relative(path)
        if relative is not None and self._by_file.pop(relative, None) is not None:
            self._counts.pop(relative, None)
            self._profile = None

    @property
    def profile(self) -> ConventionProfile:
        if self._profile is None:
            self._profile = profile_from_counts(self._counts.values())
        return self._profile

    @property
    def files(self) -> int:
        return len(self._by_file)


def mine(files: Iterable[tuple[str, str]]) -> tuple[ConventionProfile, dict[str, tuple[Observation, ...]]]:
    """The profile of (relative path, text) pairs, and each file's observations."""
    by_file = {}
    for relative, text in files:
        document = ParsedDocument.parse(relative, text, Language.PYTHON)
        by_file[relative] = observe(document, relative)
    return profile_of(o for observations in by_file.values() for o in observations), by_file
