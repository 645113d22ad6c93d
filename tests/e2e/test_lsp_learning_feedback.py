"""Learning made visible in the editor: each "Not our standard" says what it did and what the next will
do, the one that hides a rule offers Undo and Show learned, Undo brings the rule back, and what was
learned opens as Markdown."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
import pytest_lsp
from lsp_session import (
    SERVER_CONFIG,
    code_actions_for,
    codes,
    copy_workspace,
    diagnostics_for,
    open_file,
    start_session,
)
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.e2e


@pytest_lsp.fixture(config=SERVER_CONFIG)
async def client(lsp_client: LanguageClient, request):
    root = copy_workspace("learning", request.getfixturevalue("tmp_path"))
    lsp_client.root = root  # type: ignore[attr-defined]
    await start_session(lsp_client, root, "push")
    yield
    await lsp_client.shutdown_session()


async def _until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.05)


async def _reject(client: LanguageClient, uri: str, rule: str) -> dict:
    diagnostics = await diagnostics_for(client, uri, "push", until=lambda d: rule in codes(d))
    finding = next(d for d in diagnostics if d.code == rule)
    actions = await code_actions_for(client, uri, finding)
    action = next(a for a in actions if isinstance(a, types.CodeAction) and a.title == f"Not our standard: {rule}")
    assert action.command is not None
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=action.command.command, arguments=action.command.arguments)
    )


def _events(client: LanguageClient) -> list[tuple[str, str]]:
    log = client.root / ".aqe" / "feedback.jsonl"
    return [(e["kind"], e["subject"]) for e in map(json.loads, log.read_text().splitlines())]


async def test_each_rejection_says_what_it_did_and_undo_brings_the_hidden_rule_back(client):
    uri = open_file(client, client.root / "src" / "shop" / "cart.py")
    first = await _reject(client, uri, "QE205")
    assert first["shown"] is True
    await _until(lambda: len(client.message_requests) == 1, "a message after the first rejection")
    assert "one more rejection will hide it in this workspace" in client.message_requests[0].message

    client.message_answer = "Undo"
    second = await _reject(client, uri, "QE205")
    assert second["shown"] is False
    await _until(lambda: len(client.message_requests) == 2, "a message when the rule is hidden")
    told = client.message_requests[1]
    assert "QE205 is now hidden in this workspace after 2 rejections" in told.message
    assert [action.title for action in told.actions] == ["Undo", "Show learned"]

    await _until(lambda: any("QE205 is shown again" in m.message for m in client.messages), "the undo confirmed")
    back = await diagnostics_for(client, uri, "push", until=lambda d: codes(d).count("QE205") == 2)
    assert "QE202" in codes(back)
    assert _events(client) == [("reject", "QE205"), ("reject", "QE205"), ("retract", "QE205")]
    learned = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="aqe.showLearned"))
    assert learned["folders"][0]["hidden"] == []
    assert "Nothing is hidden." in learned["markdown"]


async def test_the_undo_command_takes_back_a_rejection_once(client):
    uri = open_file(client, client.root / "src" / "shop" / "cart.py")
    await _reject(client, uri, "QE205")
    answer = await _reject(client, uri, "QE205")
    await diagnostics_for(client, uri, "push", until=lambda d: "QE205" not in codes(d))
    params = types.ExecuteCommandParams(command="aqe.undoFeedback", arguments=[answer["undo"]])
    undone = await client.workspace_execute_command_async(params)
    assert (undone["subject"], undone["shown"]) == ("QE205", True)
    await diagnostics_for(client, uri, "push", until=lambda d: codes(d).count("QE205") == 2)
    with pytest.raises(Exception, match="no such feedback to undo"):
        await client.workspace_execute_command_async(params)


async def test_show_learned_opens_the_learned_state_as_markdown(client):
    uri = open_file(client, client.root / "src" / "shop" / "cart.py")
    await _reject(client, uri, "QE205")
    client.message_answer = "Show learned"
    await _reject(client, uri, "QE205")
    await _until(lambda: bool(client.shown_documents), "the learned state shown")
    shown = client.shown_documents[0]
    path = client.root / ".aqe" / "learned.md"
    assert shown.uri == path.as_uri() and shown.take_focus
    text = path.read_text()
    assert text.startswith("# What aqe learned")
    assert "| `QE205` | 0 | 2 | 0 |" in text.split("### Hidden in this workspace")[1].split("### Still shown")[0]
