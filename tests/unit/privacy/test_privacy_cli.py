"""`aqe ask` and `aqe privacy audit`, run as a user would: `python -m aqe` in a project folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.fake_anthropic import FakeAnthropic, Reply

SECRET = "AKIAWYR64GBAMCS0G5EO"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(default=Reply(text="It adds two numbers.")) as server:
        yield server


def aqe(
    project: Path, *arguments: str, user_config: str = "", api_key: str | None = None
) -> subprocess.CompletedProcess:
    """`python -m aqe ARGUMENTS` in `project`, with this user config and no settings from this machine."""
    config_home = project.parent / "config"
    (config_home / "aqe").mkdir(parents=True, exist_ok=True)
    (config_home / "aqe" / "config.toml").write_text(user_config, encoding="utf-8")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AQE_") and "proxy" not in name.lower() and name != "ANTHROPIC_API_KEY"
    }
    env["XDG_CONFIG_HOME"] = str(config_home)
    if api_key is not None:
        env["ANTHROPIC_API_KEY"] = api_key
    return subprocess.run(
        [sys.executable, "-m", "aqe", *arguments], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )


def test_ask_answers_with_the_local_model_in_strict_mode(project: Path) -> None:
    completed = aqe(project, "ask", "def add(a, b):\n    return", "--format", "json", "--max-tokens", "6")

    assert completed.returncode == 0, completed.stderr
    answer = json.loads(completed.stdout)
    assert {"text", "confidence", "model", "route", "latencyS"} <= answer.keys()
    assert answer["route"] == "local"
    assert answer["model"] == "gemma-3-270m-q4_k_m"
    assert 0.0 < answer["confidence"] < 1.0
    assert answer["completionTokens"] <= 6


def test_ask_in_text_format_prints_the_answer_and_reports_the_route_on_stderr(project: Path) -> None:
    completed = aqe(project, "ask", "def add(a, b):\n    return", "--max-tokens", "4")

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip()
    assert "via local, confidence" in completed.stderr


def test_ask_sends_a_tagged_request_to_the_cloud_in_balanced_mode_redacted(project: Path, fake: FakeAnthropic) -> None:
    config = f'privacyMode = "balanced"\ncloudBaseUrl = "{fake.base_url}"\ncloudModel = "claude-test"\n'

    completed = aqe(
        project,
        "ask",
        f"Is this safe?\nAWS_ACCESS_KEY_ID={SECRET}",
        "--tag",
        "security review",
        "--format",
        "json",
        user_config=config,
        api_key=fake.api_key,
    )

    assert completed.returncode == 0, completed.stderr
    answer = json.loads(completed.stdout)
    assert (answer["route"], answer["model"]) == ("cloud:complex", "claude-test")
    assert answer["text"] == "It adds two numbers."
    assert SECRET not in fake.received_text()
    assert "[REDACTED:aws-access-key-id]" in fake.received_text()


def test_ask_reports_a_broken_model_as_a_clear_error(project: Path) -> None:
    broken = project / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)

    completed = aqe(project, "ask", "hello", user_config=f'modelPath = "{broken}"\n')

    assert completed.returncode == 1
    assert "aqe ask:" in completed.stderr
    assert "broken.gguf" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_privacy_audit_lists_the_mode_decisions_and_blocked_attempts(project: Path, fake: FakeAnthropic) -> None:
    config = f'privacyMode = "balanced"\ncloudBaseUrl = "{fake.base_url}"\n'
    aqe(project, "ask", "def add(a, b):\n    return", "--max-tokens", "4")
    aqe(project, "ask", f"review {SECRET}", "--tag", "architecture", user_config=config, api_key=fake.api_key)

    completed = aqe(project, "privacy", "audit", "--format", "json", user_config=config, api_key=fake.api_key)

    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["privacyMode"] == "balanced"
    assert report["auditLog"] == str(project / ".aqe" / "audit.jsonl")
    assert [(entry["privacyMode"], entry["route"]) for entry in report["decisions"]] == [
        ("strict", "local"),
        ("balanced", "cloud:complex"),
    ]
    assert report["decisions"][1]["redactions"] == {"aws-access-key-id": 1}
    assert report["totals"]["sentOffMachine"] == 1
    assert report["blocked"] == []
    assert SECRET not in completed.stdout


def test_privacy_audit_as_text_is_readable_and_limited(project: Path) -> None:
    for _ in range(3):
        aqe(project, "ask", "x = 1", "--max-tokens", "2")

    completed = aqe(project, "privacy", "audit", "--limit", "2")

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("privacy mode: strict\n")
    assert "recent decisions (2 of 3):" in completed.stdout
    assert completed.stdout.count(" local ") >= 2
    assert "blocked connection attempts (0 of 0):" in completed.stdout


def test_privacy_audit_of_a_fresh_project_says_there_is_nothing_yet(project: Path) -> None:
    completed = aqe(project, "privacy", "audit")

    assert completed.returncode == 0, completed.stderr
    assert "(no entries yet)" in completed.stdout
    assert "recent decisions (0 of 0):" in completed.stdout
