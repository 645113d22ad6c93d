"""Flaky tests in the editor: a warning on each flaky test's definition ("flaky: 7 flips in 20 runs,
likely order-dependent: ..."), with "Explain", "Quarantine" and "Show history" actions.

The history comes from `junitPaths` reports (ingested in the background and again when they change)
and from `aqe flaky run`; verdicts are recomputed off the event loop whenever the history grows. The
explanation asks the model through the model service, never on the event loop and never required:
without a model the plain explanation from the evidence is still given.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.capabilities import get_capability

from aqe.app.flaky import FlakyService
from aqe.engine import OpenDocument
from aqe.findings import Finding, FindingSource, Severity
from aqe.flaky.analysis import RULE_ID, TestVerdict
from aqe.flaky.explain import OPTIONS, plain_explanation, tidy_answer
from aqe.flaky.history import HistoryError, HistoryStore
from aqe.flaky.history_url import open_history
from aqe.flaky.identity import TestIdentity, find_unit
from aqe.flaky.quarantine import quarantine_edits, uses_rerunfailures
from aqe.flaky.scoring import Verdict
from aqe.llm.types import CancelToken, Priority, ProviderError
from aqe.lsp.convert import to_text_edit
from aqe.lsp.features.diagnostics import DiagnosticsFeature
from aqe.lsp.server import AqeLanguageServer
from aqe.parsing.languages import Language
from aqe.parsing.units import UnitKind, extract_units, is_test_file

log = logging.getLogger(__name__)

EXPLAIN_COMMAND = "aqe.flaky.explain"
HISTORY_COMMAND = "aqe.flaky.history"
SOURCE = "flaky"
POLL_SECONDS = 5.0


class FlakyFeature:
    def __init__(self, server: AqeLanguageServer) -> None:
        self.server = server
        self._key: tuple[Any, ...] | None = None
        self._history: HistoryStore | None = None
        self._verdicts: dict[str, TestVerdict] = {}
        self._stamp: tuple[int, int] | None = None
        self._report_stamps: dict[Path, tuple[int, int]] = {}
        self._poll_requested = False
        self._reported: set[str] = set()
        self._refreshing = threading.Lock()

    @classmethod
    def of(cls, server: AqeLanguageServer) -> FlakyFeature:
        feature = getattr(server, "_aqe_flaky", None)
        if feature is None:
            feature = cls(server)
            server._aqe_flaky = feature  # type: ignore[attr-defined]
        return feature

    @property
    def root(self) -> Path | None:
        return self.server.workspace_roots[0] if self.server.workspace_roots else None

    def history(self) -> HistoryStore | None:
        """The configured history (the workspace's file, or the team's database: flakyHistoryUrl)."""
        settings = self.server.settings
        root = self.root
        key = (root, settings.index_dir, settings.flaky_history_url, settings.junit_paths, settings.flaky_score_min,
               settings.flaky_score_max)  # fmt: skip
        if root is None:
            return None
        if key != self._key:
            if self._history is not None:
                self._history.close()
            self._key, self._history, self._stamp, self._report_stamps = None, None, None, {}
            try:
                # Little patience: the poll comes back in seconds, and a refresh holds a worker thread.
                self._history = open_history(root, settings.index_dir, settings.flaky_history_url, patience_s=2.0)
            except HistoryError as error:
                self._warn_once(f"flaky tests: {error}")
                return None
            self._key = key
        return self._history

    def _warn_once(self, message: str) -> None:
        if message not in self._reported:
            self._reported.add(message)
            log.warning(message)

    # --- keeping the verdicts current (worker threads) ------------------------------------------------

    def refresh(self) -> bool:
        """Ingest new or changed reports, rescore when the history grew; True when verdicts changed.

        Called from the poll and from the first diagnostics, both in worker threads: one at a time."""
        with self._refreshing:
            return self._refresh()

    def _refresh(self) -> bool:
        history, root = self.history(), self.root
        if history is None or root is None:
            return False
        try:
            changed_reports = []
            for path in self.service(history, root).configured_reports():
                info = path.stat()
                stamp = (info.st_size, info.st_mtime_ns)
                if self._report_stamps.get(path) != stamp:
                    self._report_stamps[path] = stamp
                    changed_reports.append(path)
            service = self.service(history, root)
            _, problems = service.ingest(changed_reports)
            for problem in problems:
                if problem not in self._reported:
                    self._reported.add(problem)
                    log.warning("flaky tests: %s", problem)
            stamp = history.stamp()
            if stamp == self._stamp:
                return False
            verdicts = service.verdicts()
        except (HistoryError, OSError) as error:
            self._warn_once(f"flaky tests: {error}")
            return False
        self._stamp = stamp
        self._verdicts = {verdict.test_id: verdict for verdict in verdicts}
        return True

    def service(self, history: HistoryStore, root: Path) -> FlakyService:
        from aqe.lsp.features.index import IndexFeature

        return FlakyService(self.server.project(root), history, IndexFeature.of(self.server).similar_failures)

    def index_ready(self) -> None:
        """The verdicts' similar failure patterns come from the index: recompute them once it is ready
        (the next refresh rescores even though the history did not change)."""
        self._stamp = None

    async def poll(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                if await loop.run_in_executor(self.server.thread_pool, self.refresh):
                    DiagnosticsFeature.of(self.server).settings_changed()
            except Exception:
                log.exception("updating the flaky-test verdicts failed; trying again later")
            await asyncio.sleep(POLL_SECONDS)

    def _start_polling(self) -> None:
        self.server.run_task(self.poll(), "flaky poll")

    # --- diagnostics ----------------------------------------------------------------------------------

    def _verdicts_in(self, document: OpenDocument) -> list[TestVerdict]:
        root = self.root
        if root is None:
            return []
        try:
            relative = Path(os.path.realpath(document.path)).relative_to(root).as_posix()
        except ValueError:
            return []
        return [v for v in self._verdicts.values() if v.score.file == relative and v.verdict is Verdict.FLAKY]

    def findings_for(self, uri: str, document: OpenDocument) -> Sequence[Finding]:
        if document.parsed is None or not is_test_file(document.path) or self.history() is None:
            return ()
        if self._stamp is None:
            self.refresh()
        if not self._poll_requested:
            self._poll_requested = True
            self.server.send_soon(self._start_polling)
        units = [u for u in extract_units(document.parsed) if u.kind is UnitKind.TEST_FUNCTION]
        findings = []
        for verdict in self._verdicts_in(document):
            score = verdict.score
            unit = find_unit(units, TestIdentity(score.test_id, score.file, score.name, score.class_name))
            if unit is None:
                continue
            findings.append(
                Finding(
                    path=document.path,
                    span=unit.name_span,
                    rule_id=RULE_ID,
                    severity=Severity.WARNING,
                    message=verdict.message(),
                    source=FindingSource.FLAKY,
                    confidence=score.confidence,
                )
            )
        return findings

    def verdict_at(self, document: OpenDocument, line: int, character: int) -> TestVerdict | None:
        if document.parsed is None:
            return None
        units = [u for u in extract_units(document.parsed) if u.kind is UnitKind.TEST_FUNCTION]
        for verdict in self._verdicts_in(document):
            score = verdict.score
            unit = find_unit(units, TestIdentity(score.test_id, score.file, score.name, score.class_name))
            if unit is not None and (unit.name_span.start.line, unit.name_span.start.character) == (line, character):
                return verdict
        return None

    # --- code actions ---------------------------------------------------------------------------------

    def code_actions(self, ls: AqeLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        ours = [d for d in params.context.diagnostics if d.source == SOURCE and d.code == RULE_ID]
        if not ours:
            return []
        uri = params.text_document.uri
        document = ls.engine.get_document(uri)
        if document is None or document.parsed is None:
            return []
        actions: list[types.CodeAction] = []
        for diagnostic in ours:
            verdict = self.verdict_at(document, diagnostic.range.start.line, diagnostic.range.start.character)
            if verdict is None:
                continue
            argument = [{"testId": verdict.test_id}]
            name = verdict.score.name
            actions.append(
                types.CodeAction(
                    title=f"Explain why `{name}` is flaky",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic],
                    command=types.Command(title="Explain", command=EXPLAIN_COMMAND, arguments=argument),
                )
            )
            quarantine = self._quarantine_action(ls, uri, document, verdict, diagnostic)
            if quarantine is not None:
                actions.append(quarantine)
            actions.append(
                types.CodeAction(
                    title=f"Show the run history of `{name}`",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic],
                    command=types.Command(title="Show history", command=HISTORY_COMMAND, arguments=argument),
                )
            )
        return actions

    def _quarantine_action(
        self,
        ls: AqeLanguageServer,
        uri: str,
        document: OpenDocument,
        verdict: TestVerdict,
        diagnostic: types.Diagnostic,
    ) -> types.CodeAction | None:
        if document.language is not Language.PYTHON or document.parsed is None or self.root is None:
            return None
        units = [u for u in extract_units(document.parsed) if u.kind is UnitKind.TEST_FUNCTION]
        score = verdict.score
        unit = find_unit(units, TestIdentity(score.test_id, score.file, score.name, score.class_name))
        if unit is None:
            return None
        rerun = uses_rerunfailures(self.root, document.text)
        edits = quarantine_edits(document.parsed, unit, score.summary(), rerunfailures=rerun)
        if not edits:
            return None
        text_edits: list[types.TextEdit | types.AnnotatedTextEdit | types.SnippetTextEdit] = [
            to_text_edit(edit) for edit in edits
        ]
        if get_capability(ls.client_capabilities, "workspace.workspace_edit.document_changes", False):
            edit = types.WorkspaceEdit(
                document_changes=[
                    types.TextDocumentEdit(
                        text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=document.version),
                        edits=text_edits,
                    )
                ]
            )
        else:
            edit = types.WorkspaceEdit(changes={uri: [to_text_edit(e) for e in edits]})
        marker = "@pytest.mark.flaky" if rerun else "@pytest.mark.xfail(strict=False)"
        return types.CodeAction(
            title=f"Quarantine `{score.name}` with {marker}",
            kind=types.CodeActionKind.QuickFix,
            diagnostics=[diagnostic],
            edit=edit,
        )

    # --- commands -------------------------------------------------------------------------------------

    def verdict_named(self, arguments: Sequence[Any]) -> TestVerdict:
        test_id = None
        if arguments and isinstance(arguments[0], dict):
            test_id = arguments[0].get("testId")
        elif arguments and isinstance(arguments[0], str):
            test_id = arguments[0]
        if not isinstance(test_id, str):
            raise ValueError('expected [{"testId": "<test id>"}] as the arguments')
        verdict = self._verdicts.get(test_id)
        if verdict is None:
            raise ValueError(f"no history for the test {test_id!r}")
        return verdict

    def history_of(self, verdict: TestVerdict) -> dict[str, Any]:
        runs = [
            {
                "time": row.run_at,
                "outcome": row.outcome.value,
                "kind": row.run_kind,
                "durationS": row.duration_s,
                "codeVersion": row.code_version,
                "message": row.message[:500],
            }
            for row in verdict.score.rows
        ]
        marks = "".join("✗" if row.outcome.is_failure else "✓" for row in verdict.score.rows)
        kinds = ", ".join(
            f"{kind}: {count.failures}/{count.runs} failed" for kind, count in sorted(verdict.score.by_kind.items())
        )
        return {"testId": verdict.test_id, "summary": f"{verdict.test_id}: {marks} ({kinds})", "runs": runs}


def register(server: AqeLanguageServer) -> None:
    feature = FlakyFeature.of(server)
    server.diagnostic_providers.append(feature.findings_for)
    server.listen("index-ready", feature.index_ready)
    server.code_action_providers.append(feature.code_actions)

    @server.command(EXPLAIN_COMMAND)
    async def explain(ls: AqeLanguageServer, *arguments: Any) -> dict[str, Any]:
        verdict = feature.verdict_named(arguments)
        plain = plain_explanation(verdict)
        answer: dict[str, Any] = {"testId": verdict.test_id, "explanation": plain, "model": None, "modelError": None}
        root, history = feature.root, feature.history()
        if root is not None and history is not None:
            service = feature.service(history, root)
            loop = asyncio.get_running_loop()
            prompt = await loop.run_in_executor(ls.thread_pool, service.explanation_prompt, verdict)
            answer.update(await _ask_model(ls, prompt))
        text = plain + (f"\n\nModel: {answer['model']['text']}" if answer["model"] else "")
        ls.send_soon(lambda: ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Info, message=text)))
        return answer

    @server.command(HISTORY_COMMAND)
    def show_history(ls: AqeLanguageServer, *arguments: Any) -> dict[str, Any]:
        history = feature.history_of(feature.verdict_named(arguments))
        ls.send_soon(
            lambda: ls.window_show_message(
                types.ShowMessageParams(type=types.MessageType.Info, message=history["summary"])
            )
        )
        return history


async def _ask_model(ls: AqeLanguageServer, prompt: Any) -> dict[str, Any]:
    """The model's explanation, or why there is none; a model that cannot answer is not an error here."""
    from aqe.llm.service import ModelService

    service: ModelService | None = getattr(ls, "models", None)
    if service is None:
        service = ModelService(ls.settings, ls.workspace_roots[0] if ls.workspace_roots else None)
        ls.models = service  # type: ignore[attr-defined]
    cancel = CancelToken()
    try:
        completion = await service.complete(prompt, OPTIONS, Priority.INTERACTIVE, cancel)
    except asyncio.CancelledError:
        cancel.cancel("the client cancelled the request")
        raise
    except ProviderError as error:
        return {"model": None, "modelError": str(error)}
    return {"model": {"text": tidy_answer(completion.text), "route": completion.route, "model": completion.model}}
