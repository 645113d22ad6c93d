"""Test generation for both front doors: build the generator, prove a test, record what became of it.

The editor applies the edit through the client and watches for an undo or an edit; the command line
writes the file with --write. Both record the outcome here, in the same feedback log with the same
details, so the learning features see tests accepted from either door.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from aqe.app.project import Project
from aqe.learning.events import FeedbackEvent
from aqe.llm.types import CancelToken, Completion, CompletionOptions, Prompt
from aqe.testgen.generate import GenerationResult, TestGenerator
from aqe.testgen.target import TestTarget

Complete = Callable[[Prompt, CompletionOptions, CancelToken], Completion]
SimilarTests = Callable[[TestTarget], list[str]]
Outcome = Literal["apply", "reject", "undo", "edit"]
FrontDoor = Literal["editor", "cli"]


@dataclass(frozen=True)
class TestGenerationService:
    """One project's test generation; `complete` is the front door's way to the model (the server's
    queue, or the router in a command), `similar_tests` its way to the index."""

    __test__ = False  # a name pytest would otherwise try to collect

    project: Project
    complete: Complete | None = None
    similar_tests: SimilarTests | None = None

    def generate(
        self,
        target: TestTarget,
        text: str,
        *,
        progress: Callable[[str], None] | None = None,
        cancel: CancelToken | None = None,
        use_model: bool = True,
    ) -> GenerationResult:
        """Prove a test for `target` (blocking: call it off the event loop)."""
        settings = self.project.settings
        wants_model = use_model and settings.test_generation_candidates > 0
        generator = TestGenerator(
            self.project.root,
            settings,
            self.project.sandbox_runner(),
            complete=self.complete if wants_model else None,
            similar_tests=self.similar_tests,
            progress=progress,
            cancel=cancel,
        )
        return generator.generate(target, text)

    def record_outcome(self, result: GenerationResult, outcome: Outcome, via: FrontDoor) -> None:
        """A proven test was applied (or refused) by the user through `via`."""
        proven = result.proven
        if proven is None:
            return
        details: dict[str, Any] = {
            "target": result.target.qualified_name,
            "file": proven.edit.path,
            "generator": proven.candidate.generator,
            "arcsGained": proven.arcs_after - proven.arcs_before,
            "linesGained": list(proven.lines_gained),
            "repaired": proven.repaired,
            "seconds": round(result.seconds, 2),
            "via": via,
        }
        self.project.feedback_log().record(FeedbackEvent(outcome, "testgen", details))

    def record_change(self, target: str, tests: tuple[str, ...], outcome: Outcome) -> None:
        """An accepted test was later undone or edited by hand (the editor sees this)."""
        self.project.feedback_log().record(FeedbackEvent(outcome, "testgen", {"target": target, "tests": list(tests)}))
