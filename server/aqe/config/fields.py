"""The vocabulary of the settings declarations: value types, scopes, groups and the metadata every
field carries (read by aqe.config.specs into one SettingSpec per setting)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

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
