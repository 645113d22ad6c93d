"""Learning for both front doors: the team's learned standards and mined conventions per workspace
folder, the filter that hides what the team does not want, and show / export / import / reset.

The editor and `aqe analyze` / `aqe state` call this one service, so a rule the team rejected is hidden
the same way in both, and a convention finding is computed in one place. The learned state is folded
again from the feedback log after every event (aqe.learning.state): cheap, and never out of step.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aqe.durable import atomic_write_bytes
from aqe.engine import Engine, OpenDocument
from aqe.findings import Finding, FindingSource
from aqe.learning.events import ACCEPT, RESET, RETRACT, FeedbackEvent
from aqe.learning.filtering import ExampleRetriever, FindingFilter, LearningSettings, area_of
from aqe.learning.implicit import Seen, fixed_by_hand, seen_findings
from aqe.learning.standards import PRIOR_MEAN, Standards, SubjectRecord
from aqe.learning.state import LearningStore, StateFile, StateFileError, export_json, summary
from aqe.parsing.languages import Language
from aqe.review.conventions import WorkspaceConventions, deviations
from aqe.review.suppression import is_suppressed

log = logging.getLogger(__name__)

SNIPPET_LINES = 12


@dataclass
class RootLearning:
    """What was learned in one workspace folder (recomputed from its log; mutable under the lock)."""

    store: LearningStore
    state: StateFile = field(default_factory=StateFile)
    filter: FindingFilter | None = None
    examples: ExampleRetriever | None = None
    events: int = 0
    error: str | None = None


@dataclass(frozen=True)
class SubjectVerdict:
    """Where one rule or convention stands after the feedback so far, in one area of the code."""

    subject: str
    accepted: float
    rejected: float
    shown: bool
    acceptance: float = PRIOR_MEAN
    rejections_to_hide: int | None = None
    """How many more rejections (in this area) would hide it; None when hidden or more than a few."""


@dataclass(frozen=True)
class RecordedFeedback:
    """One recorded accept / reject / suppress: its event (which an undo withdraws) and what it changed."""

    event_id: str
    kind: str
    before: SubjectVerdict
    after: SubjectVerdict


@dataclass(frozen=True)
class ImportOutcome:
    """What an import added: the other teams' names and subjects, and whether this project's own
    counts in the file were skipped (the log already has them)."""

    path: Path
    origins: tuple[str, ...]
    taken: tuple[str, ...]
    subjects: int
    skipped_own: bool


class LearningService:
    """One per workspace (the engine's roots and settings); safe to call from worker threads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._roots: dict[Path, RootLearning] = {}
        self._conventions: dict[Path, WorkspaceConventions] = {}
        self._seen: dict[str, tuple[int | None, dict[Seen, Finding]]] = {}
        self._lock = threading.RLock()

    @classmethod
    def for_folder(cls, root: Path, engine: Engine | None = None) -> LearningService:
        """The command line's service: one folder with its project settings."""
        from aqe.app.project import Project

        return cls(engine or Engine(Project.load(root).settings, [root]))

    @property
    def settings(self) -> LearningSettings:
        return LearningSettings.of(self.engine.settings)

    @property
    def roots(self) -> tuple[Path, ...]:
        return self.engine.roots

    # --- the learned state per workspace folder -----------------------------------------------------

    def root_state(self, root: Path) -> RootLearning:
        with self._lock:
            state = self._roots.get(root)
            if state is None or state.store.folder != root / self.engine.settings.index_dir:
                state = RootLearning(LearningStore(root, self.engine.settings.index_dir))
                self._roots[root] = state
                self._recompute(state)
            return state

    def recompute(self, root: Path) -> None:
        with self._lock:
            self._recompute(self.root_state(root))

    def recompute_all(self) -> None:
        """After settings changed (threshold, prior strength, index folder) or the log was edited."""
        with self._lock:
            for state in self._roots.values():
                self._recompute(state)

    def _recompute(self, state: RootLearning) -> None:
        try:
            computed = state.store.compute()
            state.error = None
        except (OSError, StateFileError) as error:
            log.warning("the learned state of %s could not be read: %s; nothing is hidden", state.store.root, error)
            computed, state.error = StateFile(), str(error)
        state.state = computed
        state.events = sum(origin.events for origin in computed.origins)
        state.filter = FindingFilter(computed, self.settings)
        state.examples = ExampleRetriever(computed.examples)

    def locate(self, path: str | Path) -> tuple[Path, str] | None:
        """The workspace folder holding `path` and the path relative to it (None outside them)."""
        root = self.engine.workspace.root_of(Path(path))
        if root is None:
            return None
        return root, Path(path).resolve().relative_to(root).as_posix()

    def verdict(self, root: Path, subject: str, relative: str) -> SubjectVerdict:
        filter_ = self.root_state(root).filter
        if filter_ is None:
            return SubjectVerdict(subject, 0, 0, True)
        standards, area = filter_.standards, area_of(relative)
        record = standards.records.get(subject)
        estimate = standards.estimate(subject, area)
        counts = (record.total.accepted, record.total.rejected) if record is not None else (0.0, 0.0)
        return SubjectVerdict(
            subject, *counts, estimate.shown, estimate.acceptance, _rejections_to_hide(standards, subject, area)
        )

    # --- conventions --------------------------------------------------------------------------------

    def mine_conventions(self, root: Path) -> int:
        """Read the folder's Python files (blocking) and keep its convention profile; returns the number
        of strong conventions. Until a folder is mined it has no convention findings."""
        settings = self.engine.settings
        miner = WorkspaceConventions(root, self.engine.workspace)
        files = miner.scan()
        with self._lock:
            self._conventions[root] = miner
        log.info("conventions of %s: mined %d Python files", root, files)
        return len(miner.profile.strong(settings.convention_min_support, settings.convention_min_samples))

    def forget_conventions(self) -> None:
        with self._lock:
            self._conventions.clear()

    def conventions_json(self, root: Path) -> list[dict[str, Any]]:
        with self._lock:
            miner = self._conventions.get(root)
            return miner.profile.to_json() if miner is not None else []

    def convention_findings(self, document: OpenDocument) -> list[Finding]:
        """Deviations from strong conventions in a Python document (its current text, which joins the
        profile in place of what was mined from disk)."""
        settings = self.engine.settings
        if not settings.conventions_enabled or document.language is not Language.PYTHON or document.parsed is None:
            return []
        located = self.locate(document.path)
        if located is None:
            return []
        root, relative = located
        with self._lock:
            miner = self._conventions.get(root)
            if miner is None:
                return []
            observations = miner.update(root / relative, document.text, document.parsed)
            profile = miner.profile
        found = deviations(
            profile,
            document.path,
            observations,
            min_share=settings.convention_min_support,
            min_samples=settings.convention_min_samples,
        )
        return [finding for finding in found if not is_suppressed(document.parsed, finding)]

    # --- the learned filter -------------------------------------------------------------------------

    def keep(self, document: OpenDocument, findings: Sequence[Finding], *, watch: str | None = None) -> list[Finding]:
        """The findings the team's learned standards still show. With `watch` (an open document's key),
        findings that disappeared since its previous version without a fix are recorded as fixed by hand."""
        located = self.locate(document.path)
        if located is None:
            return list(findings)
        root, relative = located
        if watch is not None and self.engine.settings.learning_enabled:
            self._notice_fixed_by_hand(watch, root, relative, document, findings)
        rules = self.root_state(root).filter
        if rules is None:
            return list(findings)
        return rules.keep(findings, relative, lambda finding: snippet_of(document.text, finding))

    def _notice_fixed_by_hand(
        self, key: str, root: Path, relative: str, document: OpenDocument, findings: Sequence[Finding]
    ) -> None:
        if document.parsed is None:
            return
        seen = seen_findings(document.parsed, findings)
        with self._lock:
            previous = self._seen.get(key)
            if previous is not None and not _newer(document.version, previous[0]):
                return  # an older or repeated analysis: nothing changed since
            self._seen[key] = (document.version, seen)
        if previous is None:
            return
        fixed = fixed_by_hand(previous[1], seen, document.parsed)
        if not fixed:
            return
        for finding in fixed:
            details = {
                "source": finding.source.value, "path": relative, "line": finding.span.start.line,
                "area": area_of(relative), "message": finding.message[:500], "action": "fixedByHand",
            }  # fmt: skip
            self.record_event(root, FeedbackEvent(ACCEPT, finding.rule_id, details))

    def stop_watching(self, key: str) -> None:
        with self._lock:
            self._seen.pop(key, None)

    # --- feedback -----------------------------------------------------------------------------------

    def record_event(self, root: Path, event: FeedbackEvent) -> None:
        """Append to the folder's log and fold the state again (blocking: call it from a worker)."""
        state = self.root_state(root)
        state.store.log.record(event)
        with self._lock:
            self._recompute(state)

    def record_feedback(
        self,
        root: Path,
        relative: str,
        finding: Finding,
        kind: str,
        *,
        snippet: str = "",
        fix: tuple[str, str] = ("", ""),
    ) -> RecordedFeedback:
        """Record an accept / reject / suppress of a finding, and where its subject stood before and after."""
        details: dict[str, Any] = {
            "source": finding.source.value,
            "path": relative,
            "line": finding.span.start.line,
            "area": area_of(relative),
            "message": finding.message[:500],
        }
        if finding.source is FindingSource.MODEL:
            details["snippet"] = snippet
            details["confidence"] = finding.confidence
        if kind == ACCEPT and any(fix):
            details["fix"] = {"before": fix[0], "after": fix[1]}
        before = self.verdict(root, finding.rule_id, relative)
        event = FeedbackEvent(kind, finding.rule_id, details)
        self.record_event(root, event)
        return RecordedFeedback(event.id, kind, before, self.verdict(root, finding.rule_id, relative))

    def retract(self, root: Path, recorded: RecordedFeedback, relative: str) -> SubjectVerdict:
        """Undo one recorded feedback: the log gets a retraction, and the subject stands as before it."""
        subject = recorded.after.subject
        self.record_event(root, FeedbackEvent(RETRACT, subject, {"event": recorded.event_id, "action": "undo"}))
        return self.verdict(root, subject, relative)

    def reset(self, subject: str, roots: Iterable[Path] | None = None, *, action: str = "resetLearned") -> str:
        """Forget what was learned about one rule or convention (an event, so the log stays the truth)."""
        subject = subject.strip()
        if not subject:
            raise ValueError("name a rule or convention to reset, e.g. QE205")
        for root in self.roots if roots is None else roots:
            self.record_event(root, FeedbackEvent(RESET, subject, {"action": action}))
        return subject

    # --- show, export, import -----------------------------------------------------------------------

    def subjects(self, root: Path) -> list[dict[str, Any]]:
        """Each rule and convention with its counts, estimate and verdict (aqe.learning.state.summary)."""
        filter_ = self.root_state(root).filter
        return summary(filter_.standards) if filter_ is not None else []

    def learned(self) -> dict[str, Any]:
        """What was learned in every folder, with the evidence behind each verdict."""
        settings = self.settings
        folders = []
        for root in self.roots:
            state = self.root_state(root)
            rows = self.subjects(root)
            for row in rows:
                row["evidence"] = (
                    f"{row['accepted']:g} accepted, {row['rejected']:g} rejected, {row['suppressed']} ignored here: "
                    f"estimated acceptance {row['estimatedAcceptance']:.2f} "
                    f"({'shown' if row['shown'] else 'hidden'}, threshold {settings.threshold})"
                )
            folders.append(
                {
                    "root": str(root),
                    "events": state.events,
                    "subjects": rows,
                    "hidden": [row["subject"] for row in rows if not row["shown"]],
                    "conventions": self.conventions_json(root),
                    "examples": len(state.state.examples),
                    "rejectedModelFindings": len(state.state.rejected),
                    "importedFrom": [o.name or o.id for o in state.state.origins if o.imported_at is not None],
                    "error": state.error,
                }
            )
        return {
            "learningEnabled": settings.enabled,
            "qualityThreshold": settings.threshold,
            "ewcLambda": settings.prior_strength,
            "folders": folders,
        }

    def export_text(self, root: Path, *, examples: bool = True) -> str:
        """The folder's learned state as versioned JSON. Raises OSError, StateFileError."""
        settings = self.settings
        state = self.root_state(root)
        if state.error is not None:
            raise StateFileError(state.error)
        return export_json(state.state, prior_strength=settings.prior_strength, threshold=settings.threshold,
                           examples=examples)  # fmt: skip

    def export_to(self, root: Path, target: Path, *, examples: bool = True) -> dict[str, Any]:
        text = self.export_text(root, examples=examples)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, text.encode("utf-8"))
        state = self.root_state(root).state
        return {"path": str(target), "subjects": len(state.records()), "examples": len(state.examples)}

    def import_from(self, root: Path, source: Path) -> ImportOutcome:
        """Add another team's exported (or merged) state. Raises StateFileError, OSError."""
        incoming = StateFile.read(source)
        state = self.root_state(root)
        state.store.import_file(incoming)
        with self._lock:
            self._recompute(state)
        own = state.store.origin_id()
        taken = [origin for origin in incoming.origins if origin.id != own]
        return ImportOutcome(
            path=source,
            origins=tuple(o.name or o.id for o in incoming.origins),
            taken=tuple(o.name or o.id for o in taken),
            subjects=len({subject for origin in taken for subject in origin.records}),
            skipped_own=len(taken) < len(incoming.origins),
        )


def snippet_of(text: str, finding: Finding) -> str:
    """The lines of a finding (at most a dozen): what a model finding is compared by, and logged with."""
    lines = text.splitlines()
    start = min(finding.span.start.line, len(lines))
    end = min(max(finding.span.end.line, start) + 1, start + SNIPPET_LINES, len(lines))
    return "\n".join(lines[start:end])


def _newer(version: int | None, than: int | None) -> bool:
    return version is None or than is None or version > than


def _rejections_to_hide(standards: Standards, subject: str, area: str, most: int = 5) -> int | None:
    """Rejections still needed (in `area`) before the subject is hidden: what the next clicks will do."""
    if not standards.estimate(subject, area).shown:
        return None
    record = standards.records.get(subject)
    trial = record.copy() if record is not None else SubjectRecord(subject)
    for needed in range(1, most + 1):
        trial.total.rejected += 1
        trial.area(area).rejected += 1
        what_if = Standards(
            {subject: trial},
            prior_strength=standards.prior_strength,
            threshold=standards.threshold,
            prior_mean=standards.prior_mean,
        )
        if not what_if.estimate(subject, area).shown:
            return needed
    return None
