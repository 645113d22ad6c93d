"""`aqe state` and `aqe conventions` from the command line, and `aqe analyze` honouring what was learned."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from aqe.cli import main
from aqe.learning.events import FeedbackEvent, FeedbackLog

WORKSPACES = Path(__file__).resolve().parents[2] / "workspaces"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "shop"
    shutil.copytree(WORKSPACES / "learning", root)
    monkeypatch.chdir(root)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return root


def _reject(root: Path, subject: str, times: int) -> None:
    log = FeedbackLog(root / ".aqe" / "feedback.jsonl")
    for _ in range(times):
        log.record(FeedbackEvent("reject", subject, {"area": "code", "source": "rule"}))


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out)


def test_state_export_prints_the_state_to_stdout(project, capsys):
    _reject(project, "QE205", 3)
    assert main(["state", "export"]) == 0
    exported = _json(capsys)
    assert exported["format"] == "aqe-learning-state"
    assert [(row["subject"], row["rejected"], row["shown"]) for row in exported["subjects"]] == [("QE205", 3, False)]


def test_state_export_writes_a_file_with_o(project, capsys, tmp_path):
    _reject(project, "QE205", 1)
    target = tmp_path / "state.json"
    assert main(["state", "export", "-o", str(target)]) == 0
    assert json.loads(target.read_text())["subjects"][0]["subject"] == "QE205"


def test_state_merge_adds_counts_and_reports_conflicts_on_stderr(project, capsys, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(WORKSPACES / "learning", other)
    log = FeedbackLog(other / ".aqe" / "feedback.jsonl")
    for _ in range(6):
        log.record(FeedbackEvent("accept", "QE205", {"area": "code"}))
    _reject(project, "QE205", 5)
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["state", "export", "-o", str(first)]) == 0
    assert main(["state", "--root", str(other), "export", "-o", str(second)]) == 0
    capsys.readouterr()
    assert main(["state", "merge", str(first), str(second)]) == 0
    captured = capsys.readouterr()
    merged = json.loads(captured.out)
    row = merged["subjects"][0]
    assert (row["accepted"], row["rejected"]) == (6, 5)
    assert "conflict: QE205" in captured.err


def test_state_import_then_show(project, capsys, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    _reject(other, "QE205", 4)
    exported = tmp_path / "other.json"
    assert main(["state", "--root", str(other), "export", "-o", str(exported)]) == 0
    assert main(["state", "import", str(exported)]) == 0
    capsys.readouterr()
    assert main(["state", "show", "--format", "json"]) == 0
    (row,) = _json(capsys)["subjects"]
    assert (row["subject"], row["rejected"], row["shown"]) == ("QE205", 4, False)


def test_state_import_of_a_bad_file_fails_with_the_reason(project, capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert main(["state", "import", str(bad)]) == 1
    assert "not an aqe learning state" in capsys.readouterr().err


def test_state_reset_forgets_a_rule(project, capsys):
    _reject(project, "QE205", 3)
    assert main(["state", "reset", "QE205"]) == 0
    capsys.readouterr()
    assert main(["state", "show", "--format", "json"]) == 0
    assert _json(capsys)["subjects"] == []


def test_analyze_hides_a_rule_the_team_rejected(project, capsys):
    assert main(["analyze", "--format", "json"]) == 0
    assert "QE205" in {f["ruleId"] for f in _json(capsys)["findings"]}
    _reject(project, "QE205", 3)
    assert main(["analyze", "--format", "json"]) == 0
    assert "QE205" not in {f["ruleId"] for f in _json(capsys)["findings"]}


def test_analyze_reports_convention_findings_only_when_asked(project, capsys):
    assert main(["analyze", "--format", "json"]) == 0
    assert not [f for f in _json(capsys)["findings"] if f["ruleId"].startswith("convention/")]
    assert main(["analyze", "--conventions", "--format", "json"]) == 0
    found = [f for f in _json(capsys)["findings"] if f["ruleId"] == "convention/tests.assertion-style"]
    assert [f["path"] for f in found] == ["tests/test_legacy.py"]
    assert "9 of 10 test files use plain assert" in found[0]["message"]


def test_conventions_lists_the_strong_ones_with_their_evidence(project, capsys):
    assert main(["conventions", "--format", "json"]) == 0
    answer = _json(capsys)
    rows = {row["id"]: row for row in answer["conventions"]}
    assert rows["tests.assertion-style"]["strong"] is True
    assert rows["tests.assertion-style"]["evidence"] == "9 of 10 test files use plain assert"
    assert rows["naming.functions"]["strong"] is False


def test_state_show_prints_the_learned_state_as_markdown(project, capsys):
    _reject(project, "QE205", 3)
    assert main(["state", "show", "--format", "markdown"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# What aqe learned")
    assert "| `QE205` | 0 | 3 | 0 |" in text.split("### Hidden in this workspace")[1]
