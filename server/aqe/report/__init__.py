"""Finding reports for people and machines: text for terminals, JSON for scripts, SARIF for code scanning.

Every format is a pure function of the findings, the workspace root and the rule metadata, so the
command line, the language server and the tests produce identical reports from the same inputs.
This package holds what the formats share (paths, ordering, the summary, the CI exit code); each
format lives in its own module: `aqe.report.text`, `aqe.report.json_report`, `aqe.report.sarif`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from aqe.findings import Finding, Severity

FAIL_ON_NEVER = "never"

SEVERITIES_BY_RANK: tuple[Severity, ...] = tuple(sorted(Severity, key=lambda s: s.rank, reverse=True))


@dataclass(frozen=True)
class ReportPath:
    """Where a finding's file is, as reports name it.

    `display` is relative to the workspace root with POSIX separators when the file is inside the
    root, so a report reads the same on every machine and code-scanning fingerprints survive a
    different checkout directory; a file outside the root keeps its absolute path.
    """

    display: str
    absolute: Path
    inside_root: bool


def locate(path: str, root: Path) -> ReportPath:
    """Relative paths in findings are taken relative to `root`, as the engine reports them."""
    root_abs = Path(os.path.abspath(root))
    candidate = Path(path)
    absolute = Path(os.path.abspath(candidate if candidate.is_absolute() else root_abs / candidate))
    for base, target in ((root_abs, absolute), (root_abs.resolve(), absolute.resolve())):
        try:
            relative = target.relative_to(base)
        except ValueError:
            continue
        return ReportPath(PurePath(relative).as_posix(), absolute, inside_root=True)
    return ReportPath(absolute.as_posix(), absolute, inside_root=False)


def ordered(findings: Iterable[Finding], root: Path) -> list[tuple[ReportPath, Finding]]:
    """Findings by file, then position, then rule: the order every report uses, so diffs stay small."""
    located = [(locate(f.path, root), f) for f in findings]
    located.sort(
        key=lambda pair: (
            pair[0].display,
            pair[1].span.start.line,
            pair[1].span.start.character,
            pair[1].rule_id,
            pair[1].message,
        )
    )
    return located


@dataclass(frozen=True)
class Summary:
    total: int
    by_severity: dict[Severity, int]
    files: int
    fixable: int

    def count(self, severity: Severity) -> int:
        return self.by_severity.get(severity, 0)


def summarize(findings: Sequence[Finding], root: Path) -> Summary:
    by_severity = {severity: 0 for severity in SEVERITIES_BY_RANK}
    for finding in findings:
        by_severity[finding.severity] += 1
    return Summary(
        total=len(findings),
        by_severity=by_severity,
        files=len({locate(f.path, root).display for f in findings}),
        fixable=sum(1 for f in findings if f.fix is not None and f.fix.edits),
    )


def exit_code(findings: Iterable[Finding], fail_on: str) -> int:
    """1 when CI should fail: any finding at or above `fail_on` ("error", "warning", "info", "hint").

    `fail_on="never"` always gives 0, for a report-only job. An unknown level raises ValueError
    rather than silently passing a build that was meant to be gated.
    """
    if fail_on.strip().lower() == FAIL_ON_NEVER:
        return 0
    try:
        threshold = Severity.parse(fail_on)
    except ValueError:
        levels = ", ".join([*(s.value for s in SEVERITIES_BY_RANK), FAIL_ON_NEVER])
        raise ValueError(f"unknown fail-on level {fail_on!r} (expected one of: {levels})") from None
    return 1 if any(f.severity.rank >= threshold.rank for f in findings) else 0
