"""The review for both front doors: rules, then the team's conventions and the other finding
providers, then the learned filter. The editor's diagnostics and `aqe analyze` both come from here,
so the same file with the same settings and the same learned state gives the same findings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from aqe.app.learning import LearningService
from aqe.engine import Engine, FileAnalysis, OpenDocument
from aqe.findings import Finding
from aqe.workspace import FileSkipped

log = logging.getLogger(__name__)

FindingProvider = Callable[[str, OpenDocument], Sequence[Finding]]
"""(uri, document) -> more findings for it (coverage gaps, flaky tests, index hints, model review);
called in a worker thread with each review. A provider that fails is logged and left out."""


@dataclass(frozen=True)
class Review:
    """One file's findings as they are shown: the rules' (in `analysis`) and the others' (`extras`),
    both after the learned filter."""

    analysis: FileAnalysis
    extras: tuple[Finding, ...] = ()

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(sorted((*self.analysis.findings, *self.extras), key=Finding.sort_key))


class ReviewService:
    """Reviews open documents (the editor) and files on disk (the command line) the same way."""

    def __init__(self, engine: Engine, learning: LearningService | None = None) -> None:
        self.engine = engine
        self.learning = learning or LearningService(engine)
        self.providers: list[FindingProvider] = []

    def add_provider(self, provider: FindingProvider) -> None:
        self.providers.append(provider)

    def review_open_document(self, uri: str) -> Review | None:
        """The editor's view of a document (which may differ from disk); None when it is not open.
        Findings that vanish between two versions without a fix are recorded as fixed by hand."""
        analysis = self.engine.analyze_open_document(uri)
        document = self.engine.get_document(uri)
        if analysis is None or document is None:
            return None
        return self._review(uri, document, analysis, watch=uri)

    def review_file(self, path: Path) -> Review:
        """A file as it is on disk (the command line, or an editor asking about an unopened file)."""
        text = self.engine.workspace.read_text(path, self.engine.max_file_bytes)
        if isinstance(text, FileSkipped):
            return Review(FileAnalysis(str(path), skipped=text))
        document = self.engine.snapshot(path.as_uri(), str(path), text)
        return self._review(document.uri, document, self.engine.analyze_snapshot(document), watch=None)

    def review_paths(self, paths: Iterable[Path] | None = None) -> Iterator[Review]:
        """Every supported source file under `paths` (default: the workspace folders)."""
        for path in self.engine.workspace.iter_source_files(paths):
            yield self.review_file(path)

    def _review(self, uri: str, document: OpenDocument, analysis: FileAnalysis, *, watch: str | None) -> Review:
        if analysis.skipped is not None or document.parsed is None:
            return Review(analysis)
        extras: list[Finding] = []
        for provider in (self._conventions, *self.providers):
            try:
                extras.extend(provider(uri, document))
            except Exception:
                log.exception("a finding provider failed on %s; its findings are left out", uri)
        everything = (*analysis.findings, *extras)
        try:
            kept = set(map(id, self.learning.keep(document, everything, watch=watch)))
        except Exception:
            log.exception("the learned filter failed on %s; nothing is hidden", uri)
            kept = set(map(id, everything))
        shown_rules = tuple(f for f in analysis.findings if id(f) in kept)
        if len(shown_rules) != len(analysis.findings):
            analysis = replace(analysis, findings=shown_rules)
        return Review(analysis, tuple(f for f in extras if id(f) in kept))

    def _conventions(self, uri: str, document: OpenDocument) -> Sequence[Finding]:
        return self.learning.convention_findings(document)
