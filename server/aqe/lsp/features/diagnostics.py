"""Diagnostics, pushed (debounced on change, immediate on open/save) or pulled, by client choice.

Clients that support `textDocument/diagnostic` pull; the others get `publishDiagnostics`. Doing
both would show every finding twice in editors that merge the two. Analysis runs in the server's
thread pool on an immutable snapshot, so typing never waits for it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types
from pygls.capabilities import get_capability

from aqe.app.review import Review
from aqe.engine import FileAnalysis
from aqe.findings import Finding
from aqe.lsp.convert import DIAGNOSTIC_SOURCE, to_diagnostic
from aqe.lsp.server import AqeLanguageServer
from aqe.workspace import FileSkipped, SkipReason, path_from_uri

log = logging.getLogger(__name__)

DiagnosticReport = types.RelatedFullDocumentDiagnosticReport | types.RelatedUnchangedDocumentDiagnosticReport


class DiagnosticsFeature:
    """Per-server diagnostics state: pending debounced runs and the latest analysis per document."""

    def __init__(self, server: AqeLanguageServer) -> None:
        self.server = server
        self.pull = False
        self.generation = 0  # bumped when settings change, so pulled result ids go stale
        self._pending: dict[str, asyncio.Task[Any]] = {}
        self._latest: dict[str, FileAnalysis] = {}
        self._extras: dict[str, tuple[int | None, tuple[Finding, ...]]] = {}
        self.noticed: set[tuple[str, SkipReason]] = set()

    @classmethod
    def of(cls, server: AqeLanguageServer) -> DiagnosticsFeature:
        return server.features.get(cls, lambda: cls(server))

    def use_pull_model(self, pull: bool) -> None:
        self.pull = pull
        if pull:
            options = types.DiagnosticOptions(
                identifier=DIAGNOSTIC_SOURCE, inter_file_dependencies=False, workspace_diagnostics=False
            )

            # pygls tags the handler with attributes, which a bound method cannot carry.
            async def text_document_diagnostic(
                ls: AqeLanguageServer, params: types.DocumentDiagnosticParams
            ) -> DiagnosticReport:
                return await self.pull_diagnostics(ls, params)

            self.server.feature(types.TEXT_DOCUMENT_DIAGNOSTIC, options)(text_document_diagnostic)

    # --- analysis -----------------------------------------------------------------------------------

    async def analyze(self, uri: str) -> FileAnalysis | None:
        """Analyse the open document in a worker thread and remember the result (and what the other
        diagnostic providers, coverage and flaky tests, found in the same document version)."""
        loop = asyncio.get_running_loop()
        analysis, extras = await loop.run_in_executor(self.server.thread_pool, self._analyze_with_extras, uri)
        if analysis is not None and self.server.engine.get_document(uri) is not None:  # not closed meanwhile
            self._latest[uri] = analysis
            self._extras[uri] = (analysis.version, extras)
        return analysis

    def _analyze_with_extras(self, uri: str) -> tuple[FileAnalysis | None, tuple[Finding, ...]]:
        review = self.server.review.review_open_document(uri)
        return (review.analysis, review.extras) if review is not None else (None, ())

    def extras(self, uri: str, version: int | None) -> tuple[Finding, ...]:
        """The providers' findings computed with the analysis of this version of the document."""
        known = self._extras.get(uri)
        return known[1] if known is not None and known[0] == version else ()

    def latest(self, uri: str) -> FileAnalysis | None:
        """The last analysis of the document's current version, if there is one."""
        analysis = self._latest.get(uri)
        document = self.server.engine.get_document(uri)
        if analysis is None or document is None or analysis.version != document.version:
            return None
        return analysis

    # --- push model ----------------------------------------------------------------------------------

    def document_changed(self, uri: str, *, immediately: bool) -> None:
        if self.pull:
            return
        pending = self._pending.pop(uri, None)
        if pending is not None:
            pending.cancel()
        delay = 0.0 if immediately else self.server.settings.diagnostics_debounce_ms / 1000
        self._pending[uri] = self.server.run_task(self._publish_after(uri, delay), f"diagnostics {uri}")

    def document_closed(self, uri: str) -> None:
        pending = self._pending.pop(uri, None)
        if pending is not None:
            pending.cancel()
        self._latest.pop(uri, None)
        self._extras.pop(uri, None)
        if not self.pull:
            self.server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    def settings_changed(self) -> None:
        self.refresh_all()

    def refresh_all(self) -> None:
        """Every open document's findings may have changed (settings, the learned state, the index
        became ready): pull clients are asked to pull again, push clients get a new publish."""
        self.generation += 1
        self._latest.clear()
        if self.pull:
            if get_capability(self.server.client_capabilities, "workspace.diagnostics.refresh_support", False):
                self.server.workspace_diagnostic_refresh(None)
            return
        for uri in self.server.engine.open_uris():
            self.document_changed(uri, immediately=True)

    async def _publish_after(self, uri: str, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        document = self.server.engine.get_document(uri)
        if document is None:  # closed while we waited
            return
        analysis = await self.analyze(uri)
        current = self.server.engine.get_document(uri)
        if analysis is None or current is None or current.version != analysis.version:
            return  # a newer change has its own run scheduled
        self._pending.pop(uri, None)
        diagnostics = diagnostics_of(self.server, analysis, uri)
        self.server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=analysis.version)
        )

    # --- pull model ----------------------------------------------------------------------------------

    async def pull_diagnostics(self, ls: AqeLanguageServer, params: types.DocumentDiagnosticParams) -> DiagnosticReport:
        uri = params.text_document.uri
        document = ls.engine.get_document(uri)
        if document is None:
            review = await self._analyze_unopened(uri)
            if review is None:
                return types.RelatedFullDocumentDiagnosticReport(items=[])
            items = diagnostics_of(ls, review.analysis) + [to_diagnostic(finding) for finding in review.extras]
            return types.RelatedFullDocumentDiagnosticReport(items=items)
        result_id = f"{self.generation}:{document.version}"
        if params.previous_result_id == result_id:
            return types.RelatedUnchangedDocumentDiagnosticReport(result_id=result_id)
        analysis = await self.analyze(uri)
        items = diagnostics_of(ls, analysis, uri) if analysis else []
        return types.RelatedFullDocumentDiagnosticReport(items=items, result_id=result_id)

    async def _analyze_unopened(self, uri: str) -> Review | None:
        """A file the editor did not open: read it from disk only when it is inside the workspace."""
        path = path_from_uri(uri)
        if path is None or not self.server.engine.workspace.contains(path):
            log.warning("refusing to read %s: it is outside the workspace folders", uri)
            return None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.server.thread_pool, self.server.review.review_file, path)


def diagnostics_of(server: AqeLanguageServer, analysis: FileAnalysis, uri: str | None = None) -> list[types.Diagnostic]:
    if analysis.skipped is not None:
        return skipped_diagnostics(server, analysis.skipped)
    extras = DiagnosticsFeature.of(server).extras(uri, analysis.version) if uri is not None else ()
    return [to_diagnostic(finding) for finding in (*analysis.findings, *extras)]


def skipped_diagnostics(server: AqeLanguageServer, skipped: FileSkipped) -> list[types.Diagnostic]:
    """One information diagnostic at the top of the file, and one logged notice per file and reason.

    The diagnostic is where the user is looking; a pop-up is only sent when `showNotifications`
    asks for warnings.
    """
    if skipped.reason is SkipReason.UNSUPPORTED_LANGUAGE:
        return []
    message = skipped.describe()
    feature = DiagnosticsFeature.of(server)
    if (skipped.path, skipped.reason) not in feature.noticed:
        feature.noticed.add((skipped.path, skipped.reason))
        log.warning(message)
        server.notify_user(message, types.MessageType.Warning)
    return [
        types.Diagnostic(
            range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)),
            message=message,
            severity=types.DiagnosticSeverity.Information,
            code=f"skipped:{skipped.reason.value}",
            source=DIAGNOSTIC_SOURCE,
        )
    ]


def register(server: AqeLanguageServer) -> None:
    feature = DiagnosticsFeature.of(server)
    server.listen("index-ready", feature.refresh_all)  # index-based hints need the finished index
    server.listen("oversized", lambda uri: feature.document_changed(uri, immediately=True))
