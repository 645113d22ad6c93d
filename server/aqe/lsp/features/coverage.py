"""Coverage hints in the editor: one diagnostic per function with lines or branches that never ran,
a "Generate test for `name`" action (once the test generation command exists on the server), and,
with `coverageOnSave`, the tests related to a saved file run with coverage in the sandbox.

Everything here translates: reading and placing coverage is aqe.coverage; running is aqe.sandbox.
The coverage files are polled (a stat per file every few seconds), so a CI artifact dropped into the
workspace or a `pytest --cov` run in a terminal shows up without any client support for file events.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lsprotocol import types

from aqe.app.coverage import CoverageService, coverage_store
from aqe.coverage.hints import RULE_ID, coverage_findings, function_coverage
from aqe.coverage.measure import CoverageRunError
from aqe.coverage.related import RelatedTests, related_tests
from aqe.coverage.store import CoverageStore
from aqe.engine import OpenDocument
from aqe.findings import Finding
from aqe.llm.types import CancelToken
from aqe.lsp.commands import GENERATE_TEST_COMMAND
from aqe.lsp.features.diagnostics import DiagnosticsFeature
from aqe.lsp.progress import Progress
from aqe.lsp.server import AqeLanguageServer
from aqe.parsing.languages import Language
from aqe.parsing.units import UnitKind, iter_units
from aqe.sandbox.runner import SandboxRefused
from aqe.workspace import path_from_uri

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0


class CoverageFeature:
    def __init__(self, server: AqeLanguageServer) -> None:
        self.server = server
        self._store: CoverageStore | None = None
        self._store_key: tuple[Any, ...] | None = None
        self._poll: asyncio.Task[None] | None = None
        self._poll_requested = False
        self._measuring: dict[str, tuple[asyncio.Task[None], CancelToken]] = {}
        self._reported_problems: set[str] = set()
        self.more_related: RelatedTests | None = None
        """Tests related to a file by meaning, from the workspace index once it provides them."""

    @classmethod
    def of(cls, server: AqeLanguageServer) -> CoverageFeature:
        feature = getattr(server, "_aqe_coverage", None)
        if feature is None:
            feature = cls(server)
            server._aqe_coverage = feature  # type: ignore[attr-defined]
        return feature

    # --- the store, kept in step with the settings ----------------------------------------------------

    @property
    def root(self) -> Path | None:
        return self.server.workspace_roots[0] if self.server.workspace_roots else None

    def store(self) -> CoverageStore | None:
        settings = self.server.settings
        roots = self.server.workspace_roots
        key = (roots, settings.coverage_paths, settings.index_dir)
        if not roots:
            return None
        if key != self._store_key:
            self._store = coverage_store(roots, settings)
            self._store_key = key
        return self._store

    def refresh(self) -> bool:
        """Re-read changed coverage files (blocking: call it in a worker thread)."""
        store = self.store()
        if store is None or not store.refresh():
            return False
        for problem in store.problems:
            if problem not in self._reported_problems:
                self._reported_problems.add(problem)
                log.warning("coverage: %s", problem)
        return True

    async def refresh_and_republish(self) -> None:
        loop = asyncio.get_running_loop()
        if await loop.run_in_executor(self.server.thread_pool, self.refresh):
            DiagnosticsFeature.of(self.server).settings_changed()

    async def poll(self) -> None:
        while True:
            try:
                await self.refresh_and_republish()
            except Exception:
                log.exception("reading the coverage data failed; trying again later")
            await asyncio.sleep(POLL_SECONDS)

    def _start_polling(self) -> None:
        """On the event loop, at the first document analysed: the poll only matters once one is open."""
        self._poll = self.server.run_task(self.poll(), "coverage poll")

    # --- diagnostics ----------------------------------------------------------------------------------

    def findings_for(self, uri: str, document: OpenDocument) -> Sequence[Finding]:
        """Runs in a worker thread with every analysis; cheap: the data is read by the poll."""
        store = self.store()
        if store is None or document.parsed is None:
            return ()
        if store.generation == 0:
            self.refresh()
        if not self._poll_requested:
            self._poll_requested = True
            self.server.send_soon(self._start_polling)
        coverage = store.file_coverage(document.path)
        if coverage is None:
            return ()
        return coverage_findings(function_coverage(document.parsed, coverage))

    # --- code actions ---------------------------------------------------------------------------------

    def code_actions(self, ls: AqeLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        if GENERATE_TEST_COMMAND not in ls.protocol.fm.commands:
            return []  # test generation is not on this server (yet): no action that would fail
        ours = [d for d in params.context.diagnostics if d.source == "coverage" and d.code == RULE_ID]
        if not ours:
            return []
        document = ls.engine.get_document(params.text_document.uri)
        if document is None or document.parsed is None:
            return []
        units = {
            (unit.name_span.start.line, unit.name_span.start.character): unit
            for unit, _ in iter_units(document.parsed)
            if unit.kind in (UnitKind.FUNCTION, UnitKind.METHOD)
        }
        actions = []
        for diagnostic in ours:
            start = diagnostic.range.start
            unit = units.get((start.line, start.character))
            if unit is None:
                continue
            argument = {
                "uri": params.text_document.uri,
                "position": {"line": start.line, "character": start.character},
            }
            title = f"Generate test for `{unit.name}`"
            actions.append(
                types.CodeAction(
                    title=title,
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic],
                    command=types.Command(title=title, command=GENERATE_TEST_COMMAND, arguments=[argument]),
                )
            )
        return actions

    # --- coverage on save -----------------------------------------------------------------------------

    def document_saved(self, uri: str) -> None:
        settings = self.server.settings
        document = self.server.engine.get_document(uri)
        path = path_from_uri(uri)
        if not settings.coverage_on_save or path is None or self.root is None:
            return
        if document is not None and document.language is not Language.PYTHON:
            return
        if path.suffix != ".py" or not self.server.engine.workspace.contains(path):
            return
        if not self.server.trusted:
            log.warning("coverageOnSave: the workspace is not trusted, so its tests are not run")
            return
        running = self._measuring.pop(uri, None)
        if running is not None:
            running[1].cancel("the file was saved again")
        cancel = CancelToken()
        task = self.server.run_task(self._measure(uri, Path(os.path.realpath(path)), cancel), f"coverage {uri}")
        self._measuring[uri] = (task, cancel)

    async def _measure(self, uri: str, path: Path, cancel: CancelToken) -> None:
        root = self.server.engine.workspace.root_of(path) or self.root
        assert root is not None
        loop = asyncio.get_running_loop()
        python_files = await loop.run_in_executor(
            self.server.thread_pool,
            lambda: [p for p in self.server.engine.workspace.iter_source_files([root]) if p.suffix == ".py"],
        )
        tests = related_tests(path, root, python_files, self.more_related)
        if not tests:
            log.info("coverageOnSave: no test imports %s", path.name)
            return
        progress = Progress(self.server, "aqe: measuring coverage", cancellable=True)
        await progress.begin(f"{len(tests)} test file{'s' if len(tests) != 1 else ''} for {path.name}")
        texts = {os.path.relpath(path, root): path.read_text(encoding="utf-8", errors="replace")}
        coverage = CoverageService(self.server.project(root))
        job = loop.run_in_executor(self.server.thread_pool, lambda: coverage.measure(tests, cancel))
        try:
            while not job.done():
                if progress.cancelled:
                    cancel.cancel("cancelled in the editor")
                await asyncio.sleep(0.1)
            run = await job
        except (CoverageRunError, SandboxRefused) as error:
            progress.end(f"not measured: {error}")
            log.warning("coverageOnSave: %s", error)
            return
        finally:
            if self._measuring.get(uri, (None, None))[1] is cancel:
                self._measuring.pop(uri, None)
        try:
            await loop.run_in_executor(self.server.thread_pool, lambda: coverage.keep(run, [path], texts))
        except (OSError, CoverageRunError) as error:
            progress.end(f"measured, but not kept: {error}")
            log.warning("coverageOnSave: could not keep the measurement: %s", error)
            return
        outcome = "tests passed" if run.sandbox.exit_code == 0 else f"tests exited {run.sandbox.exit_code}"
        progress.end(f"coverage measured ({outcome})")
        await self.refresh_and_republish()


def register(server: AqeLanguageServer) -> None:
    feature = CoverageFeature.of(server)
    server.diagnostic_providers.append(feature.findings_for)
    server.code_action_providers.append(feature.code_actions)
    server.listen("saved", feature.document_saved)
