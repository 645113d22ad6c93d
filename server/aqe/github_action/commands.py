"""Run the aqe commands a job asked for and read their machine-readable reports back."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from aqe.github_action.inputs import ActionInputs, RunnerContext

EXIT_USAGE = 2


@dataclass(frozen=True)
class ReportedFinding:
    """One SARIF result, with its path relative to the repository (what annotations and the summary name)."""

    path: str
    line: int
    column: int
    rule_id: str
    level: str
    message: str


@dataclass(frozen=True)
class AnalyzeOutcome:
    exit_code: int
    sarif_file: Path | None
    findings: tuple[ReportedFinding, ...]
    rule_names: Mapping[str, str]


@dataclass(frozen=True)
class ProvenTest:
    target: str
    test_names: tuple[str, ...]
    test_file: str
    lines_gained: int
    code: str


@dataclass(frozen=True)
class GenerateOutcome:
    exit_code: int
    attempted: tuple[str, ...]
    proven: tuple[ProvenTest, ...]
    not_proven: tuple[tuple[str, str], ...]
    """(target, reason) for each function no test could be proven for."""


@dataclass(frozen=True)
class FlakyVerdict:
    test_id: str
    path: str
    line: int | None
    verdict: str
    runs: int
    failures: int
    cause: str | None
    message: str


@dataclass(frozen=True)
class FlakyOutcome:
    exit_code: int
    sarif_file: Path | None
    verdicts: tuple[FlakyVerdict, ...]
    reports_ingested: int
    note: str | None


class AqeRunner:
    """Runs `aqe` with the interpreter this module runs in, from the project folder, with the privacy
    mode the job chose (an environment variable is a user-scoped source, which a repository cannot loosen)."""

    def __init__(self, inputs: ActionInputs, context: RunnerContext) -> None:
        self.inputs = inputs
        self.context = context
        self.project = (context.workspace / inputs.working_directory).resolve()
        self.results = (context.workspace / inputs.results_directory).resolve()
        self.environment = {**os.environ, "AQE_PRIVACY_MODE": inputs.privacy_mode}

    def run(self, *arguments: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
        print(f"::group::aqe {' '.join(arguments)}", flush=True)
        try:
            return subprocess.run(
                [sys.executable, "-m", "aqe", *arguments],
                cwd=self.project,
                env=self.environment,
                stdout=subprocess.PIPE if capture else None,
                text=True,
                check=False,
            )
        finally:
            print("::endgroup::", flush=True)

    def repository_path(self, project_relative: str) -> str:
        """Paths in aqe's reports are relative to the project; annotations and code scanning want them
        relative to the repository (GITHUB_WORKSPACE)."""
        absolute = (self.project / project_relative).resolve()
        try:
            return PurePosixPath(absolute.relative_to(self.context.workspace)).as_posix()
        except ValueError:
            return absolute.as_posix()

    def analyze(self) -> AnalyzeOutcome:
        self.results.mkdir(parents=True, exist_ok=True)
        sarif_file = self.results / "aqe.sarif"
        sarif_file.unlink(missing_ok=True)  # a previous run's file must not pass for this run's
        arguments = ["analyze", *self.inputs.paths, "--format", "sarif", "-o", str(sarif_file)]
        completed = self.run(*arguments, "--fail-on", self.inputs.fail_on)
        if completed.returncode == EXIT_USAGE or not sarif_file.is_file():
            return AnalyzeOutcome(completed.returncode or EXIT_USAGE, None, (), {})
        log = json.loads(sarif_file.read_text(encoding="utf-8"))
        self._rebase_on_repository(log)
        sarif_file.write_text(json.dumps(log, indent=2) + "\n", encoding="utf-8")
        run = log["runs"][0]
        rule_names = {rule["id"]: rule.get("name", rule["id"]) for rule in run["tool"]["driver"].get("rules", [])}
        findings = tuple(_finding(result) for result in run.get("results", []))
        return AnalyzeOutcome(completed.returncode, sarif_file, findings, rule_names)

    def _rebase_on_repository(self, log: dict[str, Any]) -> None:
        """Code scanning resolves a result's URI against the repository root, so a project in a
        subfolder (working-directory) gets its folder prefixed and %SRCROOT% moved to the checkout."""
        for run in log.get("runs", []):
            for result in run.get("results", []):
                for location in result.get("locations", []):
                    artifact = location.get("physicalLocation", {}).get("artifactLocation", {})
                    if artifact.get("uriBaseId") == "%SRCROOT%" and "uri" in artifact:
                        artifact["uri"] = self.repository_path(artifact["uri"])
            bases = run.get("originalUriBaseIds", {})
            if "%SRCROOT%" in bases:
                bases["%SRCROOT%"] = {"uri": self.context.workspace.as_uri() + "/"}

    def generate(self) -> GenerateOutcome:
        arguments = ["generate", "--coverage-gaps", "--max", str(self.inputs.generate_max), "--format", "json"]
        if not self.inputs.generate_with_model:
            arguments.append("--no-model")
        completed = self.run(*arguments, capture=True)
        try:
            documents = json.loads(completed.stdout or "[]")
        except ValueError:
            documents = []
        proven: list[ProvenTest] = []
        not_proven: list[tuple[str, str]] = []
        attempted: list[str] = []
        for document in documents:
            target = f"{self.repository_path(document['target']['path'])}::{document['target']['name']}"
            attempted.append(target)
            test = document.get("test")
            if document.get("proven") and test:
                gained = len(test.get("linesGained", []))
                names = tuple(test.get("names", []))
                proven.append(ProvenTest(target, names, self.repository_path(test["file"]), gained, test["code"]))
            else:
                not_proven.append((target, document.get("reason") or "no candidate passed"))
        return GenerateOutcome(completed.returncode, tuple(attempted), tuple(proven), tuple(not_proven))

    def flaky(self) -> FlakyOutcome:
        reports = self._junit_reports()
        if reports:
            ingest = ["flaky", "--root", str(self.project), "ingest", *map(str, reports)]
            if self.context.code_version:
                ingest += ["--code-version", self.context.code_version]
            completed = self.run(*ingest)
            if completed.returncode == EXIT_USAGE:
                return FlakyOutcome(EXIT_USAGE, None, (), 0, "the JUnit reports could not be ingested")
        if self.inputs.flaky_runs:
            completed = self.run("flaky", "--root", str(self.project), "run", "-n", str(self.inputs.flaky_runs))
            if completed.returncode == EXIT_USAGE:
                return FlakyOutcome(EXIT_USAGE, None, (), len(reports), "the tests could not be rerun")
        fail_on = "flaky" if self.inputs.fail_on_flaky else "never"
        report = self.run(
            "flaky", "--root", str(self.project), "report", "--format", "json", "--fail-on", fail_on, capture=True
        )
        if report.returncode == EXIT_USAGE:  # no history yet: nothing ingested or run so far
            return FlakyOutcome(0, None, (), len(reports), "no test history yet (give junit-reports or flaky-runs)")
        verdicts = tuple(self._verdict(test) for test in json.loads(report.stdout)["tests"])
        self.results.mkdir(parents=True, exist_ok=True)
        sarif_file = self.results / "aqe-flaky.sarif"
        sarif_file.unlink(missing_ok=True)
        self.run("flaky", "--root", str(self.project), "report", "--format", "sarif", "-o", str(sarif_file))
        if sarif_file.is_file():
            log = json.loads(sarif_file.read_text(encoding="utf-8"))
            self._rebase_on_repository(log)
            sarif_file.write_text(json.dumps(log, indent=2) + "\n", encoding="utf-8")
        return FlakyOutcome(
            report.returncode, sarif_file if sarif_file.is_file() else None, verdicts, len(reports), None
        )

    def _junit_reports(self) -> list[Path]:
        found: dict[Path, None] = {}
        for pattern in self.inputs.junit_reports:
            for match in sorted(glob.glob(pattern, root_dir=self.project, recursive=True)):
                path = (self.project / match).resolve()
                if path.is_file():
                    found[path] = None
        return list(found)

    def _verdict(self, test: Mapping[str, Any]) -> FlakyVerdict:
        return FlakyVerdict(
            test_id=test["testId"],
            path=self.repository_path(test["file"]),
            line=test.get("line"),
            verdict=test["verdict"],
            runs=test["runs"],
            failures=test["failures"],
            cause=test.get("cause"),
            message=test["message"],
        )


def _finding(result: Mapping[str, Any]) -> ReportedFinding:
    location = result["locations"][0]["physicalLocation"]
    region = location.get("region", {})
    return ReportedFinding(
        path=location["artifactLocation"]["uri"],
        line=region.get("startLine", 1),
        column=region.get("startColumn", 1),
        rule_id=result["ruleId"],
        level=result.get("level", "warning"),
        message=result["message"]["text"],
    )
