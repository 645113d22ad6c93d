"""End-to-end: `aqe serve` as a subprocess, driven by pytest-lsp as VS Code (push) and Neovim (pull)."""

from __future__ import annotations

import asyncio

import pytest
import pytest_lsp
from lsp_session import (
    SERVER_CONFIG,
    apply_text_edits,
    code_actions_for,
    codes,
    copy_workspace,
    diagnostics_for,
    edits_of,
    open_file,
    replace_text,
    start_session,
)
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.e2e


@pytest_lsp.fixture(config=SERVER_CONFIG, params=["push", "pull"])
async def client(lsp_client: LanguageClient, request):
    root = copy_workspace("basic", request.getfixturevalue("tmp_path"))
    lsp_client.mode = request.param  # type: ignore[attr-defined]
    lsp_client.root = root  # type: ignore[attr-defined]
    await start_session(lsp_client, root, request.param)
    yield
    await lsp_client.shutdown_session()


async def test_opening_a_test_file_reports_its_test_smells(client):
    uri = open_file(client, client.root / "tests" / "test_orders.py")
    diagnostics = await diagnostics_for(client, uri, client.mode, until=lambda d: len(d) >= 3)
    assert codes(diagnostics) == ["QE101", "QE102", "QE104"]
    assert all(d.source == "aqe" for d in diagnostics)


async def test_positions_are_utf16_after_an_emoji(client):
    path = client.root / "src" / "app" / "orders.py"
    text = path.read_text().replace("def total(order):", 'def total(order, seen={"📦"}):  # 📦')
    uri = open_file(client, path, text)
    diagnostics = await diagnostics_for(client, uri, client.mode, until=lambda d: codes(d).count("QE202") == 2)
    line = text.splitlines().index('def total(order, seen={"📦"}):  # 📦')
    on_line = [d for d in diagnostics if d.range.start.line == line and d.code == "QE202"]
    assert len(on_line) == 1
    # The default `{"📦"}` starts after 'def total(order, seen=' (22 UTF-16 units); the emoji is 2 wide.
    assert on_line[0].range.start.character == 22
    assert on_line[0].range.end.character == 22 + len('{"') + 2 + len('"}')


async def test_quick_fix_edit_removes_the_finding(client):
    path = client.root / "src" / "app" / "orders.py"
    text = path.read_text()
    uri = open_file(client, path, text)
    diagnostics = await diagnostics_for(client, uri, client.mode, until=lambda d: "QE202" in codes(d))
    mutable = next(d for d in diagnostics if d.code == "QE202")
    actions = await code_actions_for(client, uri, mutable)
    fix = next(a for a in actions if a.is_preferred)
    assert fix.kind == types.CodeActionKind.QuickFix
    fixed = apply_text_edits(text, edits_of(fix, uri))
    assert "history=None" in fixed
    replace_text(client, uri, 2, fixed)
    after = await diagnostics_for(client, uri, client.mode, until=lambda d: "QE202" not in codes(d))
    assert codes(after) == ["QE205"]


async def test_ignore_here_action_silences_the_finding_with_a_visible_marker(client):
    path = client.root / "src" / "app" / "orders.py"
    text = path.read_text()
    uri = open_file(client, path, text)
    diagnostics = await diagnostics_for(client, uri, client.mode, until=lambda d: "QE205" in codes(d))
    todo = next(d for d in diagnostics if d.code == "QE205")
    actions = await code_actions_for(client, uri, todo)
    ignore = next(a for a in actions if a.title.startswith("Ignore QE205"))
    silenced = apply_text_edits(text, edits_of(ignore, uri))
    assert "# TODO: apply discounts  # aqe: ignore[QE205]" in silenced
    replace_text(client, uri, 2, silenced)
    after = await diagnostics_for(client, uri, client.mode, until=lambda d: "QE205" not in codes(d))
    assert codes(after) == ["QE202"]


async def test_hovering_a_finding_explains_its_rule(client):
    uri = open_file(client, client.root / "src" / "app" / "orders.py")
    diagnostics = await diagnostics_for(client, uri, client.mode, until=lambda d: "QE202" in codes(d))
    mutable = next(d for d in diagnostics if d.code == "QE202")
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=mutable.range.start)
    )
    assert hover is not None
    assert "QE202 `mutable-default-argument`" in hover.contents.value
    assert "aqe: ignore[QE202]" in hover.contents.value
    top = types.Position(line=0, character=0)
    nothing = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=top)
    )
    assert nothing is None


async def test_incremental_edits_are_debounced_and_the_last_version_wins(client):
    path = client.root / "src" / "app" / "orders.py"
    uri = open_file(client, path)
    await diagnostics_for(client, uri, client.mode, until=lambda d: "QE202" in codes(d))
    # Type `None` over `[]` one keystroke at a time (line 4: `def add_line(order, line, history=[]):`).
    line = 3
    steps = [((34, 36), "N"), ((35, 35), "o"), ((36, 36), "n"), ((37, 37), "e")]
    for version, ((start, end), typed) in enumerate(steps, start=2):
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(
                            start=types.Position(line=line, character=start),
                            end=types.Position(line=line, character=end),
                        ),
                        text=typed,
                    )
                ],
            )
        )
    after = await diagnostics_for(client, uri, client.mode, until=lambda d: "QE202" not in codes(d))
    assert codes(after) == ["QE205"]


async def test_a_settings_change_changes_the_diagnostics(client):
    uri = open_file(client, client.root / "src" / "app" / "orders.py")
    await diagnostics_for(client, uri, client.mode, until=lambda d: codes(d) == ["QE202", "QE205"])
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"aqe": {"rules": {"todo-comment": "off", "QE202": "error"}}})
    )
    after = await diagnostics_for(client, uri, client.mode, until=lambda d: codes(d) == ["QE202"])
    assert after[0].severity == types.DiagnosticSeverity.Error


async def test_settings_are_pulled_with_workspace_configuration_when_not_pushed(client):
    uri = open_file(client, client.root / "src" / "app" / "orders.py")
    await diagnostics_for(client, uri, client.mode, until=lambda d: codes(d) == ["QE202", "QE205"])
    client.set_configuration({"rules": {"QE205": "off"}}, section="aqe")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await diagnostics_for(client, uri, client.mode, until=lambda d: codes(d) == ["QE202"])


async def test_an_invalid_setting_is_named_to_the_user_and_the_default_kept(client):
    uri = open_file(client, client.root / "src" / "app" / "orders.py")
    await diagnostics_for(client, uri, client.mode, until=lambda d: codes(d) == ["QE202", "QE205"])
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"aqe": {"maxComplexity": "ten", "rules": {"QE205": "loud"}}})
    )
    for _ in range(100):
        if len(client.messages) >= 2:
            break
        await asyncio.sleep(0.05)
    shown = " | ".join(m.message for m in client.messages)
    assert "maxComplexity" in shown and "QE205" in shown
    # Still serving, with the previous values kept.
    assert codes(await diagnostics_for(client, uri, client.mode)) == ["QE202", "QE205"]


async def test_an_oversized_file_is_skipped_with_one_notice(client):
    path = client.root / "src" / "app" / "huge.py"
    text = "x = 1  # padding\n" * 200_000  # 3.4 MB, over the 2 MB default
    uri = open_file(client, path, text)
    diagnostics = await diagnostics_for(client, uri, client.mode, until=lambda d: len(d) == 1)
    assert str(diagnostics[0].code) == "skipped:too-large"
    assert diagnostics[0].severity == types.DiagnosticSeverity.Information
    assert "3.4 MB is over the 2 MB size limit" in diagnostics[0].message
    client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    await diagnostics_for(client, uri, client.mode, until=lambda d: len(d) == 1)
    notices = [m.message for m in client.log_messages if "huge.py" in m.message]
    assert len(notices) == 1  # one notice per file, however often it is re-checked
    assert not client.messages  # and no pop-up: the editor shows the diagnostic where the user looks


async def test_a_file_too_large_to_receive_is_skipped_and_the_server_keeps_serving(client):
    huge = client.root / "src" / "app" / "generated.py"
    uri = open_file(client, huge, "x = 1\n" * 3_000_000)  # 18 MB: over the 16 MB frame cap
    diagnostics = await diagnostics_for(client, uri, client.mode, until=lambda d: len(d) == 1)
    assert str(diagnostics[0].code) == "skipped:too-large"
    # Edits to the text we never received are ignored; the whole text again brings it back.
    replace_text(client, uri, 2, "def f(x=[]):\n    return x\n")
    await diagnostics_for(client, uri, client.mode, until=lambda d: codes(d) == ["QE202"])


async def test_a_file_with_nul_bytes_is_skipped_as_binary(client):
    uri = open_file(client, client.root / "src" / "app" / "blob.py", "x = 1\x00\x01\n")
    diagnostics = await diagnostics_for(client, uri, client.mode, until=lambda d: len(d) == 1)
    assert str(diagnostics[0].code) == "skipped:binary"


async def test_closing_a_document_clears_its_pushed_diagnostics(client):
    if client.mode == "pull":
        pytest.skip("pull clients drop diagnostics of closed files themselves")
    uri = open_file(client, client.root / "src" / "app" / "orders.py")
    await diagnostics_for(client, uri, client.mode, until=lambda d: len(d) == 2)
    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    await diagnostics_for(client, uri, client.mode, until=lambda d: d == [])
