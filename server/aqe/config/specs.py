"""One SettingSpec per declared setting, and checking a value against it."""

from __future__ import annotations

import json
import math
import re
import sys
import typing
from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import cache
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, Literal

if sys.version_info >= (3, 11):
    pass
else:
    pass

from aqe.config.declarations import Settings
from aqe.config.fields import _META_KEY, ENV_PREFIX, Scope, ValueKind, _Declared


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
