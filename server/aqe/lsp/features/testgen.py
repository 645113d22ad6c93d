""" "Generate test for `name`": a code action (and an optional code lens) that returns at once and
proves a test in the background, with cancellable `$/progress`, ending in `workspace/applyEdit`.

The generator (aqe.testgen) blocks, so it runs on a worker thread; the model it asks goes through the
server's model queue as an interactive request. An untrusted workspace runs nothing: the action is
shown disabled with the reason, and the command refuses. Whether the edit was applied, later undone
or edited is recorded in the feedback log for the learning features.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.capabilities import get_capability

from aqe.app.indexing import similar_test_texts
from aqe.app.testgen import TestGenerationService
from aqe.coverage.gaps import GAP_RULE_ID
from aqe.llm.types import CancelToken, Completion, CompletionOptions, Priority, Prompt, ProviderError
from aqe.lsp.commands import GENERATE_TEST_COMMAND
from aqe.lsp.convert import position_argument
from aqe.lsp.progress import Progress
from aqe.lsp.server import AqeLanguageServer
from aqe.parsing.languages import Language
from aqe.testgen.generate import GenerationResult
from aqe.testgen.placement import TestFileEdit
from aqe.testgen.strength import kills_summary
from aqe.testgen.target import TargetError, TestTarget, find_target
from aqe.workspace import path_from_uri

log = logging.getLogger(__name__)

_MODEL_CALL_TIMEOUT_S = 120.0
SAVES_GENERATED_TESTS = "savesGeneratedTests"
"""initializationOptions flag of a client that saves the file after applying a generated test (VS Code)."""
_SAVE_PATIENCE_S = 10.0
"""How long to wait for that client's didSave before saying the test is unsaved."""


@dataclass
class _Written:
    """A generated test the user accepted, watched for an undo or an edit."""

    path: Path
    names: tuple[str, ...]
    body: str
    target: str
    reported: bool = False


class TestGenerationFeature:
    def __init__(self, server: AqeLanguageServer) -> None:
        self.server = server
        self._one_at_a_time = asyncio.Lock()
        self._written: list[_Written] = []
        self._saves: dict[Path, asyncio.Event] = {}

    @classmethod
    def of(cls, server: AqeLanguageServer) -> TestGenerationFeature:
        feature = getattr(server, "_aqe_testgen", None)
        if feature is None:
            feature = cls(server)
            server._aqe_testgen = feature  # type: ignore[attr-defined]
        return feature

    @property
    def trusted(self) -> bool:
        loaded = self.server.loaded_settings
        return loaded.trusted if loaded is not None else False

    def target_at(self, uri: str, line: int, character: int) -> tuple[Path, Path, str, TestTarget]:
        path = path_from_uri(uri)
        if path is None:
            raise ValueError(f"{uri} is not a file")
        root = self.server.engine.workspace.root_of(path)
        if root is None:
            raise ValueError(f"{path} is outside the workspace folders")
        document = self.server.engine.get_document(uri)
        parsed = None
        if document is not None:
            if document.language is not Language.PYTHON:
                raise ValueError("aqe generates tests for Python functions")
            text, parsed = document.text, document.parsed
        else:
            read = self.server.engine.workspace.read_text(path, self.server.engine.max_file_bytes)
            if not isinstance(read, str):
                raise ValueError(read.describe())
            text = read
        relative = path.resolve().relative_to(root).as_posix()
        try:
            target = find_target(root, relative, text, line, character, parsed)
        except TargetError as error:
            raise ValueError(str(error)) from error
        return root, path, text, target

    async def generate(self, root: Path, text: str, target: TestTarget) -> None:
        async with self._one_at_a_time:
            progress = Progress(self.server, f"aqe: generating a test for `{target.qualified_name}`", cancellable=True)
            await progress.begin("starting")
            cancel = CancelToken()
            loop = asyncio.get_running_loop()
            watcher = asyncio.ensure_future(_cancel_when_asked(progress, cancel))

            def report(message: str) -> None:
                progress.report(message)

            service = self.service(root, loop)
            try:
                result = await loop.run_in_executor(
                    None, lambda: service.generate(target, text, progress=report, cancel=cancel)
                )
            finally:
                watcher.cancel()
            if result.proven is None:
                progress.end(result.reason or "no test")
                if result.reason != "cancelled":
                    log.info(
                        "no test for %s: %s; candidates: %s", target.qualified_name, result.reason, result.candidates
                    )
                    self.server.notify_user(f"aqe: {result.reason}", types.MessageType.Warning, always=True)
                return
            progress.end("applying the test")
            await self._apply(service, result)

    def service(self, root: Path, loop: asyncio.AbstractEventLoop | None = None) -> TestGenerationService:
        complete = self._model(loop) if loop is not None else None
        return TestGenerationService(self.server.project(root), complete, self._similar_tests(root))

    async def _apply(self, service: TestGenerationService, result: GenerationResult) -> None:
        root = service.project.root
        proven = result.proven
        assert proven is not None
        edit = proven.edit
        path = root / edit.path
        workspace_edit = self._workspace_edit(path, edit)
        label = f"aqe: test for {result.target.qualified_name}"
        saved = self._saves.setdefault(path.resolve(), asyncio.Event())
        saved.clear()
        try:
            answer = await self.server.workspace_apply_edit_async(
                types.ApplyWorkspaceEditParams(edit=workspace_edit, label=label)
            )
            applied = bool(answer.applied)
        except Exception as error:
            log.warning("the editor did not apply the test: %s", error)
            applied = False
        gained = proven.arcs_after - proven.arcs_before
        service.record_outcome(result, "apply" if applied else "reject", "editor")
        if not applied:
            self.server.notify_user("aqe: the editor did not apply the generated test", types.MessageType.Warning)
            return
        self._written.append(
            _Written(path, proven.candidate.test_names, proven.candidate.body, result.target.qualified_name)
        )
        written_to_disk = await self._saved_by_client(saved)
        self.server.notify_user(
            result_message(
                proven.candidate.test_names,
                result.target.qualified_name,
                edit.path,
                saved=written_to_disk,
                kills=_kills_in_short(result),
            ),
            types.MessageType.Info,
            always=True,
        )
        log.info("%s", result_details(result, gained))  # the output a click on the status item opens
        if get_capability(self.server.client_capabilities, "window.show_document.support", False):
            position = types.Position(line=edit.test_line, character=0)
            try:
                await self.server.window_show_document_async(
                    types.ShowDocumentParams(uri=path.as_uri(), take_focus=False,
                                             selection=types.Range(start=position, end=position))
                )  # fmt: skip
            except Exception as error:
                log.debug("showDocument failed: %s", error)

    async def _saved_by_client(self, saved: asyncio.Event) -> bool:
        """Whether the client saved the test file after applying it (one that says it does, sends didSave)."""
        if self.server.initialization_options.get(SAVES_GENERATED_TESTS) is not True:
            return False
        try:
            await asyncio.wait_for(saved.wait(), _SAVE_PATIENCE_S)
        except asyncio.TimeoutError:
            return False
        return True

    def document_saved(self, uri: str) -> None:
        path = path_from_uri(uri)
        event = self._saves.get(path.resolve()) if path is not None else None
        if event is not None:
            event.set()
        self.document_changed(uri)

    def _workspace_edit(self, path: Path, edit: TestFileEdit) -> types.WorkspaceEdit:
        uri = path.as_uri()
        changes: list[Any] = []
        if edit.create:
            changes.append(
                types.CreateFile(uri=uri, options=types.CreateFileOptions(overwrite=False, ignore_if_exists=True))
            )
            text_edits = [types.TextEdit(range=_at(0), new_text=edit.new_text)]
            version = None
        else:
            document = self.server.engine.get_document(uri)
            version = document.version if document is not None else None
            text_edits = [
                types.TextEdit(
                    range=types.Range(
                        start=types.Position(line=line_edit.start, character=0),
                        end=types.Position(line=line_edit.end, character=0),
                    ),
                    new_text=line_edit.text,
                )
                for line_edit in edit.edits
            ]
        changes.append(
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version), edits=text_edits
            )
        )
        return types.WorkspaceEdit(document_changes=changes)

    def _model(self, loop: asyncio.AbstractEventLoop) -> Any:
        """A blocking `complete` for the generator's thread, through the server's model queue."""
        server = self.server

        def complete(prompt: Prompt, options: CompletionOptions, cancel: CancelToken) -> Completion:
            from aqe.llm.service import ModelService

            service: ModelService | None = getattr(server, "models", None)
            if service is None:
                raise ProviderError("the model service is not running")
            future = asyncio.run_coroutine_threadsafe(
                service.complete(prompt, options, Priority.INTERACTIVE, cancel), loop
            )
            try:
                return future.result(timeout=_MODEL_CALL_TIMEOUT_S)
            except concurrent.futures.TimeoutError as error:
                future.cancel()
                raise ProviderError("the model took too long") from error

        return complete

    def _similar_tests(self, root: Path) -> Any:
        """The project's most similar tests as patterns for the model, from the workspace index."""
        from aqe.lsp.features.index import IndexFeature

        index = IndexFeature.of(self.server).indexes.get(root)

        def similar(target: TestTarget) -> list[str]:
            return similar_test_texts(index, target) if index is not None else []

        return similar

    def document_changed(self, uri: str) -> None:
        """An accepted test that later disappears was undone; one whose body changed was edited."""
        path = path_from_uri(uri)
        if path is None or not self._written:
            return
        document = self.server.engine.get_document(uri)
        if document is None:
            return
        for written in self._written:
            if written.reported or written.path.resolve() != path.resolve():
                continue
            kind = None
            if not any(f"def {name.split('::')[-1]}(" in document.text for name in written.names):
                kind = "undo"
            elif written.body.strip() not in document.text:
                kind = "edit"
            if kind is not None:
                written.reported = True
                root = self.server.engine.workspace.root_of(path)
                if root is not None:
                    self.service(root).record_change(written.target, written.names, kind)


def result_message(
    test_names: tuple[str, ...], target: str, test_file: str, *, saved: bool, kills: str | None = None
) -> str:
    """One short line a notification shows whole; the details go to the log (see result_details).
    `kills` is the mutation score ("kills 16 of 20 mutants of `f`"), the one figure worth a glance."""
    names = test_names[0] if len(test_names) == 1 else f"{len(test_names)} tests of `{target}`"
    if kills:
        names += f" (it {kills})"
    return f"aqe: added {names} to {test_file}" + (" and saved it." if saved else " (unsaved).")


def result_details(result: GenerationResult, gained: int) -> str:
    proven = result.proven
    assert proven is not None
    details = (
        f"{', '.join(proven.candidate.test_names)} in {proven.edit.path}: passed {proven.runs} runs, reaching "
        f"{gained} branch arcs ({len(proven.lines_gained)} lines) of `{result.target.qualified_name}` that the "
        f"module's tests do not; tests ran with {result.python}"
    )
    if "characterisation" in proven.candidate.labels:
        details += "; expected values observed from the current code"
    if strength := kills_summary(proven, result.target.name):
        details += f"; it {strength}"
    if not result.network_isolated:
        details += "; note: the sandbox could not cut off the network on this machine"
    return details


def _at(line: int) -> types.Range:
    position = types.Position(line=line, character=0)
    return types.Range(start=position, end=position)


async def _cancel_when_asked(progress: Progress, cancel: CancelToken) -> None:
    while not cancel.cancelled:
        if progress.cancelled:
            cancel.cancel("the user cancelled")
            return
        await asyncio.sleep(0.1)


def register(server: AqeLanguageServer) -> None:
    feature = TestGenerationFeature.of(server)
    running: set[asyncio.Task[Any]] = set()

    @server.command(GENERATE_TEST_COMMAND)
    async def generate_test(ls: AqeLanguageServer, *args: Any) -> dict[str, Any]:
        """Returns at once; the test arrives as a workspace/applyEdit (or a message saying why not)."""
        uri, line, character = position_argument(args, GENERATE_TEST_COMMAND)
        if not feature.trusted:
            raise ValueError("this workspace is not trusted: aqe runs no code in it, so it cannot prove a test")
        root, _path, text, target = await asyncio.get_running_loop().run_in_executor(
            None, lambda: feature.target_at(uri, line, character)
        )
        task = ls.run_task(feature.generate(root, text, target), f"generate test for {target.qualified_name}")
        running.add(task)
        task.add_done_callback(running.discard)
        return {"started": True, "target": target.qualified_name, "file": target.path}

    async def generate_test_action(ls: AqeLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        """At the cursor on a function; as the quick fix of a semantic-gap hint. (A line-coverage
        hint gets its own quick fix from the coverage feature.)"""
        diagnostics = params.context.diagnostics
        if any(d.source == "coverage" and d.code == "uncovered" for d in diagnostics):
            return []
        gaps = [d for d in diagnostics if d.source == "coverage" and d.code == GAP_RULE_ID]
        only = params.context.only
        wanted_kinds = (
            types.CodeActionKind.Empty,
            "refactor",
            "source",
            *([types.CodeActionKind.QuickFix] if gaps else []),
        )
        if only and not any(kind in wanted_kinds for kind in only):
            return []
        document = ls.engine.get_document(params.text_document.uri)
        if document is None or document.parsed is None or document.language is not Language.PYTHON:
            return []
        position = params.range.start
        try:
            _, _, _, target = feature.target_at(params.text_document.uri, position.line, position.character)
        except ValueError:
            return []
        argument = {
            "uri": params.text_document.uri,
            "position": {"line": position.line, "character": position.character},
        }
        action = types.CodeAction(
            title=f"Generate test for `{target.qualified_name}`",
            kind=types.CodeActionKind.QuickFix if gaps else types.CodeActionKind.Empty,
            diagnostics=gaps or None,
            command=types.Command(title="Generate test", command=GENERATE_TEST_COMMAND, arguments=[argument]),
        )
        if not feature.trusted:
            action.disabled = types.CodeActionDisabled(reason="the workspace is not trusted: aqe runs no code in it")
        return [action]

    server.code_action_providers.append(generate_test_action)
    server.listen("changed", feature.document_changed)
    server.listen("saved", feature.document_saved)

    @server.feature(types.TEXT_DOCUMENT_CODE_LENS)
    def code_lens(ls: AqeLanguageServer, params: types.CodeLensParams) -> list[types.CodeLens]:
        if not ls.settings.test_generation_code_lens or not feature.trusted:
            return []
        document = ls.engine.get_document(params.text_document.uri)
        if document is None or document.parsed is None or document.language is not Language.PYTHON:
            return []
        from aqe.parsing.units import UnitKind, extract_units

        lenses = []
        for unit in extract_units(document.parsed):
            if unit.kind not in (UnitKind.FUNCTION, UnitKind.METHOD) or unit.name.startswith("__"):
                continue
            start = unit.name_span.start
            argument = {"uri": params.text_document.uri, "position": {"line": start.line, "character": start.character}}
            lenses.append(
                types.CodeLens(
                    range=types.Range(
                        start=types.Position(line=start.line, character=0),
                        end=types.Position(line=start.line, character=0),
                    ),
                    command=types.Command(title="Generate test", command=GENERATE_TEST_COMMAND, arguments=[argument]),
                )
            )
        return lenses


def _kills_in_short(result: GenerationResult) -> str | None:
    """The mutation score in the one-line message ("kills 16 of 20 mutants"); the longer sentence, with
    what the project's own tests kill, goes to the log with the other details."""
    proven = result.proven
    if proven is None or proven.mutants_killed is None or not proven.mutants_total:
        return None
    return f"kills {proven.mutants_killed} of {proven.mutants_total} mutants"
