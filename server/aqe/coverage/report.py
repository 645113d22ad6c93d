"""The coverage report for CI (`aqe coverage`): every function that is not fully covered, with its
measured coverage, as text, JSON or SARIF findings."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aqe.coverage.hints import FileHints, FunctionCoverage, coverage_findings, function_coverage, line_ranges
from aqe.coverage.store import CoverageStore
from aqe.findings import Finding
from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import language_for_path
from aqe.report import locate
from aqe.workspace import FileSkipped, Workspace

JSON_VERSION = 1


@dataclass(frozen=True)
class CoverageReport:
    root: Path
    hints: tuple[FileHints, ...]
    sources: tuple[Path, ...]
    problems: tuple[str, ...]
    skipped: tuple[str, ...]

    def gaps(self) -> list[tuple[FileHints, FunctionCoverage]]:
        return [(hints, function) for hints in self.hints for function in hints.functions if function.has_gap]

    def findings(self) -> list[Finding]:
        return [finding for hints in self.hints for finding in coverage_findings(hints)]


def build_report(
    root: Path, store: CoverageStore, workspace: Workspace, paths: Sequence[Path] = (), max_bytes: int = 2_000_000
) -> CoverageReport:
    """Coverage per function for every measured file under `paths` (default: all measured files)."""
    store.refresh()
    wanted = [Path(os.path.realpath(p)) for p in paths]
    hints: list[FileHints] = []
    skipped: list[str] = []
    for coverage in store.files():
        path = Path(coverage.path)
        if wanted and not any(path == p or p in path.parents for p in wanted):
            continue
        language = language_for_path(path)
        if language is None or workspace.is_excluded(path):
            continue
        text = workspace.read_text(path, max_bytes)
        if isinstance(text, FileSkipped):
            skipped.append(text.describe())
            continue
        hints.append(function_coverage(ParsedDocument.parse(str(path), text, language), coverage))
    return CoverageReport(root, tuple(hints), tuple(store.sources), tuple(store.problems), tuple(skipped))


def _summary(function: FunctionCoverage) -> str:
    parts = [f"{function.covered}/{function.statements} statements"]
    if function.branches_total:
        parts.append(f"{function.branches_taken}/{function.branches_total} branches")
    return ", ".join(parts)


def render_text(report: CoverageReport) -> str:
    lines = []
    for hints, function in report.gaps():
        where = locate(hints.path, report.root).display
        start = function.name_span.start
        detail = []
        if function.missing_lines:
            detail.append(f"never ran: lines {line_ranges(function.missing_lines)}")
        if function.partial_branches:
            detail.append("partly taken branches: lines " + line_ranges(line for line, _ in function.partial_branches))
        stale = " (stale)" if hints.stale else ""
        lines.append(
            f"{where}:{start.line + 1}:{start.character + 1}: `{function.qualified_name}` "
            f"{function.percent:.0f}% ({_summary(function)}); {'; '.join(detail)}{stale}"
        )
    for hints in report.hints:
        if hints.unknown:
            lines.append(f"{locate(hints.path, report.root).display}: coverage data is older than the file; not shown")
    gaps = report.gaps()
    files = len({hints.path for hints, _ in gaps})
    measured = sum(len(h.functions) for h in report.hints)
    if gaps:
        noun = "file" if files == 1 else "files"
        lines.append(f"{len(gaps)} of {measured} measured functions not fully covered, in {files} {noun}")
    elif measured == 0:
        lines.append("No measured function in these files: the coverage data does not cover them.")
    else:
        lines.append(f"All {measured} measured functions are fully covered.")
    return "\n".join(lines) + "\n"


def json_document(report: CoverageReport) -> dict[str, Any]:
    entries = []
    for hints, function in report.gaps():
        start = function.name_span.start
        entries.append(
            {
                "path": locate(hints.path, report.root).display,
                "name": function.name,
                "qualifiedName": function.qualified_name,
                "line": start.line + 1,
                "column": start.character + 1,
                "statements": function.statements,
                "covered": function.covered,
                "branches": function.branches_total,
                "branchesTaken": function.branches_taken,
                "percent": round(function.percent, 1),
                "missingLines": [line + 1 for line in function.missing_lines],
                "partialBranches": [
                    {"line": line + 1, "taken": count.taken, "total": count.total}
                    for line, count in function.partial_branches
                ],
                "stale": hints.stale,
            }
        )
    return {
        "version": JSON_VERSION,
        "root": Path(os.path.abspath(report.root)).as_posix(),
        "sources": [locate(str(source), report.root).display for source in report.sources],
        "functions": entries,
        "unplaced": [locate(h.path, report.root).display for h in report.hints if h.unknown],
        "problems": list(report.problems),
    }


def render_json(report: CoverageReport) -> str:
    return json.dumps(json_document(report), indent=2, ensure_ascii=False) + "\n"
