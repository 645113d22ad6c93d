"""The VS Code extension's settings mirror the server's Settings one to one (package.json vs the config package)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from aqe.config import Scope, setting_specs

REPO = Path(__file__).resolve().parents[2]
PACKAGE_JSON = REPO / "clients" / "vscode" / "package.json"


def _load_generator():
    spec = importlib.util.spec_from_file_location(
        "sync_settings", REPO / "clients" / "vscode" / "tools" / "sync_settings.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sync_settings = _load_generator()


def _contributed() -> dict[str, dict]:
    package = json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))
    properties: dict[str, dict] = {}
    for category in package["contributes"]["configuration"]:
        for key, schema in category["properties"].items():
            assert key not in properties, f"{key} is contributed twice"
            properties[key] = schema
    return properties


def test_package_json_is_what_the_generator_writes_from_config_py():
    text = PACKAGE_JSON.read_text(encoding="utf-8")
    assert text == sync_settings.rendered_package_json(json.loads(text)), (
        "clients/vscode/package.json is out of date with server/aqe/config/: "
        "run .venv/bin/python clients/vscode/tools/sync_settings.py"
    )


def test_every_server_setting_and_only_those_are_contributed_besides_the_clients_own():
    server_keys = {f"aqe.{spec.key}" for spec in setting_specs() if spec.key not in sync_settings.SET_BY_THE_EXTENSION}
    client_keys = set(sync_settings.CLIENT_ONLY_SETTINGS)
    assert set(_contributed()) == server_keys | client_keys
    assert not server_keys & client_keys


def test_defaults_types_and_choices_match_the_server():
    contributed = _contributed()
    for spec in setting_specs():
        if spec.key in sync_settings.SET_BY_THE_EXTENSION:
            continue
        schema = contributed[f"aqe.{spec.key}"]
        default = list(spec.default) if isinstance(spec.default, tuple) else spec.default
        assert schema["default"] == default, spec.key
        if spec.choices is not None and spec.kind.value != "string map":
            assert schema["enum"] == list(spec.choices), spec.key
        expected_type = {
            "boolean": "boolean",
            "integer": "integer",
            "number": "number",
            "string": "string",
            "string list": "array",
            "string map": "object",
        }[spec.kind.value]
        assert schema["type"] == ([expected_type, "null"] if spec.nullable else expected_type), spec.key


def test_user_only_settings_cannot_be_set_by_a_workspace():
    contributed = _contributed()
    for spec in setting_specs():
        if spec.key in sync_settings.SET_BY_THE_EXTENSION:
            assert spec.scope is Scope.USER, spec.key  # a repository cannot claim to be the editor's choice
            continue
        scope = contributed[f"aqe.{spec.key}"]["scope"]
        if spec.scope is Scope.USER:
            assert scope == "machine", spec.key
        else:
            assert scope == "resource", spec.key


def test_the_settings_that_choose_what_runs_are_ignored_from_untrusted_workspaces():
    package = json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))
    untrusted = package["capabilities"]["untrustedWorkspaces"]
    assert untrusted["supported"] == "limited"
    assert set(untrusted["restrictedConfigurations"]) == {"aqe.path", "aqe.interpreter"}


def test_the_extension_knows_exactly_the_client_only_keys_the_generator_declares():
    settings_ts = (REPO / "clients" / "vscode" / "src" / "settings.ts").read_text(encoding="utf-8")
    declared = {key.removeprefix("aqe.") for key in sync_settings.CLIENT_ONLY_SETTINGS}
    line = next(line for line in settings_ts.splitlines() if "CLIENT_ONLY_KEYS" in line and "new Set" in line)
    in_typescript = set(json.loads(line[line.index("[") : line.rindex("]") + 1]))
    assert in_typescript == declared


def test_check_mode_fails_on_a_stale_package_json(tmp_path, monkeypatch):
    stale = tmp_path / "package.json"
    package = json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))
    package["contributes"]["configuration"][1]["properties"].pop("aqe.maxComplexity")
    stale.write_text(json.dumps(package, indent=2) + "\n", encoding="utf-8")
    monkeypatch.setattr(sync_settings, "PACKAGE_JSON", stale)
    assert sync_settings.main(["--check"]) == 1
    assert sync_settings.main([]) == 0
    assert sync_settings.main(["--check"]) == 0
    assert stale.read_text(encoding="utf-8") == PACKAGE_JSON.read_text(encoding="utf-8")
