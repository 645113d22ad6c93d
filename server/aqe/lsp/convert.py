"""Translation between LSP types and the engine's types. Nothing else in aqe imports lsprotocol."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from lsprotocol import types

from aqe.findings import Finding, FindingSource, FindingTag, Position, Severity, Span, TextEdit
from aqe.parsing.document import ContentChange

_SEVERITY = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
    Severity.INFO: types.DiagnosticSeverity.Information,
    Severity.HINT: types.DiagnosticSeverity.Hint,
}
_TAGS = {
    FindingTag.UNNECESSARY: types.DiagnosticTag.Unnecessary,
    FindingTag.DEPRECATED: types.DiagnosticTag.Deprecated,
}
DIAGNOSTIC_SOURCE = "aqe"
_SOURCES = {FindingSource.COVERAGE: "coverage", FindingSource.FLAKY: "flaky"}


def to_lsp_range(span: Span) -> types.Range:
    return types.Range(
        start=types.Position(line=span.start.line, character=span.start.character),
        end=types.Position(line=span.end.line, character=span.end.character),
    )


def from_lsp_range(value: types.Range) -> Span:
    return Span(
        Position(value.start.line, value.start.character), Position(value.end.line, value.end.character)
    )


def to_diagnostic(finding: Finding) -> types.Diagnostic:
    return types.Diagnostic(
        range=to_lsp_range(finding.span),
        message=finding.message,
        severity=_SEVERITY[finding.severity],
        code=finding.rule_id,
        source=_SOURCES.get(finding.source, DIAGNOSTIC_SOURCE),
        tags=[_TAGS[t] for t in finding.tags] or None,
        data={"ruleId": finding.rule_id, "fixable": finding.fix is not None},
    )


def to_text_edit(edit: TextEdit) -> types.TextEdit:
    return types.TextEdit(range=to_lsp_range(edit.span), new_text=edit.new_text)


def to_content_changes(
    changes: list[types.TextDocumentContentChangeEvent],
) -> list[ContentChange]:
    result: list[ContentChange] = []
    for change in changes:
        if isinstance(change, types.TextDocumentContentChangePartial):
            result.append(ContentChange(from_lsp_range(change.range), change.text))
        else:
            result.append(ContentChange(None, change.text))
    return result


def position_argument(args: tuple[Any, ...], command: str) -> tuple[str, int, int]:
    """`[{"uri", "position": {"line", "character"}}]`, the shape every aqe editor command uses."""
    first = args[0] if args else None
    if isinstance(first, list) and first:
        first = first[0]
    try:
        uri = first["uri"]
        line, character = int(first["position"]["line"]), int(first["position"]["character"])
    except (TypeError, KeyError, ValueError) as error:
        raise ValueError(
            f'{command} expects [{{"uri": ..., "position": {{"line": ..., "character": ...}}}}]'
        ) from error
    if not isinstance(uri, str) or line < 0 or character < 0:
        raise ValueError(f"{command}: invalid uri or position")
    return uri, line, character


def findings_in_context(
    findings: Sequence[Finding], params: types.CodeActionParams, sources: Collection[str] = (DIAGNOSTIC_SOURCE,)
) -> list[Finding]:
    """Findings the client asked about: those behind its diagnostics (from `sources`), else those under
    the range. A request that carries only other tools' diagnostics asks about none of ours."""
    ours = [d for d in params.context.diagnostics if d.source in sources]
    if ours:
        keys = {(str(d.code), from_lsp_range(d.range)) for d in ours}
        return [f for f in findings if (f.rule_id, f.span) in keys]
    if params.context.diagnostics:
        return []
    wanted = from_lsp_range(params.range)
    return [f for f in findings if f.span.overlaps(wanted)]
