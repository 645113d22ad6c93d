"""Readers for the coverage formats teams actually have: coverage.py's data file (through coverage.py's
own API) and its JSON report, Cobertura XML (coverage.py, Istanbul, JaCoCo converters, gcovr) and
LCOV (Istanbul/nyc/c8/jest for JS/TS).

Every reader is tolerant: a damaged entry is skipped with a message and the rest is kept; a file
over the size cap is refused whole with a message. XML goes through defusedxml, because coverage
files are CI artifacts from anywhere and entity expansion ("billion laughs") would hang the server.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from aqe.coverage.model import BranchCount, CoverageFormatError, CoverageReadResult, FileCoverage, hash_lines
from aqe.coverage.paths import PathResolver

log = logging.getLogger(__name__)

MAX_COVERAGE_FILE_BYTES = 256 * 1024 * 1024
_MAX_PROBLEMS = 20


class _Collector:
    """Per-file lines and branches as a reader meets them, resolved to workspace files at the end."""

    def __init__(self, source: Path, resolver: PathResolver) -> None:
        self.source = source
        self.resolver = resolver
        self.executed: dict[str, set[int]] = defaultdict(set)
        self.missing: dict[str, set[int]] = defaultdict(set)
        self.branches: dict[str, dict[int, BranchCount]] = defaultdict(dict)
        self.problems: list[str] = []
        self._problem_count = 0
        self.measured_text: dict[str, tuple[str, ...]] = {}
        """Line hashes of the text each file had when measured, when the data records it."""

    def line(self, path: str, number: int, hits: int) -> None:
        (self.executed if hits > 0 else self.missing)[path].add(number)

    def branch(self, path: str, line: int, taken: int, total: int) -> None:
        known = self.branches[path].get(line)
        if known is not None:
            taken, total = known.taken + taken, known.total + total
        self.branches[path][line] = BranchCount(taken, total)

    def problem(self, message: str) -> None:
        self._problem_count += 1
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(f"{self.source.name}: {message}")

    def result(self, measured_at: float | None) -> CoverageReadResult:
        if self._problem_count > len(self.problems):
            self.problems.append(f"{self.source.name}: {self._problem_count - len(self.problems)} more problems")
        files: list[FileCoverage] = []
        ignored = 0
        for measured in sorted(set(self.executed) | set(self.missing) | set(self.branches)):
            resolved = self.resolver.resolve(measured)
            if resolved is None:
                ignored += 1
                continue
            executed = frozenset(self.executed.get(measured, ()))
            files.append(
                FileCoverage(
                    path=str(resolved),
                    executed=executed,
                    missing=frozenset(self.missing.get(measured, ())) - executed,
                    branches=dict(self.branches.get(measured, {})),
                    line_hashes=self.measured_text.get(measured) or _hashes_if_unchanged(resolved, measured_at),
                    measured_at=measured_at,
                    source=str(self.source),
                )
            )
        if ignored:
            log.info("%s: %d measured files are not in the workspace any more; ignored", self.source, ignored)
        return CoverageReadResult(str(self.source), tuple(files), tuple(self.problems), ignored)


def _hashes_if_unchanged(path: Path, measured_at: float | None) -> tuple[str, ...] | None:
    """The file as it was measured is the file on disk when it has not changed since: then hints can
    follow later edits. A file changed after the measurement has no known baseline."""
    if measured_at is None:
        return None
    try:
        if path.stat().st_mtime > measured_at + 1:
            return None
        return hash_lines(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None


def read_coverage(path: Path, resolver: PathResolver) -> CoverageReadResult:
    """Read any supported coverage file; the format is told by content, not only by name."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise CoverageFormatError(f"{path.name}: cannot be read ({error.strerror or error})") from error
    if size > MAX_COVERAGE_FILE_BYTES:
        raise CoverageFormatError(
            f"{path.name}: {size / 1e6:.0f} MB is over the {MAX_COVERAGE_FILE_BYTES / 1e6:.0f} MB limit; not read"
        )
    with path.open("rb") as handle:
        head = handle.read(512)
    if head.startswith(b"SQLite format 3"):
        return read_coverage_py_data(path, resolver)
    stripped = head.lstrip()
    if stripped.startswith(b"{"):
        return read_coverage_json(path, resolver)
    if stripped.startswith(b"<"):
        return read_cobertura(path, resolver)
    if re.search(rb"^(TN|SF):", head, flags=re.MULTILINE):
        return read_lcov(path, resolver)
    raise CoverageFormatError(f"{path.name}: not a coverage file aqe can read (coverage.py, Cobertura XML, LCOV)")


# --- coverage.py -----------------------------------------------------------------------------------


def read_coverage_py_data(path: Path, resolver: PathResolver, config_file: Path | None = None) -> CoverageReadResult:
    """coverage.py's SQLite data file, through its own API: `CoverageData` renames the measured paths
    to workspace files, then `Coverage.json_report` works out missed lines and branches with
    coverage.py's own source analysis (and the project's exclusions when `config_file` is given)."""
    import coverage
    from coverage.exceptions import CoverageException

    try:
        original = coverage.CoverageData(basename=str(path))
        original.read()
        measured = list(original.measured_files())
    except (CoverageException, sqlite3.Error) as error:
        raise CoverageFormatError(f"{path.name}: not a readable coverage.py data file ({error})") from error
    collector = _Collector(path, resolver)
    mapping = {name: resolver.resolve(name) for name in measured}
    ignored = sum(1 for target in mapping.values() if target is None)
    with tempfile.TemporaryDirectory(prefix="aqe-coverage-") as scratch:
        data_file = Path(scratch) / ".coverage"
        renamed = coverage.CoverageData(basename=str(data_file))
        renamed.update(original, map_path=lambda name: str(mapping.get(name) or name))
        renamed.write()
        report_file = Path(scratch) / "coverage.json"
        include = [str(target) for target in mapping.values() if target is not None]
        if not include:
            return CoverageReadResult(str(path), (), (), ignored)
        cov = coverage.Coverage(data_file=str(data_file), config_file=str(config_file) if config_file else False)
        cov.load()
        try:
            cov.json_report(outfile=str(report_file), include=include, ignore_errors=True)
        except CoverageException as error:
            raise CoverageFormatError(f"{path.name}: coverage.py could not report on it ({error})") from error
        document = json.loads(report_file.read_text(encoding="utf-8"))
    _collect_json(document, collector, base=Path.cwd())
    result = collector.result(_mtime(path))
    return CoverageReadResult(result.source, result.files, result.problems, result.ignored_missing + ignored)


def read_coverage_json(path: Path, resolver: PathResolver) -> CoverageReadResult:
    """`coverage json` output: {"meta": {...}, "files": {path: {"executed_lines", "missing_lines", ...}}}."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise CoverageFormatError(f"{path.name}: not valid JSON ({error})") from error
    if not isinstance(document, dict) or not isinstance(document.get("files"), dict):
        raise CoverageFormatError(f'{path.name}: not a coverage.py JSON report (no "files" object)')
    collector = _Collector(path, resolver)
    _collect_json(document, collector, base=path.parent)
    return collector.result(_json_timestamp(document) or _mtime(path))


def _collect_json(document: Mapping[str, Any], collector: _Collector, base: Path) -> None:
    recorded = document.get("aqe", {}).get("lineHashes", {}) if isinstance(document.get("aqe"), dict) else {}
    for name, entry in document.get("files", {}).items():
        if not isinstance(entry, dict):
            collector.problem(f"entry for {name!r} is not an object; skipped")
            continue
        measured = name if os.path.isabs(name) else str(base / name)
        hashes = recorded.get(name) if isinstance(recorded, dict) else None
        if isinstance(hashes, list) and all(isinstance(h, str) for h in hashes):
            collector.measured_text[measured] = tuple(hashes)
        try:
            executed = [int(n) for n in entry.get("executed_lines", [])]
            missing = [int(n) for n in entry.get("missing_lines", [])]
            executed_arcs = [(int(a), int(b)) for a, b in entry.get("executed_branches", [])]
            missing_arcs = [(int(a), int(b)) for a, b in entry.get("missing_branches", [])]
        except (TypeError, ValueError):
            collector.problem(f"entry for {name!r} has malformed line numbers; skipped")
            continue
        for number in executed:
            collector.line(measured, number, 1)
        for number in missing:
            collector.line(measured, number, 0)
        exits: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        for start, _ in executed_arcs:
            exits[start][0] += 1
            exits[start][1] += 1
        for start, _ in missing_arcs:
            exits[start][1] += 1
        for line, (taken, total) in exits.items():
            if total > 1:
                collector.branch(measured, line, taken, total)


def _json_timestamp(document: Mapping[str, Any]) -> float | None:
    from datetime import datetime

    stamp = document.get("meta", {}).get("timestamp") if isinstance(document.get("meta"), dict) else None
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return None


# --- Cobertura XML ---------------------------------------------------------------------------------

_CONDITION = re.compile(r"\((\d+)/(\d+)\)")


def read_cobertura(path: Path, resolver: PathResolver) -> CoverageReadResult:
    """`<coverage><sources><source>…<packages>…<class filename=…><lines><line number hits branch
    condition-coverage="50% (1/2)">`. Method-level `<lines>` repeat the class's and are skipped."""
    collector = _Collector(path, resolver)
    sources: list[str] = []
    current_file: str | None = None
    depth_in_methods = 0
    seen_root = False
    try:
        for event, element in iterparse(str(path), events=("start", "end"), forbid_dtd=True):
            tag = element.tag.rsplit("}", 1)[-1]
            if event == "start":
                if not seen_root:
                    seen_root = True
                    if tag != "coverage":
                        raise CoverageFormatError(f"{path.name}: XML, but not Cobertura coverage (<{tag}>)")
                if tag == "class":
                    current_file = element.get("filename")
                    if not current_file:
                        collector.problem("a <class> without a filename; skipped")
                elif tag == "methods":
                    depth_in_methods += 1
                continue
            if tag == "source" and element.text:
                sources.append(element.text.strip())
            elif tag == "methods":
                depth_in_methods -= 1
            elif tag == "line" and current_file and depth_in_methods == 0:
                _cobertura_line(collector, _cobertura_path(current_file, sources), element)
            elif tag == "class":
                current_file = None
                element.clear()
    except ParseError as error:
        line, column = getattr(error, "position", (0, 0))
        collector.problem(f"malformed XML at line {line}, column {column}; kept what came before it")
    except DefusedXmlException as error:
        collector.problem(f"refused unsafe XML ({type(error).__name__}); kept what came before it")
    if not seen_root:
        raise CoverageFormatError(collector.problems[0] if collector.problems else f"{path.name}: empty or not XML")
    return collector.result(_mtime(path))


def _cobertura_path(filename: str, sources: list[str]) -> str:
    if os.path.isabs(filename) or not sources:
        return filename
    for source in sources:
        candidate = os.path.join(source, filename)
        if os.path.exists(candidate):
            return candidate
    return os.path.join(sources[0], filename)


def _cobertura_line(collector: _Collector, path: str, element: Any) -> None:
    try:
        number = int(element.get("number", ""))
        hits = int(float(element.get("hits", "0")))
    except ValueError:
        collector.problem(f"a <line> in {path} with a bad number or hits; skipped")
        return
    collector.line(path, number, hits)
    if element.get("branch", "false").lower() == "true":
        match = _CONDITION.search(element.get("condition-coverage", ""))
        if match:
            collector.branch(path, number, int(match.group(1)), int(match.group(2)))


# --- LCOV ------------------------------------------------------------------------------------------


def read_lcov(path: Path, resolver: PathResolver) -> CoverageReadResult:
    """`SF:<file>`, `DA:<line>,<hits>`, `BRDA:<line>,<block>,<branch>,<taken|->`, `end_of_record`."""
    collector = _Collector(path, resolver)
    current: str | None = None
    branch_totals: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.strip()
            if not line or line.startswith("TN:"):
                continue
            key, _, value = line.partition(":")
            try:
                if key == "SF":
                    current = value if os.path.isabs(value) else str(path.parent / value)
                elif key == "end_of_record":
                    current = None
                elif current is None:
                    if key in ("DA", "BRDA"):
                        collector.problem(f"line {number}: {key} outside a record; skipped")
                elif key == "DA":
                    fields = value.split(",")
                    collector.line(current, int(fields[0]), int(float(fields[1])))
                elif key == "BRDA":
                    line_no, _block, _branch, taken = value.split(",")
                    totals = branch_totals[(current, int(line_no))]
                    totals[1] += 1
                    if taken not in ("-", "0"):
                        totals[0] += 1
            except (ValueError, IndexError):
                collector.problem(f"line {number}: malformed {key} record; skipped")
    for (file, line_no), (taken, total) in branch_totals.items():
        if total > 1:
            collector.branch(file, line_no, taken, total)
    return collector.result(_mtime(path))


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def read_all(paths: Iterable[Path], resolver: PathResolver) -> tuple[list[CoverageReadResult], list[str]]:
    """Read every file; one that cannot be read is a message, never the end of the others."""
    results: list[CoverageReadResult] = []
    problems: list[str] = []
    for path in paths:
        try:
            result = read_coverage(path, resolver)
        except CoverageFormatError as error:
            problems.append(str(error))
            continue
        except (OSError, UnicodeDecodeError) as error:
            problems.append(f"{path.name}: cannot be read ({error})")
            continue
        results.append(result)
        problems.extend(result.problems)
    return results, problems
