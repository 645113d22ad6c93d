"""What a runner shows: workflow-command annotations, the Markdown job summary and step outputs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aqe.github_action.commands import AnalyzeOutcome, FlakyOutcome, GenerateOutcome, ReportedFinding

ANNOTATION_LEVEL = {"error": "error", "warning": "warning", "note": "notice", "none": "notice"}
SUMMARY_FINDINGS_LIMIT = 200
"""GitHub caps a step summary at 1 MiB; a project with thousands of findings gets the first ones and a count."""


@dataclass(frozen=True)
class JobResults:
    analyze: AnalyzeOutcome | None
    generate: GenerateOutcome | None
    flaky: FlakyOutcome | None


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotations(results: JobResults) -> Iterable[str]:
    """`::warning file=...,line=...::message` lines: the runner turns each into a note on the diff."""
    if results.analyze is not None:
        for finding in results.analyze.findings:
            level = ANNOTATION_LEVEL.get(finding.level, "warning")
            title = f"{finding.rule_id} {results.analyze.rule_names.get(finding.rule_id, '')}".strip()
            yield (
                f"::{level} file={_escape_property(finding.path)},line={finding.line},col={finding.column},"
                f"title={_escape_property(title)}::{_escape_data(finding.message)}"
            )
    if results.flaky is not None:
        for verdict in results.flaky.verdicts:
            if verdict.verdict != "flaky":
                continue
            place = f"file={_escape_property(verdict.path)}" + (f",line={verdict.line}" if verdict.line else "")
            yield f"::warning {place},title=flaky test::{_escape_data(verdict.message)}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(results: JobResults, fail_on: str) -> str:
    sections = ["# aqe"]
    if results.analyze is not None:
        sections.append(_analyze_section(results.analyze, fail_on))
    if results.generate is not None:
        sections.append(_generate_section(results.generate))
    if results.flaky is not None:
        sections.append(_flaky_section(results.flaky))
    return "\n\n".join(sections) + "\n"


def _analyze_section(outcome: AnalyzeOutcome, fail_on: str) -> str:
    if outcome.sarif_file is None:
        return "## Review\n\n`aqe analyze` could not run; its error is in the step log."
    verdict = "fails the job" if outcome.exit_code == 1 else "passes"
    lines = [
        "## Review",
        "",
        f"{len(outcome.findings)} findings in {len({f.path for f in outcome.findings})} files "
        f"(fail-on `{fail_on}`: {verdict}).",
    ]
    if outcome.findings:
        lines += ["", "### Findings by rule", "", "| rule | name | findings |", "| --- | --- | ---: |"]
        by_rule = Counter(finding.rule_id for finding in outcome.findings)
        for rule_id, count in sorted(by_rule.items()):
            lines.append(f"| {rule_id} | {_cell(outcome.rule_names.get(rule_id, ''))} | {count} |")
        lines += ["", "### Findings", "", "| where | rule | level | message |", "| --- | --- | --- | --- |"]
        for finding in _ordered(outcome.findings)[:SUMMARY_FINDINGS_LIMIT]:
            where = f"`{finding.path}:{finding.line}`"
            lines.append(f"| {where} | {finding.rule_id} | {finding.level} | {_cell(finding.message)} |")
        if len(outcome.findings) > SUMMARY_FINDINGS_LIMIT:
            lines.append(f"\n... and {len(outcome.findings) - SUMMARY_FINDINGS_LIMIT} more in the SARIF file.")
    return "\n".join(lines)


def _ordered(findings: Iterable[ReportedFinding]) -> list[ReportedFinding]:
    return sorted(findings, key=lambda f: (f.path, f.line, f.column, f.rule_id))


def _generate_section(outcome: GenerateOutcome) -> str:
    lines = ["## Proven tests", ""]
    if outcome.exit_code not in (0, 1):
        return "\n".join([*lines, "`aqe generate --coverage-gaps` could not run; its error is in the step log."])
    if not outcome.attempted:
        return "\n".join([*lines, "No function with a coverage gap was found."])
    lines.append(
        f"{len(outcome.proven)} of {len(outcome.attempted)} functions with coverage gaps got a test that passed "
        "twice in the sandbox and covers lines the suite did not (nothing was written to the repository)."
    )
    for test in outcome.proven:
        names = ", ".join(f"`{name}`" for name in test.test_names)
        lines += [
            "",
            f"<details><summary><code>{test.target}</code>: {names} in <code>{test.test_file}</code>, "
            f"+{test.lines_gained} lines covered</summary>",
            "",
            "```python",
            test.code.rstrip("\n"),
            "```",
            "",
            "</details>",
        ]
    if outcome.not_proven:
        lines += ["", "Not proven:", ""]
        lines += [f"- `{target}`: {_cell(reason)}" for target, reason in outcome.not_proven]
    return "\n".join(lines)


def _flaky_section(outcome: FlakyOutcome) -> str:
    lines = ["## Flaky tests", ""]
    if outcome.note is not None:
        lines.append(outcome.note[0].upper() + outcome.note[1:] + ".")
        return "\n".join(lines)
    counts = Counter(verdict.verdict for verdict in outcome.verdicts)
    lines.append(
        f"{counts['flaky']} flaky, {counts['failing']} failing, {counts['stable']} stable, "
        f"{counts['unknown']} with too few runs, of {len(outcome.verdicts)} tests "
        f"({outcome.reports_ingested} JUnit reports added to the history this run)."
    )
    shown = [verdict for verdict in outcome.verdicts if verdict.verdict in ("flaky", "failing")]
    if shown:
        lines += ["", "| test | verdict | failures | cause | why |", "| --- | --- | ---: | --- | --- |"]
        for verdict in shown:
            lines.append(
                f"| `{_cell(verdict.test_id)}` | {verdict.verdict} | {verdict.failures} of {verdict.runs} "
                f"| {verdict.cause or ''} | {_cell(verdict.message)} |"
            )
    return "\n".join(lines)


def outputs(results: JobResults, exit_code: int) -> Mapping[str, str]:
    values = {"exit-code": str(exit_code)}
    if results.analyze is not None:
        values["findings"] = str(len(results.analyze.findings))
        values["sarif-file"] = str(results.analyze.sarif_file or "")
    if results.generate is not None:
        values["proven-tests"] = str(len(results.generate.proven))
    if results.flaky is not None:
        values["flaky-tests"] = str(sum(1 for v in results.flaky.verdicts if v.verdict == "flaky"))
        values["flaky-sarif-file"] = str(results.flaky.sarif_file or "")
    return values
