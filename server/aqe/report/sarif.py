"""SARIF 2.1.0 report, in the subset GitHub code scanning reads.

Files inside the workspace are named relative to `%SRCROOT%` (declared in the run's
`originalUriBaseIds`), so the same commit analysed in two checkouts gives the same artifact URIs;
files outside the root get an absolute `file:` URI. Regions are 1-based and columns count UTF-16
code units, declared once with `columnKind`. Each result carries `partialFingerprints`
`primaryLocationLineHash`, which GitHub combines with the rule and path to recognise the same
alert in the next commit even after the code around it moved.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aqe.findings import Finding, Severity, Span
from aqe.report import ReportPath, ordered
from aqe.review.rules.base import RuleInfo

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "%SRCROOT%"
TOOL_NAME = "aqe"
FINGERPRINT_KEY = "primaryLocationLineHash"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")

LineText = Callable[[str, int], str | None]
"""`(finding.path, 0-based line) -> that line's text`, or None when it cannot be read."""

_LEVELS: dict[Severity, str] = {
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFO: "note",
    Severity.HINT: "note",
}
# GitHub shows `problem.severity` for results that are not security alerts.
_PROBLEM_SEVERITIES: dict[Severity, str] = {
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFO: "recommendation",
    Severity.HINT: "recommendation",
}


def _region(span: Span) -> dict[str, int]:
    end = max(span.end, span.start)
    return {
        "startLine": span.start.line + 1,
        "startColumn": span.start.character + 1,
        "endLine": end.line + 1,
        "endColumn": end.character + 1,
    }


def _artifact_location(where: ReportPath) -> dict[str, str]:
    if where.inside_root:
        return {"uri": quote(where.display, safe="/"), "uriBaseId": SRCROOT}
    return {"uri": where.absolute.as_uri()}


def _normalized(text: str) -> str:
    return " ".join(text.split())


def _line_hash(finding: Finding, where: ReportPath, line_text: LineText | None) -> str:
    """Hash of rule, path and the finding's line with whitespace collapsed (the message if no line).

    The line number is left out on purpose: inserting code above a finding must not make it a
    new alert. Re-indenting must not either, hence the whitespace normalisation.
    """
    text = line_text(finding.path, finding.span.start.line) if line_text is not None else None
    basis = f"line:{_normalized(text)}" if text and text.strip() else f"message:{_normalized(finding.message)}"
    material = "\0".join((finding.rule_id, where.display, basis)).encode("utf-8", errors="surrogatepass")
    return hashlib.sha256(material).hexdigest()[:16]


def _rule_descriptor(rule: RuleInfo) -> dict[str, Any]:
    help_text = f"{rule.summary}\n\n{rule.rationale}"
    if rule.has_fix:
        help_text += "\n\naqe offers a quick fix for this finding."
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.rationale},
        "help": {"text": help_text},
        "defaultConfiguration": {"level": _LEVELS[rule.default_severity]},
        "properties": {
            "tags": ["quality", *sorted(language.value for language in rule.languages)],
            "problem.severity": _PROBLEM_SEVERITIES[rule.default_severity],
        },
    }


def _unknown_rule_descriptor(finding: Finding) -> dict[str, Any]:
    """Findings from models, coverage or flaky-test analysis have no catalogue entry; GitHub wants one."""
    text = f"{finding.rule_id}: {finding.source.value} finding reported by aqe"
    return {
        "id": finding.rule_id,
        "name": finding.rule_id,
        "shortDescription": {"text": text},
        "fullDescription": {"text": text},
        "help": {"text": text},
        "defaultConfiguration": {"level": _LEVELS[finding.severity]},
        "properties": {"tags": ["quality", finding.source.value]},
    }


def _fixes(finding: Finding, location: dict[str, str]) -> list[dict[str, Any]]:
    if finding.fix is None or not finding.fix.edits:
        return []
    replacements = []
    for edit in finding.fix.edits:
        replacement: dict[str, Any] = {"deletedRegion": _region(edit.span)}
        if edit.new_text:
            replacement["insertedContent"] = {"text": edit.new_text}
        replacements.append(replacement)
    return [
        {
            "description": {"text": finding.fix.title},
            "artifactChanges": [{"artifactLocation": dict(location), "replacements": replacements}],
        }
    ]


def sarif_log(
    findings: Sequence[Finding],
    root: Path,
    rules: Sequence[RuleInfo],
    tool_version: str,
    *,
    line_text: LineText | None = None,
    information_uri: str | None = None,
) -> dict[str, Any]:
    """The SARIF log as a JSON-ready dict: one run, every catalogued rule in `tool.driver.rules`.

    All of `rules` are listed, not only those with results, so code scanning can close an alert
    whose rule is still run but no longer fires. `information_uri` is the project's home page.
    """
    descriptors = [_rule_descriptor(rule) for rule in rules]
    rule_index = {rule.id: index for index, rule in enumerate(rules)}
    occurrences: Counter[tuple[str, str, str]] = Counter()
    results = []
    for where, finding in ordered(findings, root):
        if finding.rule_id not in rule_index:
            rule_index[finding.rule_id] = len(descriptors)
            descriptors.append(_unknown_rule_descriptor(finding))
        location = _artifact_location(where)
        line_hash = _line_hash(finding, where, line_text)
        occurrences[(finding.rule_id, where.display, line_hash)] += 1
        occurrence = occurrences[(finding.rule_id, where.display, line_hash)]
        properties: dict[str, Any] = {"source": finding.source.value, "confidence": finding.confidence}
        if finding.tags:
            properties["tags"] = [tag.value for tag in finding.tags]
        result: dict[str, Any] = {
            "ruleId": finding.rule_id,
            "ruleIndex": rule_index[finding.rule_id],
            "level": _LEVELS[finding.severity],
            "message": {"text": finding.message or finding.rule_id},
            "locations": [{"physicalLocation": {"artifactLocation": location, "region": _region(finding.span)}}],
            "partialFingerprints": {FINGERPRINT_KEY: f"{line_hash}:{occurrence}"},
            "properties": properties,
        }
        fixes = _fixes(finding, location)
        if fixes:
            result["fixes"] = fixes
        results.append(result)
    driver: dict[str, Any] = {"name": TOOL_NAME, "version": tool_version, "semanticVersion": tool_version}
    if information_uri:
        driver["informationUri"] = information_uri
    driver["rules"] = descriptors
    return {
        "$schema": SARIF_SCHEMA_URI,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {"driver": driver},
                "originalUriBaseIds": {SRCROOT: {"uri": _directory_uri(root)}},
                "columnKind": "utf16CodeUnits",
                "results": results,
            }
        ],
    }


def _directory_uri(root: Path) -> str:
    """SARIF requires a base URI to end with a slash, or relative URIs would resolve beside it."""
    uri = Path(os.path.abspath(root)).as_uri()
    return uri if uri.endswith("/") else uri + "/"


def render_sarif(
    findings: Sequence[Finding],
    root: Path,
    rules: Sequence[RuleInfo],
    tool_version: str,
    *,
    line_text: LineText | None = None,
    information_uri: str | None = None,
) -> str:
    log = sarif_log(findings, root, rules, tool_version, line_text=line_text, information_uri=information_uri)
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def line_text_from_files(root: Path, max_bytes: int = 16 * 1024 * 1024) -> LineText:
    """A `LineText` that reads each file once from disk; relative paths are taken from `root`.

    Lines are split on LSP's line breaks only, so line numbers agree with the findings' spans.
    Unreadable, binary or oversized files give None, and the fingerprint falls back to the message.
    """

    @lru_cache(maxsize=256)
    def lines_of(path: str) -> tuple[str, ...] | None:
        file = Path(path) if Path(path).is_absolute() else Path(root) / path
        try:
            if file.stat().st_size > max_bytes:
                return None
            data = file.read_bytes()
        except OSError:
            return None
        if b"\0" in data:
            return None
        return tuple(_LINE_BREAK.split(data.decode("utf-8", errors="replace")))

    def line_text(path: str, line: int) -> str | None:
        lines = lines_of(path)
        if lines is None or not 0 <= line < len(lines):
            return None
        return lines[line]

    return line_text
