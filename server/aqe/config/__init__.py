"""One typed `Settings` object, merged from every place a user or a project can configure aqe.

Sources, lowest precedence first: defaults, the user config file, the workspace `pyproject.toml`
`[tool.aqe]`, the client's settings (initializationOptions or a workspace/configuration result),
then `AQE_*` environment variables. Loading never raises on bad input: every problem becomes a
`SettingsIssue` and the value in force before it is kept, so a typo cannot stop the server.

Workspace sources are code the user may not have written (a cloned repository), so they cannot set
user-scoped keys (which choose what runs or where code is sent), can only make `privacyMode`
stricter, and are skipped entirely when the client says the workspace is untrusted.

The declarations are a table, read by everything else: `fields` (value types, scopes, groups, the
metadata a field carries), `core_settings` and `declarations` (one dataclass field per setting), then
`specs` (one SettingSpec per field, and checking a value), `loading` (merging the sources) and
`rendering` (the schema for the VS Code package.json and the docs table).
"""

from __future__ import annotations

from aqe.config.declarations import Settings
from aqe.config.fields import (
    ENV_PREFIX,
    GROUPS,
    PRIVACY_MODES_STRICTEST_FIRST,
    SOURCE_CLIENT,
    SOURCE_CLIENT_USER,
    SOURCE_CLIENT_WORKSPACE,
    SOURCE_MERGED,
    SOURCE_PYPROJECT,
    CloudProvider,
    ComplexityCountingName,
    EmbedderName,
    EmbeddingDim,
    LogLevel,
    PrivacyMode,
    RuleSeverity,
    Scope,
    ShowNotifications,
    ValueKind,
)
from aqe.config.loading import default_user_config_path, editor_trust, load_settings, stricter_privacy_mode
from aqe.config.rendering import render_settings_table, settings_schema
from aqe.config.specs import LoadedSettings, SettingsIssue, SettingSpec, camel_to_snake, setting_specs, snake_to_camel

__all__ = [
    "ENV_PREFIX",
    "GROUPS",
    "PRIVACY_MODES_STRICTEST_FIRST",
    "SOURCE_CLIENT",
    "SOURCE_CLIENT_USER",
    "SOURCE_CLIENT_WORKSPACE",
    "SOURCE_MERGED",
    "SOURCE_PYPROJECT",
    "CloudProvider",
    "ComplexityCountingName",
    "EmbedderName",
    "EmbeddingDim",
    "LoadedSettings",
    "LogLevel",
    "PrivacyMode",
    "RuleSeverity",
    "Scope",
    "SettingSpec",
    "Settings",
    "SettingsIssue",
    "ShowNotifications",
    "ValueKind",
    "camel_to_snake",
    "default_user_config_path",
    "editor_trust",
    "load_settings",
    "render_settings_table",
    "setting_specs",
    "settings_schema",
    "snake_to_camel",
    "stricter_privacy_mode",
]
