"""One typed `Settings` object, merged from every place a user or a project can configure aqe.

Sources, lowest precedence first: defaults, the user config file, the workspace `pyproject.toml`
`[tool.aqe]`, the client's settings (initializationOptions or a workspace/configuration result),
then `AQE_*` environment variables. Loading never raises on bad input: every problem becomes a
`SettingsIssue` and the value in force before it is kept, so a typo cannot stop the server.

Workspace sources are code the user may not have written (a cloned repository), so they cannot set
user-scoped keys (which choose what runs or where code is sent), can only make `privacyMode`
stricter, and are skipped entirely when the client says the workspace is untrusted.
"""

from __future__ import annotations

import difflib
import enum
import json
import math
import os
import re
import sys
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Literal

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

RuleSeverity = Literal["error", "warning", "info", "hint", "off"]
ShowNotifications = Literal["off", "onError", "onWarning", "always"]
ComplexityCountingName = Literal["mccabe", "extended"]
LogLevel = Literal["error", "warning", "info", "debug"]
PrivacyMode = Literal["strict", "balanced", "off"]
CloudProvider = Literal["anthropic"]
EmbeddingDim = Literal[384, 512, 768, 1024]
EmbedderName = Literal["hashing", "model"]

PRIVACY_MODES_STRICTEST_FIRST: tuple[PrivacyMode, ...] = ("strict", "balanced", "off")
_TIGHTEN_ONLY = "privacy_mode"
"""The one user-scoped setting a workspace may still change, but only towards stricter."""
_WORKSPACE_MAY_ONLY_LOWER = frozenset(
    {"sandbox_timeout_s", "sandbox_memory_mb", "sandbox_disk_mb", "fallback_threshold"}
)
"""Safety limits: a repository may tighten them (a lower value), never loosen them (a higher one)."""

SOURCE_PYPROJECT = "pyproject.toml"
SOURCE_CLIENT = "client settings"
SOURCE_CLIENT_USER = "client userSettings"
SOURCE_CLIENT_WORKSPACE = "client workspaceSettings"
SOURCE_MERGED = "merged settings"

ENV_PREFIX = "AQE_"


class Scope(str, enum.Enum):
    USER = "user"
    """Only the user's own sources (user file, client user settings, environment) may set it."""
    WORKSPACE = "workspace"
    """Any source may set it, including a repository's pyproject.toml."""


class ValueKind(str, enum.Enum):
    BOOLEAN = "boolean"
    INTEGER = "integer"
    NUMBER = "number"
    STRING = "string"
    STRING_LIST = "string list"
    STRING_MAP = "string map"


@dataclass(frozen=True)
class _Declared:
    """What a field declares beyond its type annotation; the annotation supplies type and choices."""

    doc: str
    group: str
    scope: Scope
    implemented: bool
    minimum: float | None
    maximum: float | None
    exclusive_minimum: bool
    min_length: int | None
    confined_to_workspace: bool


_META_KEY = "aqe"


def _meta(
    doc: str,
    group: str,
    *,
    implemented: bool = False,
    scope: Scope = Scope.WORKSPACE,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    min_length: int | None = None,
    confined_to_workspace: bool = False,
) -> dict[str, _Declared]:
    return {
        _META_KEY: _Declared(
            doc=doc,
            group=group,
            scope=scope,
            implemented=implemented,
            minimum=minimum,
            maximum=maximum,
            exclusive_minimum=exclusive_minimum,
            min_length=min_length,
            confined_to_workspace=confined_to_workspace,
        )
    }


_REVIEW = "Review"
_EDITOR = "Editor"
_PRIVACY = "Privacy"
_LOCAL_MODEL = "Local model"
_CLOUD = "Cloud model"
_INDEX = "Index"
_LEARNING = "Learning"
_COVERAGE = "Coverage"
_FLAKY = "Flaky tests"
_TESTGEN = "Test generation"
_SANDBOX = "Sandbox"

GROUPS: tuple[str, ...] = (
    _REVIEW, _EDITOR, _PRIVACY, _LOCAL_MODEL, _CLOUD, _INDEX, _LEARNING, _COVERAGE, _FLAKY, _TESTGEN, _SANDBOX,
)  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """Every setting, flat; snake_case here, camelCase (`max_complexity` -> `maxComplexity`) outside."""

    rules: dict[str, RuleSeverity] = field(
        default_factory=dict,
        hash=False,
        metadata=_meta(
            "Severity per rule, keyed by rule id (QE101) or name (test-without-assertion); "
            "`off` disables the rule. Merged key by key across sources.",
            _REVIEW,
            implemented=True,
        ),
    )
    max_complexity: int = field(
        default=10,
        metadata=_meta(
            "Cyclomatic complexity above which a function is reported.",
            _REVIEW,
            implemented=True,
            minimum=2,
            maximum=200,
        ),
    )
    complexity_counting: ComplexityCountingName = field(
        default="mccabe",
        metadata=_meta(
            "How QE203 counts complexity: `mccabe` as ruff's C901 and flake8 do, or `extended`, which "
            "also counts boolean operators, conditional expressions and comprehension clauses (radon).",
            _REVIEW,
            implemented=True,
        ),
    )
    max_file_size_mb: float = field(
        default=2.0,
        metadata=_meta(
            "Files larger than this many megabytes are skipped, with a notice, instead of analysed.",
            _REVIEW,
            implemented=True,
            minimum=0,
            exclusive_minimum=True,
            maximum=1024,
        ),
    )
    exclude: tuple[str, ...] = field(
        default=(),
        metadata=_meta(
            "Gitignore-style patterns of files never analysed, relative to the workspace root.",
            _REVIEW,
            implemented=True,
        ),
    )
    diagnostics_debounce_ms: int = field(
        default=300,
        metadata=_meta(
            "Quiet time after the last edit before a document is analysed again.",
            _EDITOR,
            implemented=True,
            minimum=0,
            maximum=10_000,
        ),
    )
    show_notifications: ShowNotifications = field(
        default="onError",
        metadata=_meta(
            "Which server problems pop up as notifications; everything is logged regardless.",
            _EDITOR,
            implemented=True,
        ),
    )
    log_level: LogLevel = field(
        default="info",
        metadata=_meta(
            "Least severe log record forwarded to the client's output panel.",
            _EDITOR,
            implemented=True,
        ),
    )
    code_lens: bool = field(
        default=True, metadata=_meta("Show code lenses (run test, coverage, flakiness) above units.", _EDITOR)
    )
    metrics_port: int = field(
        default=0,
        metadata=_meta(
            "TCP port of a Prometheus metrics endpoint (requests, latencies, model queue, coalesced model "
            "calls) for a long-running `aqe serve --tcp`; 0 serves none. Read when the server starts.",
            _EDITOR,
            scope=Scope.USER,
            minimum=0,
            maximum=65_535,
            implemented=True,
        ),
    )
    metrics_host: str = field(
        default="127.0.0.1",
        metadata=_meta(
            "Address the metrics endpoint listens on (0.0.0.0 in a container whose port is published).",
            _EDITOR,
            scope=Scope.USER,
            min_length=1,
            implemented=True,
        ),
    )
    privacy_mode: PrivacyMode = field(
        default="strict",
        metadata=_meta(
            "`strict`: nothing leaves the machine; `balanced`: snippets may go to the cloud model when the "
            "local one is unsure; `off`: no restriction. A workspace may make this stricter, never looser.",
            _PRIVACY,
            scope=Scope.USER,
            implemented=True,
        ),
    )
    model_path: str | None = field(
        default=None,
        metadata=_meta(
            "GGUF model file for local inference; null uses the bundled default model.",
            _LOCAL_MODEL,
            scope=Scope.USER,
            min_length=1,
            implemented=True,
        ),
    )
    model_threads: int = field(
        default=0,
        metadata=_meta(
            "CPU threads for local inference; 0 chooses automatically.",
            _LOCAL_MODEL,
            minimum=0,
            maximum=512,
            implemented=True,
        ),
    )
    context_size: int = field(
        default=4096,
        metadata=_meta(
            "Context window of the local model, in tokens.",
            _LOCAL_MODEL,
            minimum=512,
            maximum=131_072,
            implemented=True,
        ),
    )
    warm_pool_size: int = field(
        default=1,
        metadata=_meta(
            "Model instances kept loaded and ready; 0 loads on first use.",
            _LOCAL_MODEL,
            minimum=0,
            maximum=8,
            implemented=True,
        ),
    )
    batch_size: int = field(
        default=4,
        metadata=_meta(
            "Requests one local model worker decodes together in one llama.cpp batch (its slots).",
            _LOCAL_MODEL,
            minimum=1,
            maximum=64,
            implemented=True,
        ),
    )
    batch_interval_ms: int = field(
        default=50,
        metadata=_meta(
            "How long a background request may wait so that identical requests coalesce into it; "
            "interactive requests never wait.",
            _LOCAL_MODEL,
            minimum=0,
            maximum=5000,
            implemented=True,
        ),
    )
    local_server_url: str | None = field(
        default=None,
        metadata=_meta(
            "A team inference server with an OpenAI-compatible API (llama.cpp server, vLLM, Ollama) to use "
            "instead of the in-process model; counts as local only on a loopback address.",
            _LOCAL_MODEL,
            implemented=True,
            scope=Scope.USER,
            min_length=1,
        ),
    )
    local_server_model: str = field(
        default="", metadata=_meta("Model name to ask the team server for.", _LOCAL_MODEL, implemented=True)
    )
    local_server_chat: bool = field(
        default=True,
        metadata=_meta(
            "The team server runs an instruct (chat) model; false for a base model (plain completions).",
            _LOCAL_MODEL,
            implemented=True,
        ),
    )
    cloud_provider: CloudProvider = field(
        default="anthropic", metadata=_meta("Cloud model provider.", _CLOUD, implemented=True)
    )
    cloud_model: str = field(
        default="claude-sonnet-4-5", metadata=_meta("Cloud model name.", _CLOUD, min_length=1, implemented=True)
    )
    cloud_base_url: str | None = field(
        default=None,
        metadata=_meta(
            "Alternative API endpoint (a proxy or gateway); null uses the provider's own.",
            _CLOUD,
            scope=Scope.USER,
            min_length=1,
            implemented=True,
        ),
    )
    fallback_threshold: float = field(
        default=0.5,
        metadata=_meta(
            "Local-model confidence below which the cloud model is asked (when privacyMode allows).",
            _CLOUD,
            minimum=0,
            maximum=1,
            implemented=True,
        ),
    )
    index_enabled: bool = field(
        default=True,
        metadata=_meta(
            "Index the workspace (code units and the QE knowledge base) for retrieval: related tests, "
            "search, context for test generation and review.",
            _INDEX,
            implemented=True,
        ),
    )
    embedder: EmbedderName = field(
        default="hashing",
        metadata=_meta(
            "How code is turned into vectors: `hashing` (code-aware feature hashing: no model, very fast; "
            "chosen by the retrieval evaluation in docs/benchmarks.md) or `model` (pooled embeddings of a "
            "local GGUF model, see embeddingModelPath).",
            _INDEX,
            implemented=True,
        ),
    )
    embedding_model_path: str | None = field(
        default=None,
        metadata=_meta(
            "GGUF model for `embedder = model` (an embedding model such as a nomic-embed or bge GGUF); "
            "null uses the embedded default model's pooled embeddings.",
            _INDEX,
            scope=Scope.USER,
            min_length=1,
            implemented=True,
        ),
    )
    embedding_dim: EmbeddingDim = field(
        default=768,
        metadata=_meta(
            "Dimension of the hashing embedder's vectors (a model embedder has its model's own).",
            _INDEX,
            implemented=True,
        ),
    )
    hnsw_m: int = field(
        default=16,
        metadata=_meta(
            "HNSW graph degree: higher is more accurate and larger.", _INDEX, minimum=2, maximum=128, implemented=True
        ),
    )
    hnsw_ef_construction: int = field(
        default=200,
        metadata=_meta(
            "HNSW candidate list size while building the index.", _INDEX, minimum=10, maximum=2000, implemented=True
        ),
    )
    hnsw_ef_search: int = field(
        default=200,
        metadata=_meta(
            "HNSW candidate list size while querying the index.", _INDEX, minimum=10, maximum=2000, implemented=True
        ),
    )
    index_dir: str = field(
        default=".aqe",
        metadata=_meta(
            "Where the index and learning state are stored, relative to the workspace root. A workspace "
            "may only choose a directory inside itself.",
            _INDEX,
            min_length=1,
            confined_to_workspace=True,
            implemented=True,
        ),
    )
    index_max_files: int = field(
        default=20_000,
        metadata=_meta(
            "Most files one workspace folder's index takes (a folder such as a home directory opened by "
            "mistake must not be read whole); the rest are left out with a warning.",
            _INDEX,
            minimum=1,
            maximum=1_000_000,
            implemented=True,
        ),
    )
    knowledge_paths: tuple[str, ...] = field(
        default=(".aqe/knowledge",),
        metadata=_meta(
            "Folders (relative to the workspace root) with the team's own QE knowledge: TOML files with "
            "[[entry]] tables or Markdown files with +++ TOML front matter (id, category, tags). They extend "
            "or replace the built-in test patterns, quality rules, failure patterns and best practices.",
            _INDEX,
            implemented=True,
        ),
    )
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

    def to_wire(self) -> dict[str, Any]:
        """The settings as JSON-compatible camelCase data, the shape every source accepts back."""
        return {spec.key: _json_value(getattr(self, spec.name)) for spec in setting_specs()}


@dataclass(frozen=True)
class SettingSpec:
    """Everything known about one setting: the single source for validation, schema and docs."""

    name: str
    key: str
    default: Any
    kind: ValueKind
    nullable: bool
    choices: tuple[Any, ...] | None
    """Allowed values; for the `rules` map, the allowed values of each entry."""
    doc: str
    group: str
    scope: Scope
    implemented: bool
    minimum: float | None
    maximum: float | None
    exclusive_minimum: bool
    min_length: int | None
    confined_to_workspace: bool

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.name.upper()

    def expectation(self) -> str:
        """The phrase after "expected" in an issue: what a valid value looks like."""
        if self.kind is ValueKind.STRING_MAP:
            return f"a table of rule ids or names to one of {_quoted_list(self.choices or ())}"
        if self.kind is ValueKind.STRING_LIST:
            return "a list of strings"
        if self.kind is ValueKind.BOOLEAN:
            return "true or false"
        if self.choices is not None:
            return f"one of {_quoted_list(self.choices)}"
        if self.kind is ValueKind.STRING:
            base = "a non-empty string" if self.min_length else "a string"
            return f"{base} or null" if self.nullable else base
        noun = "an integer" if self.kind is ValueKind.INTEGER else "a number"
        lower, upper = self.minimum, self.maximum
        if lower is not None and upper is not None and not self.exclusive_minimum:
            return f"{noun} between {_number(lower)} and {_number(upper)}"
        bounds = []
        if lower is not None:
            bounds.append(f"greater than {_number(lower)}" if self.exclusive_minimum else f"at least {_number(lower)}")
        if upper is not None:
            bounds.append(f"at most {_number(upper)}")
        return f"{noun} {' and '.join(bounds)}" if bounds else noun


@dataclass(frozen=True)
class SettingsIssue:
    """A setting that was ignored, and why; `source` names where it came from."""

    key: str
    source: str
    message: str


@dataclass(frozen=True)
class LoadedSettings:
    settings: Settings
    issues: tuple[SettingsIssue, ...]
    trusted: bool
    """False when the client marked the workspace untrusted: workspace sources were not read."""


def snake_to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def camel_to_snake(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()


@cache
def setting_specs() -> tuple[SettingSpec, ...]:
    hints = typing.get_type_hints(Settings)
    specs = []
    for settings_field in fields(Settings):
        declared: _Declared = settings_field.metadata[_META_KEY]
        kind, nullable, choices = _describe_annotation(hints[settings_field.name])
        default = settings_field.default_factory() if kind is ValueKind.STRING_MAP else settings_field.default
        specs.append(
            SettingSpec(
                name=settings_field.name,
                key=snake_to_camel(settings_field.name),
                default=default,
                kind=kind,
                nullable=nullable,
                choices=choices,
                doc=declared.doc,
                group=declared.group,
                scope=declared.scope,
                implemented=declared.implemented,
                minimum=declared.minimum,
                maximum=declared.maximum,
                exclusive_minimum=declared.exclusive_minimum,
                min_length=declared.min_length,
                confined_to_workspace=declared.confined_to_workspace,
            )
        )
    return tuple(specs)


@cache
def _specs_by_key() -> dict[str, SettingSpec]:
    return {spec.key: spec for spec in setting_specs()}


def _describe_annotation(annotation: Any) -> tuple[ValueKind, bool, tuple[Any, ...] | None]:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is dict:
        value_choices = typing.get_args(args[1]) or None
        return ValueKind.STRING_MAP, False, value_choices
    if origin is tuple:
        return ValueKind.STRING_LIST, False, None
    if origin is Literal:
        literal_kind = ValueKind.INTEGER if isinstance(args[0], int) else ValueKind.STRING
        return literal_kind, False, args
    if args and type(None) in args:
        (inner,) = (arg for arg in args if arg is not type(None))
        kind, _, choices = _describe_annotation(inner)
        return kind, True, choices
    simple = {bool: ValueKind.BOOLEAN, int: ValueKind.INTEGER, float: ValueKind.NUMBER, str: ValueKind.STRING}
    if annotation in simple:
        return simple[annotation], False, None
    raise TypeError(f"Settings field annotation {annotation!r} has no ValueKind")


# ---------------------------------------------------------------------------------------------
# Validation


class _Rejected(ValueError):
    """A value that does not fit its setting; the message completes "expected ..., got ..."."""


def _validate(spec: SettingSpec, value: Any) -> Any:
    """The value normalised for `Settings` (tuples for lists, floats for numbers), or `_Rejected`."""
    if value is None and spec.nullable:
        return None
    kind = spec.kind
    if kind is ValueKind.BOOLEAN and isinstance(value, bool):
        return value
    if kind is ValueKind.INTEGER and _is_number(value) and float(value).is_integer() and _within(spec, value):
        return int(value)
    if kind is ValueKind.NUMBER and _is_number(value) and _within(spec, value):
        return float(value)
    if kind is ValueKind.STRING and isinstance(value, str) and _fits_string(spec, value):
        return value
    if kind is ValueKind.STRING_LIST and isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _Rejected(spec.expectation())


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _fits_string(spec: SettingSpec, value: str) -> bool:
    return len(value) >= (spec.min_length or 0) and (spec.choices is None or value in spec.choices)


def _within(spec: SettingSpec, value: float) -> bool:
    if spec.choices is not None:
        return value in spec.choices
    if spec.minimum is not None and (value <= spec.minimum if spec.exclusive_minimum else value < spec.minimum):
        return False
    return spec.maximum is None or value <= spec.maximum


def _escapes_workspace(path_text: str) -> bool:
    for flavour in (PurePosixPath, PureWindowsPath):
        pure = flavour(path_text)
        if pure.is_absolute() or pure.drive or pure.root or ".." in pure.parts:
            return True
    return path_text.startswith("~")


_ENV_TRUE = frozenset({"true", "1"})
_ENV_FALSE = frozenset({"false", "0"})


def _parse_env_text(spec: SettingSpec, text: str) -> Any:
    """Turn an environment string into the value a TOML or JSON source would have given."""
    stripped = text.strip()
    if spec.kind is ValueKind.BOOLEAN:
        if stripped.lower() in _ENV_TRUE:
            return True
        if stripped.lower() in _ENV_FALSE:
            return False
        raise _Rejected("true, false, 1 or 0")
    if spec.kind is ValueKind.INTEGER:
        try:
            return int(stripped)
        except ValueError:
            raise _Rejected(spec.expectation()) from None
    if spec.kind is ValueKind.NUMBER:
        try:
            return float(stripped)
        except ValueError:
            raise _Rejected(spec.expectation()) from None
    if spec.kind in (ValueKind.STRING_LIST, ValueKind.STRING_MAP):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as error:
            shape = "a JSON list of strings" if spec.kind is ValueKind.STRING_LIST else "a JSON object"
            raise _Rejected(f"{shape} (invalid JSON: {error.msg} at character {error.pos})") from None
    if spec.nullable and stripped == "":
        return None
    return text


# ---------------------------------------------------------------------------------------------
# Loading


@dataclass(frozen=True)
class _Entry:
    """One key=value from one source, before validation."""

    key: str
    value: Any
    source: str
    scope: Scope
    raw_text: str | None = None
    """The original text, for environment variables, so issues quote what the user typed."""


class _Merger:
    """Applies entries in precedence order; keeps the previous value whenever an entry is rejected."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {
            spec.name: dict(spec.default) if isinstance(spec.default, dict) else spec.default
            for spec in setting_specs()
        }
        self.issues: list[SettingsIssue] = []
        self._workspace_privacy_requests: list[tuple[str, str]] = []
        self._workspace_limit_requests: list[tuple[SettingSpec, Any, str]] = []

    def report(self, key: str, source: str, message: str) -> None:
        self.issues.append(SettingsIssue(key=key, source=source, message=message))

    def apply(self, entry: _Entry) -> None:
        spec = _specs_by_key().get(entry.key)
        if spec is None:
            self.report(entry.key, entry.source, _unknown_setting_message(entry.key, entry.source))
            return
        from_workspace = entry.scope is Scope.WORKSPACE
        if entry.value is None and (not spec.nullable or (from_workspace and spec.scope is Scope.USER)):
            return
        if from_workspace and spec.scope is Scope.USER and spec.name != _TIGHTEN_ONLY:
            self.report(
                spec.key,
                entry.source,
                f"{spec.key} can only be set in user settings; ignoring the value from {entry.source}",
            )
            return
        if spec.kind is ValueKind.STRING_MAP:
            self._apply_map(spec, entry)
            return
        try:
            value = _validate(spec, entry.value)
        except _Rejected as rejected:
            self._reject(spec, entry, str(rejected), self.values[spec.name])
            return
        if from_workspace and spec.confined_to_workspace and _escapes_workspace(value):
            self._reject(spec, entry, "a path inside the workspace", self.values[spec.name])
            return
        if from_workspace and spec.name == _TIGHTEN_ONLY:
            self._workspace_privacy_requests.append((value, entry.source))
            return
        if from_workspace and spec.name in _WORKSPACE_MAY_ONLY_LOWER:
            self._workspace_limit_requests.append((spec, value, entry.source))
            return
        self.values[spec.name] = value

    def _apply_map(self, spec: SettingSpec, entry: _Entry) -> None:
        if not isinstance(entry.value, Mapping):
            self._reject(spec, entry, spec.expectation(), self.values[spec.name])
            return
        merged = dict(self.values[spec.name])
        allowed = spec.choices or ()
        for name, severity in entry.value.items():
            normalised = severity.strip().lower() if isinstance(severity, str) else severity
            if isinstance(name, str) and normalised in allowed:
                merged[name] = normalised
                continue
            keeping = f"keeping {_display(merged[name])}" if name in merged else "ignoring it"
            self.report(
                f"{spec.key}.{name}",
                entry.source,
                f"{spec.key}.{name}: expected one of {_quoted_list(allowed)}, got {_display(severity)} "
                f"(from {entry.source}); {keeping}",
            )
        self.values[spec.name] = merged

    def _reject(self, spec: SettingSpec, entry: _Entry, expected: str, kept: Any) -> None:
        shown = entry.value if entry.raw_text is None else entry.raw_text
        self.report(
            spec.key,
            entry.source,
            f"{spec.key}: expected {expected}, got {_display(shown)} (from {entry.source}); keeping {_display(kept)}",
        )

    def finish(self) -> Settings:
        self._apply_privacy_floor()
        self._apply_workspace_limits()
        self._check_flaky_band()
        return Settings(**self.values)

    def _apply_privacy_floor(self) -> None:
        for requested, source in self._workspace_privacy_requests:
            current = self.values["privacy_mode"]
            tightened = stricter_privacy_mode(current, requested)
            if tightened == current and requested != current:
                self.report(
                    "privacyMode",
                    source,
                    f"privacyMode: a workspace can only make privacy stricter; ignoring {requested!r} "
                    f"(from {source}), keeping {current!r}",
                )
            self.values["privacy_mode"] = tightened

    def _apply_workspace_limits(self) -> None:
        """A workspace's value of a safety limit counts only where it is below the user's."""
        for spec, requested, source in self._workspace_limit_requests:
            current = self.values[spec.name]
            if requested <= current:
                self.values[spec.name] = requested
                continue
            self.report(
                spec.key,
                source,
                f"{spec.key}: a workspace can only lower this safety limit; ignoring {_display(requested)} "
                f"(from {source}), keeping {_display(current)}",
            )

    def _check_flaky_band(self) -> None:
        low, high = self.values["flaky_score_min"], self.values["flaky_score_max"]
        if low < high:
            return
        specs = _specs_by_key()
        default_low, default_high = specs["flakyScoreMin"].default, specs["flakyScoreMax"].default
        self.report(
            "flakyScoreMin",
            SOURCE_MERGED,
            f"flakyScoreMin ({_number(low)}) must be below flakyScoreMax ({_number(high)}); "
            f"using the defaults {_number(default_low)} and {_number(default_high)}",
        )
        self.values["flaky_score_min"], self.values["flaky_score_max"] = default_low, default_high


def stricter_privacy_mode(current: PrivacyMode, requested: PrivacyMode) -> PrivacyMode:
    """The stricter of the two: how a workspace's privacyMode combines with the user's."""
    return min(current, requested, key=PRIVACY_MODES_STRICTEST_FIRST.index)


def default_user_config_path(env: Mapping[str, str] | None = None) -> Path:
    """`$XDG_CONFIG_HOME/aqe/config.toml`, else `~/.config/aqe/config.toml` (`%APPDATA%` on Windows)."""
    environ = os.environ if env is None else env
    base = environ.get("XDG_CONFIG_HOME")
    if not base and os.name == "nt":
        base = environ.get("APPDATA")
    return Path(base or Path.home() / ".config") / "aqe" / "config.toml"


def load_settings(
    workspace_root: Path | None,
    *,
    client_options: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    user_config_path: Path | None = None,
) -> LoadedSettings:
    """Merge every source into one `Settings`; see the module docstring for the order and rules."""
    environ = os.environ if env is None else env
    merger = _Merger()

    user_path = user_config_path if user_config_path is not None else _user_config_path_if_any(environ)
    user_table = _read_toml_file(user_path, str(user_path), merger) if user_path is not None else None
    if user_table is not None:
        _apply_table(merger, user_table, str(user_path), Scope.USER)

    client = _ClientOptions.parse(client_options or {}, merger)

    if client.trusted and workspace_root is not None:
        tool_table = _read_pyproject_tool_table(Path(workspace_root) / "pyproject.toml", merger)
        if tool_table is not None:
            _apply_table(merger, tool_table, SOURCE_PYPROJECT, Scope.WORKSPACE)

    for table, source, scope in client.tables:
        if scope is Scope.WORKSPACE and not client.trusted:
            continue
        _apply_table(merger, table, source, scope)

    for entry in _environment_entries(environ, merger):
        merger.apply(entry)

    return LoadedSettings(settings=merger.finish(), issues=tuple(merger.issues), trusted=client.trusted)


def _user_config_path_if_any(environ: Mapping[str, str]) -> Path | None:
    """None when there is no home directory to look in (a service account), which is not an error."""
    try:
        return default_user_config_path(environ)
    except RuntimeError:
        return None


def _apply_table(merger: _Merger, table: Mapping[str, Any], source: str, scope: Scope) -> None:
    for key, value in table.items():
        merger.apply(_Entry(key=str(key), value=value, source=source, scope=scope))


def _read_toml_file(path: Path, source: str, merger: _Merger) -> dict[str, Any] | None:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        merger.report("", source, f"{source} is not valid TOML ({error}); ignoring the whole file")
    except OSError as error:
        merger.report("", source, f"{source} could not be read ({error.strerror or error}); ignoring it")
    return None


def _read_pyproject_tool_table(path: Path, merger: _Merger) -> Mapping[str, Any] | None:
    document = _read_toml_file(path, SOURCE_PYPROJECT, merger)
    if document is None:
        return None
    tool = document.get("tool", {})
    table = tool.get("aqe") if isinstance(tool, dict) else None
    if table is None or isinstance(table, dict):
        return table
    merger.report("", SOURCE_PYPROJECT, "[tool.aqe] in pyproject.toml must be a table; ignoring it")
    return None


_VSCODE_KEYS = frozenset({"userSettings", "workspaceSettings"})


@dataclass(frozen=True)
class _ClientOptions:
    """Client settings split by scope, in precedence order, plus the workspace trust flag."""

    trusted: bool
    tables: tuple[tuple[Mapping[str, Any], str, Scope], ...]

    @classmethod
    def parse(cls, options: Mapping[str, Any], merger: _Merger) -> _ClientOptions:
        """Accept a plain dict (Neovim), `{"aqe": {...}}`, or VS Code's user/workspace split."""
        wrapped = isinstance(options.get("aqe"), Mapping)
        body: Mapping[str, Any] = options["aqe"] if wrapped else options
        trusted = editor_trust(options, merger)
        body = {key: value for key, value in body.items() if key != "trusted"}
        if not _VSCODE_KEYS.intersection(body):
            return cls(trusted=trusted, tables=((body, SOURCE_CLIENT, Scope.USER),))
        tables: list[tuple[Mapping[str, Any], str, Scope]] = []
        for key, source, scope in (
            ("userSettings", SOURCE_CLIENT_USER, Scope.USER),
            ("workspaceSettings", SOURCE_CLIENT_WORKSPACE, Scope.WORKSPACE),
        ):
            table = body.get(key)
            if isinstance(table, Mapping):
                tables.append((table, source, scope))
            elif table is not None:
                merger.report(key, SOURCE_CLIENT, f"{key} in the client settings must be an object; ignoring it")
        for key in body:
            if key not in _VSCODE_KEYS:
                merger.report(str(key), SOURCE_CLIENT, _unknown_setting_message(str(key), SOURCE_CLIENT))
        return cls(trusted=trusted, tables=tuple(tables))


def editor_trust(options: Mapping[str, Any], merger: _Merger | None = None) -> bool:
    """Workspace trust from the editor's initializationOptions: the one place trust is decided.

    Trust only ever narrows: every `trusted` flag present (top level, and under `aqe`) must be an
    explicit true, so a nested `false` is never outvoted by a top-level `true`. No flag at all means
    trusted (a client that has no notion of workspace trust)."""
    nested = options.get("aqe")
    places = (options, nested) if isinstance(nested, Mapping) else (options,)
    values = [where["trusted"] for where in places if "trusted" in where]
    trusted = True
    for value in values:
        if not isinstance(value, bool) and merger is not None:
            merger.report(
                "trusted",
                SOURCE_CLIENT,
                f"trusted: expected true or false, got {_display(value)} (from {SOURCE_CLIENT}); "
                "treating the workspace as untrusted",
            )
        trusted = trusted and value is True
    return trusted


def _environment_entries(environ: Mapping[str, str], merger: _Merger) -> Iterator[_Entry]:
    specs_by_var = {spec.env_var: spec for spec in setting_specs()}
    for variable in sorted(environ):
        if not variable.startswith(ENV_PREFIX):
            continue
        text = environ[variable]
        spec = specs_by_var.get(variable)
        if spec is None:
            merger.report(variable, variable, _unknown_environment_message(variable, specs_by_var))
            continue
        try:
            value = _parse_env_text(spec, text)
        except _Rejected as rejected:
            kept = merger.values[spec.name]
            merger.report(
                spec.key,
                variable,
                f"{spec.key}: expected {rejected}, got {text!r} (from {variable}); keeping {_display(kept)}",
            )
            continue
        yield _Entry(key=spec.key, value=value, source=variable, scope=Scope.USER, raw_text=text)


def _unknown_setting_message(key: str, source: str) -> str:
    suggestion = _closest_key(key)
    hint = f" — did you mean {suggestion!r}?" if suggestion else ""
    return f"unknown setting {key!r}{hint} (from {source}); ignoring it"


def _closest_key(key: str) -> str | None:
    known = _specs_by_key()
    spelled_differently = snake_to_camel(key.replace("-", "_").lower()) if ("_" in key or "-" in key) else None
    if spelled_differently in known:
        return spelled_differently
    by_lowercase = {name.lower(): name for name in known}
    if key.lower() in by_lowercase:
        return by_lowercase[key.lower()]
    matches = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return matches[0] if matches else None


def _unknown_environment_message(variable: str, specs_by_var: Mapping[str, SettingSpec]) -> str:
    matches = difflib.get_close_matches(variable, list(specs_by_var), n=1, cutoff=0.6)
    hint = f" — did you mean {matches[0]!r}?" if matches else ""
    return f"unknown setting variable {variable!r}{hint}; ignoring it"


# ---------------------------------------------------------------------------------------------
# Schema and documentation


def settings_schema() -> dict[str, dict[str, Any]]:
    """A JSON-schema-like description of every key, for the docs and the VS Code package.json.

    `scope` uses VS Code's vocabulary: "machine" keys cannot be set per workspace.
    """
    return {spec.key: _schema_for(spec) for spec in setting_specs()}


_JSON_TYPES = {
    ValueKind.BOOLEAN: "boolean",
    ValueKind.INTEGER: "integer",
    ValueKind.NUMBER: "number",
    ValueKind.STRING: "string",
    ValueKind.STRING_LIST: "array",
    ValueKind.STRING_MAP: "object",
}


def _schema_for(spec: SettingSpec) -> dict[str, Any]:
    json_type = _JSON_TYPES[spec.kind]
    schema: dict[str, Any] = {
        "type": [json_type, "null"] if spec.nullable else json_type,
        "default": _json_value(spec.default),
        "description": spec.doc,
        "scope": "machine" if spec.scope is Scope.USER else "resource",
        "group": spec.group,
        "implemented": spec.implemented,
    }
    if spec.kind is ValueKind.STRING_LIST:
        schema["items"] = {"type": "string"}
    elif spec.kind is ValueKind.STRING_MAP:
        schema["additionalProperties"] = {"type": "string", "enum": list(spec.choices or ())}
    elif spec.choices is not None:
        schema["enum"] = list(spec.choices)
    if spec.minimum is not None:
        schema["exclusiveMinimum" if spec.exclusive_minimum else "minimum"] = spec.minimum
    if spec.maximum is not None:
        schema["maximum"] = spec.maximum
    if spec.min_length is not None:
        schema["minLength"] = spec.min_length
    return schema


def render_settings_table() -> str:
    """The Markdown reference in docs/configuration.md; a test keeps the committed copy current."""
    from aqe.settings_docs import settings_tables  # only the docs need it: kept out of every start-up

    return settings_tables()


# ---------------------------------------------------------------------------------------------
# Formatting helpers


def _json_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _quoted_list(choices: Sequence[Any]) -> str:
    return ", ".join(repr(choice) for choice in choices)


_MAX_SHOWN = 80


_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s'\"]*:)[^@\s'\"]*(?P<tail>@)", re.I)
"""The password of a URL with credentials (`postgresql://user:password@host`), never repeated in an issue."""


def _display(value: Any) -> str:
    """How a value appears in an issue: Python repr for strings, JSON spelling for the rest; a URL's
    password shown as ***."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (tuple, list, dict)):
        try:
            text = json.dumps(_json_value(value))
        except (TypeError, ValueError):
            text = repr(value)
    else:
        text = repr(value)
    text = _URL_PASSWORD.sub(r"\g<head>***\g<tail>", text)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"
