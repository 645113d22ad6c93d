"""Where a generated test goes and the text edit that puts it there.

The test lands where the team keeps the tests of that module: an existing test file that already
imports it (named by the team's pattern first), else a new file at the conventional place with the
imports it needs. Existing tests are never touched: the new code is appended, missing imports are
inserted after the file's own, and names that are taken are never reused.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language
from aqe.parsing.units import extract_units, is_test_file
from aqe.testgen.layout import TestConventions
from aqe.testgen.render import TestCandidate
from aqe.testgen.target import TestTarget
from aqe.workspace import Workspace

_MAX_BYTES = 2_000_000


@dataclass(frozen=True)
class Destination:
    path: str
    """Workspace-relative test file."""
    existing_text: str | None
    """None when the file does not exist yet."""
    taken_names: frozenset[str]


@dataclass(frozen=True)
class LineEdit:
    """Replace lines `start` up to (not including) `end` by `text`; `start == end` inserts before
    `start` (the end of the file is its line count). Lines are 0-based."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class TestFileEdit:
    __test__ = False  # a name pytest would otherwise try to collect

    path: str
    create: bool
    new_text: str
    edits: tuple[LineEdit, ...]
    """Against the existing text: imports (added, or merged into the file's own `from X import`
    line), then the tests at the end. For a new file: one insertion of the whole text."""
    test_line: int
    """0-based line of the first new test in `new_text` (to reveal it)."""


def choose_destination(
    root: Path, workspace: Workspace, target: TestTarget, conventions: TestConventions
) -> Destination:
    conventional = conventions.test_path_for(target.location, target.path)
    module = re.escape(target.location.module)
    importing = re.compile(rf"^\s*(from {module} import|import {module}\b)", re.M)
    candidates: list[tuple[int, str, str]] = []
    for path in workspace.iter_source_files([root]):
        relative = path.relative_to(root).as_posix()
        if path.suffix != ".py" or not is_test_file(relative) or path.name == "conftest.py":
            continue
        text = workspace.read_text(path, _MAX_BYTES)
        if not isinstance(text, str):
            continue
        imports = len(importing.findall(text))
        if relative == conventional or imports:
            rank = 0 if relative == conventional else 1
            candidates.append((rank * 1000 - imports, relative, text))
    if candidates:
        _, relative, text = min(candidates)
        return Destination(relative, text, frozenset(_names(relative, text)))
    existing = root / conventional
    if existing.is_file():
        text = workspace.read_text(existing, _MAX_BYTES)
        if isinstance(text, str):
            return Destination(conventional, text, frozenset(_names(conventional, text)))
    return Destination(conventional, None, frozenset())


def _names(relative: str, text: str) -> set[str]:
    document = ParsedDocument.parse(relative, text, Language.PYTHON)
    return {unit.name for unit in extract_units(document)}


def build_edit(destination: Destination, candidates: Sequence[TestCandidate]) -> TestFileEdit:
    """The new test file text and the line edits that produce it from the existing one."""
    imports: list[str] = []
    for candidate in candidates:
        imports += [line for line in candidate.imports if line not in imports]
    bodies = "\n\n".join(candidate.body.rstrip() + "\n" for candidate in candidates)
    if destination.existing_text is None:
        header = "\n".join(_ordered(imports))
        text = f"{header}\n\n\n{bodies}"
        test_line = len(header.splitlines()) + 2
        return TestFileEdit(destination.path, True, text, (LineEdit(0, 0, text),), test_line)
    existing = destination.existing_text
    missing = [line for line in _ordered(imports) if line and not _already_imported(existing, line)]
    lines = existing.splitlines(keepends=True)
    edits: list[LineEdit] = []
    merged: dict[int, str] = {}
    for line in list(missing):
        found = _mergeable_from_import(lines, line, merged)
        if found is not None:
            number, text = found
            merged[number] = text
            missing.remove(line)
    edits += [LineEdit(number, number + 1, text) for number, text in sorted(merged.items())]
    if missing:
        after_imports = _line_after_imports(existing)
        edits.append(LineEdit(after_imports, after_imports, "".join(f"{line}\n" for line in missing)))
    ending = "" if not lines or lines[-1].endswith("\n") else "\n"
    trailing_blank = len(lines) - len(existing.rstrip("\n").splitlines(keepends=True))
    separator = "\n" * max(0, 2 - trailing_blank)
    appended = f"{ending}{separator}{bodies}" if existing.strip() else bodies
    edits.append(LineEdit(len(lines), len(lines), appended))
    new_lines = list(lines)
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        new_lines[edit.start : edit.end] = [edit.text]
    new_text = "".join(new_lines)
    test_line = len(new_text.splitlines()) - len(bodies.splitlines())
    return TestFileEdit(destination.path, False, new_text, tuple(edits), test_line)


_SINGLE_FROM_IMPORT = re.compile(r"^from ([\w.]+) import ([\w, ]+?)\s*(#.*)?$")


def _mergeable_from_import(lines: Sequence[str], line: str, merged: dict[int, str]) -> tuple[int, str] | None:
    """`from billing.fees import late_fee` joins the file's own `from billing.fees import waive`
    (as `late_fee, waive`), as a person or isort would write it."""
    wanted = _SINGLE_FROM_IMPORT.match(line)
    if wanted is None:
        return None
    module, names = wanted.group(1), wanted.group(2)
    for number, existing in enumerate(lines):
        current = merged.get(number, existing.rstrip("\n"))
        match = _SINGLE_FROM_IMPORT.match(current)
        if match is None or match.group(1) != module or " as " in match.group(2):
            continue
        together = sorted({*(n.strip() for n in match.group(2).split(",")), *(n.strip() for n in names.split(","))})
        text = f"from {module} import {', '.join(together)}"
        if match.group(3):
            text += f"  {match.group(3)}"
        return number, text + "\n"
    return None


def _ordered(imports: Sequence[str]) -> list[str]:
    """isort's sections: `__future__`, the standard library, third party, then the project, each
    sorted, plain imports before from-imports, a blank line between sections."""
    sections: list[list[str]] = [[], [], [], []]
    for line in dict.fromkeys(imports):
        module = line.split()[1].split(".")[0]
        if module == "__future__":
            sections[0].append(line)
        elif module in sys.stdlib_module_names:
            sections[1].append(line)
        elif module in _THIRD_PARTY_IN_TESTS:
            sections[2].append(line)
        else:
            sections[3].append(line)
    ordered: list[str] = []
    for section in sections:
        if section:
            if ordered:
                ordered.append("")
            ordered += sorted(section, key=lambda line: (line.startswith("from "), line))
    return ordered


_THIRD_PARTY_IN_TESTS = frozenset({"pytest", "hypothesis", "freezegun", "responses", "respx", "numpy", "pandas"})


def _already_imported(text: str, line: str) -> bool:
    if re.search(rf"^{re.escape(line)}\s*$", text, re.M):
        return True
    match = re.fullmatch(r"from ([\w.]+) import (\w+)", line)
    if match:
        module, name = match.groups()
        block = re.search(rf"^from {re.escape(module)} import \(?([^)\n]*(?:\n[^)]*)?)\)?", text, re.M)
        return bool(block and re.search(rf"\b{name}\b", block.group(1)))
    match = re.fullmatch(r"import ([\w.]+)", line)
    return bool(match and re.search(rf"^import .*\b{re.escape(match.group(1))}\b", text, re.M))


def _line_after_imports(text: str) -> int:
    """The 0-based line after the last top-level import (after the docstring when there are none)."""
    document = ParsedDocument.parse("t.py", text, Language.PYTHON)
    last = -1
    first_statement = 0
    for index, node in enumerate(document.tree.root_node.named_children):
        if node.type in ("import_statement", "import_from_statement", "future_import_statement"):
            last = node.end_point[0]
        elif (
            index == 0
            and node.type == "expression_statement"
            and node.named_children
            and node.named_children[0].type == "string"
        ):
            first_statement = node.end_point[0] + 1
        elif node.type != "comment":
            break
    return last + 1 if last >= 0 else first_statement
