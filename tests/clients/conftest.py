"""Fixtures for the editor-client tests: real editors (code-server in chromium, headless Neovim) on a copy of
a sample workspace with planted defects, running this checkout's `aqe serve`."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from editor_tools import ToolsMissing, VSCodeTools, neovim_executable, vscode_tools
from neovim_session import Neovim, aqe_setup_lua
from vscode_session import Browser, CodeServer, VSCodeWindow, artefact_folder

SAMPLE = Path(__file__).parent / "workspaces" / "sample"


def editor_environment(**overrides: str) -> dict[str, str]:
    """The editor's (and so the aqe server's) environment, without the developer's own AQE_* settings; each
    editor also gets its own empty XDG_CONFIG_HOME, so ~/.config/aqe/config.toml is never read."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AQE_")}
    env["AQE_DIAGNOSTICS_DEBOUNCE_MS"] = "50"
    env["AQE_CONTEXT_SIZE"] = "1024"  # the model loads with a small context: the tests only need it ready
    env.update(overrides)
    return env


@pytest.fixture
def sample_workspace(tmp_path: Path) -> Path:
    target = tmp_path / "sample"
    shutil.copytree(SAMPLE, target)
    return target.resolve()


@pytest.fixture(scope="session")
def installed_vscode_tools() -> VSCodeTools:
    try:
        return vscode_tools()
    except ToolsMissing as missing:
        pytest.skip(str(missing))


BASE_USER_SETTINGS: dict[str, Any] = {
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "workbench.welcomePage.walkthroughs.openOnInstall": False,
    "extensions.ignoreRecommendations": True,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "files.autoSave": "off",
    "aqe.interpreter": sys.executable,
}

VSCodeFactory = Callable[..., VSCodeWindow]


@pytest.fixture
def open_vscode(
    installed_vscode_tools: VSCodeTools, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[VSCodeFactory]:
    """`open_vscode(workspace, trusted=True, settings={...})`: a VS Code window on `workspace` with aqe installed."""
    started: list[tuple[CodeServer, Browser]] = []

    def open_window(workspace: Path, *, trusted: bool = True, settings: dict[str, Any] | None = None) -> VSCodeWindow:
        home = tmp_path / f"vscode-{len(started)}"
        home.mkdir()
        user_settings = {**BASE_USER_SETTINGS, **(settings or {})}
        if trusted:
            user_settings["security.workspace.trust.enabled"] = False
        else:
            user_settings["security.workspace.trust.startupPrompt"] = "never"
            user_settings["security.workspace.trust.banner"] = "never"
        server = CodeServer(installed_vscode_tools, home, user_settings, editor_environment())
        server.install_extension()
        server.start(workspace)
        browser = Browser(installed_vscode_tools, home / "browser.log")
        started.append((server, browser))
        window = VSCodeWindow(browser, server, workspace, artefact_folder(request.node.name))
        window.open()
        return window

    yield open_window
    for server, browser in started:
        browser.close()
        server.stop()


@pytest.fixture(scope="session")
def nvim_executable() -> Path:
    try:
        return neovim_executable()
    except ToolsMissing as missing:
        pytest.skip(str(missing))


NeovimFactory = Callable[..., Neovim]


@pytest.fixture
def open_neovim(nvim_executable: Path, tmp_path: Path) -> Iterator[NeovimFactory]:
    """`open_neovim(workspace, setup_lua=...)`: headless Neovim in `workspace` with the aqe plugin set up."""
    started: list[Neovim] = []

    def open_editor(workspace: Path, setup_lua: str | None = None) -> Neovim:
        home = tmp_path / f"nvim-{len(started)}"
        home.mkdir()
        editor = Neovim(str(nvim_executable), workspace, home, setup_lua or aqe_setup_lua(), editor_environment())
        started.append(editor)
        return editor

    yield open_editor
    for editor in started:
        editor.close()
