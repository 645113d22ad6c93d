"""Applying what was learned: which findings are still shown, and which accepted fixes to show the
model as examples.

A finding of a rule, convention or model cluster is hidden when its estimated acceptance (in its
area: test files or other code) is under `qualityThreshold`. A model finding is also hidden when its
own confidence is under the threshold, or when it reads like a model finding someone already rejected
(cosine similarity of the code-aware hashing embedding at or above `rejectedSimilarity`). Coverage and
flaky-test findings report facts, not standards, and are never hidden here.

The embedder is the index's hashing embedder: no model, deterministic, fast enough to embed every
new model finding at once; the rejected ones are embedded once per state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from aqe.findings import Finding, FindingSource
from aqe.index.embedders import HashingCodeEmbedder
from aqe.learning.standards import Standards
from aqe.learning.state import RejectedFinding, ReviewExample, StateFile
from aqe.parsing.units import is_test_file

LEARNED_SOURCES = (FindingSource.RULE, FindingSource.CONVENTION, FindingSource.MODEL)
EMBEDDING_DIM = 512


@dataclass(frozen=True)
class LearningSettings:
    enabled: bool
    threshold: float
    prior_strength: float
    similarity: float

    @classmethod
    def of(cls, settings: object) -> LearningSettings:
        return cls(
            enabled=bool(getattr(settings, "learning_enabled", True)),
            threshold=float(getattr(settings, "quality_threshold", 0.7)),
            prior_strength=float(getattr(settings, "ewc_lambda", 4.0)),
            similarity=float(getattr(settings, "rejected_similarity", 0.85)),
        )


@dataclass(frozen=True)
class Decision:
    shown: bool
    reason: str
    """Why not, when hidden ("2 accepted, 9 rejected: estimated acceptance 0.31 < 0.7")."""


def area_of(relative_path: str) -> str:
    return "tests" if is_test_file(relative_path) else "code"


def finding_text(finding: Finding, snippet: str) -> str:
    return f"{finding.rule_id}\n{finding.message}\n{snippet}"


class FindingFilter:
    def __init__(self, state: StateFile, settings: LearningSettings, embedder: HashingCodeEmbedder | None = None):
        self.settings = settings
        self.standards = Standards(
            state.records(), prior_strength=settings.prior_strength, threshold=settings.threshold
        )
        self.embedder = embedder or HashingCodeEmbedder(EMBEDDING_DIM)
        self._rejected: dict[str, np.ndarray] = {}
        if settings.enabled:
            by_subject: dict[str, list[RejectedFinding]] = {}
            for item in state.rejected:
                by_subject.setdefault(item.subject, []).append(item)
            for subject, items in by_subject.items():
                self._rejected[subject] = self.embedder.embed([item.text for item in items])

    def decide(self, finding: Finding, relative_path: str, snippet: str = "") -> Decision:
        settings = self.settings
        if finding.source not in LEARNED_SOURCES:
            return Decision(True, "")
        if finding.source is FindingSource.MODEL and finding.confidence < settings.threshold:
            return Decision(False, f"model confidence {finding.confidence:.2f} < {settings.threshold}")
        if not settings.enabled:
            return Decision(True, "")
        estimate = self.standards.estimate(finding.rule_id, area_of(relative_path))
        if not estimate.shown:
            record = self.standards.records[finding.rule_id]
            return Decision(
                False,
                f"{record.total.accepted:g} accepted, {record.total.rejected:g} rejected: estimated acceptance "
                f"{estimate.acceptance:.2f} < {settings.threshold}",
            )
        if finding.source is FindingSource.MODEL:
            rejected = self._rejected.get(finding.rule_id)
            if rejected is not None and len(rejected):
                vector = self.embedder.embed([finding_text(finding, snippet)])[0]
                similarity = float(np.max(rejected @ vector))
                if similarity >= settings.similarity:
                    return Decision(False, f"similar ({similarity:.2f}) to a model finding that was rejected")
        return Decision(True, "")

    def keep(
        self, findings: Sequence[Finding], relative_path: str, snippet_of: Callable[[Finding], str]
    ) -> list[Finding]:
        """The findings still shown; `snippet_of` gives a model finding's code (for the similarity check)."""
        kept = []
        for finding in findings:
            snippet = snippet_of(finding) if finding.source is FindingSource.MODEL else ""
            if self.decide(finding, relative_path, snippet).shown:
                kept.append(finding)
        return kept


class ExampleRetriever:
    """The accepted fixes most similar to some code, for the model review prompt."""

    def __init__(self, examples: Sequence[ReviewExample], embedder: HashingCodeEmbedder | None = None) -> None:
        self.examples = list(examples)
        self.embedder = embedder or HashingCodeEmbedder(EMBEDDING_DIM)
        self._vectors = self.embedder.embed([f"{e.message}\n{e.before}" for e in self.examples]) if examples else None

    def similar(self, code: str, k: int = 2, min_similarity: float = 0.2) -> list[ReviewExample]:
        if self._vectors is None or not len(self.examples):
            return []
        scores = self._vectors @ self.embedder.embed([code])[0]
        order = np.argsort(-scores)[:k]
        return [self.examples[i] for i in order if scores[i] >= min_similarity]
