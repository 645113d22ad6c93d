""" "Generate test" through the language server: the action, progress, the edit the editor applies, a
test that passes when the project's suite runs, cancellation, untrusted workspaces and bad targets."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsp_session import SERVER_COMMAND, copy_workspace, open_file, server_environment, start_session
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

pytestmark = pytest.mark.e2e

NO_MODEL = ClientServerConfig(
    server_command=SERVER_COMMAND, server_env=server_environment(AQE_TEST_GENERATION_CANDIDATES="0")
)
WITH_MODEL = ClientServerConfig(
    server_command=SERVER_COMMAND,
    server_env=server_environment(AQE_TEST_GENERATION_CANDIDATES="1", AQE_CONTEXT_SIZE="2048"),
)


def apply_workspace_edit(root: Path, edit: types.WorkspaceEdit) -> None:
    """What an editor does with the edit: create files, replace whole lines (aqe's edits start and end
    at character 0)."""
    for change in edit.document_changes or []:
        if isinstance(change, types.CreateFile):
            path = Path(change.uri.removeprefix("file://"))
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("")
            continue
        path = Path(change.text_document.uri.removeprefix("file://"))
        lines = path.read_text().splitlines(keepends=True)
        for text_edit in sorted(change.edits, key=lambda e: e.range.start.line, reverse=True):
            start, end = text_edit.range.start.line, text_edit.range.end.line  # whole lines, character 0
            lines[start:end] = [text_edit.new_text]
        path.write_text("".join(lines))


async def session(lsp_client: LanguageClient, request: Any, *, trusted: bool = True, saves: bool = False) -> None:
    """`saves`: like the VS Code extension, say so at start and save (didSave) each applied test file."""
    root = copy_workspace("testgen", request.getfixturevalue("tmp_path"))
    lsp_client.root = root  # type: ignore[attr-defined]
    lsp_client.edits = []  # type: ignore[attr-defined]

    @lsp_client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        lsp_client.edits.append(params)  # type: ignore[attr-defined]
        apply_workspace_edit(root, params.edit)
        for change in params.edit.document_changes or [] if saves else []:
            if isinstance(change, types.TextDocumentEdit):
                lsp_client.text_document_did_save(
                    types.DidSaveTextDocumentParams(
                        text_document=types.TextDocumentIdentifier(uri=change.text_document.uri)
                    )
                )
        return types.ApplyWorkspaceEditResult(applied=True)

    options: dict[str, Any] = {"trusted": trusted, **({"savesGeneratedTests": True} if saves else {})}
    await start_session(lsp_client, root, "push", options)


@pytest_lsp.fixture(config=NO_MODEL)
async def client(lsp_client: LanguageClient, request):
    await session(lsp_client, request)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=NO_MODEL)
async def saving(lsp_client: LanguageClient, request):
    await session(lsp_client, request, saves=True)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=NO_MODEL)
async def untrusted(lsp_client: LanguageClient, request):
    await session(lsp_client, request, trusted=False)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=WITH_MODEL)
async def with_model(lsp_client: LanguageClient, request):
    await session(lsp_client, request)
    yield
    await lsp_client.shutdown_session()


def argument(uri: str, line: int, character: int = 4) -> dict[str, Any]:
    return {"uri": uri, "position": {"line": line, "character": character}}


async def generate(client: LanguageClient, uri: str, line: int) -> Any:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="aqe.generateTest", arguments=[argument(uri, line)])
    )


async def wait_for(condition: Any, timeout: float, what: str) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        value = condition()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def progress_ended(client: LanguageClient, title_start: str) -> list[str]:
    ended = []
    for reports in client.progress_reports.values():
        begins = [r for r in reports if isinstance(r, types.WorkDoneProgressBegin) and r.title.startswith(title_start)]
        if begins:
            ended += [r.message or "" for r in reports if isinstance(r, types.WorkDoneProgressEnd)]
    return ended


def run_suite(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=root, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


async def test_a_function_offers_generate_test(client):
    uri = open_file(client, client.root / "src/billing/invoice.py")

    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=10, character=8), end=types.Position(line=10, character=8)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )

    (action,) = [a for a in actions if a.title.startswith("Generate test")]
    assert action.title == "Generate test for `late_fee_cents`"
    assert action.disabled is None
    assert action.command is not None and action.command.command == "aqe.generateTest"


async def test_generate_test_reports_progress_and_applies_a_test_that_passes_in_the_suite(client):
    uri = open_file(client, client.root / "src/billing/invoice.py")

    answer = await generate(client, uri, 10)
    await wait_for(lambda: client.edits, 180, "the generated test's edit")

    assert answer == {"started": True, "target": "late_fee_cents", "file": "src/billing/invoice.py"}
    (params,) = client.edits
    assert params.label == "aqe: test for late_fee_cents"
    text = (client.root / "tests/test_invoice.py").read_text()
    assert "def test_enterprise_customers_get_sixty_days():" in text  # the existing test is kept
    assert "late_fee_cents(" in text and 'pytest.raises(ValueError, match=r"days_overdue cannot be negative")' in text
    result = run_suite(client.root)
    assert result.returncode == 0, result.stdout
    assert "passed" in result.stdout and "failed" not in result.stdout
    assert progress_ended(client, "aqe: generating a test for `late_fee_cents`") == ["applying the test"]
    events = [json.loads(line) for line in (client.root / ".aqe/feedback.jsonl").read_text().splitlines()]
    assert [(e["kind"], e["subject"], e["details"]["target"]) for e in events] == [
        ("apply", "testgen", "late_fee_cents")
    ]


def _result_messages(client: LanguageClient) -> list[str]:
    return [m.message for m in client.messages if m.message.startswith("aqe: added ")]


async def test_an_applied_test_the_editor_does_not_save_is_said_to_be_unsaved(client):
    uri = open_file(client, client.root / "src/billing/invoice.py")
    await generate(client, uri, 10)
    [message] = await wait_for(lambda: _result_messages(client), 180, "the result message")
    assert message.endswith(" to tests/test_invoice.py (unsaved).")
    assert len(message) < 120  # one line a notification shows whole; the details are in the log
    details = await wait_for(
        lambda: [m.message for m in client.log_messages if "branch arcs" in m.message], 30, "the details"
    )
    assert f"tests ran with {sys.executable}" in details[0]


async def test_an_applied_test_the_editor_saves_is_said_to_be_saved(saving):
    uri = open_file(saving, saving.root / "src/billing/invoice.py")
    await generate(saving, uri, 10)
    [message] = await wait_for(lambda: _result_messages(saving), 180, "the result message")
    assert message.endswith(" to tests/test_invoice.py and saved it.")


async def test_a_test_for_a_module_without_tests_goes_in_a_new_file_of_the_conventional_name(client):
    (client.root / "src/billing/rounding.py").write_text(
        "def round_to_cents(amount: float) -> int:\n    if amount < 0:\n        return -round_to_cents(-amount)\n"
        "    return int(amount * 100 + 0.5)\n"
    )
    uri = open_file(client, client.root / "src/billing/rounding.py")

    await generate(client, uri, 1)
    await wait_for(lambda: client.edits, 180, "the generated test's edit")

    created = client.root / "tests/test_rounding.py"
    assert created.is_file()
    assert created.read_text().startswith("from billing.rounding import round_to_cents\n")
    assert run_suite(client.root).returncode == 0


async def test_a_module_that_cannot_be_imported_gets_a_clear_message_and_nothing_is_written(client):
    before = {p: p.read_text() for p in client.root.rglob("*.py")}
    uri = open_file(client, client.root / "src/billing/script.py")

    await generate(client, uri, 5)
    message = await wait_for(
        lambda: [m.message for m in client.messages if "cannot be imported" in m.message], 120, "the message"
    )

    assert "billing.script" in message[0] and "SystemExit" in message[0]
    assert client.edits == []
    assert {p: p.read_text() for p in client.root.rglob("*.py")} == before


async def test_cancelling_the_progress_stops_the_work_and_leaves_nothing_behind(client):
    sandboxes_before = set(Path(tempfile.gettempdir()).glob("aqe-sandbox-*"))
    before = {p: p.read_text() for p in client.root.rglob("*.py")}
    uri = open_file(client, client.root / "src/billing/invoice.py")

    await generate(client, uri, 10)
    token = await wait_for(
        lambda: next((t for t, r in client.progress_reports.items() if r and "generating a test" in r[0].title), None),
        30,
        "the progress",
    )
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    ended = await wait_for(lambda: progress_ended(client, "aqe: generating a test"), 60, "the end of the progress")

    assert ended == ["cancelled"]
    await asyncio.sleep(1.0)
    assert client.edits == []
    assert {p: p.read_text() for p in client.root.rglob("*.py")} == before
    assert set(Path(tempfile.gettempdir()).glob("aqe-sandbox-*")) <= sandboxes_before


@pytest.mark.parametrize(
    ("line", "reason"),
    [(4, "no function or method"), (18, "no function or method")],
    ids=["module-constant", "blank-line"],
)
async def test_a_position_without_a_function_is_an_error_answer(client, line, reason):
    uri = open_file(client, client.root / "src/billing/invoice.py")

    with pytest.raises(JsonRpcException, match=reason):
        await generate(client, uri, line)


async def test_a_test_function_is_not_a_target(client):
    uri = open_file(client, client.root / "tests/test_invoice.py")

    with pytest.raises(JsonRpcException, match="is a test"):
        await generate(client, uri, 4)


async def test_an_untrusted_workspace_runs_nothing(untrusted):
    uri = open_file(untrusted, untrusted.root / "src/billing/invoice.py")

    actions = await untrusted.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=10, character=8), end=types.Position(line=10, character=8)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    with pytest.raises(JsonRpcException, match="not trusted"):
        await generate(untrusted, uri, 10)

    (action,) = [a for a in actions if a.title.startswith("Generate test")]
    assert action.disabled is not None and "not trusted" in action.disabled.reason
    assert untrusted.edits == []


async def test_with_the_local_model_a_proven_test_is_still_applied(with_model):
    uri = open_file(with_model, with_model.root / "src/billing/invoice.py")

    await generate(with_model, uri, 20)  # payment_terms: partly covered by the existing test
    await wait_for(lambda: with_model.edits, 300, "the generated test's edit")

    assert run_suite(with_model.root).returncode == 0
    text = (with_model.root / "tests/test_invoice.py").read_text()
    assert text.count("payment_terms(") >= 2
