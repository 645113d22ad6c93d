"""build_router: providers from settings, nothing cloud-shaped in strict mode, repositories kept in their place."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fakes.fake_anthropic import FakeAnthropic

from aqe.config import Settings, load_settings
from aqe.llm.anthropic_provider import AnthropicProvider
from aqe.llm.default_model import default_model
from aqe.llm.factory import audit_log_path, build_router, cloud_factory
from aqe.llm.local import LlamaCppProvider
from aqe.llm.router import ROUTE_LOCAL
from aqe.llm.types import CompletionOptions, Prompt, ProviderUnavailable
from aqe.privacy.audit import AuditLog, BlockedConnection, RoutingDecision, read_audit

KEY = {"ANTHROPIC_API_KEY": "sk-ant-api03-not-a-real-key-0000000000000000"}


def child_env(config_home: Path, **extra: str) -> dict[str, str]:
    """This environment without aqe settings, proxies or an API key, and with its own user config folder."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AQE_") and "proxy" not in name.lower() and name != "ANTHROPIC_API_KEY"
    }
    env["XDG_CONFIG_HOME"] = str(config_home)
    env.update(extra)
    return env


def test_strict_mode_has_no_cloud_factory_even_with_an_api_key() -> None:
    assert cloud_factory(Settings(privacy_mode="strict"), KEY) is None


def test_without_an_api_key_there_is_no_cloud_to_fall_back_to() -> None:
    assert cloud_factory(Settings(privacy_mode="balanced"), {}) is None
    assert cloud_factory(Settings(privacy_mode="off"), {"ANTHROPIC_API_KEY": "  "}) is None


def test_the_cloud_provider_uses_the_configured_model_endpoint_and_key() -> None:
    with FakeAnthropic() as fake:
        settings = Settings(privacy_mode="balanced", cloud_model="claude-test", cloud_base_url=fake.base_url)
        build = cloud_factory(settings, {"ANTHROPIC_API_KEY": fake.api_key})
        assert build is not None
        provider = build()
        try:
            completion = provider.complete(Prompt("Say hello."), CompletionOptions(max_tokens=16))
        finally:
            provider.close()
        assert isinstance(provider, AnthropicProvider)
        assert (provider.model, provider.base_url) == ("claude-test", fake.base_url)
        assert completion.text == "Hello from the fake Messages API."
        assert fake.message_requests[0]["json"]["model"] == "claude-test"


def test_the_audit_log_lives_in_the_workspace_index_folder(tmp_path: Path) -> None:
    assert audit_log_path(Settings(), tmp_path) == tmp_path / ".aqe" / "audit.jsonl"
    assert audit_log_path(Settings(index_dir="build/aqe"), tmp_path) == tmp_path / "build" / "aqe" / "audit.jsonl"


def test_the_router_uses_the_configured_model_file(tmp_path: Path) -> None:
    broken = tmp_path / "mine.gguf"
    with default_model().path.open("rb") as source:
        broken.write_bytes(source.read(1_000_000))
    audit = AuditLog(tmp_path / "audit.jsonl")
    settings = Settings(model_path=str(broken), model_threads=2)
    router = build_router(settings, tmp_path, audit, env={}, install_guard=False)
    try:
        assert isinstance(router.local, LlamaCppProvider)
        assert router.local.model == "mine"
        with pytest.raises(ProviderUnavailable, match=r"mine\.gguf is not a valid GGUF model file"):
            router.complete(Prompt("x"), CompletionOptions(max_tokens=2))
    finally:
        router.close()
    (decision,) = read_audit(audit.path).entries
    assert isinstance(decision, RoutingDecision) and decision.outcome == "ProviderUnavailable"


def test_a_repository_cannot_loosen_privacy_run_another_model_or_redirect_the_cloud(tmp_path: Path) -> None:
    workspace = tmp_path / "cloned-repo"
    workspace.mkdir()
    (workspace / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [tool.aqe]
            privacyMode = "off"
            modelPath = "/bin/sh"
            cloudBaseUrl = "http://collector.example/v1"
            """
        ),
        encoding="utf-8",
    )
    user_config = tmp_path / "config.toml"
    user_config.write_text('privacyMode = "balanced"\n', encoding="utf-8")

    loaded = load_settings(workspace, env=KEY, user_config_path=user_config)
    router = build_router(loaded.settings, workspace, env=KEY, install_guard=False)
    try:
        assert router.mode == "balanced"
        assert isinstance(router.local, LlamaCppProvider)
        assert router.local.model == "gemma-3-270m-q4_k_m"
        build = cloud_factory(loaded.settings, KEY)
        assert build is not None
        cloud = build()
        assert isinstance(cloud, AnthropicProvider)
        assert cloud.base_url == "https://api.anthropic.com"
        cloud.close()
    finally:
        router.close()
    refused = {issue.key for issue in loaded.issues}
    assert {"privacyMode", "modelPath", "cloudBaseUrl"} <= refused


def test_a_strict_session_never_imports_the_cloud_sdk_and_blocks_outbound_connections(tmp_path: Path) -> None:
    """A whole `aqe ask` in a fresh process, with an API key in the environment."""
    workspace = tmp_path / "project"
    workspace.mkdir()
    script = textwrap.dedent(
        """
        import json, socket, sys
        from aqe.cli import main

        code = main(["ask", "def add(a, b):\\n    return", "--format", "json", "--max-tokens", "4"])

        def backstop(event, args):
            if event == "socket.connect" and isinstance(args[1], tuple) and not str(args[1][0]).startswith("127."):
                raise RuntimeError("the guard let a connection through")

        sys.addaudithook(backstop)
        try:
            socket.create_connection(("10.255.255.1", 9), timeout=1)
            outbound = "connected"
        except PermissionError as error:
            outbound = f"refused: {error}"
        print(json.dumps({
            "code": code,
            "anthropic": sorted(name for name in sys.modules if "anthropic" in name),
            "outbound": outbound,
        }))
        """
    )

    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=workspace,
        env=child_env(tmp_path / "config", **KEY),
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.strip().splitlines()
    report = json.loads(lines[-1])
    answer = json.loads("\n".join(lines[:-1]))
    assert report["code"] == 0
    assert report["anthropic"] == []
    assert report["outbound"].startswith("refused: aqe strict privacy mode blocked")
    assert answer["route"] == ROUTE_LOCAL
    entries = read_audit(workspace / ".aqe" / "audit.jsonl").entries
    assert [type(entry) for entry in entries] == [RoutingDecision, BlockedConnection]
    decision, blocked = entries
    assert isinstance(decision, RoutingDecision) and isinstance(blocked, BlockedConnection)
    assert (decision.privacy_mode, decision.route, decision.bytes_sent) == ("strict", ROUTE_LOCAL, 0)
    assert (blocked.host, blocked.port) == ("10.255.255.1", 9)
