"""Test generation for both front doors: build the generator, prove a test, record what became of it.

The editor applies the edit through the client and watches for an undo or an edit; the command line
writes the file with --write. Both record the outcome here, in the same feedback log with the same
details, so the learning features see tests accepted from either door.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from aqe.app.project import Project, ProjectInterpreter
from aqe.learning.events import FeedbackEvent
from aqe.llm.types import CancelToken, Completion, CompletionOptions, Prompt
from aqe.testgen.generate import GenerationResult, TestGenerator
from aqe.testgen.target import TestTarget

Complete = Callable[[Prompt, CompletionOptions, CancelToken], Completion]
SimilarTests = Callable[[TestTarget], list[str]]
Outcome = Literal["apply", "reject", "undo", "edit"]
FrontDoor = Literal["editor", "cli"]

_MISSING_MODULE = re.compile(r"No module named '([^']+)'")
CHOOSE_INTERPRETER = (
    "choose the project's interpreter: select it in your editor's Python extension, set projectPython "
    "(`aqe generate --python PATH` on the command line), or create the project's .venv"
)


def explain_import_failure(reason: str, interpreter: ProjectInterpreter) -> str:
    """A failed import is nearly always the wrong interpreter: say which one ran, what it lacked and how
    to choose another, instead of a bare ModuleNotFoundError."""
    missing = _MISSING_MODULE.search(reason)
    if missing is None and "ImportError" not in reason:
        return reason
    lacked = f"it has no module {missing.group(1)!r}" if missing else "an import failed"
    return f"{reason}. The tests ran with {interpreter.describe()} and {lacked}: {CHOOSE_INTERPRETER}"


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
        interpreter = self.project.test_interpreter()
        generator = TestGenerator(
            self.project.root,
            settings,
            self.project.sandbox_runner(),
            complete=self.complete if wants_model else None,
            similar_tests=self.similar_tests,
            progress=progress,
            cancel=cancel,
            python=interpreter.path,
        )
        result = generator.generate(target, text)
        if result.reason is None:
            return result
        return replace(result, reason=explain_import_failure(result.reason, interpreter))

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
