"""JSON report: a versioned document scripts can read without knowing aqe's Python types.

Shape (version 1)::

    {"version": 1,
     "tool": {"name": "aqe", "version": "0.1.0"},
     "root": "/abs/workspace",
     "findings": [{"path": "src/shop/cart.py", "line": 12, "column": 5,
                   "range": {"start": {"line": 11, "character": 4}, "end": {...}},
                   "ruleId": "QE202", "ruleName": "mutable-default-argument",
                   "severity": "warning", "message": "...", "source": "rule",
                   "confidence": 1.0, "tags": [],
                   "fix": null | {"title": "...", "edits": [{"range": {...}, "newText": "..."}]}}],
     "summary": {"total": 1, "bySeverity": {"error": 0, "warning": 1, "info": 0, "hint": 0},
                 "files": 1, "fixable": 0}}

`range` (and every fix edit's range) is the LSP range: 0-based lines, 0-based UTF-16 columns, end
exclusive, so an editor integration can use it as is. `line`/`column` are the same start, 1-based,
for people and for tools that print `path:line:column`. `path` is relative to `root` with POSIX
separators when the file is inside the root, else absolute. Keys are camelCase like LSP and SARIF.
A reader must check `version`; a new version is issued for any change that is not an added key.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aqe.findings import Finding, FindingSource, FindingTag, Fix, Severity, Span, TextEdit
from aqe.report import SEVERITIES_BY_RANK, ordered, summarize
from aqe.review.rules.base import RuleInfo

JSON_REPORT_VERSION = 1
TOOL_NAME = "aqe"


class ReportFormatError(ValueError):
    """A JSON report this version of aqe cannot read (another version, or not a report at all)."""


def _range(span: Span) -> dict[str, dict[str, int]]:
    return {
        "start": {"line": span.start.line, "character": span.start.character},
        "end": {"line": span.end.line, "character": span.end.character},
    }


def _fix(fix: Fix) -> dict[str, Any]:
    return {
        "title": fix.title,
        "edits": [{"range": _range(edit.span), "newText": edit.new_text} for edit in fix.edits],
    }


def json_document(
    findings: Sequence[Finding], root: Path, rules: Sequence[RuleInfo], tool_version: str
) -> dict[str, Any]:
    rule_names = {rule.id: rule.name for rule in rules}
    summary = summarize(findings, root)
    entries = [
        {
            "path": where.display,
            "line": finding.span.start.line + 1,
            "column": finding.span.start.character + 1,
            "range": _range(finding.span),
            "ruleId": finding.rule_id,
            "ruleName": rule_names.get(finding.rule_id),
            "severity": finding.severity.value,
            "message": finding.message,
            "source": finding.source.value,
            "confidence": finding.confidence,
            "tags": [tag.value for tag in finding.tags],
            "fix": _fix(finding.fix) if finding.fix is not None else None,
        }
        for where, finding in ordered(findings, root)
    ]
    return {
        "version": JSON_REPORT_VERSION,
        "tool": {"name": TOOL_NAME, "version": tool_version},
        "root": Path(os.path.abspath(root)).as_posix(),
        "findings": entries,
        "summary": {
            "total": summary.total,
            "bySeverity": {severity.value: summary.count(severity) for severity in SEVERITIES_BY_RANK},
            "files": summary.files,
            "fixable": summary.fixable,
        },
    }


def render_json(findings: Sequence[Finding], root: Path, rules: Sequence[RuleInfo], tool_version: str) -> str:
    """Pretty-printed and newline-terminated; non-ASCII text stays readable rather than \\u-escaped."""
    document = json_document(findings, root, rules, tool_version)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _span(raw: Mapping[str, Any]) -> Span:
    start, end = raw["start"], raw["end"]
    return Span.of(int(start["line"]), int(start["character"]), int(end["line"]), int(end["character"]))


def _finding(entry: Mapping[str, Any], root: Path) -> Finding:
    path = Path(entry["path"])
    raw_fix = entry.get("fix")
    fix = (
        Fix(
            title=raw_fix["title"],
            edits=tuple(TextEdit(_span(edit["range"]), edit["newText"]) for edit in raw_fix["edits"]),
        )
        if raw_fix is not None
        else None
    )
    return Finding(
        path=str(path if path.is_absolute() else Path(root) / path),
        span=_span(entry["range"]),
        rule_id=entry["ruleId"],
        severity=Severity(entry["severity"]),
        message=entry["message"],
        source=FindingSource(entry.get("source", FindingSource.RULE.value)),
        fix=fix,
        confidence=float(entry.get("confidence", 1.0)),
        tags=tuple(FindingTag(tag) for tag in entry.get("tags", ())),
    )


def findings_from_json(document: Mapping[str, Any], root: Path) -> list[Finding]:
    """Read findings back (baselines, merging reports); relative paths are joined onto `root`."""
    version = document.get("version") if isinstance(document, Mapping) else None
    if version != JSON_REPORT_VERSION:
        raise ReportFormatError(
            f"unsupported aqe JSON report version {version!r} (this aqe reads version {JSON_REPORT_VERSION})"
        )
    try:
        return [_finding(entry, root) for entry in document["findings"]]
    except (KeyError, TypeError, ValueError) as error:
        raise ReportFormatError(f"malformed aqe JSON report: {error!r}") from error
