"""Semantic coverage gaps: functions that no test appears to exercise, found through the index.

Line coverage needs a test run; this needs none. Every function and method of the workspace is
compared with every test unit (the same embeddings "Find related tests" uses); a function whose
best similarity to any test is under `gapThreshold` (0.3 by default) has no test that looks like it
is about it. Gaps are ranked by priority: complexity (more paths, more to get wrong) x public API
(callers outside the module depend on it) x the size of the gap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from aqe.findings import Finding, FindingSource, Severity, Span
from aqe.index.records import SOURCE_CATEGORY, TESTS_CATEGORY
from aqe.index.service import WorkspaceIndex
from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language, language_for_path
from aqe.parsing.units import UnitKind, is_test_file, iter_units
from aqe.review.rules.python_code import cyclomatic_complexity

GAP_RULE_ID = "semantic-gap"
_PUBLIC_WEIGHT = 1.5
_MAX_BYTES = 2_000_000


@dataclass(frozen=True)
class SemanticGap:
    path: str
    """Workspace-relative."""
    qualified_name: str
    kind: str
    span: Span
    name_span: Span
    best_similarity: float
    closest_test: str | None
    """Key of the most similar test unit, when there is any test at all."""
    complexity: int
    public: bool

    @property
    def priority(self) -> float:
        return self.complexity * (_PUBLIC_WEIGHT if self.public else 1.0) * (1.0 - max(0.0, self.best_similarity))

    def message(self) -> str:
        closest = (
            f"; the closest test is {self.closest_test.split('::')[-1]} ({self.best_similarity:.2f})"
            if (self.closest_test)
            else ""
        )
        return f"no test appears to exercise `{self.qualified_name}`{closest}"


def semantic_gaps(
    index: WorkspaceIndex,
    threshold: float,
    paths: Iterable[str] | None = None,
    texts: dict[str, str] | None = None,
) -> list[SemanticGap]:
    """Gaps among the indexed functions (of `paths`, workspace-relative, when given), highest priority
    first. The index must be up to date (scan it first); `texts` are the editor's unsaved copies."""
    store = index.store
    if store is None:
        raise RuntimeError("the index is not open")
    wanted = set(paths) if paths is not None else None
    has_tests = store.categories().get(TESTS_CATEGORY, 0) > 0
    by_path: dict[str, list] = {}
    for record in store.records(category=SOURCE_CATEGORY):
        if record.kind not in (UnitKind.FUNCTION.value, UnitKind.METHOD.value):
            continue
        if (wanted is not None and record.path not in wanted) or is_test_file(record.path):
            continue  # fixtures and helpers in test folders are not the code under test
        by_path.setdefault(record.path, []).append(record)
    gaps: list[SemanticGap] = []
    for path, records in by_path.items():
        shapes = _shapes(index.root / path, (texts or {}).get(path))
        for record in records:
            best, closest = 0.0, None
            if has_tests:
                vector = store.vector_of(record.key)
                hits = store.search(vector, 1, TESTS_CATEGORY) if vector is not None else []
                if hits:  # a negative cosine is no likeness at all, not less than none
                    best, closest = max(0.0, hits[0].score), hits[0].record.key
            if best >= threshold:
                continue
            name_span, complexity = shapes.get(record.symbol, (None, 1))
            span = Span.of(record.start_line, record.start_character, record.end_line, record.end_character)
            gaps.append(
                SemanticGap(
                    path=path,
                    qualified_name=record.symbol,
                    kind=record.kind,
                    span=span,
                    name_span=name_span or span,
                    best_similarity=best,
                    closest_test=closest,
                    complexity=complexity,
                    public=not any(part.startswith("_") for part in record.symbol.split(".")),
                )
            )
    gaps.sort(key=lambda gap: (-gap.priority, gap.path, gap.span.start.line))
    return gaps


def _shapes(path: Path, text: str | None = None) -> dict[str, tuple[Span, int]]:
    """qualified name -> (name span, cyclomatic complexity) of the file's functions (Python only:
    complexity 1 elsewhere)."""
    language = language_for_path(str(path))
    if text is None:
        try:
            if path.stat().st_size > _MAX_BYTES:
                return {}
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return {}
    if language is None:
        return {}
    document = ParsedDocument.parse(str(path), text, language)
    shapes: dict[str, tuple[Span, int]] = {}
    for unit, node in iter_units(document):
        if unit.kind not in (UnitKind.FUNCTION, UnitKind.METHOD):
            continue
        complexity = cyclomatic_complexity(node) if language is Language.PYTHON else 1
        shapes[unit.qualified_name] = (unit.name_span, complexity)
    return shapes


def gap_findings(gaps: Iterable[SemanticGap], root: Path) -> list[Finding]:
    return [
        Finding(
            path=str(root / gap.path),
            span=gap.name_span,
            rule_id=GAP_RULE_ID,
            severity=Severity.HINT,
            message=gap.message(),
            source=FindingSource.COVERAGE,
            confidence=round(1.0 - max(0.0, gap.best_similarity), 3),
        )
        for gap in gaps
    ]
