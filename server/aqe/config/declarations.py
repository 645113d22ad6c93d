"""`Settings`: every setting, declared as a dataclass field with its default and metadata (the rest of
the table after aqe.config.core_settings). Everything else (validation, loading, the schema, the docs
table) is read from these declarations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aqe.config.core_settings import CoreSettings
from aqe.config.fields import _COVERAGE, _FLAKY, _LEARNING, _SANDBOX, _TESTGEN, Scope, _meta


@dataclass(frozen=True)
class Settings(CoreSettings):
    """Every setting, flat; snake_case here, camelCase (`max_complexity` -> `maxComplexity`) outside."""

    learning_enabled: bool = field(
        default=True,
        metadata=_meta(
            "Learn the team's standards from accepted and rejected findings: a rule, convention or model-finding "
            "cluster whose estimated acceptance falls under qualityThreshold is no longer shown, model findings too "
            "similar to rejected ones are hidden, and accepted fixes become examples for model review.",
            _LEARNING,
            implemented=True,
        ),
    )
    quality_threshold: float = field(
        default=0.7,
        metadata=_meta(
            "Findings whose estimated acceptance (or, for model findings, whose model confidence) is below this are "
            "not shown.",
            _LEARNING,
            minimum=0,
            maximum=1,
            implemented=True,
        ),
    )
    ewc_lambda: float = field(
        default=4.0,
        metadata=_meta(
            "Strength of the prior, in pseudo-observations, that keeps one rejection from erasing a "
            "long record of acceptances.",
            _LEARNING,
            minimum=0,
            implemented=True,
        ),
    )
    rejected_similarity: float = field(
        default=0.85,
        metadata=_meta(
            "A model finding at least this similar (cosine of the hashing embedding of its message and code) to one "
            "that was rejected is not shown.",
            _LEARNING,
            minimum=0,
            maximum=1,
            implemented=True,
        ),
    )
    conventions_enabled: bool = field(
        default=True,
        metadata=_meta(
            "Mine the team's conventions from the workspace (naming, test layout and framework, assertion and set-up "
            "style, docstrings, error handling, imports) and report places that break a strong one.",
            _LEARNING,
            implemented=True,
        ),
    )
    convention_min_support: float = field(
        default=0.9,
        metadata=_meta(
            "Share of places that must follow a convention's leading option before a deviation is reported.",
            _LEARNING,
            minimum=0.5,
            maximum=1,
            implemented=True,
        ),
    )
    convention_min_samples: int = field(
        default=8,
        metadata=_meta(
            "Places a convention must be seen in before a deviation from it is reported.",
            _LEARNING,
            minimum=2,
            maximum=100_000,
            implemented=True,
        ),
    )
    model_review: bool = field(
        default=False,
        metadata=_meta(
            "After a save, ask the model to review the functions that changed (in the background, after interactive "
            "work), with the team's rules and accepted examples as context. Off by default: the bundled 270M model's "
            "review precision is low (docs/benchmarks.md); worth it with a larger local model.",
            _LEARNING,
            implemented=True,
        ),
    )
    model_review_debounce_ms: int = field(
        default=1500,
        metadata=_meta(
            "Quiet time after the last save before the model reviews the changed functions.",
            _LEARNING,
            minimum=0,
            maximum=600_000,
            implemented=True,
        ),
    )
    model_review_max_functions: int = field(
        default=4,
        metadata=_meta(
            "Most changed functions the model reviews per save (the largest changes first).",
            _LEARNING,
            minimum=1,
            maximum=100,
            implemented=True,
        ),
    )
    coverage_paths: tuple[str, ...] = field(
        default=(),
        metadata=_meta(
            "Coverage data to read (a coverage.py data file or JSON report, Cobertura XML, LCOV), glob patterns "
            "relative to the workspace root; empty looks for the usual names (.coverage, coverage.json, "
            "coverage.xml, lcov.info, coverage/lcov.info, ...). Re-read when the files change.",
            _COVERAGE,
            implemented=True,
        ),
    )
    coverage_on_save: bool = field(
        default=False,
        metadata=_meta(
            "After a Python file is saved, run the tests that import it with coverage, in the sandbox and in the "
            "background, then refresh the coverage hints.",
            _COVERAGE,
            implemented=True,
        ),
    )
    gap_threshold: float = field(
        default=0.3,
        metadata=_meta(
            "Similarity (0..1) to the closest test below which a function is reported as a semantic gap: "
            "no test appears to exercise it (`aqe coverage --gaps`, and hints in the editor).",
            _COVERAGE,
            minimum=0,
            maximum=1,
            implemented=True,
        ),
    )
    semantic_gap_hints: bool = field(
        default=False,
        metadata=_meta(
            "Show a hint on functions that no test appears to exercise (semantic gaps, from the index). "
            "Off by default: on a real project (marshmallow 3.22.0) 58 of 61 such hints named functions "
            "its own suite runs.",
            _COVERAGE,
            implemented=True,
        ),
    )
    junit_paths: tuple[str, ...] = field(
        default=(),
        metadata=_meta(
            "JUnit XML reports (glob patterns allowed, relative to the workspace root) added to the test history "
            "that flaky-test verdicts come from; each report is read once.",
            _FLAKY,
            implemented=True,
        ),
    )
    flaky_score_min: float = field(
        default=0.1,
        metadata=_meta(
            "Failure rate above which a test that also passes is reported as flaky; must be below flakyScoreMax.",
            _FLAKY,
            minimum=0,
            maximum=1,
            implemented=True,
        ),
    )
    flaky_score_max: float = field(
        default=0.9,
        metadata=_meta(
            "Failure rate above which a test is considered broken rather than flaky.",
            _FLAKY,
            minimum=0,
            maximum=1,
            implemented=True,
        ),
    )
    flaky_reruns: int = field(
        default=20,
        metadata=_meta(
            "How many times `aqe flaky run` runs each test by default (half in order, half shuffled); a test that "
            "fails in any of them then also runs a fifth as many times alone.",
            _FLAKY,
            minimum=2,
            maximum=1000,
            implemented=True,
        ),
    )
    flaky_history_url: str | None = field(
        default=None,
        metadata=_meta(
            "Where the flaky-test history lives: null keeps it in the workspace (a SQLite file under indexDir); "
            "a `postgresql://user:password@host:port/database` URL shares one history between a team's CI jobs "
            "and editors. User or CI settings only (it can carry a password, which aqe never prints).",
            _FLAKY,
            scope=Scope.USER,
            min_length=1,
            implemented=True,
        ),
    )
    sandbox_timeout_s: float = field(
        default=300.0,
        metadata=_meta(
            "Wall-clock limit for one sandboxed test run, in seconds; the whole process tree is stopped after it.",
            _SANDBOX,
            minimum=1,
            maximum=86_400,
            implemented=True,
        ),
    )
    sandbox_memory_mb: int = field(
        default=2048,
        metadata=_meta(
            "Address-space limit per sandboxed process, in megabytes (Node.js test runners may need more).",
            _SANDBOX,
            minimum=64,
            maximum=1_048_576,
            implemented=True,
        ),
    )
    sandbox_disk_mb: int = field(
        default=1024,
        metadata=_meta(
            "All a sandboxed run may write, in megabytes (its folder is a size-limited tmpfs, so this is "
            "memory while the run lasts). A workspace may only lower it.",
            _SANDBOX,
            minimum=16,
            maximum=65_536,
            implemented=True,
        ),
    )
    sandbox_allow_uncontained: bool = field(
        default=False,
        metadata=_meta(
            "Run project code even where aqe cannot contain it (neither bubblewrap nor user namespaces work "
            "here): tests and generated tests then run with your user's full access. Off, aqe says why and "
            "runs nothing.",
            _SANDBOX,
            scope=Scope.USER,
            implemented=True,
        ),
    )
    sandbox_allow_network: bool = field(
        default=False,
        metadata=_meta(
            "Let sandboxed test runs use the network. Off, they get a private loopback only (where the kernel "
            "allows user namespaces).",
            _SANDBOX,
            scope=Scope.USER,
            implemented=True,
        ),
    )
    project_python: str | None = field(
        default=None,
        metadata=_meta(
            "The Python interpreter that runs the project's tests (test generation, coverage, flaky reruns), "
            "e.g. `.venv/bin/python`; relative to the workspace root. null: the editor's interpreter for the "
            "project (VS Code's Python extension), then the project's `.venv`/`venv`, then `$VIRTUAL_ENV`, then "
            "the interpreter aqe runs in. A workspace may only choose an interpreter inside itself.",
            _SANDBOX,
            min_length=1,
            confined_to_workspace=True,
            implemented=True,
        ),
    )
    editor_python: str | None = field(
        default=None,
        metadata=_meta(
            "The interpreter the editor uses for this project, sent by the client (the VS Code extension "
            "reads the Python extension's active environment); `projectPython` wins over it.",
            _SANDBOX,
            scope=Scope.USER,
            min_length=1,
            implemented=True,
        ),
    )
    test_generation_candidates: int = field(
        default=3,
        metadata=_meta(
            'How many candidate tests the model is asked for per "Generate test" (0: only the generator '
            "that needs no model). Every candidate is run; the best proven one wins.",
            _TESTGEN,
            minimum=0,
            maximum=12,
            implemented=True,
        ),
    )
    test_generation_model_budget_s: float = field(
        default=6.0,
        metadata=_meta(
            'Seconds the model may spend writing candidates per "Generate test" (it writes while the '
            "observed calls run); a call still running then is stopped. 0: no limit.",
            _TESTGEN,
            minimum=0,
            maximum=600,
            implemented=True,
        ),
    )
    test_generation_code_lens: bool = field(
        default=False,
        metadata=_meta(
            'Show a "Generate test" code lens above functions (the code action is always offered).',
            _TESTGEN,
            implemented=True,
        ),
    )
    test_generation_mutants: bool = field(
        default=True,
        metadata=_meta(
            "Choose generated tests by the mutants of the function they kill as well as the lines they reach (one "
            'more sandbox run per "Generate test"); the result says how many mutants the test kills.',
            _TESTGEN,
            implemented=True,
        ),
    )

    def to_wire(self) -> dict[str, Any]:
        """The settings as JSON-compatible camelCase data, the shape every source accepts back."""
        from aqe.config.specs import _json_value, setting_specs

        return {spec.key: _json_value(getattr(self, spec.name)) for spec in setting_specs()}
