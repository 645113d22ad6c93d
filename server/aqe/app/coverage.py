"""Coverage for both front doors: the project's coverage data (one store, the same files read by the
editor and `aqe coverage`), and measuring tests with coverage in the sandbox and keeping the result."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aqe.app.project import Project
from aqe.config import Settings
from aqe.coverage.measure import CoverageRun, load_kept, measure, merge_measurement, write_durably
from aqe.coverage.store import MEASURED_FILE, CoverageStore
from aqe.llm.types import CancelToken
from aqe.parsing.units import is_test_file
from aqe.workspace import Workspace


def kept_measurement(root: Path, settings: Settings) -> Path:
    """Where aqe keeps what it measured itself (beside the project's own coverage files)."""
    return root / settings.index_dir / MEASURED_FILE


def coverage_store(roots: Sequence[Path], settings: Settings) -> CoverageStore:
    """The coverage data of these workspace folders: the configured or usual files, plus aqe's own."""
    kept = [kept_measurement(root, settings) for root in roots]
    return CoverageStore(list(roots), settings.coverage_paths, extra_files=kept)


@dataclass(frozen=True)
class CoverageService:
    project: Project

    def store(self) -> CoverageStore:
        return coverage_store([self.project.root], self.project.settings)

    def measure(self, tests: Sequence[Path], cancel: CancelToken | None = None) -> CoverageRun:
        """Run `tests` with coverage in the sandbox (blocking). Raises CoverageRunError, SandboxRefused."""
        limits = self.project.sandbox_limits()
        return measure(
            self.project.root,
            tests,
            self.project.sandbox_runner(),
            self.project.test_python(),
            timeout_s=limits.timeout_s,
            memory_bytes=limits.memory_bytes,
            allow_network=limits.allow_network,
            cancel=cancel,
        )

    def keep(self, run: CoverageRun, focus: Sequence[Path] = (), texts: dict[str, str] | None = None) -> None:
        """Merge a run into the kept measurement: files in `focus` take the run's data (see
        aqe.coverage.measure.merge_measurement), others keep their fuller earlier data."""
        kept = kept_measurement(self.project.root, self.project.settings)
        write_durably(kept, merge_measurement(load_kept(kept), run, self.project.root, list(focus), texts or {}))

    def measure_suite(self) -> CoverageRun:
        """Every test file of the project once, kept as the project's measurement."""
        root, settings = self.project.root, self.project.settings
        workspace = Workspace([root], settings.exclude)
        tests = [
            path for path in workspace.iter_source_files([root])
            if path.suffix == ".py" and is_test_file(os.path.relpath(path, root))
        ]  # fmt: skip
        run = self.measure(tests)
        kept = kept_measurement(root, settings)
        write_durably(kept, merge_measurement(None, run, root, [], {}))
        return run
