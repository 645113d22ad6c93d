"""The settings reference of docs/configuration.md, rendered from the declarations in aqe.config (kept
apart from them: it is read by the docs and their test only, never when aqe starts)."""

from __future__ import annotations

import json

from aqe.config import (
    _TIGHTEN_ONLY,
    _WORKSPACE_MAY_ONLY_LOWER,
    GROUPS,
    Scope,
    SettingSpec,
    ValueKind,
    _json_value,
    _number,
    setting_specs,
)


def settings_tables() -> str:
    """One Markdown table per settings group, for docs/configuration.md (see render_settings_table)."""
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
