"""The workspace index through the language server: background scan with progress, related tests,
search, workspace symbols, and keeping up with saves and files changed outside the editor."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsp_session import SERVER_CONFIG, codes, copy_workspace, diagnostics_for, open_file, start_session
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.e2e


@pytest_lsp.fixture(config=SERVER_CONFIG)
async def client(lsp_client: LanguageClient, request):
    root = copy_workspace("basic", request.getfixturevalue("tmp_path"))
    lsp_client.root = root  # type: ignore[attr-defined]
    await start_session(lsp_client, root, "push")
    yield
    await lsp_client.shutdown_session()


async def command(client: LanguageClient, name: str, *arguments: Any) -> Any:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=name, arguments=list(arguments))
    )


async def wait_until_indexed(client: LanguageClient, timeout: float = 30.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = await command(client, "aqe.indexStatus")
        if status["ready"]:
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the index never became ready: {status}")
        await asyncio.sleep(0.1)


def position_argument(uri: str, line: int, character: int) -> dict[str, Any]:
    return {"uri": uri, "position": {"line": line, "character": character}}


def paths_of(locations: list[Any], root: Path) -> list[tuple[str, int]]:
    out = []
    for location in locations:
        uri = location["uri"] if isinstance(location, dict) else location.uri
        start = location["range"]["start"]["line"] if isinstance(location, dict) else location.range.start.line
        out.append((Path(uri.removeprefix("file://")).relative_to(root).as_posix(), start))
    return out


async def test_the_first_scan_runs_in_the_background_with_progress_and_diagnostics_do_not_wait(client):
    uri = open_file(client, client.root / "tests/test_orders.py")

    diagnostics = await diagnostics_for(client, uri, "push", until=lambda items: bool(items))
    status = await wait_until_indexed(client)

    assert "QE101" in codes(diagnostics)
    (index,) = status["indexes"]
    assert index["categories"]["code/tests"] == 2
    assert index["categories"]["code/source"] == 2
    titles = [
        report.title
        for reports in client.progress_reports.values()
        for report in reports
        if isinstance(report, types.WorkDoneProgressBegin)
    ]
    assert "aqe: indexing the workspace" in titles
    (watch,) = [r for r in client.registrations if r.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES]
    assert "py" in watch.register_options["watchers"][0]["globPattern"]


async def test_find_related_tests_returns_the_tests_of_the_function_under_the_cursor(client):
    await wait_until_indexed(client)
    source = client.root / "src/app/orders.py"
    uri = open_file(client, source)

    locations = await command(client, "aqe.findRelatedTests", position_argument(uri, 10, 8))

    assert paths_of(locations, client.root)[0] == ("tests/test_orders.py", 10)  # test_total_with_tax


async def test_a_function_offers_a_find_related_tests_code_action(client):
    await wait_until_indexed(client)
    uri = open_file(client, client.root / "src/app/orders.py")
    await diagnostics_for(client, uri, "push", until=lambda items: bool(items))

    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=10, character=4), end=types.Position(line=10, character=4)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )

    related = [action for action in actions if action.title == "Find related tests for `total`"]
    assert len(related) == 1
    assert related[0].command is not None and related[0].command.command == "aqe.findRelatedTests"
    assert list(related[0].command.arguments or []) == [position_argument(uri, 10, 4)]


async def test_a_saved_new_test_is_found_without_a_rescan(client):
    await wait_until_indexed(client)
    new_test = client.root / "tests/test_discounts.py"
    new_test.write_text(
        "from app.orders import total\n\n\ndef test_total_of_an_empty_order_is_zero():\n    assert total({}) == 0\n"
    )
    uri = open_file(client, new_test)
    client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))

    query = {"query": "total of an empty order", "k": 1, "category": "code/tests"}
    for _ in range(100):
        hits = await command(client, "aqe.search", query)
        if hits and hits[0]["symbol"] == "test_total_of_an_empty_order_is_zero":
            break
        await asyncio.sleep(0.1)

    assert hits[0]["symbol"] == "test_total_of_an_empty_order_is_zero"
    assert hits[0]["uri"] == new_test.as_uri()


async def test_workspace_symbols_come_from_the_index(client):
    await wait_until_indexed(client)

    symbols = await client.workspace_symbol_async(types.WorkspaceSymbolParams(query="add_line"))

    assert sorted((symbol.name, symbol.kind) for symbol in symbols) == [
        ("add_line", types.SymbolKind.Function),
        ("test_add_line", types.SymbolKind.Function),
    ]


async def test_a_file_deleted_outside_the_editor_leaves_the_index(client):
    await wait_until_indexed(client)
    test_file = client.root / "tests/test_orders.py"
    test_file.unlink()

    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=test_file.as_uri(), type=types.FileChangeType.Deleted)]
        )
    )

    for _ in range(100):
        status = await command(client, "aqe.indexStatus")
        if status["indexes"][0]["categories"].get("code/tests", 0) == 0:
            break
        await asyncio.sleep(0.1)
    assert status["indexes"][0]["categories"].get("code/tests", 0) == 0


async def test_search_finds_knowledge_of_a_category(client):
    await wait_until_indexed(client)

    hits = await command(client, "aqe.search", {"query": "sleep makes the test slow and flaky", "k": 3,
                                                "category": "aqe/failure-patterns"})  # fmt: skip

    assert len(hits) == 3
    assert hits[0]["key"] == "knowledge:failure-patterns/fixed-sleep"
    assert "uri" not in hits[0]


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("aqe.findRelatedTests", []),
        ("aqe.findRelatedTests", [{"uri": "file:///x.py"}]),
        ("aqe.findRelatedTests", [position_argument("file:///etc/passwd", 0, 0)]),
        ("aqe.search", [{"query": ""}]),
        ("aqe.search", [{"query": "x", "k": 0}]),
    ],
)
async def test_bad_command_arguments_get_an_error_answer_and_the_server_keeps_serving(client, name, arguments):
    await wait_until_indexed(client)

    with pytest.raises(JsonRpcException):
        await command(client, name, *arguments)

    assert (await command(client, "aqe.indexStatus"))["ready"] is True


async def test_the_index_is_on_disk_after_shutdown(client):
    await wait_until_indexed(client)
    manifest = client.root / ".aqe/index/manifest.json"

    for _ in range(100):
        if manifest.exists():
            break
        await asyncio.sleep(0.1)

    assert json.loads(manifest.read_text())["count"] > 50  # code units and the built-in knowledge
