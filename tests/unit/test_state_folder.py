"""aqe's folder in a project (`.aqe/`) carries its own `.gitignore`, as pytest's and ruff's caches do, so
nobody commits it by accident: checked with a real git repository and the real `aqe` commands."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from aqe.cli import main
from aqe.durable import STATE_FOLDER_GITIGNORE, make_state_folder
from aqe.learning.events import FeedbackEvent, FeedbackLog

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"


def _git(root: Path, *args: str) -> str:
    completed = subprocess.run(
        ["git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return completed.stdout


@pytest.fixture
def repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "shop"
    shutil.copytree(SHOP, root)
    shutil.rmtree(root / ".aqe", ignore_errors=True)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no user settings of the developer's
    _git(root, "init", "-q")
    return root


def test_a_new_state_folder_gets_a_gitignore_of_everything(tmp_path: Path) -> None:
    folder = tmp_path / "project" / ".aqe"
    make_state_folder(folder)
    assert (folder / ".gitignore").read_text() == STATE_FOLDER_GITIGNORE
    assert STATE_FOLDER_GITIGNORE.splitlines()[-1] == "*"


def test_a_gitignore_its_owner_edited_is_kept(tmp_path: Path) -> None:
    folder = tmp_path / ".aqe"
    folder.mkdir()
    (folder / ".gitignore").write_text("*\n!feedback.jsonl\n")
    make_state_folder(folder)
    assert (folder / ".gitignore").read_text() == "*\n!feedback.jsonl\n"


def test_a_folder_made_before_this_release_gets_its_gitignore_on_the_next_write(tmp_path: Path) -> None:
    folder = tmp_path / ".aqe"
    folder.mkdir()
    FeedbackLog.for_workspace(tmp_path, ".aqe").record(FeedbackEvent("accept", "QE202", {}))
    assert (folder / ".gitignore").read_text() == STATE_FOLDER_GITIGNORE


def test_aqe_index_leaves_nothing_for_git_to_commit(repository: Path, capsys) -> None:
    assert main(["index", str(repository), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["report"]["filesSeen"] > 0
    assert (repository / ".aqe" / "index" / "manifest.json").is_file()
    assert (repository / ".aqe" / ".gitignore").is_file()
    untracked = _git(repository, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert untracked, "the copied project itself is untracked"
    assert not [line for line in untracked if ".aqe" in line]
    assert _git(repository, "check-ignore", ".aqe/index/manifest.json").strip() == ".aqe/index/manifest.json"


def test_the_feedback_log_of_a_learning_reset_is_ignored_by_git(repository: Path, capsys) -> None:
    assert main(["state", "--root", str(repository), "reset", "QE202"]) == 0
    capsys.readouterr()
    assert (repository / ".aqe" / "feedback.jsonl").is_file()
    assert _git(repository, "check-ignore", ".aqe/feedback.jsonl").strip() == ".aqe/feedback.jsonl"
