"""Write the `contributes.configuration` of the extension's package.json from aqe's settings.

The server's `Settings` dataclass (server/aqe/config/) is the single source of every `aqe.*` key:
this script turns `setting_specs()` into VS Code's configuration schema, one category per settings
group, and adds the few keys only the extension reads (how to start the server). A test
(tests/clients/test_vscode_settings.py) fails when the committed package.json and the config package drift.

    .venv/bin/python clients/vscode/tools/sync_settings.py          # rewrite package.json
    .venv/bin/python clients/vscode/tools/sync_settings.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from aqe.config import GROUPS, Scope, SettingSpec, setting_specs, settings_schema
from aqe.durable import atomic_write_bytes

PACKAGE_JSON = Path(__file__).resolve().parent.parent / "package.json"
NAMESPACE = "aqe"

CLIENT_ONLY_SETTINGS: dict[str, dict[str, Any]] = {
    "aqe.path": {
        "type": "string",
        "default": "",
        "scope": "machine-overridable",
        "markdownDescription": (
            "The `aqe` executable to start (`aqe serve`). Empty: use `aqe.interpreter`, else the Python "
            "extension's selected interpreter (`-m aqe serve`), else `aqe` on the `PATH`. Ignored in "
            "untrusted workspaces when set by the workspace."
        ),
        "order": 0,
    },
    "aqe.interpreter": {
        "type": "string",
        "default": "",
        "scope": "machine-overridable",
        "markdownDescription": (
            "A Python interpreter with aqe installed; the server runs as `<interpreter> -m aqe serve`. "
            "Empty: the Python extension's selected interpreter when it is installed. Ignored in untrusted "
            "workspaces when set by the workspace."
        ),
        "order": 1,
    },
    "aqe.trace.server": {
        "type": "string",
        "enum": ["off", "messages", "verbose"],
        "default": "off",
        "scope": "window",
        "markdownDescription": "Log the LSP messages between VS Code and the aqe server to the `aqe` output.",
        "order": 2,
    },
}
"""Keys the extension reads itself; every other `aqe.*` key is a server setting and is sent to it."""

SET_BY_THE_EXTENSION = frozenset({"editorPython"})
"""Server settings the extension fills in itself (the Python extension's interpreter for the folder):
not shown in VS Code's settings, where a user would set `aqe.projectPython` instead."""

_SCHEMA_FIELDS = ("type", "default", "enum", "items", "additionalProperties", "minimum", "maximum", "minLength")
_VSCODE_SCOPE = {Scope.USER: "machine", Scope.WORKSPACE: "resource"}
"""`machine` keys cannot be set in workspace or folder settings: VS Code itself refuses them there."""


def server_property(spec: SettingSpec, schema: dict[str, Any], order: int) -> dict[str, Any]:
    """One server setting in VS Code's schema vocabulary (JSON schema plus scope and order)."""
    prop = {name: schema[name] for name in _SCHEMA_FIELDS if name in schema}
    if "exclusiveMinimum" in schema:
        prop["exclusiveMinimum"] = schema["exclusiveMinimum"]
    description = spec.doc
    if not spec.implemented:
        description += " *Reserved: this version of the server does not use it yet.*"
    prop["markdownDescription"] = description
    prop["scope"] = _VSCODE_SCOPE[spec.scope]
    prop["order"] = order
    return prop


def contributed_configuration() -> list[dict[str, Any]]:
    """The whole `contributes.configuration` array: the client's own keys, then one category per group."""
    schema = settings_schema()
    categories: list[dict[str, Any]] = [
        {"id": "aqe.server", "title": "Server", "order": 0, "properties": dict(CLIENT_ONLY_SETTINGS)}
    ]
    for position, group in enumerate(GROUPS, start=1):
        specs = [spec for spec in setting_specs() if spec.group == group and spec.key not in SET_BY_THE_EXTENSION]
        properties = {
            f"{NAMESPACE}.{spec.key}": server_property(spec, schema[spec.key], order)
            for order, spec in enumerate(specs)
        }
        category_id = f"aqe.{group.lower().replace(' ', '-')}"
        categories.append({"id": category_id, "title": group, "order": position, "properties": properties})
    return categories


def rendered_package_json(current: dict[str, Any]) -> str:
    updated = dict(current)
    contributes = dict(updated.get("contributes", {}))
    contributes["configuration"] = contributed_configuration()
    updated["contributes"] = contributes
    return json.dumps(updated, indent=2, ensure_ascii=False) + "\n"


def _write_durably(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when package.json is stale")
    args = parser.parse_args(argv)
    text = PACKAGE_JSON.read_text(encoding="utf-8")
    wanted = rendered_package_json(json.loads(text))
    if text == wanted:
        return 0
    if args.check:
        print(f"{PACKAGE_JSON.name} is out of date: run clients/vscode/tools/sync_settings.py", file=sys.stderr)
        return 1
    _write_durably(PACKAGE_JSON, wanted)
    print(f"updated {PACKAGE_JSON}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
