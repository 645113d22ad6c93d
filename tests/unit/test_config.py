"""Settings: defaults, the five sources and their order, trust and scope, validation, schema, docs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from aqe.config import (
    LoadedSettings,
    Settings,
    SettingsIssue,
    camel_to_snake,
    default_user_config_path,
    load_settings,
    render_settings_table,
    settings_schema,
    snake_to_camel,
    stricter_privacy_mode,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def load(
    tmp_path: Path,
    *,
    user_toml: str | None = None,
    pyproject: str | None = None,
    client: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> LoadedSettings:
    """Write the given sources as real files under tmp_path and load them."""
    user_config = tmp_path / "home" / "aqe" / "config.toml"
    workspace = tmp_path / "workspace"
    workspace.mkdir(exist_ok=True)
    if user_toml is not None:
        user_config.parent.mkdir(parents=True, exist_ok=True)
        user_config.write_text(user_toml, encoding="utf-8")
    if pyproject is not None:
        (workspace / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    return load_settings(workspace, client_options=client, env=env or {}, user_config_path=user_config)


def messages(loaded: LoadedSettings) -> list[str]:
    return [issue.message for issue in loaded.issues]


# Defaults


def test_no_sources_gives_the_defaults_without_issues(tmp_path: Path) -> None:
    loaded = load(tmp_path)

    assert loaded.settings == Settings()
    assert loaded.issues == ()
    assert loaded.trusted is True


def test_defaults_are_the_documented_values() -> None:
    wire = Settings().to_wire()

    assert wire["rules"] == {}
    assert wire["maxComplexity"] == 10
    assert wire["maxFileSizeMb"] == 2.0
    assert wire["diagnosticsDebounceMs"] == 300
    assert wire["exclude"] == []
    assert wire["showNotifications"] == "onError"
    assert wire["logLevel"] == "info"
    assert wire["privacyMode"] == "strict"
    assert wire["modelPath"] is None
    assert wire["embeddingDim"] == 768
    assert wire["indexDir"] == ".aqe"
    assert wire["ewcLambda"] == 4.0
    assert wire["codeLens"] is True


def test_settings_are_immutable_and_hashable() -> None:
    settings = Settings()

    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.max_complexity = 3  # type: ignore[misc]
    assert hash(settings) == hash(Settings())


# Each source on its own


def test_user_config_file_sets_a_value(tmp_path: Path) -> None:
    loaded = load(tmp_path, user_toml="maxComplexity = 15\n")

    assert loaded.settings.max_complexity == 15
    assert loaded.issues == ()


def test_user_config_file_is_found_under_xdg_config_home(tmp_path: Path) -> None:
    config_home = tmp_path / "xdg"
    (config_home / "aqe").mkdir(parents=True)
    (config_home / "aqe" / "config.toml").write_text('logLevel = "debug"\n', encoding="utf-8")
    env = {"XDG_CONFIG_HOME": str(config_home)}

    loaded = load_settings(None, env=env)

    assert default_user_config_path(env) == config_home / "aqe" / "config.toml"
    assert loaded.settings.log_level == "debug"


def test_workspace_pyproject_tool_aqe_sets_a_value(tmp_path: Path) -> None:
    loaded = load(tmp_path, pyproject='[project]\nname = "demo"\n\n[tool.aqe]\nexclude = ["build/**"]\n')

    assert loaded.settings.exclude == ("build/**",)
    assert loaded.issues == ()


def test_pyproject_without_tool_aqe_changes_nothing(tmp_path: Path) -> None:
    loaded = load(tmp_path, pyproject='[project]\nname = "demo"\n[tool.ruff]\nline-length = 99\n')

    assert loaded.settings == Settings()
    assert loaded.issues == ()


def test_client_settings_as_a_plain_dict_set_values(tmp_path: Path) -> None:
    loaded = load(tmp_path, client={"maxComplexity": 7, "showNotifications": "always"})

    assert loaded.settings.max_complexity == 7
    assert loaded.settings.show_notifications == "always"


def test_client_settings_wrapped_in_an_aqe_namespace_are_unwrapped(tmp_path: Path) -> None:
    loaded = load(tmp_path, client={"aqe": {"maxComplexity": 7}, "otherTool": {"enabled": True}})

    assert loaded.settings.max_complexity == 7
    assert loaded.issues == ()


def test_vscode_user_and_workspace_settings_both_apply_workspace_last(tmp_path: Path) -> None:
    client = {
        "userSettings": {"maxComplexity": 7, "logLevel": "debug"},
        "workspaceSettings": {"maxComplexity": 9},
    }

    loaded = load(tmp_path, client=client)

    assert loaded.settings.max_complexity == 9
    assert loaded.settings.log_level == "debug"
    assert loaded.issues == ()


def test_environment_variable_sets_a_value(tmp_path: Path) -> None:
    loaded = load(tmp_path, env={"AQE_MAX_COMPLEXITY": "12"})

    assert loaded.settings.max_complexity == 12
    assert loaded.issues == ()


def test_environment_variables_without_the_prefix_are_ignored(tmp_path: Path) -> None:
    loaded = load(tmp_path, env={"MAX_COMPLEXITY": "12", "PATH": "/usr/bin"})

    assert loaded.settings == Settings()
    assert loaded.issues == ()


# Precedence


def test_pyproject_overrides_the_user_file(tmp_path: Path) -> None:
    loaded = load(tmp_path, user_toml="maxComplexity = 15\n", pyproject="[tool.aqe]\nmaxComplexity = 20\n")

    assert loaded.settings.max_complexity == 20


def test_client_settings_override_pyproject(tmp_path: Path) -> None:
    loaded = load(tmp_path, pyproject="[tool.aqe]\nmaxComplexity = 20\n", client={"maxComplexity": 25})

    assert loaded.settings.max_complexity == 25


def test_environment_overrides_client_settings(tmp_path: Path) -> None:
    loaded = load(tmp_path, client={"maxComplexity": 25}, env={"AQE_MAX_COMPLEXITY": "30"})

    assert loaded.settings.max_complexity == 30


def test_each_key_comes_from_the_highest_source_that_sets_it(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        user_toml='maxComplexity = 15\nlogLevel = "debug"\n',
        pyproject="[tool.aqe]\ndiagnosticsDebounceMs = 100\n",
        client={"codeLens": False},
    )

    assert loaded.settings.max_complexity == 15
    assert loaded.settings.log_level == "debug"
    assert loaded.settings.diagnostics_debounce_ms == 100
    assert loaded.settings.code_lens is False


def test_rule_overrides_merge_key_by_key_across_sources(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        user_toml='[rules]\nQE101 = "off"\nQE102 = "hint"\n',
        pyproject='[tool.aqe.rules]\nQE102 = "error"\n',
    )

    assert loaded.settings.rules == {"QE101": "off", "QE102": "error"}


def test_lists_from_a_higher_source_replace_lower_ones(tmp_path: Path) -> None:
    loaded = load(tmp_path, user_toml='exclude = ["a/**"]\n', pyproject='[tool.aqe]\nexclude = ["b/**"]\n')

    assert loaded.settings.exclude == ("b/**",)


def test_wire_output_loads_back_to_the_same_settings(tmp_path: Path) -> None:
    original = dataclasses.replace(Settings(), max_complexity=42, rules={"QE101": "off"}, exclude=("x/**",))

    loaded = load(tmp_path, client=original.to_wire())

    assert loaded.settings == original
    assert loaded.issues == ()


# Environment parsing


def test_environment_float(tmp_path: Path) -> None:
    loaded = load(tmp_path, env={"AQE_MAX_FILE_SIZE_MB": "0.5"})

    assert loaded.settings.max_file_size_mb == 0.5


@pytest.mark.parametrize(
    ("text", "expected"), [("true", True), ("TRUE", True), ("1", True), ("false", False), ("0", False)]
)
def test_environment_booleans(tmp_path: Path, text: str, expected: bool) -> None:
    loaded = load(tmp_path, env={"AQE_LEARNING_ENABLED": text, "AQE_CODE_LENS": text})

    assert loaded.settings.learning_enabled is expected
    assert loaded.settings.code_lens is expected


def test_environment_boolean_that_is_not_one_is_an_issue(tmp_path: Path) -> None:
    loaded = load(tmp_path, env={"AQE_CODE_LENS": "yes please"})

    assert loaded.settings.code_lens is True
    assert messages(loaded) == [
        "codeLens: expected true, false, 1 or 0, got 'yes please' (from AQE_CODE_LENS); keeping true"
    ]


def test_environment_json_list(tmp_path: Path) -> None:
    loaded = load(tmp_path, env={"AQE_EXCLUDE": '["dist/**", "*.min.js"]'})

    assert loaded.settings.exclude == ("dist/**", "*.min.js")


def test_environment_json_object_for_rules(tmp_path: Path) -> None:
    loaded = load(tmp_path, env={"AQE_RULES": '{"QE101": "error", "test-without-assertion": "off"}'})

    assert loaded.settings.rules == {"QE101": "error", "test-without-assertion": "off"}


def test_environment_bad_json_is_an_issue_and_keeps_the_previous_value(tmp_path: Path) -> None:
    loaded = load(tmp_path, user_toml='exclude = ["a/**"]\n', env={"AQE_EXCLUDE": "[dist/**"})

    assert loaded.settings.exclude == ("a/**",)
    (issue,) = loaded.issues
    assert issue.key == "exclude"
    assert issue.source == "AQE_EXCLUDE"
    assert issue.message.startswith("exclude: expected a JSON list of strings (invalid JSON")
    assert issue.message.endswith("got '[dist/**' (from AQE_EXCLUDE); keeping [\"a/**\"]")


def test_environment_integer_that_is_not_a_number_is_an_issue(tmp_path: Path) -> None:
    loaded = load(tmp_path, env={"AQE_MAX_COMPLEXITY": "ten"})

    assert loaded.settings.max_complexity == 10
    assert messages(loaded) == [
        "maxComplexity: expected an integer between 2 and 200, got 'ten' (from AQE_MAX_COMPLEXITY); keeping 10"
    ]


def test_environment_value_out_of_range_quotes_what_was_typed(tmp_path: Path) -> None:
    loaded = load(tmp_path, env={"AQE_MAX_COMPLEXITY": "500"})

    assert loaded.settings.max_complexity == 10
    assert messages(loaded) == [
        "maxComplexity: expected an integer between 2 and 200, got '500' (from AQE_MAX_COMPLEXITY); keeping 10"
    ]


def test_empty_environment_value_clears_a_nullable_setting(tmp_path: Path) -> None:
    loaded = load(tmp_path, user_toml='modelPath = "/models/a.gguf"\n', env={"AQE_MODEL_PATH": ""})

    assert loaded.settings.model_path is None


def test_unknown_environment_variable_is_an_issue_with_a_suggestion(tmp_path: Path) -> None:
    loaded = load(tmp_path, env={"AQE_MAX_COMPLEXTY": "12"})

    assert loaded.settings.max_complexity == 10
    (issue,) = loaded.issues
    assert issue.key == "AQE_MAX_COMPLEXTY"
    assert "did you mean 'AQE_MAX_COMPLEXITY'?" in issue.message


# camelCase mapping


def test_every_field_maps_to_camel_case_and_back() -> None:
    for settings_field in dataclasses.fields(Settings):
        camel = snake_to_camel(settings_field.name)
        assert "_" not in camel
        assert camel_to_snake(camel) == settings_field.name


def test_camel_case_examples() -> None:
    assert snake_to_camel("max_complexity") == "maxComplexity"
    assert snake_to_camel("max_file_size_mb") == "maxFileSizeMb"
    assert snake_to_camel("hnsw_ef_construction") == "hnswEfConstruction"


def test_snake_case_key_is_unknown_and_points_to_the_camel_case_spelling(tmp_path: Path) -> None:
    loaded = load(tmp_path, pyproject="[tool.aqe]\nmax_complexity = 12\n")

    assert loaded.settings.max_complexity == 10
    assert "unknown setting 'max_complexity' — did you mean 'maxComplexity'?" in messages(loaded)[0]


# Trust


def test_untrusted_workspace_ignores_pyproject(tmp_path: Path) -> None:
    loaded = load(tmp_path, pyproject="[tool.aqe]\nmaxComplexity = 20\n", client={"trusted": False})

    assert loaded.trusted is False
    assert loaded.settings.max_complexity == 10
    assert loaded.issues == ()


def test_untrusted_workspace_ignores_workspace_settings_but_keeps_user_settings(tmp_path: Path) -> None:
    client = {
        "trusted": False,
        "userSettings": {"logLevel": "debug"},
        "workspaceSettings": {"maxComplexity": 9},
    }

    loaded = load(tmp_path, client=client)

    assert loaded.trusted is False
    assert loaded.settings.log_level == "debug"
    assert loaded.settings.max_complexity == 10


def test_untrusted_workspace_still_reads_user_file_and_environment(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        user_toml="maxComplexity = 15\n",
        client={"trusted": False},
        env={"AQE_LOG_LEVEL": "debug"},
    )

    assert loaded.settings.max_complexity == 15
    assert loaded.settings.log_level == "debug"


def test_trusted_flag_that_is_not_a_boolean_fails_safe_to_untrusted(tmp_path: Path) -> None:
    loaded = load(tmp_path, pyproject="[tool.aqe]\nmaxComplexity = 20\n", client={"trusted": "yes"})

    assert loaded.trusted is False
    assert loaded.settings.max_complexity == 10
    assert [issue.key for issue in loaded.issues] == ["trusted"]


def test_pyproject_cannot_declare_itself_trusted(tmp_path: Path) -> None:
    loaded = load(tmp_path, pyproject="[tool.aqe]\ntrusted = true\n", client={"trusted": False})

    assert loaded.trusted is False


# Scope


def test_user_scoped_key_in_pyproject_is_ignored_with_a_reason(tmp_path: Path) -> None:
    loaded = load(tmp_path, pyproject='[tool.aqe]\nmodelPath = "evil.gguf"\nmaxComplexity = 12\n')

    assert loaded.settings.model_path is None
    assert loaded.settings.max_complexity == 12
    assert loaded.issues == (
        SettingsIssue(
            key="modelPath",
            source="pyproject.toml",
            message="modelPath can only be set in user settings; ignoring the value from pyproject.toml",
        ),
    )


def test_user_scoped_key_in_vscode_workspace_settings_is_ignored(tmp_path: Path) -> None:
    client = {"workspaceSettings": {"cloudBaseUrl": "https://collector.example"}}

    loaded = load(tmp_path, client=client)

    assert loaded.settings.cloud_base_url is None
    assert messages(loaded) == [
        "cloudBaseUrl can only be set in user settings; ignoring the value from client workspaceSettings"
    ]


def test_a_repository_cannot_point_the_flaky_history_at_a_database_and_its_password_is_not_repeated(
    tmp_path: Path,
) -> None:
    loaded = load(tmp_path, pyproject='[tool.aqe]\nflakyHistoryUrl = "postgresql://ci:hunter2@db.example/aqe"\n')

    assert loaded.settings.flaky_history_url is None
    assert messages(loaded) == [
        "flakyHistoryUrl can only be set in user settings; ignoring the value from pyproject.toml"
    ]


def test_the_flaky_history_url_comes_from_ci_through_the_environment(tmp_path: Path) -> None:
    loaded = load(tmp_path, env={"AQE_FLAKY_HISTORY_URL": "postgresql://ci:hunter2@db.example/aqe"})

    assert loaded.settings.flaky_history_url == "postgresql://ci:hunter2@db.example/aqe"
    assert loaded.issues == ()


def test_an_issue_never_repeats_the_password_of_the_flaky_history_url_it_keeps(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        user_toml='flakyHistoryUrl = "postgresql://ci:hunter2@db.example/aqe"\n',
        client={"userSettings": {"flakyHistoryUrl": 5}},
    )

    assert loaded.settings.flaky_history_url == "postgresql://ci:hunter2@db.example/aqe"
    (message,) = messages(loaded)
    assert "keeping 'postgresql://ci:***@db.example/aqe'" in message and "hunter2" not in message


def test_user_scoped_key_from_user_sources_is_accepted(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        user_toml='modelPath = "/models/a.gguf"\n',
        client={"userSettings": {"cloudBaseUrl": "https://gateway.example"}},
    )

    assert loaded.settings.model_path == "/models/a.gguf"
    assert loaded.settings.cloud_base_url == "https://gateway.example"
    assert loaded.issues == ()


def test_plain_client_dict_counts_as_user_settings(tmp_path: Path) -> None:
    loaded = load(tmp_path, client={"modelPath": "/models/a.gguf"})

    assert loaded.settings.model_path == "/models/a.gguf"
    assert loaded.issues == ()


def test_null_in_workspace_settings_means_not_set(tmp_path: Path) -> None:
    client = {"userSettings": {"modelPath": "/models/a.gguf"}, "workspaceSettings": {"modelPath": None}}

    loaded = load(tmp_path, client=client)

    assert loaded.settings.model_path == "/models/a.gguf"
    assert loaded.issues == ()


def test_workspace_index_dir_must_stay_inside_the_workspace(tmp_path: Path) -> None:
    loaded = load(tmp_path, pyproject='[tool.aqe]\nindexDir = "../../elsewhere"\n')

    assert loaded.settings.index_dir == ".aqe"
    assert messages(loaded) == [
        "indexDir: expected a path inside the workspace, got '../../elsewhere' (from pyproject.toml); keeping '.aqe'"
    ]


def test_user_may_put_the_index_anywhere(tmp_path: Path) -> None:
    loaded = load(tmp_path, user_toml='indexDir = "/var/cache/aqe"\n')

    assert loaded.settings.index_dir == "/var/cache/aqe"


# Privacy mode: a workspace can tighten it, never loosen it


@pytest.mark.parametrize(
    ("current", "requested", "expected"),
    [
        ("off", "balanced", "balanced"),
        ("off", "strict", "strict"),
        ("balanced", "strict", "strict"),
        ("strict", "off", "strict"),
        ("balanced", "off", "balanced"),
        ("balanced", "balanced", "balanced"),
    ],
)
def test_stricter_privacy_mode(current: str, requested: str, expected: str) -> None:
    assert stricter_privacy_mode(current, requested) == expected  # type: ignore[arg-type]


def test_workspace_can_tighten_privacy_mode(tmp_path: Path) -> None:
    loaded = load(tmp_path, user_toml='privacyMode = "off"\n', pyproject='[tool.aqe]\nprivacyMode = "balanced"\n')

    assert loaded.settings.privacy_mode == "balanced"
    assert loaded.issues == ()


def test_workspace_cannot_loosen_privacy_mode(tmp_path: Path) -> None:
    loaded = load(tmp_path, pyproject='[tool.aqe]\nprivacyMode = "off"\n')

    assert loaded.settings.privacy_mode == "strict"
    assert messages(loaded) == [
        "privacyMode: a workspace can only make privacy stricter; ignoring 'off' (from pyproject.toml), "
        "keeping 'strict'"
    ]


def test_later_user_sources_cannot_undo_a_workspace_tightening(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        pyproject='[tool.aqe]\nprivacyMode = "strict"\n',
        client={"privacyMode": "off"},
        env={"AQE_PRIVACY_MODE": "balanced"},
    )

    assert loaded.settings.privacy_mode == "strict"


def test_vscode_workspace_settings_can_tighten_privacy_mode(tmp_path: Path) -> None:
    client = {"userSettings": {"privacyMode": "off"}, "workspaceSettings": {"privacyMode": "strict"}}

    loaded = load(tmp_path, client=client)

    assert loaded.settings.privacy_mode == "strict"


def test_untrusted_workspace_cannot_tighten_privacy_mode_either(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        user_toml='privacyMode = "off"\n',
        pyproject='[tool.aqe]\nprivacyMode = "strict"\n',
        client={"trusted": False},
    )

    assert loaded.settings.privacy_mode == "off"


# Validation


def test_invalid_value_becomes_an_issue_and_the_default_is_kept(tmp_path: Path) -> None:
    loaded = load(tmp_path, pyproject='[tool.aqe]\nmaxComplexity = "ten"\n')

    assert loaded.settings.max_complexity == 10
    assert loaded.issues == (
        SettingsIssue(
            key="maxComplexity",
            source="pyproject.toml",
            message="maxComplexity: expected an integer between 2 and 200, got 'ten' (from pyproject.toml); keeping 10",
        ),
    )


def test_invalid_value_keeps_the_value_from_the_previous_source(tmp_path: Path) -> None:
    loaded = load(tmp_path, user_toml="maxComplexity = 12\n", pyproject="[tool.aqe]\nmaxComplexity = 500\n")

    assert loaded.settings.max_complexity == 12
    assert messages(loaded)[0].endswith("keeping 12")


def test_loading_goes_on_after_an_invalid_value(tmp_path: Path) -> None:
    loaded = load(tmp_path, pyproject='[tool.aqe]\nlogLevel = "loud"\nmaxComplexity = 12\n', client={"codeLens": False})

    assert loaded.settings.log_level == "info"
    assert loaded.settings.max_complexity == 12
    assert loaded.settings.code_lens is False
    assert len(loaded.issues) == 1


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("maxComplexity", 1),
        ("maxComplexity", 201),
        ("maxComplexity", True),
        ("maxComplexity", 10.5),
        ("maxFileSizeMb", 0),
        ("maxFileSizeMb", 2048),
        ("maxFileSizeMb", float("nan")),
        ("diagnosticsDebounceMs", -1),
        ("showNotifications", "sometimes"),
        ("logLevel", "trace"),
        ("privacyMode", "lax"),
        ("cloudProvider", "other"),
        ("embeddingDim", 700),
        ("qualityThreshold", 1.5),
        ("ewcLambda", -0.1),
        ("exclude", "build/**"),
        ("exclude", ["ok", 3]),
        ("codeLens", "yes"),
        ("indexDir", ""),
        ("modelPath", 3),
        ("rules", ["QE101"]),
    ],
)
def test_invalid_values_are_rejected(tmp_path: Path, key: str, value: object) -> None:
    loaded = load(tmp_path, client={key: value})

    assert loaded.settings == Settings()
    (issue,) = loaded.issues
    assert issue.key == key
    assert issue.source == "client settings"
    assert issue.message.startswith(f"{key}: expected ")


@pytest.mark.parametrize(
    ("key", "value", "field_name", "expected"),
    [
        ("maxComplexity", 2, "max_complexity", 2),
        ("maxComplexity", 200, "max_complexity", 200),
        ("maxComplexity", 12.0, "max_complexity", 12),
        ("maxFileSizeMb", 1024, "max_file_size_mb", 1024.0),
        ("maxFileSizeMb", 0.01, "max_file_size_mb", 0.01),
        ("embeddingDim", 384, "embedding_dim", 384),
        ("qualityThreshold", 0, "quality_threshold", 0.0),
        ("modelPath", None, "model_path", None),
    ],
)
def test_boundary_values_are_accepted(
    tmp_path: Path, key: str, value: object, field_name: str, expected: object
) -> None:
    loaded = load(tmp_path, client={key: value})

    assert getattr(loaded.settings, field_name) == expected
    assert loaded.issues == ()


def test_invalid_rule_severity_is_an_issue_and_other_rules_still_apply(tmp_path: Path) -> None:
    loaded = load(tmp_path, pyproject='[tool.aqe.rules]\nQE101 = "fatal"\nQE102 = "Warning"\n')

    assert loaded.settings.rules == {"QE102": "warning"}
    assert loaded.issues == (
        SettingsIssue(
            key="rules.QE101",
            source="pyproject.toml",
            message="rules.QE101: expected one of 'error', 'warning', 'info', 'hint', 'off', got 'fatal' "
            "(from pyproject.toml); ignoring it",
        ),
    )


def test_invalid_rule_severity_keeps_the_earlier_severity_for_that_rule(tmp_path: Path) -> None:
    loaded = load(tmp_path, user_toml='[rules]\nQE101 = "off"\n', client={"rules": {"QE101": 3}})

    assert loaded.settings.rules == {"QE101": "off"}
    assert messages(loaded)[0].endswith("keeping 'off'")


def test_unknown_rule_ids_are_kept_for_the_engine_to_report(tmp_path: Path) -> None:
    loaded = load(tmp_path, client={"rules": {"QE999": "off"}})

    assert loaded.settings.rules == {"QE999": "off"}
    assert loaded.issues == ()


def test_flaky_score_band_that_is_empty_falls_back_to_the_defaults(tmp_path: Path) -> None:
    loaded = load(tmp_path, client={"flakyScoreMin": 0.8, "flakyScoreMax": 0.4})

    assert (loaded.settings.flaky_score_min, loaded.settings.flaky_score_max) == (0.1, 0.9)
    assert messages(loaded) == ["flakyScoreMin (0.8) must be below flakyScoreMax (0.4); using the defaults 0.1 and 0.9"]


def test_loader_never_raises_on_values_of_unexpected_types(tmp_path: Path) -> None:
    loaded = load(tmp_path, client={"maxComplexity": object(), "exclude": {"a": 1}, "rules": {"QE101": None}})

    assert loaded.settings == Settings()
    assert len(loaded.issues) == 3


# Unknown keys


def test_misspelt_key_is_an_issue_with_a_suggestion(tmp_path: Path) -> None:
    loaded = load(tmp_path, pyproject="[tool.aqe]\nmaxComplexty = 12\n")

    assert loaded.settings.max_complexity == 10
    (issue,) = loaded.issues
    assert issue.key == "maxComplexty"
    assert issue.message.startswith("unknown setting 'maxComplexty' — did you mean 'maxComplexity'?")


def test_unknown_key_without_a_close_match_has_no_suggestion(tmp_path: Path) -> None:
    loaded = load(tmp_path, client={"zzz": 1})

    assert messages(loaded) == ["unknown setting 'zzz' (from client settings); ignoring it"]


def test_unknown_key_beside_the_vscode_sections_is_reported(tmp_path: Path) -> None:
    loaded = load(tmp_path, client={"userSettings": {}, "workspaceSetings": {"maxComplexity": 3}})

    assert loaded.settings.max_complexity == 10
    assert [issue.key for issue in loaded.issues] == ["workspaceSetings"]


# Malformed files


def test_malformed_user_config_is_one_issue_and_the_file_is_ignored(tmp_path: Path) -> None:
    loaded = load(tmp_path, user_toml="maxComplexity = 12\nlogLevel = \n", client={"codeLens": False})

    assert loaded.settings.max_complexity == 10
    assert loaded.settings.code_lens is False
    (issue,) = loaded.issues
    assert issue.source.endswith("config.toml")
    assert "is not valid TOML" in issue.message


def test_malformed_pyproject_is_one_issue_and_the_file_is_ignored(tmp_path: Path) -> None:
    loaded = load(tmp_path, pyproject="[tool.aqe\nmaxComplexity = 12\n")

    assert loaded.settings.max_complexity == 10
    (issue,) = loaded.issues
    assert issue.source == "pyproject.toml"
    assert "is not valid TOML" in issue.message


def test_pyproject_tool_aqe_that_is_not_a_table_is_an_issue(tmp_path: Path) -> None:
    loaded = load(tmp_path, pyproject='[tool]\naqe = "on"\n')

    assert loaded.settings == Settings()
    assert messages(loaded) == ["[tool.aqe] in pyproject.toml must be a table; ignoring it"]


def test_user_config_that_is_not_valid_utf8_is_an_issue(tmp_path: Path) -> None:
    user_config = tmp_path / "config.toml"
    user_config.write_bytes(b"logLevel = '\xff'\n")

    loaded = load_settings(None, env={}, user_config_path=user_config)

    assert loaded.settings == Settings()
    assert len(loaded.issues) == 1


# Schema


def test_schema_describes_every_field_by_its_camel_case_key() -> None:
    schema = settings_schema()

    assert list(schema) == [snake_to_camel(f.name) for f in dataclasses.fields(Settings)]


def test_schema_entries_carry_type_default_description_group_and_status() -> None:
    for key, entry in settings_schema().items():
        assert {"type", "default", "description", "scope", "group", "implemented"} <= entry.keys(), key
        assert entry["description"], key


def test_schema_defaults_match_the_settings_defaults() -> None:
    schema = settings_schema()

    assert {key: entry["default"] for key, entry in schema.items()} == Settings().to_wire()


def test_schema_scope_is_machine_for_user_scoped_keys_only() -> None:
    machine = {key for key, entry in settings_schema().items() if entry["scope"] == "machine"}

    assert machine == {
        "privacyMode", "modelPath", "cloudBaseUrl", "localServerUrl", "embeddingModelPath", "sandboxAllowNetwork",
        "sandboxAllowUncontained", "flakyHistoryUrl",
        "metricsPort", "metricsHost",  # a repository must not open a port on the user's machine
        "editorPython",  # the editor's own choice: a repository cannot claim it
    }  # fmt: skip
    assert {entry["scope"] for entry in settings_schema().values()} == {"machine", "resource"}


def test_schema_carries_bounds_and_choices() -> None:
    schema = settings_schema()

    assert (schema["maxComplexity"]["minimum"], schema["maxComplexity"]["maximum"]) == (2, 200)
    assert schema["maxFileSizeMb"]["exclusiveMinimum"] == 0
    assert schema["showNotifications"]["enum"] == ["off", "onError", "onWarning", "always"]
    assert schema["embeddingDim"]["enum"] == [384, 512, 768, 1024]
    assert schema["modelPath"]["type"] == ["string", "null"]
    assert schema["exclude"]["items"] == {"type": "string"}
    assert schema["rules"]["additionalProperties"]["enum"] == ["error", "warning", "info", "hint", "off"]


def test_schema_marks_built_features_implemented_and_later_ones_reserved() -> None:
    schema = settings_schema()

    assert schema["maxComplexity"]["implemented"] is True
    assert schema["rules"]["implemented"] is True
    assert schema["modelPath"]["implemented"] is True
    assert schema["privacyMode"]["implemented"] is True
    assert schema["hnswM"]["implemented"] is True
    assert schema["learningEnabled"]["implemented"] is True
    assert schema["codeLens"]["implemented"] is False


def test_schema_is_json_serialisable() -> None:
    assert json.loads(json.dumps(settings_schema())) == settings_schema()


# Documentation


def test_committed_docs_contain_the_current_settings_table() -> None:
    assert render_settings_table() in DOCS.read_text(encoding="utf-8")


def test_settings_table_has_one_row_per_key_with_its_status() -> None:
    table = render_settings_table()

    for key, entry in settings_schema().items():
        (row,) = [line for line in table.splitlines() if line.startswith(f"| `{key}` |")]
        assert ("| implemented |" if entry["implemented"] else "| reserved |") in row
