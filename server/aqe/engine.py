"""The engine: one object that every front door (language server, command line) calls.

It owns the open documents, the rules and the settings; it holds no LSP types, so everything here is
testable without a server. Later features (models, index, test generation, learning) hang off it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from aqe.config import Settings
from aqe.findings import Finding, Severity
from aqe.parsing.document import ContentChange, ParsedDocument, apply_content_changes
from aqe.parsing.languages import Language, language_for_id, language_for_path
from aqe.parsing.source import SourceText
from aqe.review.confidence import LOW_CONFIDENCE
from aqe.review.overlap import keep_most_specific
from aqe.review.rules import all_rules, rule_infos
from aqe.review.rules.base import ComplexityCounting, Rule, RuleContext, RuleInfo, RuleOptions
from aqe.review.suppression import is_suppressed
from aqe.workspace import FileSkipped, SkipReason, Workspace, check_text_limits

log = logging.getLogger(__name__)

OFF = "off"

_RULE_NAMES = {rule.info.id: rule.info.name for rule in all_rules()}


@dataclass(frozen=True)
class FileAnalysis:
    """The outcome for one file: its findings, or why it was skipped."""

    path: str
    findings: tuple[Finding, ...] = ()
    skipped: FileSkipped | None = None
    version: int | None = None
    has_syntax_errors: bool = False


@dataclass(frozen=True)
class ResolvedRules:
    """Rules after settings: which run, at what severity; and the unknown names the user wrote."""

    active: tuple[tuple[Rule, Severity], ...]
    unknown: tuple[str, ...]
    chosen: frozenset[str] = frozenset()
    """Ids of the rules whose severity the user set: those are never shown as low-confidence hints."""


def resolve_rules(rules: Sequence[Rule], overrides: dict[str, str]) -> ResolvedRules:
    by_key: dict[str, Rule] = {}
    for rule in rules:
        by_key[rule.info.id.lower()] = rule
        by_key[rule.info.name.lower()] = rule
    chosen: dict[str, str] = {}
    unknown: list[str] = []
    for key, value in overrides.items():
        rule = by_key.get(key.strip().lower())
        if rule is None:
            unknown.append(key)
        else:
            chosen[rule.info.id] = value.strip().lower()
    active: list[tuple[Rule, Severity]] = []
    for rule in rules:
        wanted = chosen.get(rule.info.id)
        if wanted == OFF:
            continue
        active.append((rule, Severity.parse(wanted) if wanted else rule.info.default_severity))
    return ResolvedRules(tuple(active), tuple(unknown), frozenset(chosen))


@dataclass
class OpenDocument:
    uri: str
    path: str
    language: Language | None
    version: int | None
    parsed: ParsedDocument | None
    skipped: FileSkipped | None
    text: str
    desynced: bool = False
    """The client sent a change we could not take (too large to receive): our copy is unknown until
    the client sends the whole text again."""


class Engine:
    """Analyses files and open documents with the current settings. Thread-safe for readers."""

    def __init__(self, settings: Settings, roots: Sequence[Path] = ()) -> None:
        self._lock = threading.Lock()
        self._documents: dict[str, OpenDocument] = {}
        self.roots = tuple(roots)
        self.configure(settings)

    # --- settings ----------------------------------------------------------------------------------

    def configure(self, settings: Settings, roots: Sequence[Path] | None = None) -> None:
        """Apply new settings (and new workspace folders, when given); open documents are kept."""
        resolved = resolve_rules(all_rules(), dict(settings.rules))
        with self._lock:
            if roots is not None:
                self.roots = tuple(roots)
            self.settings = settings
            self.workspace = Workspace(self.roots, settings.exclude)
            self._rules = resolved
            self._rule_options = RuleOptions(
                max_complexity=settings.max_complexity,
                complexity_counting=ComplexityCounting(settings.complexity_counting),
            )
        if resolved.unknown:
            log.info("unknown rule ids in the 'rules' setting: %s", ", ".join(resolved.unknown))

    @property
    def unknown_rule_keys(self) -> tuple[str, ...]:
        return self._rules.unknown

    @property
    def max_file_bytes(self) -> int:
        return int(self.settings.max_file_size_mb * 1_000_000)

    @staticmethod
    def rule_infos() -> tuple[RuleInfo, ...]:
        return rule_infos()

    # --- analysis ----------------------------------------------------------------------------------

    def analyze_document(self, document: ParsedDocument) -> tuple[Finding, ...]:
        """Run every active rule; a rule that fails is logged and skipped, never fatal."""
        rules = self._rules
        context = RuleContext(document, self._rule_options)
        findings: list[Finding] = []
        for rule, severity in rules.active:
            if document.language not in rule.info.languages:
                continue
            try:
                produced = list(rule.check(context))
            except Exception:
                log.exception("rule %s failed on %s; its findings are left out", rule.info.id, document.path)
                continue
            chosen_by_user = rule.info.id in rules.chosen
            for finding in produced:
                shown = severity
                if finding.confidence < LOW_CONFIDENCE and not chosen_by_user:
                    shown = Severity.HINT  # a finding a maintainer may well disagree with: a hint
                findings.append(finding if finding.severity is shown else _with_severity(finding, shown))
        kept = [f for f in findings if not is_suppressed(document, f, _RULE_NAMES.get(f.rule_id))]
        kept = keep_most_specific(document, kept)
        kept.sort(key=Finding.sort_key)
        return tuple(kept)

    def analyze_text(
        self, path: str, text: str, language: Language | None = None, version: int | None = None
    ) -> FileAnalysis:
        language = language or language_for_path(path)
        if language is None:
            return FileAnalysis(
                path, skipped=FileSkipped(path, SkipReason.UNSUPPORTED_LANGUAGE, "not a supported language")
            )
        skipped = check_text_limits(path, text, self.max_file_bytes)
        if skipped is not None:
            return FileAnalysis(path, skipped=skipped, version=version)
        document = ParsedDocument.parse(path, text, language, version)
        return self._analysis_of(document)

    def analyze_file(self, path: Path) -> FileAnalysis:
        text = self.workspace.read_text(path, self.max_file_bytes)
        if isinstance(text, FileSkipped):
            return FileAnalysis(str(path), skipped=text)
        return self.analyze_text(str(path), text)

    def analyze_paths(self, paths: Iterable[Path] | None = None) -> Iterator[FileAnalysis]:
        """Every supported source file under `paths` (default: the workspace roots)."""
        for path in self.workspace.iter_source_files(paths):
            yield self.analyze_file(path)

    def _analysis_of(self, document: ParsedDocument) -> FileAnalysis:
        return FileAnalysis(
            document.path,
            self.analyze_document(document),
            version=document.version,
            has_syntax_errors=document.has_syntax_errors,
        )

    # --- open documents (the editor's view of files, which may differ from disk) ------------------

    def open_document(
        self, uri: str, path: str, text: str, version: int | None, language_id: str | None = None
    ) -> OpenDocument:
        document = self.snapshot(uri, path, text, version, language_id)
        with self._lock:
            self._documents[uri] = document
        return document

    def snapshot(
        self, uri: str, path: str, text: str, version: int | None = None, language_id: str | None = None
    ) -> OpenDocument:
        """A document parsed (or skipped) as if opened, without keeping it: a file read from disk."""
        document = OpenDocument(uri, path, language_for_id(language_id, path), version, None, None, text)
        self._reparse(document, None, version)
        return document

    def change_document(self, uri: str, changes: Sequence[ContentChange], version: int | None) -> OpenDocument:
        """Apply LSP content changes; the syntax tree is updated incrementally where possible."""
        with self._lock:
            document = self._documents.get(uri)
        if document is None:
            raise KeyError(f"document is not open: {uri}")
        if document.desynced:
            whole = [i for i, change in enumerate(changes) if change.span is None]
            if not whole:
                document.version = version
                return document  # edits to a text we never received cannot be applied
            document.desynced = False
            document.text = changes[whole[-1]].text
            document.parsed = None
            changes = changes[whole[-1] + 1 :]
        self._reparse(document, changes, version)
        return document

    def mark_oversized(self, uri: str, path: str, detail: str) -> OpenDocument:
        """The client sent this document in a message too large to receive: skip it until the client
        sends its whole text again (reopen or full sync)."""
        with self._lock:
            document = self._documents.get(uri)
            if document is None:
                document = OpenDocument(uri, path, language_for_path(path), None, None, None, "")
                self._documents[uri] = document
        document.text = ""
        document.parsed = None
        document.desynced = True
        document.skipped = FileSkipped(path, SkipReason.TOO_LARGE, detail)
        return document

    def close_document(self, uri: str) -> None:
        with self._lock:
            self._documents.pop(uri, None)

    def open_uris(self) -> list[str]:
        with self._lock:
            return list(self._documents)

    def get_document(self, uri: str) -> OpenDocument | None:
        with self._lock:
            return self._documents.get(uri)

    def analyze_open_document(self, uri: str) -> FileAnalysis | None:
        document = self.get_document(uri)
        if document is None:
            return None
        return self.analyze_snapshot(document)

    def analyze_snapshot(self, document: OpenDocument) -> FileAnalysis:
        if document.skipped is not None:
            return FileAnalysis(document.path, skipped=document.skipped, version=document.version)
        if document.parsed is None:
            reason = FileSkipped(document.path, SkipReason.UNSUPPORTED_LANGUAGE, "not a supported language")
            return FileAnalysis(document.path, skipped=reason, version=document.version)
        return self._analysis_of(document.parsed)

    def _reparse(
        self, document: OpenDocument, changes: Sequence[ContentChange] | None, version: int | None = None
    ) -> None:
        edited: ParsedDocument | None = None
        if changes is not None:
            if document.parsed is not None:
                edited = document.parsed.edited(changes, version)
                document.text = edited.text
            else:
                document.text = apply_content_changes(SourceText(document.text), changes).text
            document.version = version
        if document.desynced:
            return
        document.skipped = check_text_limits(document.path, document.text, self.max_file_bytes)
        if document.skipped is not None or document.language is None:
            document.parsed = None
        elif edited is not None:
            document.parsed = edited
        else:
            document.parsed = ParsedDocument.parse(document.path, document.text, document.language, document.version)


def _with_severity(finding: Finding, severity: Severity) -> Finding:
    return replace(finding, severity=severity)
