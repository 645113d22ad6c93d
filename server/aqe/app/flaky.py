"""Flaky tests for both front doors: the configured history, ingesting JUnit reports, the verdicts
(with the knowledge base's similar failure patterns where the index can give them) and the prompt
that asks the model to explain one. `aqe flaky ...` and the editor's warnings are computed here, so
they cannot disagree."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aqe.app.project import Project
from aqe.flaky.analysis import SimilarFailures, TestVerdict, analyze
from aqe.flaky.classify import TieBreaker
from aqe.flaky.explain import explanation_prompt
from aqe.flaky.history import HistoryStore
from aqe.flaky.history_url import open_history
from aqe.flaky.identity import TestIdentity, TestSources, code_version
from aqe.flaky.runs import FlakyRunner, expand_patterns, ingest_reports
from aqe.llm.types import Prompt

Ingested = tuple[list[tuple[Path, int, bool]], list[str]]
"""(path, results added, already known) per report, and the problems met."""


def open_project_history(project: Project, *, local: bool = False, patience_s: float = 30.0) -> HistoryStore:
    """The project's history: the team's database (flakyHistoryUrl) unless `local`, else its own file.
    Raises HistoryError with a message fit to show (no password)."""
    url = None if local else project.settings.flaky_history_url
    return open_history(project.root, project.settings.index_dir, url, patience_s=patience_s)


@dataclass(frozen=True)
class FlakyService:
    project: Project
    history: HistoryStore
    similar_failures: SimilarFailures | None = None
    tie_breaker: TieBreaker | None = None
    """Asked only when the evidence ties two causes; its choice is labelled as the model's."""

    def code_version(self) -> str | None:
        """The code the reports ran against; git is read only in a trusted project."""
        return code_version(self.project.root, trusted=self.project.trusted)

    def configured_reports(self) -> list[Path]:
        """The reports the `junitPaths` setting names (a CI job's output, a local run's)."""
        return expand_patterns(self.project.root, self.project.settings.junit_paths)

    def ingest(self, reports: Sequence[Path], version: str | None = None) -> Ingested:
        """Add reports to the history (each counted once, however often it is ingested)."""
        if not reports:
            return [], []
        chosen = version if version is not None else self.code_version()
        return ingest_reports(self.history, self.project.root, [Path(p).resolve() for p in reports], chosen)

    def verdicts(self) -> list[TestVerdict]:
        settings = self.project.settings
        band = (settings.flaky_score_min, settings.flaky_score_max)
        return analyze(
            self.history.rows(),
            self.project.root,
            band,
            similar_failures=self.similar_failures,
            tie_breaker=self.tie_breaker,
        )

    def explanation_prompt(self, verdict: TestVerdict) -> Prompt:
        """What the model is asked about one flaky test: its evidence, failures and source."""
        score = verdict.score
        identity = TestIdentity(score.test_id, score.file, score.name, score.class_name)
        return explanation_prompt(verdict, TestSources(self.project.root).context_source(identity))

    def runner(self, progress=None) -> FlakyRunner:  # type: ignore[no-untyped-def]
        """Reruns of the project's tests in the sandbox, recorded in this history."""
        limits = self.project.sandbox_limits()
        return FlakyRunner(
            self.project.root,
            self.project.sandbox_runner(),
            self.history,
            self.project.test_python(),
            timeout_s=limits.timeout_s,
            memory_bytes=limits.memory_bytes,
            allow_network=limits.allow_network,
            progress=progress,
        )
