"""The model in the editor: background warm-up with progress, status notifications, `aqe.ask`
through the real default model, cancellation, and an event loop that never waits on the model."""

from __future__ import annotations

import asyncio
import json

import pytest
import pytest_lsp
from lsp_session import (
    SERVER_COMMAND,
    codes,
    copy_workspace,
    diagnostics_for,
    open_file,
    server_environment,
    start_session,
)
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

pytestmark = pytest.mark.e2e

CONFIG = ClientServerConfig(
    server_command=SERVER_COMMAND,
    server_env=server_environment(AQE_WARM_POOL_SIZE="1", AQE_CONTEXT_SIZE="1024"),
)


@pytest_lsp.fixture(config=CONFIG)
async def client(lsp_client: LanguageClient, request):
    statuses: list[dict] = []

    @lsp_client.feature("aqe/status")
    def on_status(params):
        statuses.append(params)

    root = copy_workspace("basic", request.getfixturevalue("tmp_path"))
    lsp_client.root = root  # type: ignore[attr-defined]
    lsp_client.statuses = statuses  # type: ignore[attr-defined]
    await start_session(lsp_client, root, "push")
    yield
    await lsp_client.shutdown_session()


async def _wait_for_status(client, wanted: str, timeout: float = 60.0) -> dict:
    for _ in range(int(timeout / 0.1)):
        for status in client.statuses:
            if _field(status, "model") == wanted:
                return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"model never became {wanted!r}; saw {client.statuses}")


def _field(value, name):
    return value[name] if isinstance(value, dict) else getattr(value, name)


def _ask(client, prompt: str, max_tokens: int, msg_id: str):
    return client.protocol.send_request_async(
        types.WORKSPACE_EXECUTE_COMMAND,
        types.ExecuteCommandParams(command="aqe.ask", arguments=[prompt, {"maxTokens": max_tokens}]),
        msg_id=msg_id,
    )


async def test_the_model_warms_up_in_the_background_with_progress(client):
    ready = await _wait_for_status(client, "ready")
    assert _field(ready, "privacyMode") == "strict"
    reports = [value for values in client.progress_reports.values() for value in values]
    assert any(isinstance(r, types.WorkDoneProgressBegin) and "model" in r.title for r in reports)
    assert any(isinstance(r, types.WorkDoneProgressEnd) and "ready" in (r.message or "") for r in reports)


async def test_ask_answers_from_the_local_model(client):
    await _wait_for_status(client, "ready")
    answer = await _ask(client, "def add(a, b):\n    return", 8, "ask-1")
    assert _field(answer, "route") == "local"
    assert _field(answer, "text").strip()
    assert 0 < _field(answer, "confidence") <= 1


async def test_diagnostics_flow_while_the_model_generates_and_cancel_stops_it(client):
    await _wait_for_status(client, "ready")
    generating = asyncio.ensure_future(_ask(client, "Once upon a time", 400, "ask-long"))
    await _wait_for_status(client, "busy")
    uri = open_file(client, client.root / "src" / "app" / "orders.py")
    diagnostics = await diagnostics_for(client, uri, "push", until=lambda d: len(d) == 2, timeout=5)
    assert codes(diagnostics) == ["QE202", "QE205"]
    assert not generating.done()  # the model is still busy: diagnostics did not wait for it
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="ask-long"))
    with pytest.raises(Exception) as raised:
        await asyncio.wait_for(generating, timeout=10)
    assert "cancel" in str(raised.value).lower()
    for _ in range(300):  # the worker stops between tokens; generous on a shared, loaded machine
        status = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="aqe.modelStatus"))
        if _field(status, "model") == "ready":
            break
        await asyncio.sleep(0.1)
    assert _field(status, "model") == "ready"
    answer = await _ask(client, "def add(a, b):\n    return", 4, "ask-after")
    assert _field(answer, "route") == "local"
    # The model call itself was stopped (not left to run its 400 tokens), as the audit log records.
    entries = [json.loads(line) for line in (client.root / ".aqe" / "audit.jsonl").read_text().splitlines()]
    decisions = [e for e in entries if e["kind"] == "decision"]
    assert [d["outcome"] for d in decisions[-2:]] == ["cancelled", "ok"]
    assert decisions[-2]["promptChars"] == len("Once upon a time")
