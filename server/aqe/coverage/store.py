"""The workspace's coverage data: found, read, kept current, and asked per file.

Files come from `coveragePaths` (glob patterns) or, when it is empty, from the places coverage tools
write by default. `refresh()` re-reads only files whose size or modification time changed, so it is
cheap enough to call on every open and save and from a slow poll. When several files cover the same
source file, the most recently measured one wins.
"""

from __future__ import annotations

import glob
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aqe.coverage.model import CoverageReadResult, FileCoverage
from aqe.coverage.paths import PathResolver
from aqe.coverage.readers import read_all

log = logging.getLogger(__name__)

DEFAULT_COVERAGE_FILES = (
    ".coverage",
    "coverage.json",
    "coverage.xml",
    "cobertura.xml",
    "cobertura-coverage.xml",
    "lcov.info",
    "coverage/lcov.info",
    "coverage/cobertura-coverage.xml",
    "coverage/coverage.xml",
    "build/coverage.xml",
    "reports/coverage.xml",
    "htmlcov/coverage.json",
)
MEASURED_FILE = "coverage.json"
"""Where aqe keeps what it measured itself (coverageOnSave), inside the workspace's indexDir."""


@dataclass(frozen=True)
class _Stamp:
    size: int
    mtime_ns: int


class CoverageStore:
    def __init__(
        self,
        roots: Sequence[Path],
        patterns: Sequence[str] = (),
        extra_files: Sequence[Path] = (),
        *,
        use_default_names: bool = True,
    ) -> None:
        self.roots = tuple(Path(os.path.realpath(root)) for root in roots)
        self.patterns = tuple(patterns)
        self.extra_files = tuple(extra_files)
        self.use_default_names = use_default_names
        self._lock = threading.Lock()
        self._stamps: dict[Path, _Stamp] = {}
        self._results: dict[Path, CoverageReadResult] = {}
        self._by_file: dict[str, FileCoverage] = {}
        self.problems: tuple[str, ...] = ()
        self.generation = 0
        """Bumped whenever the data changed, so callers can tell when to recompute."""

    def discover(self) -> list[Path]:
        found: dict[Path, None] = {}
        for root in self.roots:
            if self.patterns:
                for pattern in self.patterns:
                    for match in sorted(glob.glob(str(root / pattern), recursive=True)):
                        found[Path(match)] = None
            elif self.use_default_names:
                for name in DEFAULT_COVERAGE_FILES:
                    candidate = root / name
                    if candidate.is_file():
                        found[candidate] = None
        for extra in self.extra_files:
            if extra.is_file():
                found[extra] = None
        return [path for path in found if path.is_file()]

    def refresh(self) -> bool:
        """Re-read what changed on disk; True when the coverage of any file may be different now."""
        paths = self.discover()
        stamps: dict[Path, _Stamp] = {}
        for path in paths:
            try:
                info = path.stat()
            except OSError:
                continue
            stamps[path] = _Stamp(info.st_size, info.st_mtime_ns)
        with self._lock:
            changed = [path for path, stamp in stamps.items() if self._stamps.get(path) != stamp]
            removed = [path for path in self._stamps if path not in stamps]
        if not changed and not removed:
            return False
        resolver = PathResolver(self.roots)
        results, problems = read_all(changed, resolver)
        with self._lock:
            for path in removed:
                self._results.pop(path, None)
                self._stamps.pop(path, None)
            for path in changed:
                self._stamps[path] = stamps[path]
                self._results.pop(path, None)
            for result in results:
                self._results[Path(result.source)] = result
            self._rebuild()
            kept = [p for p in self.problems if not any(p.startswith(f"{c.name}:") for c in changed + removed)]
            self.problems = tuple(kept + problems)
            self.generation += 1
        for problem in problems:
            log.info("coverage: %s", problem)  # callers show `problems` themselves (CLI, diagnostics)
        return True

    def _rebuild(self) -> None:
        by_file: dict[str, FileCoverage] = {}
        for result in self._results.values():
            for coverage in result.files:
                known = by_file.get(coverage.path)
                if known is None or (coverage.measured_at or 0) >= (known.measured_at or 0):
                    by_file[coverage.path] = coverage
        self._by_file = by_file

    def file_coverage(self, path: str | Path) -> FileCoverage | None:
        real = os.path.realpath(path)
        with self._lock:
            return self._by_file.get(real)

    def files(self) -> list[FileCoverage]:
        with self._lock:
            return sorted(self._by_file.values(), key=lambda c: c.path)

    @property
    def sources(self) -> list[Path]:
        with self._lock:
            return sorted(self._results)
