"""Test generation behind both front doors: one service proves the test and records its outcome."""

from __future__ import annotations

import json
from pathlib import Path

from aqe.app.project import Project
from aqe.app.testgen import TestGenerationService
from aqe.cli import main
from aqe.config import Settings
from aqe.testgen.target import find_target_by_name


def _events(root: Path) -> list[dict]:
    log = root / ".aqe" / "feedback.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_the_service_proves_a_test_and_records_what_the_user_did_with_it(shop: Path):
    project = Project.load(shop, client_options={"testGenerationCandidates": 0})
    path = "src/shop/shipping.py"
    text = (shop / path).read_text()
    target = find_target_by_name(shop, path, text, "shipping_cents")

    result = TestGenerationService(project).generate(target, text)
    assert result.proven is not None, result.reason
    TestGenerationService(project).record_outcome(result, "apply", "editor")

    [event] = _events(shop)
    assert (event["kind"], event["subject"]) == ("apply", "testgen")
    assert event["details"]["target"] == "shipping_cents" and event["details"]["via"] == "editor"
    assert event["details"]["arcsGained"] > 0


def test_aqe_generate_write_records_the_same_event_as_the_editor(shop: Path, capsys):
    assert main(["generate", "src/shop/shipping.py::shipping_cents", "--write", "--no-model", "--root", str(shop)]) == 0
    [event] = _events(shop)
    assert (event["kind"], event["subject"]) == ("apply", "testgen")
    assert event["details"]["via"] == "cli"
    assert set(event["details"]) == {
        "target", "file", "generator", "arcsGained", "linesGained", "repaired", "seconds", "via"
    }  # fmt: skip
    assert (shop / event["details"]["file"]).read_text().count("def test_") >= 1


def test_an_untrusted_project_proves_nothing(shop: Path):
    project = Project.load(shop, client_options={"trusted": False})
    path = "src/shop/shipping.py"
    text = (shop / path).read_text()
    result = TestGenerationService(project).generate(find_target_by_name(shop, path, text, "shipping_cents"), text)
    assert result.proven is None and "not trusted" in (result.reason or "")
    assert not project.sandbox_runner().trusted
    assert Settings().sandbox_disk_mb * 1024**2 == project.sandbox_runner().max_disk_bytes


def test_aqe_generate_json_says_how_many_mutants_the_test_kills(shop: Path, capsys):
    arguments = ["generate", "src/shop/shipping.py::shipping_cents", "--no-model", "--format", "json"]
    assert main([*arguments, "--root", str(shop)]) == 0
    [report] = json.loads(capsys.readouterr().out)
    test = report["test"]
    assert 0 < test["mutantsKilled"] <= test["mutantsTotal"]
    assert test["mutantsKilledBefore"] == 0  # the example shop has no test of shipping
