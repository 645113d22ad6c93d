"""Pull-model details and the workspace guard: the server never reads files outside its folders."""

from __future__ import annotations

import pytest
import pytest_lsp
from lsp_session import SERVER_CONFIG, codes, copy_workspace, open_file, start_session
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.e2e


@pytest_lsp.fixture(config=SERVER_CONFIG)
async def client(lsp_client: LanguageClient, request):
    root = copy_workspace("basic", request.getfixturevalue("tmp_path"))
    lsp_client.root = root  # type: ignore[attr-defined]
    result = await start_session(lsp_client, root, "pull")
    lsp_client.init_result = result  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


def _pull(client, uri: str, previous: str | None = None):
    return client.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri), previous_result_id=previous)
    )


async def test_server_answers_in_utf16_even_when_the_client_offers_utf8_first(client):
    assert client.init_result.capabilities.position_encoding == types.PositionEncodingKind.Utf16
    assert client.init_result.capabilities.diagnostic_provider is not None


async def test_an_unchanged_document_is_reported_unchanged(client):
    uri = open_file(client, client.root / "src" / "app" / "orders.py")
    first = await _pull(client, uri)
    assert codes(first.items) == ["QE202", "QE205"]
    second = await _pull(client, uri, first.result_id)
    assert second.kind == "unchanged"
    assert second.result_id == first.result_id


async def test_an_unopened_workspace_file_is_read_from_disk(client):
    report = await _pull(client, (client.root / "tests" / "test_orders.py").as_uri())
    assert codes(report.items) == ["QE101", "QE102", "QE104"]


@pytest.mark.parametrize(
    "target",
    [
        "/etc/passwd",
        "{root}/../outside.py",
        "{root}/src/link_to_outside.py",
    ],
)
async def test_files_outside_the_workspace_are_never_read(client, target, tmp_path):
    outside = client.root.parent / "outside.py"
    outside.write_text("def leak(x=[]):\n    return x\n")
    (client.root / "src" / "link_to_outside.py").symlink_to(outside)
    path = target.format(root=client.root)
    uri = "file://" + path
    report = await _pull(client, uri)
    assert list(report.items) == []
    assert any("outside the workspace" in m.message for m in client.log_messages)


async def test_an_added_workspace_folder_becomes_readable_and_a_removed_one_does_not(client, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "m.py").write_text("def f(x=[]):\n    return x\n")
    uri = (other / "m.py").as_uri()
    assert list((await _pull(client, uri)).items) == []
    folder = types.WorkspaceFolder(uri=other.resolve().as_uri(), name="other")
    client.workspace_did_change_workspace_folders(
        types.DidChangeWorkspaceFoldersParams(event=types.WorkspaceFoldersChangeEvent(added=[folder], removed=[]))
    )
    assert codes((await _pull(client, uri)).items) == ["QE202"]
    client.workspace_did_change_workspace_folders(
        types.DidChangeWorkspaceFoldersParams(event=types.WorkspaceFoldersChangeEvent(added=[], removed=[folder]))
    )
    assert list((await _pull(client, uri)).items) == []
