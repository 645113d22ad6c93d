"""A real VS Code (code-server) with the aqe extension installed from its .vsix, in a headless chromium
that the tests drive like a person: the command palette, the Problems panel, the quick-fix menu.

Every session has its own user-data, extensions and config folders, so nothing of the developer's own
editor is read or changed; screenshots go to .cache/editor-artefacts/ for a person to look at.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from editor_tools import ARTEFACTS, VSCodeTools

DRIVER = Path(__file__).with_name("browser_driver.mjs")
STARTUP_TIMEOUT_S = 120
PROBLEMS_REFOCUS_S = 10.0
EXTENSION_MANIFEST = Path(__file__).resolve().parents[2] / "clients" / "vscode" / "package.json"


def machine_scoped_settings() -> frozenset[str]:
    """The extension's settings that VS Code scopes to a machine (from its package.json)."""
    manifest = json.loads(EXTENSION_MANIFEST.read_text(encoding="utf-8"))
    sections = manifest["contributes"]["configuration"]
    sections = sections if isinstance(sections, list) else [sections]
    return frozenset(
        key
        for section in sections
        for key, schema in section.get("properties", {}).items()
        if str(schema.get("scope", "")).startswith("machine")
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Browser:
    """The line-JSON protocol of browser_driver.mjs."""

    def __init__(self, tools: VSCodeTools, log: Path) -> None:
        self._log = log.open("w")
        self.process = subprocess.Popen(
            [tools.node, str(DRIVER), str(tools.playwright_dir), tools.chromium],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            start_new_session=True,
        )
        self._next_id = 0
        ready = self._read()
        if ready.get("value") != "ready":
            raise RuntimeError(f"the browser driver did not start: {ready}")

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the browser driver exited ({self.process.poll()}); see {self._log.name}")
        return json.loads(line)

    def __call__(self, op: str, **args: Any) -> Any:
        assert self.process.stdin is not None
        self._next_id += 1
        self.process.stdin.write(json.dumps({"id": self._next_id, "op": op, **args}) + "\n")
        self.process.stdin.flush()
        answer = self._read()
        if not answer["ok"]:
            raise BrowserError(f"{op} {args}: {answer['error']}")
        return answer["value"]

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(BrowserError, RuntimeError, OSError):
                self("close")
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
        self._log.close()


class BrowserError(Exception):
    pass


class CodeServer:
    """code-server on a loopback port, with its own folders, and the .vsix installed."""

    def __init__(self, tools: VSCodeTools, home: Path, user_settings: dict[str, Any], env: dict[str, str]) -> None:
        self.tools = tools
        self.home = home
        self.user_data = home / "user-data"
        self.extensions = home / "extensions"
        settings_file = self.user_data / "User" / "settings.json"
        settings_file.parent.mkdir(parents=True)
        settings_file.write_text(json.dumps(user_settings, indent=2))
        # code-server is a remote window: machine-scoped settings (aqe.path, aqe.interpreter) count only
        # in the remote machine's settings, as a Remote-SSH or Codespaces user would set them. In User
        # settings they are honoured or not depending on start-up timing (once cost us a CI run).
        machine = {key: value for key, value in user_settings.items() if key in machine_scoped_settings()}
        machine_file = self.user_data / "Machine" / "settings.json"
        machine_file.parent.mkdir(parents=True)
        machine_file.write_text(json.dumps(machine, indent=2))
        self.env = {**env, "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data")}
        self.port = free_port()
        self.log_path = home / "code-server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def _base_command(self) -> list[str]:
        return [
            self.tools.node,
            str(self.tools.code_server_entry),
            "--auth",
            "none",
            "--user-data-dir",
            str(self.user_data),
            "--extensions-dir",
            str(self.extensions),
            "--disable-telemetry",
            "--disable-update-check",
            "--disable-getting-started-override",
        ]

    def install_extension(self) -> None:
        completed = subprocess.run(
            [*self._base_command(), "--install-extension", str(self.tools.vsix)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=STARTUP_TIMEOUT_S,
            check=False,
        )
        if completed.returncode != 0 or "was successfully installed" not in completed.stdout + completed.stderr:
            raise RuntimeError(f"installing {self.tools.vsix.name} failed:\n{completed.stdout}\n{completed.stderr}")

    def start(self, workspace: Path) -> None:
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [*self._base_command(), "--bind-addr", f"127.0.0.1:{self.port}", str(workspace)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"code-server exited with {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
        raise RuntimeError(f"code-server did not answer on port {self.port}; see {self.log_path}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()


class VSCodeWindow:
    """One workbench window, with the actions a person takes and the things a person reads."""

    def __init__(self, browser: Browser, server: CodeServer, workspace: Path, artefacts: Path) -> None:
        self.browser = browser
        self.server = server
        self.workspace = workspace
        self.artefacts = artefacts
        self._shots = 0
        self._problems_focused_at = float("-inf")

    def open(self) -> None:
        self.browser("goto", url=f"http://127.0.0.1:{self.server.port}/?folder={self.workspace}")
        self.browser("waitFor", selector=".monaco-workbench", timeout=90_000)
        self.browser("waitFor", selector=".statusbar", timeout=60_000)

    # --- acting ---------------------------------------------------------------------------------------

    def run_command(self, title: str) -> None:
        """The command palette, the way a person runs a command."""
        self.browser("press", keys="F1")
        self.browser("waitFor", selector=".quick-input-widget input", timeout=30_000)
        self.browser("type", text=title)
        self.browser("waitFor", selector=".quick-input-list .monaco-list-row", text=title, timeout=30_000)
        self.browser("press", keys="Enter")

    def command_palette_entries(self, query: str) -> list[str]:
        self.browser("press", keys="F1")
        self.browser("waitFor", selector=".quick-input-widget input", timeout=30_000)
        self.browser("type", text=query)
        time.sleep(1.0)
        entries = self.browser("texts", selector=".quick-input-list .monaco-list-row")
        self.browser("press", keys="Escape")
        return entries

    def open_file(self, relative: str) -> None:
        self.browser("press", keys="Control+P")
        self.browser("waitFor", selector=".quick-input-widget input", timeout=30_000)
        self.browser("type", text=relative)
        name = Path(relative).name
        self.browser("waitFor", selector=".quick-input-list .monaco-list-row", text=name, timeout=30_000)
        self.browser("press", keys="Enter")
        self.browser("waitFor", selector=".tab.active", text=name, timeout=30_000)
        self.browser("click", selector=".editor-instance .view-lines")

    def quick_fix_from_problems(self, problem: str, action: str, attempts: int = 5) -> None:
        """Select the problem in the Problems panel, open its quick fixes (Ctrl+.) and choose `action`."""
        self._choose_code_action(
            lambda: self.browser("click", selector=".markers-panel .monaco-list-row", text=problem),
            action,
            f"for {problem!r}",
            attempts,
            ".context-view .action-item",
        )

    def code_action_on_line(self, line_text: str, action: str, attempts: int = 5) -> None:
        """Put the cursor on the editor line showing `line_text`, open the code actions (Ctrl+.) and choose
        `action`."""
        self._choose_code_action(
            lambda: self.browser("click", selector=".editor-instance .view-line", text=line_text),
            action,
            f"on the line {line_text!r}",
            attempts,
            ".action-widget .monaco-list-row.action",  # the editor's code action widget, not a context menu
        )

    def _choose_code_action(
        self, focus: Callable[[], Any], action: str, where: str, attempts: int, item_selector: str
    ) -> None:
        """On a loaded machine the menu can be slow to come, or come before every provider answered (the
        code actions are asked for on the keypress), so like a person it tries again a few times; a
        failure says what each menu offered.
        """
        offered: list[list[str]] = []
        for _ in range(attempts):
            focus()
            self.browser("press", keys="Control+.")
            try:
                self.browser("waitFor", selector=item_selector, text=action, timeout=10_000)
            except BrowserError:
                offered.append(self.browser("texts", selector=item_selector))
                self.browser("press", keys="Escape")
                time.sleep(1.0)
                continue
            self.screenshot("code-action-menu")
            if item_selector.startswith(".action-widget"):
                self._choose_with_keys(item_selector, action)
            else:
                self.browser("click", selector=item_selector, text=action)
            return
        shot = self.screenshot("no-code-action")
        raise AssertionError(
            f"code action {action!r} {where} not offered in {attempts} tries; the menus offered {offered} "
            f"(screenshot {shot})\n{self.evidence()}"
        )

    def _choose_with_keys(self, item_selector: str, action: str) -> None:
        """The editor's action widget lies under a pointer block that takes clicks: move its focus with the
        arrow keys to the row of `action` (a row or two at most), then Enter, as a keyboard user does."""
        rows = self.browser("texts", selector=item_selector)
        for _ in range(len(rows) + 1):
            if any(action in text for text in self.browser("texts", selector=f"{item_selector}.focused")):
                self.browser("press", keys="Enter")
                return
            self.browser("press", keys="ArrowDown")
        raise AssertionError(f"could not focus {action!r} in the code action menu {rows}\n{self.evidence()}")

    def set_number_setting(self, key: str, value: int) -> None:
        """Type a value into the Settings editor (user settings), the way a person changes one."""
        self.browser("press", keys="Control+Comma")
        self.browser("waitFor", selector=".settings-editor", timeout=30_000)
        self.browser("type", text=key)
        self.browser("waitFor", selector=".settings-count-widget", text="1 Setting Found", timeout=30_000)
        self.browser("waitFor", selector=".setting-item-number input", timeout=30_000)
        time.sleep(0.5)  # the list re-renders once more after the count settles
        self.browser("click", selector=".setting-item-number input")
        self.browser("press", keys="Control+A")
        self.browser("type", text=str(value))
        self.browser("press", keys="Tab")

    def press(self, keys: str) -> None:
        self.browser("press", keys=keys)

    def save(self) -> None:
        self.browser("press", keys="Control+S")

    # --- reading --------------------------------------------------------------------------------------

    def problems(self) -> list[str]:
        """Every row of the Problems panel (file rows and problem rows), as VS Code labels them.

        The panel is a virtual list: hidden or squeezed to no height it renders no rows at all, whatever it
        holds. So while it shows nothing, it is brought to the front again now and then, as a person would.
        """
        stale = time.monotonic() - self._problems_focused_at > PROBLEMS_REFOCUS_S
        if not self.browser("count", selector=".markers-panel") or (stale and not self._problem_rows()):
            self.run_command("View: Focus Problems")
            self.browser("waitFor", selector=".markers-panel", timeout=30_000)
            self._problems_focused_at = time.monotonic()
        return self._problem_rows()

    def _problem_rows(self) -> list[str]:
        labels = self.browser("attributes", selector=".markers-panel .monaco-list-row", name="aria-label")
        return [label or "" for label in labels]

    def notifications(self) -> list[str]:
        return self.browser("texts", selector=".notifications-toasts .notification-toast")

    def status_bar(self) -> list[str]:
        return self.browser("attributes", selector=".statusbar-item", name="aria-label")

    def wait_until(self, read: Callable[[], Any], condition: Callable[[Any], bool], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        value = read()
        while not condition(value):
            if time.monotonic() > deadline:
                shot = self.screenshot(f"timeout-{re.sub(r'[^a-z0-9]+', '-', what.lower())}")
                raise AssertionError(
                    f"{what}: not seen within {timeout:.0f} s; last {value!r} (screenshot {shot})\n{self.evidence()}"
                )
            time.sleep(0.3)
            value = read()
        return value

    def evidence(self, lines: int = 40) -> str:
        """What a person would look at when the editor does not show what they expect: the notifications and
        the end of the aqe output channel (CI keeps no screenshots, so a failure has to carry its story)."""
        try:
            shown = self.notifications()
        except BrowserError as error:
            shown = [f"(notifications unreadable: {error})"]
        logs = sorted(self.server.user_data.glob("logs/*/exthost*/aqe.aqe/*.log"))
        tail = logs[-1].read_text(errors="replace").splitlines()[-lines:] if logs else ["(no aqe output channel log)"]
        return "notifications: " + repr(shown) + "\naqe output channel (last lines):\n" + "\n".join(tail)

    def screenshot(self, name: str) -> Path:
        self._shots += 1
        path = self.artefacts / f"{self._shots:02d}-{name}.png"
        self.browser("screenshot", path=str(path))
        return path


def artefact_folder(test_name: str) -> Path:
    folder = ARTEFACTS / "vscode" / re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder
