"""The command line: `aqe analyze` on the sample project must find exactly its answer key."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from aqe.cli import main, render_rules_markdown

REPO = Path(__file__).resolve().parents[2]
SHOP = REPO / "examples" / "shop"


def _answer_key() -> list[tuple[str, int, str]]:
    """Rows `| file | line | rule id | ... |` of the 'Planted defects' table in the sample's README."""
    readme = (SHOP / "README.md").read_text()
    section = readme.split("## Planted defects", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\S+) \| (\d+) \| (QE\d{3}) \|", section, flags=re.MULTILINE)
    return sorted((path, int(line), rule) for path, line, rule in rows)


def _analyze_json(capsys, *args: str) -> tuple[int, dict]:
    code = main(["analyze", str(SHOP), "--format", "json", *args])
    return code, json.loads(capsys.readouterr().out)


def test_the_sample_project_yields_exactly_its_answer_key(capsys):
    key = _answer_key()
    assert len(key) == 15
    _, report = _analyze_json(capsys, "--fail-on", "never")
    found = sorted((f["path"], f["line"], f["ruleId"]) for f in report["findings"])
    assert found == key


def test_fail_on_decides_the_exit_code(capsys):
    assert _analyze_json(capsys, "--fail-on", "error")[0] == 1  # the focused test (QE302) is an error
    assert _analyze_json(capsys, "--fail-on", "never")[0] == 0


def test_a_clean_folder_exits_zero_even_when_failing_on_hints(tmp_path, capsys):
    (tmp_path / "ok.py").write_text("def add(a, b):\n    return a + b\n")
    assert main(["analyze", str(tmp_path), "--fail-on", "hint"]) == 0
    assert "No findings" in capsys.readouterr().out


def test_sarif_output_is_written_atomically_to_a_file(tmp_path, capsys):
    out = tmp_path / "aqe.sarif"
    assert main(["analyze", str(SHOP), "--format", "sarif", "-o", str(out), "--fail-on", "never"]) == 0
    sarif = json.loads(out.read_text())
    assert sarif["version"] == "2.1.0"
    assert len(sarif["runs"][0]["results"]) == 15
    assert not list(tmp_path.glob(".*tmp*"))


def test_project_settings_in_pyproject_apply(tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text('[tool.aqe]\nrules = { QE205 = "off", QE202 = "error" }\n')
    (tmp_path / "m.py").write_text("def f(x=[]):  # TODO: later\n    return x\n")
    code, report = _analyze_json_at(tmp_path, capsys, "--fail-on", "error")
    assert [(f["ruleId"], f["severity"]) for f in report["findings"]] == [("QE202", "error")]
    assert code == 1


def _analyze_json_at(path: Path, capsys, *args: str) -> tuple[int, dict]:
    code = main(["analyze", str(path), "--format", "json", *args])
    return code, json.loads(capsys.readouterr().out)


def test_analysing_a_subfolder_uses_the_projects_settings_and_reports_paths_from_its_top(tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text('[tool.aqe]\nrules = { QE205 = "off" }\nexclude = ["tests/gen_*"]\n')
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_m.py").write_text("def test_f():  # TODO: later\n    x = 1\n")
    (tmp_path / "tests" / "gen_test_x.py").write_text("def test_g():\n    pass\n")

    _, report = _analyze_json_at(tmp_path / "tests", capsys, "--fail-on", "never")

    assert [(f["path"], f["ruleId"]) for f in report["findings"]] == [("tests/test_m.py", "QE101")]


def test_commands_given_a_root_that_is_not_a_folder_say_so_and_create_nothing(tmp_path, capsys):
    missing = tmp_path / "nope"
    assert main(["search", "anything", "--root", str(missing)]) == 2
    assert main(["coverage", "--gaps", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "not a folder" in err and "no such file or folder" in err
    assert not missing.exists()


def test_a_bad_setting_is_reported_on_stderr_and_the_default_kept(tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text('[tool.aqe]\nmaxComplexity = "ten"\n')
    (tmp_path / "m.py").write_text("x = 1\n")
    assert main(["analyze", str(tmp_path)]) == 0
    assert "maxComplexity" in capsys.readouterr().err


def test_skipped_files_are_named_on_stderr(tmp_path, capsys):
    (tmp_path / "blob.py").write_bytes(b"x = 1\x00\n")
    (tmp_path / "ok.py").write_text("x = 1\n")
    assert main(["analyze", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "blob.py" in err and "NUL" in err


def test_a_missing_path_is_a_usage_error(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "nope")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_rules_lists_every_rule_as_json(capsys):
    assert main(["rules", "--format", "json"]) == 0
    rules = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rules] == [
        "QE101", "QE102", "QE103", "QE104", "QE105", "QE106", "QE107", "QE108", "QE109", "QE110", "QE111",
        "QE201", "QE202", "QE203", "QE204", "QE205", "QE301", "QE302", "QE303",
    ]  # fmt: skip
    assert all(r["summary"] and r["rationale"] for r in rules)


def test_docs_rules_md_is_generated_from_the_rules():
    assert (REPO / "docs" / "rules.md").read_text() == render_rules_markdown(), (
        "docs/rules.md is stale: run `aqe rules --format markdown > docs/rules.md`"
    )


@pytest.mark.e2e
def test_the_console_script_runs_as_a_subprocess():
    script = Path(sys.executable).parent / "aqe"
    result = subprocess.run(
        [str(script), "analyze", str(SHOP / "web"), "--fail-on", "warning"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "QE302" in result.stdout


@pytest.mark.parametrize("where", ["a folder", "an empty name", "under a file"])
def test_a_report_that_cannot_be_written_is_a_message_and_leaves_nothing_behind(tmp_path, capsys, where):
    (tmp_path / "m.py").write_text("x = 1\n")
    # "under a file": its folder cannot be made (an OSError, as a read-only place gives, but for root too)
    output = {"a folder": tmp_path, "an empty name": Path(""), "under a file": tmp_path / "m.py" / "out.sarif"}[where]
    assert main(["analyze", str(tmp_path), "--format", "sarif", "-o", str(output)]) == 2
    assert "aqe: " in capsys.readouterr().err
    assert not list(tmp_path.rglob(".*tmp*"))


def test_a_report_file_gets_ordinary_permissions(tmp_path, capsys):
    out = tmp_path / "reports" / "aqe.json"
    assert main(["analyze", str(SHOP), "--format", "json", "-o", str(out), "--fail-on", "never"]) == 0
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_reader_that_goes_away_ends_the_command_quietly():
    script = Path(sys.executable).parent / "aqe"
    process = subprocess.Popen(
        [str(script), "rules", "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # as `aqe rules | head -0` does, before aqe writes
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("::Cart", "expected FILE::FUNCTION"),
        ("src/shop/cart.py::Cart", "is a class"),
        ("tests/test_cart.py::test_add_to_cart", "is a test already"),
        ("web/cart.ts::Cart", "Python files only"),
        ("src/shop/nope.py::f", "no such file"),
    ],
)
def test_generate_names_a_target_it_cannot_take_plainly(capsys, target, message):
    assert main(["generate", target, "--root", str(SHOP), "--no-model"]) == 2
    assert message in capsys.readouterr().err


def test_a_file_with_syntax_errors_is_named_on_stderr(tmp_path, capsys):
    (tmp_path / "broken.py").write_text("def f(:\n    pass\n")
    assert main(["analyze", str(tmp_path)]) == 0
    assert "broken.py has syntax errors" in capsys.readouterr().err
