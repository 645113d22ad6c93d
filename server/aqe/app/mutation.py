"""Mutants of one function against the project's tests, for both front doors (`aqe mutants` and the
editor's hints on save): which changes to the function no test notices.

The tests are those that import the function's module (aqe's coverage data has no per-test contexts);
the run itself then keeps only the ones that call the function, so the rest cost one pass, not one per
mutant. Mutants are made from the file on disk: the sandbox runs a copy of the disk, not the buffer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from aqe.app.project import Project
from aqe.coverage.related import related_tests
from aqe.llm.types import CancelToken
from aqe.mutation.mutants import MutationError, function_mutants
from aqe.mutation.run import MutationRun, run_mutants
from aqe.testgen.layout import module_location
from aqe.workspace import Workspace

MAX_TEST_FILES = 20
"""The importers of a module most used elsewhere can be hundreds of files: the first 20 (by path)."""


class NoTestsToRun(MutationError):
    """No test file imports the function's module: there is nothing to judge the mutants with."""


@dataclass(frozen=True)
class MutationService:
    project: Project

    def run(self, path: str, qualified_name: str, cancel: CancelToken | None = None) -> MutationRun:
        """Run every mutant of `qualified_name` in `path` (workspace-relative) against the tests that
        reach it; blocking (call it off the event loop). Raises MutationError (NoTestsToRun),
        MutationRunFailed, SandboxRefused."""
        root = self.project.root
        try:
            text = (root / path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise MutationError(f"{path} cannot be read: {error}") from error
        function = function_mutants(path, text, qualified_name)
        location = module_location(root, path)
        if location is None:
            raise MutationError(f"{path} is not a Python module that can be imported")
        tests = self.tests_of(path)
        if not tests:
            raise NoTestsToRun(f"no test file imports `{location.module}`, so no test can notice a mutant")
        limits = self.project.sandbox_limits()
        return run_mutants(
            root, self.project.sandbox_runner(), self.project.test_python(), location.module, function, tests,
            import_root=location.import_root or None, timeout_s=limits.timeout_s, memory_bytes=limits.memory_bytes,
            allow_network=limits.allow_network, cancel=cancel,
        )  # fmt: skip

    def tests_of(self, path: str) -> list[str]:
        """Workspace-relative test files that import the module at `path`."""
        root = self.project.root
        workspace = Workspace((root,), self.project.settings.exclude)
        python_files = [p for p in workspace.iter_source_files([root]) if p.suffix == ".py"]
        found = related_tests(root / path, root, python_files)
        return [os.path.relpath(test, root) for test in found if Path(test) != root / path][:MAX_TEST_FILES]
