"""How aqe runs a project's pytest in the sandbox: which interpreter, and the plugin folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PLUGINS_DIR = Path(__file__).parent / "plugins"
"""Stand-alone pytest plugins (`-p aqe_order`), put on the run's PYTHONPATH by their folder alone."""

_VENV_NAMES = (".venv", "venv", ".env", "env")


def project_python(root: Path) -> str:
    """The project's own virtual environment when it has one (its dependencies are there), else the
    interpreter aqe runs in. (The application layer ranks settings and the editor's choice above this.)"""
    return project_venv_python(root) or sys.executable


def project_venv_python(root: Path) -> str | None:
    """The interpreter of a virtual environment kept in the project's folder, if there is one."""
    for name in _VENV_NAMES:
        for candidate in (root / name / "bin" / "python", root / name / "Scripts" / "python.exe"):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return None


def pytest_environment(root: Path | None = None) -> tuple[tuple[str, str], ...]:
    """PYTHONPATH for a run of the project's tests: aqe's plugins, and the copy's `src/` when the
    project keeps its code there. A src-layout project is usually installed editable into its own
    environment, pointing at the real project's folder, which the sandbox does not show: the copy's
    own `src/` comes first on the path instead."""
    entries = [str(PLUGINS_DIR)]
    if root is not None and (root / "src").is_dir():
        entries.append("src")  # relative: the run's working directory is the copy of the project
    return (("PYTHONPATH", ":".join(entries)),)
