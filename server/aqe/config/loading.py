"""Loading: every source merged in precedence order into one Settings, with an issue for each value
that was ignored."""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

from aqe.config.declarations import Settings
from aqe.config.fields import (
    _TIGHTEN_ONLY,
    _WORKSPACE_MAY_ONLY_LOWER,
    ENV_PREFIX,
    PRIVACY_MODES_STRICTEST_FIRST,
    SOURCE_CLIENT,
    SOURCE_CLIENT_USER,
    SOURCE_CLIENT_WORKSPACE,
    SOURCE_MERGED,
    SOURCE_PYPROJECT,
    PrivacyMode,
    Scope,
    ValueKind,
)
from aqe.config.specs import (
    LoadedSettings,
    SettingsIssue,
    SettingSpec,
    _display,
    _escapes_workspace,
    _number,
    _parse_env_text,
    _quoted_list,
    _Rejected,
    _specs_by_key,
    _validate,
    setting_specs,
    snake_to_camel,
)

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
