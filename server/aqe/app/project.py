"""A workspace folder as both front doors see it: its root, its settings and its trust, and the
objects that follow from them (the sandbox runner, the feedback log, the interpreter of its tests).

Trust and the limits that only the user can loosen are decided here, once, from the loaded settings
(which take trust from `aqe.config.editor_trust`): no front door defaults them its own way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aqe.config import LoadedSettings, Settings, load_settings
from aqe.learning.events import FeedbackLog
from aqe.sandbox.pytest_command import project_python
from aqe.sandbox.runner import SandboxRunner


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

    def test_python(self) -> str:
        """The interpreter that runs the project's tests (its own virtual environment if it has one)."""
        return project_python(self.root)
