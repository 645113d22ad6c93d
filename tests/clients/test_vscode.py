"""The VS Code extension in a real VS Code (code-server in headless chromium), installed from its .vsix,
used the way a person uses it: open files, read the Problems panel, apply a quick fix, run commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from generated_tests import new_test_ids
from processes import aqe_server_pids
from server_capabilities import missing_command_reason, server_execute_commands
from vscode_session import VSCodeWindow

pytestmark = pytest.mark.e2e

FLOAT_FINDING = "compares floats exactly"
MUTABLE_DEFAULT_FINDING = "is created once and shared by every call"


def _wait_for_problem(window: VSCodeWindow, text: str, timeout: float = 90) -> list[str]:
    return window.wait_until(window.problems, lambda rows: any(text in row for row in rows), timeout, text)


def _wait_for_notification(window: VSCodeWindow, text: str, timeout: float = 60) -> str:
    notifications = window.wait_until(
        window.notifications, lambda shown: any(text in item for item in shown), timeout, f"notification {text!r}"
    )
    return next(item for item in notifications if text in item)


def _run_pytest(workspace: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _server_pid(window: VSCodeWindow, other_than: int | None = None, timeout: float = 60) -> int:
    assert window.server.process is not None
    pids = window.wait_until(
        lambda: [pid for pid in aqe_server_pids(window.server.process.pid) if pid != other_than],
        bool,
        timeout,
        "a running aqe server",
    )
    return pids[0]


def test_findings_appear_in_the_problems_panel(open_vscode, sample_workspace):
    window = open_vscode(sample_workspace)
    window.open_file("src/shop/cart.py")
    rows = _wait_for_problem(window, MUTABLE_DEFAULT_FINDING)
    window.screenshot("problems")
    problem = next(row for row in rows if MUTABLE_DEFAULT_FINDING in row)
    assert "line 4" in problem
    assert "aqe" in problem


def test_the_status_bar_shows_the_model_and_the_privacy_mode(open_vscode, sample_workspace):
    window = open_vscode(sample_workspace)
    window.open_file("src/shop/cart.py")
    items = window.wait_until(
        window.status_bar, lambda labels: any("aqe: model ready" in (label or "") for label in labels), 120, "ready"
    )
    window.screenshot("status-bar")
    ours = next(label for label in items if "aqe: model ready" in label)
    assert "privacy mode: strict" in ours


def test_a_quick_fix_applies_and_the_fixed_test_passes(open_vscode, sample_workspace):
    assert _run_pytest(sample_workspace).returncode == 1  # the planted float comparison fails
    window = open_vscode(sample_workspace)
    window.open_file("tests/test_cart.py")
    _wait_for_problem(window, FLOAT_FINDING)
    window.quick_fix_from_problems(FLOAT_FINDING, "Compare with pytest.approx(0.3)")
    window.browser("click", selector=".editor-instance .view-lines")
    window.save()
    test_file = sample_workspace / "tests" / "test_cart.py"
    window.wait_until(test_file.read_text, lambda text: "pytest.approx(0.3)" in text, 30, "the fix saved")
    window.wait_until(
        window.problems, lambda rows: not any(FLOAT_FINDING in row for row in rows), 30, "the finding gone"
    )
    window.screenshot("fixed")
    assert "import pytest" in test_file.read_text()
    result = _run_pytest(sample_workspace)
    assert result.returncode == 0, result.stdout


def test_generate_test_writes_a_passing_test(open_vscode, sample_workspace):
    reason = missing_command_reason("aqe.generateTest")
    if reason:
        pytest.skip(reason)
    before = {path: path.read_text() for path in sample_workspace.rglob("test_*.py")}
    window = open_vscode(sample_workspace)
    window.open_file("src/shop/cart.py")
    _wait_for_problem(window, MUTABLE_DEFAULT_FINDING)
    window.browser("click", selector=".editor-instance .view-line", text="def discounted")
    window.run_command("aqe: Generate Test for Function at Cursor")

    def changed_tests() -> dict[Path, str]:  # on disk: the extension saves the test file it was given
        now = {path: path.read_text() for path in sample_workspace.rglob("test_*.py")}
        return {path: text for path, text in now.items() if before.get(path) != text}

    written = window.wait_until(changed_tests, bool, 300, "a generated test written")
    shown = _wait_for_notification(window, "and saved it.")
    window.screenshot("generated-test")
    assert shown.startswith("aqe: added ") and " to tests/test_cart.py and saved it." in shown
    assert any("discounted" in text for text in written.values())
    added = new_test_ids(before, written, sample_workspace)  # the sample keeps a failing test on purpose
    assert added
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *added],
        cwd=sample_workspace,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def _cart_with_related_tests(open_vscode, sample_workspace) -> VSCodeWindow:
    """cart.py open and reviewed, on a server that finds related tests (else the test is skipped)."""
    reason = missing_command_reason("aqe.findRelatedTests")
    if reason:
        pytest.skip(reason)
    window = open_vscode(sample_workspace)
    window.open_file("src/shop/cart.py")
    _wait_for_problem(window, MUTABLE_DEFAULT_FINDING)
    return window


def test_related_tests_show_in_a_references_peek(open_vscode, sample_workspace):
    window = _cart_with_related_tests(open_vscode, sample_workspace)
    window.browser("click", selector=".editor-instance .view-line", text="def total")
    window.run_command("aqe: Find Related Tests")
    window.browser("waitFor", selector=".peekview-widget", text="test_cart.py", timeout=120_000)
    window.screenshot("related-tests")


def test_find_related_tests_from_the_code_action_menu_shows_them(open_vscode, sample_workspace):
    """The server offers it as a code action; choosing it once ran the request and dropped the answer."""
    window = _cart_with_related_tests(open_vscode, sample_workspace)
    window.code_action_on_line("def total", "Find related tests for `total`")
    window.browser("waitFor", selector=".peekview-widget", text="test_cart.py", timeout=120_000)
    window.screenshot("related-tests-from-code-action")


def test_a_command_the_server_lacks_says_so(open_vscode, sample_workspace):
    client_commands = {
        "aqe.reindex": "aqe: Reindex Workspace",
        "aqe.showLearned": "aqe: Show What aqe Has Learned",
        "aqe.privacyAudit": "aqe: Privacy Audit",
        "aqe.findRelatedTests": "aqe: Find Related Tests",
        "aqe.generateTest": "aqe: Generate Test for Function at Cursor",
    }
    lacking = [command for command in client_commands if command not in server_execute_commands()]
    if not lacking:
        pytest.skip("the aqe server provides every command the extension offers")
    window = open_vscode(sample_workspace)
    window.open_file("src/shop/cart.py")
    _wait_for_problem(window, MUTABLE_DEFAULT_FINDING)
    window.run_command(client_commands[lacking[0]])
    shown = _wait_for_notification(window, "does not provide")
    window.screenshot("not-provided")
    assert f"This aqe server does not provide {lacking[0]} yet" in shown


def test_the_privacy_audit_opens_as_json(open_vscode, sample_workspace):
    reason = missing_command_reason("aqe.privacyAudit")
    if reason:
        pytest.skip(reason)
    window = open_vscode(sample_workspace)
    window.open_file("src/shop/cart.py")
    _wait_for_problem(window, MUTABLE_DEFAULT_FINDING)
    window.run_command("aqe: Privacy Audit")
    window.browser("waitFor", selector=".editor-instance .view-lines", text='"privacyMode": "strict"', timeout=30_000)
    window.screenshot("privacy-audit")
    text = " ".join(window.browser("texts", selector=".editor-instance .view-lines"))
    assert '"auditLog"' in text


def test_a_crashed_server_is_restarted_a_bounded_number_of_times(open_vscode, sample_workspace):
    window = open_vscode(sample_workspace)
    window.open_file("src/shop/cart.py")
    _wait_for_problem(window, MUTABLE_DEFAULT_FINDING)
    pid = _server_pid(window)
    for restart in (1, 2, 3):
        os.kill(pid, signal.SIGKILL)
        shown = _wait_for_notification(window, f"restart {restart} of 3")
        assert "the server stopped unexpectedly; restarting it" in shown
        pid = _server_pid(window, other_than=pid)
        window.wait_until(window.status_bar, lambda labels: any("privacy mode" in (x or "") for x in labels), 90, "up")
    window.screenshot("restarted")
    os.kill(pid, signal.SIGKILL)
    shown = _wait_for_notification(window, "will not be restarted")
    assert "stopped 4 times in 3 minutes" in shown
    window.wait_until(window.status_bar, lambda labels: any("aqe: stopped" in (x or "") for x in labels), 30, "stop")
    time.sleep(2)
    assert aqe_server_pids(window.server.process.pid) == []
    window.screenshot("gave-up")
    window.run_command("aqe: Restart Server")
    _server_pid(window)
    window.wait_until(window.status_bar, lambda labels: any("privacy mode" in (x or "") for x in labels), 90, "back")


def test_model_loading_shows_as_a_progress_notification(open_vscode, sample_workspace):
    window = open_vscode(sample_workspace)
    window.open_file("src/shop/cart.py")
    shown = _wait_for_notification(window, "aqe: loading the local model", timeout=120)
    window.screenshot("progress")
    assert shown.startswith("aqe: loading the local model")


def test_an_untrusted_workspace_gets_no_workspace_settings_and_no_test_generation(open_vscode, sample_workspace):
    (sample_workspace / ".vscode").mkdir()
    (sample_workspace / ".vscode" / "settings.json").write_text('{"aqe.rules": {"QE202": "off"}}')
    window = open_vscode(sample_workspace, trusted=False)
    window.open_file("src/shop/cart.py")
    _wait_for_problem(window, MUTABLE_DEFAULT_FINDING)  # the workspace's "QE202: off" was not applied
    assert any("Restricted Mode" in (label or "") for label in window.status_bar())
    palette = window.command_palette_entries("aqe: ")
    assert "aqe: Privacy Audit" in palette
    assert "aqe: Generate Test for Function at Cursor" not in palette
    window.screenshot("restricted")


def test_trusting_the_workspace_restarts_the_server_with_its_settings(open_vscode, sample_workspace):
    (sample_workspace / ".vscode").mkdir()
    (sample_workspace / ".vscode" / "settings.json").write_text('{"aqe.rules": {"QE202": "off"}}')
    window = open_vscode(sample_workspace, trusted=False)
    window.open_file("src/shop/cart.py")
    _wait_for_problem(window, MUTABLE_DEFAULT_FINDING)
    untrusted_server = _server_pid(window)
    window.run_command("Workspaces: Manage Workspace Trust")
    window.browser("click", selector=".workspace-trust-editor .monaco-button", text="Trust")
    _server_pid(window, other_than=untrusted_server)
    window.wait_until(
        window.problems, lambda rows: not any(MUTABLE_DEFAULT_FINDING in row for row in rows), 60, "QE202 off"
    )
    window.screenshot("trusted")
    window.wait_until(
        lambda: aqe_server_pids(window.server.process.pid), lambda pids: untrusted_server not in pids, 30, "old gone"
    )
    window.browser("click", selector=".tab", text="cart.py")
    assert "aqe: Generate Test for Function at Cursor" in window.command_palette_entries("aqe: Generate")


def test_a_changed_user_setting_reaches_the_running_server(open_vscode, sample_workspace):
    window = open_vscode(sample_workspace)
    window.open_file("src/shop/cart.py")
    _wait_for_problem(window, MUTABLE_DEFAULT_FINDING)
    server = _server_pid(window)
    window.set_number_setting("aqe.maxComplexity", 2)
    _wait_for_problem(window, "`discounted` has a cyclomatic complexity of 3 (threshold 2)", timeout=60)
    assert '"aqe.maxComplexity": 2' in (window.server.user_data / "User" / "settings.json").read_text()
    assert aqe_server_pids(window.server.process.pid) == [server]  # applied without a restart


def test_an_interpreter_without_aqe_is_reported_with_the_fix(open_vscode, sample_workspace, tmp_path):
    bare = tmp_path / "bare-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=120)
    python = bare / "bin" / "python"
    window = open_vscode(sample_workspace, settings={"aqe.interpreter": str(python)})
    window.open_file("src/shop/cart.py")
    shown = _wait_for_notification(window, "aqe cannot run there")
    window.screenshot("not-installed")
    assert f"aqe.interpreter is {python}, but aqe cannot run there: ModuleNotFoundError" in shown
    assert f"Install aqe into that interpreter ({python} -m pip install aqe)" in shown
    assert aqe_server_pids(window.server.process.pid) == []


def test_a_server_that_fails_to_start_is_reported_once_with_its_last_words(open_vscode, sample_workspace, tmp_path):
    broken = tmp_path / "broken-aqe"
    broken.write_text('#!/bin/sh\necho "aqe: llama.cpp could not be loaded" >&2\nexit 3\n')
    broken.chmod(0o755)
    window = open_vscode(sample_workspace, settings={"aqe.path": str(broken)})
    window.open_file("src/shop/cart.py")
    shown = _wait_for_notification(window, "the server failed to start")
    window.screenshot("failed-to-start")
    assert "it exited with code 3: aqe: llama.cpp could not be loaded" in shown
    assert not any("restarting it" in item for item in window.notifications())
    assert any("aqe: stopped" in (label or "") for label in window.status_bar())


def _feedback(workspace: Path) -> list[tuple[str, str]]:
    log = workspace / ".aqe" / "feedback.jsonl"
    if not log.exists():
        return []
    return [(event["kind"], event["subject"]) for event in map(json.loads, log.read_text().splitlines())]


def test_not_our_standard_is_learned_shown_and_reset_from_the_palette(open_vscode, sample_workspace):
    reason = missing_command_reason("aqe.resetLearned")
    if reason:
        pytest.skip(reason)
    window = open_vscode(sample_workspace)
    window.open_file("src/shop/cart.py")
    _wait_for_problem(window, MUTABLE_DEFAULT_FINDING)
    window.quick_fix_from_problems(MUTABLE_DEFAULT_FINDING, "Not our standard: QE202")
    window.wait_until(lambda: _feedback(sample_workspace), lambda kinds: kinds == [("reject", "QE202")], 30,
                      "the rejection in the feedback log")  # fmt: skip
    window.run_command("aqe: Show What aqe Has Learned")
    window.browser("waitFor", selector=".editor-instance .view-lines", text='"QE202"', timeout=30_000)
    window.screenshot("learned")
    text = " ".join(window.browser("texts", selector=".editor-instance .view-lines")).replace("\xa0", " ")
    assert '"learningEnabled": true' in text
    window.run_command("aqe: Reset What aqe Learned About a Rule")
    window.browser("waitFor", selector=".quick-input-list .monaco-list-row", text="QE202", timeout=30_000)
    window.screenshot("reset-picker")
    window.browser("press", keys="Enter")
    window.wait_until(lambda: _feedback(sample_workspace), lambda kinds: ("reset", "QE202") in kinds, 30,
                      "the reset in the feedback log")  # fmt: skip


def test_machine_settings_set_where_vs_code_ignores_them_are_reported_with_where_they_belong(
    open_vscode, sample_workspace
):
    """Machine settings never count in a workspace's .vscode/settings.json (VS Code drops them without a word);
    code-server is a remote window, where they belong in the Remote settings."""
    (sample_workspace / ".vscode").mkdir()
    (sample_workspace / ".vscode" / "settings.json").write_text(
        '{\n  // theirs\n  "aqe.privacyMode": "off",\n  "aqe.sandboxAllowNetwork": true,\n}\n'
    )
    window = open_vscode(sample_workspace)
    window.open_file("src/shop/cart.py")
    shown = _wait_for_notification(window, "machine settings")
    window.screenshot("misplaced-settings")
    assert (
        "aqe: aqe.privacyMode, aqe.sandboxAllowNetwork are machine settings, ignored in the workspace settings "
        "of sample (.vscode/settings.json); set them in the Remote settings of this window."
    ) in shown
    assert "Open Remote Settings" in shown  # the button that opens where they belong
