"""The settings as a schema (for the VS Code package.json) and as the Markdown table in the docs."""

from __future__ import annotations

import json
import sys
from typing import Any

if sys.version_info >= (3, 11):
    pass
else:
    pass
from aqe.config.fields import _TIGHTEN_ONLY, _WORKSPACE_MAY_ONLY_LOWER, GROUPS, Scope, ValueKind
from aqe.config.specs import SettingSpec, _json_value, _number, setting_specs

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
    lines: list[str] = []
    for group in GROUPS:
        specs = [spec for spec in setting_specs() if spec.group == group]
        lines += [
            f"### {group}",
            "",
            "| Key | Type | Default | Scope | Status | Description |",
            "|---|---|---|---|---|---|",
        ]
        for spec in specs:
            cells = (
                f"`{spec.key}`",
                _type_cell(spec),
                f"`{json.dumps(_json_value(spec.default))}`",
                _scope_cell(spec),
                "implemented" if spec.implemented else "reserved",
                spec.doc,
            )
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _scope_cell(spec: SettingSpec) -> str:
    if spec.name == _TIGHTEN_ONLY:
        return "user; a workspace may only tighten it"
    if spec.name in _WORKSPACE_MAY_ONLY_LOWER:
        return "any; a workspace may only lower it"
    return "user" if spec.scope is Scope.USER else "any"


def _type_cell(spec: SettingSpec) -> str:
    if spec.kind is ValueKind.STRING_MAP:
        return "table: rule → " + ", ".join(f"`{choice}`" for choice in spec.choices or ())
    if spec.kind is ValueKind.STRING_LIST:
        return "list of strings"
    if spec.choices is not None:
        return "one of " + ", ".join(f"`{json.dumps(choice)}`" for choice in spec.choices)
    text = {ValueKind.INTEGER: "integer", ValueKind.NUMBER: "number"}.get(spec.kind, spec.kind.value)
    lower, upper = spec.minimum, spec.maximum
    if lower is not None and upper is not None and not spec.exclusive_minimum:
        text += f", {_number(lower)} to {_number(upper)}"
    elif lower is not None or upper is not None:
        bounds = []
        if lower is not None:
            bounds.append(f"> {_number(lower)}" if spec.exclusive_minimum else f"≥ {_number(lower)}")
        if upper is not None:
            bounds.append(f"≤ {_number(upper)}")
        text += ", " + " and ".join(bounds)
    if spec.nullable:
        text += " or null"
    return text


# ---------------------------------------------------------------------------------------------
# Formatting helpers
