"""A repository's own files must not run code or loosen limits: git's config, aqe's [tool.aqe]."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from aqe.config import load_settings
from aqe.flaky.identity import code_version, head_commit

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(root: Path, *args: str) -> str:
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(root), "GIT_CONFIG_NOSYSTEM": "1"}
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, env=environment, check=True)
    return done.stdout.strip()


@pytest.fixture
def hostile_repository(tmp_path: Path) -> tuple[Path, Path]:
    """A repository whose .git/config runs a program (writing a witness file) from every hook git has."""
    root, witness = tmp_path / "repo", tmp_path / "witness"
    root.mkdir()
    _git(root, "init", "-q")
    (root / "app.py").write_text("x = 1\n")
    (root / "notes.bin").write_text("binary\n")
    (root / ".gitattributes").write_text("*.bin diff=evil\n")
    _git(root, "add", ".")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    script = root / ".git" / "evil.sh"
    script.write_text(f"#!/bin/sh\necho ran \"$0\" >> {witness}\n")
    script.chmod(0o755)
    hooks = root / ".git" / "hooks"
    for hook in ("post-index-change", "reference-transaction", "pre-commit"):
        (hooks / hook).write_text(script.read_text())
        (hooks / hook).chmod(0o755)
    with (root / ".git" / "config").open("a") as config:
        config.write(f"[core]\n\tfsmonitor = {script}\n[diff \"evil\"]\n\ttextconv = {script}\n\tcommand = {script}\n"
                     f"[diff]\n\texternal = {script}\n")  # fmt: skip
    (root / "app.py").write_text("x = 2\n")  # a local change, so git diff has work to do
    (root / "notes.bin").write_text("changed\n")
    return root, witness


def test_git_never_runs_in_an_untrusted_workspace_and_the_commit_is_read_from_files(hostile_repository):
    root, witness = hostile_repository
    commit = _git(root, "-c", "core.fsmonitor=false", "rev-parse", "HEAD")
    assert code_version(root, trusted=False) == commit == head_commit(root)
    assert not witness.exists()


def test_in_a_trusted_workspace_git_runs_without_fsmonitor_hooks_or_diff_drivers(hostile_repository):
    root, witness = hostile_repository
    version = code_version(root, trusted=True)
    assert version is not None and "+" in version  # the local change is hashed
    assert not witness.exists()


def test_a_worktree_and_packed_refs_are_read_without_git(tmp_path: Path):
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    (root / "a.py").write_text("a = 1\n")
    _git(root, "add", ".")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    _git(root, "pack-refs", "--all")
    commit = _git(root, "rev-parse", "HEAD")
    assert head_commit(root) == commit
    _git(root, "worktree", "add", "-q", str(tmp_path / "other"), "-b", "other")
    assert head_commit(tmp_path / "other") == commit
    assert head_commit(tmp_path) is None


@pytest.mark.parametrize(
    "options",
    [
        {"trusted": True, "aqe": {"trusted": False}},
        {"aqe": {"trusted": False}, "trusted": True, "maxComplexity": 5},
        {"trusted": "true"},
        {"trusted": True, "aqe": {"trusted": None}},
    ],
)
def test_trust_only_narrows_whatever_the_nesting_of_initialization_options(options):
    assert load_settings(None, client_options=options, env={}).trusted is False


def test_a_repository_cannot_loosen_the_sandbox_limits_or_send_more_to_the_cloud(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text(
        "[tool.aqe]\nsandboxTimeoutS = 86400\nsandboxMemoryMb = 1048576\nsandboxDiskMb = 65536\n"
        "fallbackThreshold = 1.0\nsandboxAllowUncontained = true\nsandboxAllowNetwork = true\n"
    )
    loaded = load_settings(tmp_path, env={}, user_config_path=tmp_path / "none.toml")
    settings = loaded.settings
    assert (settings.sandbox_timeout_s, settings.sandbox_memory_mb, settings.sandbox_disk_mb) == (300.0, 2048, 1024)
    assert settings.fallback_threshold == 0.5
    assert not settings.sandbox_allow_uncontained and not settings.sandbox_allow_network
    assert len([issue for issue in loaded.issues if "only lower" in issue.message]) == 4


def test_a_repository_may_tighten_the_limits(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text("[tool.aqe]\nsandboxTimeoutS = 30\nsandboxMemoryMb = 512\n")
    settings = load_settings(tmp_path, env={}, user_config_path=tmp_path / "none.toml").settings
    assert (settings.sandbox_timeout_s, settings.sandbox_memory_mb) == (30.0, 512)
