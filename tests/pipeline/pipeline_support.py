"""Shared pieces of the pipeline-integration tests: the repository root, an `aqe` on PATH, git."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import aqe

REPO_ROOT = Path(__file__).resolve().parents[2]
SHOP = REPO_ROOT / "examples" / "shop"


def tool(name: str) -> str:
    """A console script of the running interpreter's environment (where the dev extra installs
    pre-commit, actionlint and hadolint), so the tests never depend on what else is on PATH."""
    candidate = Path(sys.executable).parent / name
    if not candidate.exists():
        pytest.skip(f"{name} is not installed in this environment (pip install -e '.[dev]')")
    return str(candidate)


def aqe_environment(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH starts with an `aqe` that runs the aqe under test (this checkout's
    server/ package with this interpreter), the way a team's PATH has the aqe they installed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "aqe"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m aqe "$@"\n', encoding="utf-8")
    launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    package_parent = str(Path(aqe.__file__).resolve().parents[1])
    python_path = os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH", "")) if p)
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": python_path,
        "GIT_AUTHOR_NAME": "aqe tests",
        "GIT_AUTHOR_EMAIL": "tests@example.invalid",
        "GIT_COMMITTER_NAME": "aqe tests",
        "GIT_COMMITTER_EMAIL": "tests@example.invalid",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "NO_COLOR": "1",
    }


def git(repo: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True)
