"""Quarantining a flaky test the way the team already does it.

With pytest-rerunfailures in the project (a dependency, or `@pytest.mark.flaky` already used), the
test gets `@pytest.mark.flaky(reruns=N)`: it still runs, and a failure is retried. Otherwise
`@pytest.mark.xfail(strict=False, reason=...)`: the test still runs and reports, but its failure no
longer fails the build. Either way the edit is an insertion above the definition (and `import pytest`
when the file lacks it), so it is easy to review and to revert.
"""

from __future__ import annotations

import re
from pathlib import Path

from aqe.findings import Position, Span, TextEdit
from aqe.parsing.document import ParsedDocument
from aqe.parsing.units import CodeUnit

RERUNS = 3
_CONFIG_FILES = ("pyproject.toml", "setup.cfg", "setup.py", "tox.ini", "Pipfile", "poetry.lock", "uv.lock")
_MARKED = re.compile(r"pytest\.mark\.(flaky|xfail)\b")


def uses_rerunfailures(root: Path, test_file_text: str = "") -> bool:
    if "pytest.mark.flaky" in test_file_text:
        return True
    candidates = [root / name for name in _CONFIG_FILES] + sorted(root.glob("requirements*.txt"))
    for candidate in candidates:
        try:
            if candidate.stat().st_size < 5_000_000 and "pytest-rerunfailures" in candidate.read_text(errors="replace"):
                return True
        except OSError:
            continue
    return False


def is_quarantined(unit: CodeUnit) -> bool:
    return any(_MARKED.search(decorator) for decorator in unit.decorators)


def _reason(summary: str) -> str:
    text = summary.replace("\\", "\\\\").replace('"', "'")
    return text if len(text) <= 160 else text[:157] + "..."


def quarantine_edits(
    document: ParsedDocument, unit: CodeUnit, summary: str, *, rerunfailures: bool
) -> tuple[TextEdit, ...]:
    """Edits that mark `unit` as flaky; empty when it already carries a flaky or xfail marker."""
    if is_quarantined(unit):
        return ()
    line = unit.span.start.line
    text_line = document.source.text.splitlines()[line] if document.source.text else ""
    indent = text_line[: len(text_line) - len(text_line.lstrip())]
    if rerunfailures:
        marker = f"@pytest.mark.flaky(reruns={RERUNS})"
    else:
        marker = f'@pytest.mark.xfail(strict=False, reason="flaky: {_reason(summary)}")'
    edits = [TextEdit(Span(Position(line, 0), Position(line, 0)), f"{indent}{marker}\n")]
    if not re.search(r"^import pytest\b", document.source.text, flags=re.MULTILINE):
        at = _import_line(document)
        if at == line:  # one insertion, so no client has to guess the order of two at one place
            edits = [TextEdit(edits[0].span, "import pytest\n\n\n" + edits[0].new_text)]
        else:
            edits.insert(0, TextEdit(Span(Position(at, 0), Position(at, 0)), "import pytest\n"))
    return tuple(edits)


def _import_line(document: ParsedDocument) -> int:
    """After the module docstring and `from __future__` imports: where a new import may go."""
    root = document.tree.root_node
    line = 0
    for child in root.named_children:
        if child.type == "expression_statement" and child.named_children and child.named_children[0].type == "string":
            line = child.end_point[0] + 1
            continue
        if child.type == "future_import_statement":
            line = child.end_point[0] + 1
            continue
        if child.type == "comment" and child.start_point[0] == line:
            line = child.end_point[0] + 1
            continue
        break
    return line
