"""When the background index becomes ready, every open file gets its index-based hints without an
edit: a new publish for push clients, workspace/diagnostic/refresh for pull clients."""

from __future__ import annotations

import asyncio

import pytest
import pytest_lsp
from lsp_session import (
    SERVER_CONFIG,
    accept_registrations,
    capabilities_for,
    copy_workspace,
    diagnostics_for,
    open_file,
)
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.e2e

GAP = "semantic-gap"
EVERY_FUNCTION_IS_A_GAP = {"semanticGapHints": True, "gapThreshold": 1.0}


@pytest_lsp.fixture(config=SERVER_CONFIG, params=["push", "pull"])
async def client(lsp_client: LanguageClient, request):
    root = copy_workspace("basic", request.getfixturevalue("tmp_path"))
    lsp_client.mode = request.param  # type: ignore[attr-defined]
    lsp_client.root = root  # type: ignore[attr-defined]
    accept_registrations(lsp_client)
    capabilities = capabilities_for(request.param)
    if request.param == "pull":  # a pull client that can be asked to pull again (VS Code 1.80+ can)
        capabilities.workspace.diagnostics = types.DiagnosticWorkspaceClientCapabilities(refresh_support=True)
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities,
            root_uri=root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
            initialization_options=EVERY_FUNCTION_IS_A_GAP,
        )
    )
    yield
    await lsp_client.shutdown_session()


def _gaps(diagnostics: list[types.Diagnostic]) -> list[int]:
    return [d.range.start.line for d in diagnostics if d.code == GAP]


async def _pull(client: LanguageClient, uri: str, previous: str | None) -> types.DocumentDiagnosticReport:
    return await client.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri), previous_result_id=previous)
    )


async def _refreshed_after(client: LanguageClient, seen: int, timeout: float = 60) -> int:
    deadline = asyncio.get_running_loop().time() + timeout
    while client.diagnostic_refresh_count <= seen:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the server never asked the client to pull diagnostics again")
        await asyncio.sleep(0.05)
    return client.diagnostic_refresh_count


async def _pull_as_editors_do(client: LanguageClient, uri: str) -> list[types.Diagnostic]:
    """Pull once, then again only when the server asks for it (what VS Code does): a server that never
    asks leaves the first answer in place."""
    seen = client.diagnostic_refresh_count
    report = await _pull(client, uri, None)
    items = list(report.items)
    while not _gaps(items):
        seen = await _refreshed_after(client, seen)
        report = await _pull(client, uri, report.result_id)
        if isinstance(report, types.RelatedFullDocumentDiagnosticReport):
            items = list(report.items)
    return items


async def test_an_open_file_gets_its_index_hints_when_the_index_becomes_ready_without_an_edit(client):
    uri = open_file(client, client.root / "src" / "app" / "orders.py")
    if client.mode == "pull":
        diagnostics = await _pull_as_editors_do(client, uri)
    else:
        diagnostics = await diagnostics_for(client, uri, "push", until=lambda d: bool(_gaps(d)), timeout=60)
    assert _gaps(diagnostics)  # the functions no test exercises, marked with nothing typed since opening
    assert "QE202" in {d.code for d in diagnostics}
