"""`aqe.privacyAudit` in the editor: the same report `aqe privacy audit --format json` prints."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import pytest_lsp
from lsp_session import SERVER_CONFIG, copy_workspace, server_environment, start_session
from lsprotocol import types
from pytest_lsp import LanguageClient

from aqe.privacy.audit import AuditLog
from aqe.privacy.guard import BlockedAttempt

pytestmark = pytest.mark.e2e


@pytest_lsp.fixture(config=SERVER_CONFIG)
async def client(lsp_client: LanguageClient, request):
    root = copy_workspace("basic", request.getfixturevalue("tmp_path"))
    AuditLog(root / ".aqe" / "audit.jsonl").record_blocked(
        BlockedAttempt("socket.connect", "203.0.113.9", 443, ("plugin.py:12 in phone_home",)), mode="strict"
    )
    lsp_client.root = root  # type: ignore[attr-defined]
    lsp_client.initialize_result = await start_session(lsp_client, root, "push")  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


def _audit(client: LanguageClient):
    return client.workspace_execute_command_async(types.ExecuteCommandParams(command="aqe.privacyAudit"))


async def test_the_server_advertises_the_privacy_audit_command(client):
    provider = client.initialize_result.capabilities.execute_command_provider
    assert provider is not None and "aqe.privacyAudit" in provider.commands


async def test_the_audit_reports_the_mode_and_the_blocked_connection(client):
    report = await _audit(client)
    assert report["privacyMode"] == "strict"
    assert report["totals"]["blocked"] == 1
    (blocked,) = report["blocked"]
    assert (blocked["host"], blocked["port"]) == ("203.0.113.9", 443)


async def test_the_editor_and_the_command_line_report_the_same(client):
    in_editor = await _audit(client)
    on_command_line = subprocess.run(
        [sys.executable, "-m", "aqe", "privacy", "audit", "--format", "json"],
        cwd=client.root,
        env=server_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert in_editor == json.loads(on_command_line.stdout)
