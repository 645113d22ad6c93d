"""Coverage hints end to end: `aqe serve` reading real coverage.py data, in push (VS Code) and pull
(Neovim) mode; coverage measured on save in the sandbox; the "Generate test" action."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_lsp
from harness import RawLspClient
from lsp_session import SERVER_CONFIG, copy_workspace, diagnostics_for, open_file, server_environment, start_session
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

pytestmark = pytest.mark.e2e

SERVERS = Path(__file__).parent / "servers"


def _measure(root: Path, *pytest_args: str) -> None:
    """Real coverage.py over the workspace's real tests, as a developer would run it."""
    subprocess.run(
        [sys.executable, "-m", "coverage", "run", "--branch", "--source=src", "-m", "pytest", "-q",
         "-p", "no:cacheprovider", *pytest_args],
        cwd=root, check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def _coverage_hints(diagnostics: list[types.Diagnostic]) -> list[types.Diagnostic]:
    """Line-coverage hints (semantic-gap hints from the index share the source, not the code)."""
    return [d for d in diagnostics if d.source == "coverage" and d.code == "uncovered"]


def _names(diagnostics: list[types.Diagnostic]) -> list[str]:
    return [d.message.split(":")[0] for d in _coverage_hints(diagnostics)]


@pytest_lsp.fixture(config=SERVER_CONFIG, params=["push", "pull"])
async def client(lsp_client: LanguageClient, request):
    root = copy_workspace("covered", request.getfixturevalue("tmp_path"))
    _measure(root)
    lsp_client.mode = request.param  # type: ignore[attr-defined]
    lsp_client.root = root  # type: ignore[attr-defined]
    await start_session(lsp_client, root, request.param)
    yield
    await lsp_client.shutdown_session()


async def test_opening_a_measured_file_shows_one_hint_per_function_with_a_gap(client):
    uri = open_file(client, client.root / "src" / "calc" / "ops.py")
    diagnostics = await diagnostics_for(client, uri, client.mode, until=lambda d: len(_coverage_hints(d)) == 2)
    classify, unused = _coverage_hints(diagnostics)
    assert classify.code == "uncovered" and classify.severity == types.DiagnosticSeverity.Information
    assert classify.range.start == types.Position(line=4, character=4)
    assert classify.message.startswith("`classify`: 2 of 5 statements never ran (lines 7, 9)")
    assert unused.message.startswith("`unused`: 2 of 2 statements never ran (lines 14-15)")


async def test_hints_follow_an_edit_and_say_they_are_stale(client):
    path = client.root / "src" / "calc" / "ops.py"
    uri = open_file(client, path)
    await diagnostics_for(client, uri, client.mode, until=lambda d: len(_coverage_hints(d)) == 2)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(
                        start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)
                    ),
                    text="import math\n\n\n",
                )
            ],
        )
    )
    after = await diagnostics_for(client, uri, client.mode, until=lambda d: any("stale" in x.message for x in d))
    classify = _coverage_hints(after)[0]
    assert classify.range.start.line == 7
    assert "(lines 10, 12)" in classify.message and "stale" in classify.message


async def test_new_coverage_data_on_disk_replaces_the_hints(client):
    uri = open_file(client, client.root / "src" / "calc" / "ops.py")
    await diagnostics_for(client, uri, client.mode, until=lambda d: len(_coverage_hints(d)) == 2)
    _measure(client.root, "-k", "add")  # classify no longer runs at all
    after = await diagnostics_for(
        client, uri, client.mode, until=lambda d: any("0 of" in x.message or "5 of 5" in x.message for x in d)
    )
    assert _names(after) == ["`classify`", "`unused`"]
    assert "5 of 5 statements never ran" in _coverage_hints(after)[0].message


async def test_a_coverage_hint_offers_generate_test_once_per_function(client):
    uri = open_file(client, client.root / "src" / "calc" / "ops.py")
    diagnostics = await diagnostics_for(client, uri, client.mode, until=lambda d: len(_coverage_hints(d)) == 2)
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=_coverage_hints(diagnostics)[0].range,
            context=types.CodeActionContext(diagnostics=_coverage_hints(diagnostics)),
        )
    )
    # The coverage feature's quick fix; the cursor action of test generation does not add a second one.
    assert sorted(a.title for a in actions if "Generate" in a.title) == [
        "Generate test for `classify`",
        "Generate test for `unused`",
    ]


def test_the_generate_action_runs_the_test_generation_command_with_the_functions_position(tmp_path):
    """Through the raw client: pytest-lsp's own decoding takes a code action carrying a command for a
    bare Command, so the exact JSON the server sends is checked here."""
    root = copy_workspace("covered", tmp_path)
    _measure(root)
    uri = (root / "src" / "calc" / "ops.py").as_uri()
    command = [sys.executable, "-m", "aqe", "serve"]
    with RawLspClient(command, env=server_environment(), timeout=30) as client:
        client.initialize(root_uri=root.as_uri(), capabilities={"window": {"workDoneProgress": True}})
        client.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": uri,
                    "languageId": "python",
                    "version": 1,
                    "text": (root / "src/calc/ops.py").read_text(),
                }
            },
        )
        published = client.wait_for_notification("textDocument/publishDiagnostics")
        hints = [d for d in published["params"]["diagnostics"] if d.get("code") == "uncovered"]
        unused = hints[1]
        response = client.request(
            "textDocument/codeAction",
            {"textDocument": {"uri": uri}, "range": unused["range"], "context": {"diagnostics": [unused]}},
        )
        (generate,) = [a for a in response["result"] if a["title"].startswith("Generate test")]
        assert generate["title"] == "Generate test for `unused`"
        assert generate["kind"] == "quickfix" and generate["diagnostics"] == [unused]
        assert generate["command"]["command"] == "aqe.generateTest"
        answer = client.request(
            "workspace/executeCommand",
            {"command": generate["command"]["command"], "arguments": generate["command"]["arguments"]},
        )
        assert generate["command"]["arguments"] == [{"uri": uri, "position": {"line": 12, "character": 4}}]
        assert answer["result"] == {"started": True, "target": "unused", "file": "src/calc/ops.py"}
        assert client.shutdown() == 0


ON_SAVE_CONFIG = ClientServerConfig(server_command=SERVER_CONFIG.server_command, server_env=server_environment())


@pytest_lsp.fixture(config=ON_SAVE_CONFIG)
async def saving_client(lsp_client: LanguageClient, request):
    root = copy_workspace("covered", request.getfixturevalue("tmp_path"))
    lsp_client.root = root  # type: ignore[attr-defined]
    trusted = "untrusted" not in request.node.name
    await start_session(lsp_client, root, "push", {"coverageOnSave": True, "trusted": trusted})
    yield
    await lsp_client.shutdown_session()


def _save(client, uri: str) -> None:
    client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))


async def test_saving_runs_the_related_tests_with_coverage_and_shows_the_result(saving_client):
    client = saving_client
    uri = open_file(client, client.root / "src" / "calc" / "ops.py")
    first = await diagnostics_for(client, uri, "push")
    assert _coverage_hints(first) == []  # nothing measured yet
    _save(client, uri)
    after = await diagnostics_for(client, uri, "push", until=lambda d: len(_coverage_hints(d)) == 2, timeout=90)
    assert _names(after) == ["`classify`", "`unused`"]
    assert (client.root / ".aqe" / "coverage.json").is_file()
    reports = [value for values in client.progress_reports.values() for value in values]
    assert any(isinstance(r, types.WorkDoneProgressBegin) and r.title == "aqe: measuring coverage" for r in reports)
    assert any(isinstance(r, types.WorkDoneProgressEnd) and "tests passed" in (r.message or "") for r in reports)
    assert not (client.root / ".aqe-coverage-data").exists()  # measured in the sandbox's copy


async def test_saving_in_an_untrusted_workspace_runs_nothing(saving_client):
    client = saving_client
    uri = open_file(client, client.root / "src" / "calc" / "ops.py")
    await diagnostics_for(client, uri, "push")
    _save(client, uri)
    for _ in range(100):
        if any("not trusted" in m.message for m in client.log_messages):
            break
        await asyncio.sleep(0.05)
    assert any("not trusted" in m.message for m in client.log_messages)
    await asyncio.sleep(1.0)
    assert not (client.root / ".aqe" / "coverage.json").exists()
