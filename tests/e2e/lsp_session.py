"""A pytest-lsp session against `aqe serve`, in push or pull diagnostics mode, on a copy of a sample
workspace (so tests may edit its files and settings freely)."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

WORKSPACES = Path(__file__).parent.parent / "workspaces"
SERVER_COMMAND = [sys.executable, "-m", "aqe", "serve"]


# An empty user config folder, removed when the test process ends.
_EMPTY_CONFIG_HOME = tempfile.TemporaryDirectory(prefix="aqe-e2e-config-")


def server_environment(**overrides: str) -> dict[str, str]:
    """The test process's environment without the developer's own aqe settings (AQE_* variables and
    the user config file), plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AQE_")}
    env["XDG_CONFIG_HOME"] = _EMPTY_CONFIG_HOME.name
    env["AQE_DIAGNOSTICS_DEBOUNCE_MS"] = "50"
    env["AQE_WARM_POOL_SIZE"] = "0"  # load the model only in tests that use it
    env.update(overrides)
    return env


SERVER_CONFIG = ClientServerConfig(server_command=SERVER_COMMAND, server_env=server_environment())


def copy_workspace(name: str, destination: Path) -> Path:
    target = destination / name
    shutil.copytree(WORKSPACES / name, target)
    return target.resolve()


def capabilities_for(mode: str) -> types.ClientCapabilities:
    """`push`: VS Code 1.65's capabilities (no pull diagnostics); `pull`: Neovim 0.11's, which pull
    diagnostics and offer UTF-8 positions first."""
    if mode == "pull":
        return client_capabilities("neovim")
    return client_capabilities("visual-studio-code")


def read_code_actions_as_editors_do(client: LanguageClient) -> None:
    """lsprotocol reads every code action that carries a command as a bare `Command` (its hook only
    asks whether a "command" key exists). Editors tell them apart by the type of `command`: a string
    is a Command, an object is a CodeAction that runs one. Read them the same way."""
    converter = client.protocol._converter

    def structure(value: Any, _: type) -> types.Command | types.CodeAction:
        if isinstance(value.get("command"), str):
            return converter.structure(value, types.Command)
        return converter.structure(value, types.CodeAction)

    converter.register_structure_hook(Union[types.Command, types.CodeAction], structure)  # noqa: UP007


def accept_registrations(client: LanguageClient) -> None:
    """Answer client/registerCapability as editors do (pytest-lsp has no handler of its own); the
    registrations are kept in `client.registrations`."""
    client.registrations = []  # type: ignore[attr-defined]

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register_capability(params: types.RegistrationParams) -> None:
        client.registrations += params.registrations  # type: ignore[attr-defined]


def answer_message_requests(client: LanguageClient) -> None:
    """Answer window/showMessageRequest as a person would: with `client.message_answer` (an action
    title) when it is one of the actions offered, otherwise by dismissing it (null). The requests are
    kept in `client.message_requests`."""
    client.message_requests = []  # type: ignore[attr-defined]
    client.message_answer = None  # type: ignore[attr-defined]

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def show_message_request(params: types.ShowMessageRequestParams) -> types.MessageActionItem | None:
        client.message_requests.append(params)  # type: ignore[attr-defined]
        wanted = client.message_answer  # type: ignore[attr-defined]
        return next((action for action in params.actions or [] if action.title == wanted), None)


async def start_session(
    client: LanguageClient, root: Path, mode: str, initialization_options: dict[str, Any] | None = None
) -> types.InitializeResult:
    read_code_actions_as_editors_do(client)
    accept_registrations(client)
    answer_message_requests(client)
    return await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities_for(mode),
            root_uri=root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
            initialization_options=initialization_options,
        )
    )


def open_file(client: LanguageClient, path: Path, text: str | None = None, language_id: str = "python") -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id=language_id, version=1, text=path.read_text() if text is None else text
            )
        )
    )
    return uri


async def diagnostics_for(
    client: LanguageClient,
    uri: str,
    mode: str,
    until: Callable[[list[types.Diagnostic]], bool] = lambda _: True,
    timeout: float = 15.0,
) -> list[types.Diagnostic]:
    """The server's current diagnostics for `uri`: waited for (push) or requested (pull)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if mode == "pull":
            report = await client.text_document_diagnostic_async(
                types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))
            )
            items = list(getattr(report, "items", []) or [])
        else:
            items = list(client.diagnostics.get(uri, []))
            if uri not in client.diagnostics:
                items = None  # type: ignore[assignment]
        if items is not None and until(items):
            return items
        if loop.time() > deadline:
            raise AssertionError(f"diagnostics for {uri} never satisfied the condition; last: {items}")
        await asyncio.sleep(0.05)


def codes(diagnostics: list[types.Diagnostic]) -> list[str]:
    return sorted(str(d.code) for d in diagnostics)


def apply_text_edits(text: str, edits: list[types.TextEdit]) -> str:
    """Apply LSP edits (UTF-16 positions) the way an editor does, last first."""
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def offset(position: types.Position) -> int:
        if position.line >= len(lines):
            return len(text)
        line = lines[position.line]
        units = 0
        for index, char in enumerate(line):
            if units >= position.character:
                return offsets[position.line] + index
            units += 2 if ord(char) > 0xFFFF else 1
        return offsets[position.line] + len(line.rstrip("\r\n"))

    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        start, end = offset(edit.range.start), offset(edit.range.end)
        text = text[:start] + edit.new_text + text[end:]
    return text


def edits_of(action: types.CodeAction, uri: str) -> list[types.TextEdit]:
    assert action.edit is not None
    if action.edit.document_changes:
        return [e for change in action.edit.document_changes for e in change.edits if change.text_document.uri == uri]
    assert action.edit.changes is not None
    return list(action.edit.changes[uri])


async def code_actions_for(client: LanguageClient, uri: str, diagnostic: types.Diagnostic) -> list[types.CodeAction]:
    return await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=diagnostic.range,
            context=types.CodeActionContext(diagnostics=[diagnostic]),
        )
    )


def replace_text(client: LanguageClient, uri: str, version: int, text: str) -> None:
    """didChange with the whole new text, as an editor does after applying a workspace edit."""
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )
