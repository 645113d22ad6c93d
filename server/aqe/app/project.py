"""A workspace folder as both front doors see it: its root, its settings and its trust, and the
objects that follow from them (the sandbox runner, the feedback log, the interpreter of its tests).

Trust and the limits that only the user can loosen are decided here, once, from the loaded settings
(which take trust from `aqe.config.editor_trust`): no front door defaults them its own way.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aqe.config import LoadedSettings, Settings, load_settings
from aqe.learning.events import FeedbackLog
from aqe.sandbox.pytest_command import project_venv_python
from aqe.sandbox.runner import SandboxRunner

ORIGIN_SETTING = "the projectPython setting"
ORIGIN_EDITOR = "the editor's interpreter for the project"
ORIGIN_PROJECT_VENV = "the project's virtual environment"
ORIGIN_ACTIVE_VENV = "$VIRTUAL_ENV"
ORIGIN_AQE = "the interpreter aqe runs in"


@dataclass(frozen=True)
class ProjectInterpreter:
    """The Python that runs a project's tests, and why that one: results name it, so a failed import
    says which interpreter lacked the module and how to choose another."""

    path: str
    origin: str
    passed_over: tuple[str, ...] = ()
    """Choices ranked above this one that could not be used (a setting naming a missing file)."""

    def describe(self) -> str:
        skipped = "".join(f"; {note}" for note in self.passed_over)
        return f"{self.path} ({self.origin}{skipped})"


def resolve_interpreter(root: Path, settings: Settings, environ: Mapping[str, str]) -> ProjectInterpreter:
    """One order for every run of project code: the projectPython setting > the editor's interpreter
    for the project > the project's own .venv/venv > an activated $VIRTUAL_ENV > aqe's own."""
    passed_over: list[str] = []
    ranked = (
        (settings.project_python, ORIGIN_SETTING),
        (settings.editor_python, ORIGIN_EDITOR),
    )
    for configured, origin in ranked:
        if configured is None:
            continue
        candidate = Path(os.path.expanduser(configured))
        candidate = candidate if candidate.is_absolute() else root / candidate
        if _runnable(candidate):
            return ProjectInterpreter(str(candidate), origin, tuple(passed_over))
        passed_over.append(f"{origin} {configured} is not an executable file")
    in_project = project_venv_python(root)
    if in_project is not None:
        return ProjectInterpreter(in_project, ORIGIN_PROJECT_VENV, tuple(passed_over))
    active = environ.get("VIRTUAL_ENV")
    if active:
        for candidate in (Path(active) / "bin" / "python", Path(active) / "Scripts" / "python.exe"):
            if _runnable(candidate):
                return ProjectInterpreter(str(candidate), ORIGIN_ACTIVE_VENV, tuple(passed_over))
    return ProjectInterpreter(sys.executable, ORIGIN_AQE, tuple(passed_over))


def _runnable(candidate: Path) -> bool:
    return candidate.is_file() and os.access(candidate, os.X_OK)


@dataclass(frozen=True)
class SandboxLimits:
    """The limits of one sandboxed run, from the settings (a repository may only lower them)."""

    timeout_s: float
    memory_bytes: int
    allow_network: bool

    @classmethod
    def of(cls, settings: Settings) -> SandboxLimits:
        return cls(settings.sandbox_timeout_s, settings.sandbox_memory_mb * 1024 * 1024, settings.sandbox_allow_network)


@dataclass(frozen=True)
class Project:
    root: Path
    loaded: LoadedSettings

    @classmethod
    def load(cls, root: Path, client_options: Mapping[str, Any] | None = None) -> Project:
        """The command line's project: its settings files and environment; trusted unless the options
        say otherwise (its user pointed it at the folder)."""
        return cls(root, load_settings(root, client_options=client_options))

    @property
    def settings(self) -> Settings:
        return self.loaded.settings

    @property
    def trusted(self) -> bool:
        return self.loaded.trusted

    def sandbox_runner(self) -> SandboxRunner:
        return SandboxRunner.for_settings(self.settings, trusted=self.trusted)

    def sandbox_limits(self) -> SandboxLimits:
        return SandboxLimits.of(self.settings)

    def feedback_log(self) -> FeedbackLog:
        return FeedbackLog.for_workspace(self.root, self.settings.index_dir)

    def test_interpreter(self) -> ProjectInterpreter:
        """The interpreter that runs the project's tests, and where that choice came from."""
        return resolve_interpreter(self.root, self.settings, os.environ)

    def test_python(self) -> str:
        return self.test_interpreter().path
