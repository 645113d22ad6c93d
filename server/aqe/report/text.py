"""Plain-text report: one `path:line:col: severity RULE message` line per finding, then a summary.

Lines and columns are 1-based, the convention compilers use and editors' problem matchers parse.
Columns count UTF-16 code units like every other aqe position (an emoji earlier on the line counts
as two), so the text, JSON and SARIF reports always agree on where a finding is.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from pathlib import Path

from aqe.findings import Finding, Severity
from aqe.report import SEVERITIES_BY_RANK, ReportPath, Summary, ordered, summarize

_RESET = "\x1b[0m"
_DIM = "\x1b[2m"
_SEVERITY_COLORS: dict[Severity, str] = {
    Severity.ERROR: "\x1b[1;31m",
    Severity.WARNING: "\x1b[33m",
    Severity.INFO: "\x1b[36m",
    Severity.HINT: "\x1b[2m",
}
_SUMMARY_NOUNS: dict[Severity, tuple[str, str]] = {
    Severity.ERROR: ("error", "errors"),
    Severity.WARNING: ("warning", "warnings"),
    Severity.INFO: ("info", "info"),
    Severity.HINT: ("hint", "hints"),
}
# Bidirectional controls reorder what a terminal shows ("Trojan Source"), so they are escaped too.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _printable(text: str) -> str:
    """One terminal line that shows exactly what the text holds.

    Messages quote source code, and source code can hold escape sequences or bidi controls that
    would recolour the terminal or reorder the line; line breaks would split one finding in two.
    """
    pieces: list[str] = []
    for char in " ".join(text.splitlines()):
        if char in _BIDI_CONTROLS or (char != "\t" and unicodedata.category(char) == "Cc"):
            code = ord(char)
            pieces.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            pieces.append(char)
    return "".join(pieces)


def format_finding(where: ReportPath, finding: Finding, *, color: bool = False) -> str:
    start = finding.span.start
    location = f"{_printable(where.display)}:{start.line + 1}:{start.character + 1}:"
    severity = finding.severity.value
    rule_id = _printable(finding.rule_id)
    if color:
        severity = f"{_SEVERITY_COLORS[finding.severity]}{severity}{_RESET}"
        rule_id = f"{_DIM}{rule_id}{_RESET}"
    return f"{location} {severity} {rule_id} {_printable(finding.message)}"


def format_summary(summary: Summary) -> str:
    """`3 errors, 5 warnings, 2 hints in 4 files (2 fixable)`; severities with no finding are left out."""
    if summary.total == 0:
        return "No findings."
    counts = []
    for severity in SEVERITIES_BY_RANK:
        count = summary.count(severity)
        if count:
            singular, plural = _SUMMARY_NOUNS[severity]
            counts.append(f"{count} {singular if count == 1 else plural}")
    files = f"{summary.files} file" if summary.files == 1 else f"{summary.files} files"
    fixable = f" ({summary.fixable} fixable)" if summary.fixable else ""
    return f"{', '.join(counts)} in {files}{fixable}"


def render_text(findings: Sequence[Finding], root: Path, *, color: bool = False) -> str:
    """The whole report, newline-terminated; ANSI colour only when `color` (the caller knows the tty)."""
    lines = [format_finding(where, finding, color=color) for where, finding in ordered(findings, root)]
    lines.append(format_summary(summarize(findings, root)))
    return "\n".join(lines) + "\n"
