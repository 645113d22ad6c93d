"""Measuring coverage: run tests with coverage.py in the sandbox, keep what they measured.

The run happens in a sandbox copy of the workspace; coverage's JSON report names files relative to
that copy, so it reads back onto the workspace unchanged. aqe keeps its own measurements in
`<indexDir>/coverage.json` (a coverage.py JSON report plus the measured text of each file as line
hashes, so later edits can be followed), written durably, and the store reads it like any other.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aqe.coverage.model import hash_lines
from aqe.durable import atomic_write_bytes, make_state_folder
from aqe.llm.types import CancelToken
from aqe.sandbox.failure import stopping_error
from aqe.sandbox.pytest_command import pytest_environment
from aqe.sandbox.runner import SandboxResult, SandboxRunner, SandboxSpec

REPORT_NAME = ".aqe-coverage.json"
AQE_KEY = "aqe"
FORMAT_VERSION = 1


class CoverageRunError(Exception):
    """The tests could not be measured (no coverage.py in the project's interpreter, no report)."""


@dataclass(frozen=True)
class CoverageRun:
    tests: tuple[str, ...]
    sandbox: SandboxResult
    report: dict[str, Any]
    """The coverage.py JSON report of the run, paths relative to the workspace root."""


def coverage_command(python: str, tests: Sequence[str]) -> tuple[str, ...]:
    """coverage run, then coverage json even when tests failed; the exit code is the tests'."""
    data = ".aqe-coverage-data"
    run = shlex.join(
        [python, "-m", "coverage", "run", "--branch", f"--data-file={data}", "-m", "pytest", "-q", "-p",
         "no:cacheprovider", *tests]
    )  # fmt: skip
    report = shlex.join([python, "-m", "coverage", "json", f"--data-file={data}", "-o", REPORT_NAME, "-q"])
    return ("/bin/sh", "-c", f"{run}; status=$?; {report} || exit 97; exit $status")


def measure(
    root: Path,
    tests: Sequence[Path],
    runner: SandboxRunner,
    python: str,
    *,
    timeout_s: float,
    memory_bytes: int | None,
    allow_network: bool,
    cancel: CancelToken | None = None,
) -> CoverageRun:
    relative = tuple(os.path.relpath(test, root) for test in tests)
    spec = SandboxSpec(
        command=coverage_command(python, relative),
        copy_from=root,
        env=pytest_environment(root),
        timeout_s=timeout_s,
        memory_bytes=memory_bytes,
        allow_network=allow_network,
        collect=(REPORT_NAME,),
        python=python,
    )
    result = runner.run(spec, cancel)
    if result.stopped_reason is not None:
        raise CoverageRunError(f"the test run was stopped ({result.stopped_reason})")
    raw = result.artifacts.get(REPORT_NAME)
    if raw is None:
        if "No module named coverage" in result.stderr_tail:
            raise CoverageRunError(f"coverage.py is not installed in {python}; install it to measure coverage")
        tail = [stopping_error(result.stdout_tail, result.stderr_tail) or f"exit code {result.exit_code}"]
        raise CoverageRunError(f"the run wrote no coverage report ({tail[0]})")
    try:
        report = json.loads(raw)
    except ValueError as error:
        raise CoverageRunError(f"the coverage report of the run is not JSON ({error})") from error
    return CoverageRun(relative, result, report)


def merge_measurement(
    existing: dict[str, Any] | None, run: CoverageRun, root: Path, focus: Sequence[Path], texts: dict[str, str]
) -> dict[str, Any]:
    """The kept report after a run: files in `focus` (the saved file) and files not measured before
    take the run's data; others keep their earlier, usually fuller, measurement."""
    merged: dict[str, Any] = dict(existing or {})
    files: dict[str, Any] = dict(merged.get("files", {}))
    hashes: dict[str, list[str]] = dict(merged.get(AQE_KEY, {}).get("lineHashes", {}))
    focus_names = {os.path.relpath(path, root) for path in focus}
    for name, entry in run.report.get("files", {}).items():
        if name in focus_names or name not in files:
            files[name] = entry
            if name in texts:
                hashes[name] = list(hash_lines(texts[name]))
    merged["meta"] = run.report.get("meta", merged.get("meta", {}))
    merged["files"] = files
    merged[AQE_KEY] = {"version": FORMAT_VERSION, "lineHashes": hashes}
    return merged


def load_kept(path: Path) -> dict[str, Any] | None:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    version = document.get(AQE_KEY, {}).get("version") if isinstance(document, dict) else None
    if version is not None and version > FORMAT_VERSION:
        raise CoverageRunError(f"{path} was written by a newer aqe (format {version}); not overwriting it")
    return document if isinstance(document, dict) else None


def write_durably(path: Path, document: dict[str, Any]) -> None:
    """Temp file, fsync, rename, fsync the folder: a crash leaves the old file or the new, never half.
    The file lives in aqe's folder of the project, which gets its `.gitignore` on the way."""
    make_state_folder(path.parent)
    atomic_write_bytes(path, json.dumps(document).encode("utf-8"))
