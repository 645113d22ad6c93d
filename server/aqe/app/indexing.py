"""The workspace index for both front doors: one way to open it (with one freshness policy), one way
to close it, and one JSON shape for a search hit, whichever door asked."""

from __future__ import annotations

import enum
import shutil
from pathlib import Path
from typing import Any

from aqe.app.project import Project
from aqe.index.service import WorkspaceIndex, index_directory
from aqe.index.store import LoadOutcome, SearchHit
from aqe.testgen.target import TestTarget


class Freshness(enum.Enum):
    AS_IS = "as-is"
    """Opened as it is on disk, nothing scanned (`aqe index` scans itself, with progress)."""
    SAVED = "saved"
    """As last saved; built once when there is none yet (a search in a project never indexed)."""
    REFRESHED = "refreshed"
    """Scanned for changes first, then saved (gaps, similar tests: they must see the current code)."""
    KNOWLEDGE = "knowledge"
    """As saved, with at least the knowledge base in it (failure patterns for flaky verdicts)."""


class ProjectIndex:
    """One project's index, opened on first use and closed once (use it as a context manager).

    Raises ValueError from `get()` when the index cannot be built (a bad setting), with a message fit
    to show; `messages` collects what opening it had to say (a damaged index rebuilt, ...)."""

    def __init__(self, project: Project, freshness: Freshness = Freshness.SAVED, *, rebuild: bool = False) -> None:
        self.project = project
        self.freshness = freshness
        self.rebuild = rebuild
        self.messages: list[str] = []
        self._index: WorkspaceIndex | None = None

    def __enter__(self) -> ProjectIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self) -> WorkspaceIndex:
        if self._index is not None:
            return self._index
        if self.rebuild:
            shutil.rmtree(index_directory(self.project.root, self.project.settings), ignore_errors=True)
        index = WorkspaceIndex(self.project.root, self.project.settings)
        report = index.open()
        if report.message:
            self.messages.append(report.message)
        self._index = index
        assert index.store is not None
        never_built = index.store.load_report.outcome is not LoadOutcome.LOADED
        if self.freshness is Freshness.REFRESHED or (self.freshness is Freshness.SAVED and never_built):
            index.scan()
            index.save()
        elif self.freshness is Freshness.KNOWLEDGE and index.store.count == 0:
            index.sync_knowledge()
        return index

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    def similar_tests(self, target: TestTarget, k: int = 3) -> list[str]:
        """The project's tests most like `target`, as source text (patterns for the model)."""
        return similar_test_texts(self.get(), target, k)

    def similar_failures(self, description: str, k: int) -> list[str]:
        return self.get().similar_failure_patterns(description, k)


def similar_test_texts(index: WorkspaceIndex, target: TestTarget, k: int = 3) -> list[str]:
    examples = []
    for hit in index.search(f"{target.qualified_name}\n{target.source}", k, "code/tests"):
        text = _unit_text(index.root / hit.record.path, hit.record.start_line, hit.record.end_line) or hit.record.text
        if text:
            examples.append(text)
    return examples


def hit_json(root: Path, hit: SearchHit) -> dict[str, Any]:
    """A search hit as both doors give it: the entry, and for code its file (path from the root and
    uri), range and language; knowledge entries have no place in the workspace."""
    record = hit.record
    result: dict[str, Any] = {
        "score": round(hit.score, 4),
        "key": record.key,
        "category": record.category,
        "kind": record.kind,
        "symbol": record.symbol,
        "text": record.text,
    }
    if record.kind != "knowledge":
        result["path"] = record.path
        result["uri"] = (root / record.path).as_uri()
        result["language"] = record.language
        result["range"] = {
            "start": {"line": record.start_line, "character": record.start_character},
            "end": {"line": record.end_line, "character": record.end_character},
        }
    return result


def _unit_text(path: Path, start_line: int, end_line: int) -> str | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    return "\n".join(lines[start_line : end_line + 1])
