"""Model review on save: the functions a save changed are reviewed by the model in the background,
behind interactive requests, with the team's rules and accepted examples as context.

A save starts a quiet period (`modelReviewDebounceMs`); another save of the same file restarts it,
and a newer save cancels a review under way. The model is asked through the server's model queue at
BACKGROUND priority, so "Generate test" or `aqe.ask` never wait behind a review. Each review reports
cancellable `$/progress`. Findings are kept per function with the function's content hash and shown
while the function is unchanged (moved is fine); editing the function drops them until the next save.
What the model wrote can only become a finding: aqe.review.model_review parses it, and the learning
filter and `qualityThreshold` decide whether it is shown.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from typing import Any

from aqe.findings import Finding, Position, Span
from aqe.learning.state import ReviewExample
from aqe.llm.types import CancelToken, Completion, CompletionOptions, Priority, Prompt, ProviderError
from aqe.lsp.features.diagnostics import DiagnosticsFeature
from aqe.lsp.progress import Progress
from aqe.lsp.server import AqeLanguageServer
from aqe.parsing.languages import Language
from aqe.review.model_review import (
    ReviewContext,
    ReviewTarget,
    build_prompt,
    changed_targets,
    completion_options,
    echoes,
    function_hashes,
    parse_review,
    review_targets,
    to_findings,
)
from aqe.review.suppression import is_suppressed
from aqe.workspace import path_from_uri

log = logging.getLogger(__name__)

RULE_CATEGORIES = ("aqe/quality-rules", "aqe/best-practices")


@dataclass(frozen=True)
class _Reviewed:
    content_hash: str
    start_line: int
    findings: tuple[Finding, ...]


class ModelReviewFeature:
    def __init__(self, server: AqeLanguageServer) -> None:
        self.server = server
        self._hashes: dict[str, dict[str, str]] = {}
        """Per document: the function hashes at the last review (or at open), to tell what a save changed."""
        self._reviewed: dict[str, dict[str, _Reviewed]] = {}
        self._pending: dict[str, asyncio.Task[Any]] = {}

    @classmethod
    def of(cls, server: AqeLanguageServer) -> ModelReviewFeature:
        feature = getattr(server, "_aqe_model_review", None)
        if feature is None:
            feature = cls(server)
            server._aqe_model_review = feature  # type: ignore[attr-defined]
        return feature

    def opened(self, uri: str) -> None:
        if not self.server.settings.model_review:
            return
        document = self.server.engine.get_document(uri)
        if document is not None and document.parsed is not None and document.language is Language.PYTHON:
            self._hashes[uri] = function_hashes(document.parsed)

    def closed(self, uri: str) -> None:
        self._hashes.pop(uri, None)
        self._reviewed.pop(uri, None)
        pending = self._pending.pop(uri, None)
        if pending is not None:
            pending.cancel()

    def saved(self, uri: str) -> None:
        if not self.server.settings.model_review:
            return
        pending = self._pending.pop(uri, None)
        if pending is not None:
            pending.cancel()
        self._pending[uri] = self.server.run_task(self._review_after(uri), f"model review {uri}")

    async def _review_after(self, uri: str) -> None:
        await asyncio.sleep(self.server.settings.model_review_debounce_ms / 1000)
        document = self.server.engine.get_document(uri)
        if document is None or document.parsed is None or document.language is not Language.PYTHON:
            return
        parsed = document.parsed
        targets = changed_targets(parsed, self._hashes.get(uri), self.server.settings.model_review_max_functions)
        self._hashes[uri] = function_hashes(parsed)
        if not targets:
            return
        progress = Progress(self.server, f"aqe: reviewing {len(targets)} changed function(s)", cancellable=True)
        await progress.begin()
        cancel = CancelToken()
        reviewed = dict(self._reviewed.get(uri, {}))
        outcome = "done"
        try:
            for number, target in enumerate(targets, start=1):
                if progress.cancelled:
                    outcome = "cancelled"
                    break
                progress.report(f"`{target.qualified_name}`", int(100 * (number - 1) / len(targets)))
                try:
                    findings = await self._review_one(uri, target, cancel)
                except ProviderError as error:
                    log.info("model review of %s stopped: %s", target.qualified_name, error)
                    outcome = f"stopped: {error}"
                    break
                reviewed[target.qualified_name] = _Reviewed(target.content_hash, target.start_line, tuple(findings))
        except asyncio.CancelledError:
            cancel.cancel("a newer save")
            progress.end("cancelled")
            raise
        progress.end(outcome)
        self._reviewed[uri] = reviewed
        DiagnosticsFeature.of(self.server).settings_changed()

    async def _review_one(self, uri: str, target: ReviewTarget, cancel: CancelToken) -> list[Finding]:
        from aqe.llm.service import ModelService

        service: ModelService | None = getattr(self.server, "models", None)
        if service is None:
            roots = self.server.workspace_roots
            service = ModelService(self.server.settings, roots[0] if roots else None)
            self.server.models = service  # type: ignore[attr-defined]
        loop = asyncio.get_running_loop()
        context = await loop.run_in_executor(None, self._context, uri, target)
        prompt: Prompt = build_prompt(target, context)
        options: CompletionOptions = completion_options()
        completion: Completion = await service.complete(prompt, options, Priority.BACKGROUND, cancel)
        found = [item for item in parse_review(completion.text, target.line_count) if not echoes(item, context)]
        return to_findings(target, found, completion)

    def _context(self, uri: str, target: ReviewTarget) -> ReviewContext:
        """The team's relevant rules from the knowledge base and its accepted fixes most like this code."""
        from aqe.lsp.features.index import IndexFeature

        path = path_from_uri(uri)
        root = self.server.engine.workspace.root_of(path) if path is not None else None
        rules: list[str] = []
        examples: list[ReviewExample] = []
        if root is not None:
            index = IndexFeature.of(self.server).indexes.get(root)
            if index is not None:
                for category in RULE_CATEGORIES:
                    try:
                        hits = index.search(target.source, 2, category)
                    except Exception as error:  # the index is optional context, never a reason to stop
                        log.debug("no rules from the index: %s", error)
                        hits = []
                    rules += [hit.record.text.strip().splitlines()[0] for hit in hits if hit.record.text.strip()]
            retriever = self.server.learning.root_state(root).examples
            if retriever is not None and self.server.settings.learning_enabled:
                examples = retriever.similar(target.source, k=2)
        return ReviewContext(tuple(rules[:4]), tuple(examples))

    def findings_for(self, uri: str, document: Any) -> list[Finding]:
        """Model findings of functions unchanged since their review, moved to where they are now."""
        reviewed = self._reviewed.get(uri)
        if not reviewed or document.parsed is None:
            return []
        found: list[Finding] = []
        for target in review_targets(document.parsed):
            known = reviewed.get(target.qualified_name)
            if known is None or known.content_hash != target.content_hash:
                continue
            shift = target.start_line - known.start_line
            for finding in known.findings:
                moved = replace(finding, path=document.path, span=_shifted(finding.span, shift)) if shift else finding
                if not is_suppressed(document.parsed, moved):
                    found.append(moved)
        return found


def _shifted(span: Span, lines: int) -> Span:
    start, end = span.start, span.end
    return Span(Position(start.line + lines, start.character), Position(end.line + lines, end.character))


def register(server: AqeLanguageServer) -> None:
    feature = ModelReviewFeature.of(server)
    server.diagnostic_providers.append(feature.findings_for)
    server.listen("opened", feature.opened)
    server.listen("saved", feature.saved)
    server.listen("closed", feature.closed)
