"""Quick fixes for findings, "Ignore here", and a source.fixAll action for the whole file."""

from __future__ import annotations

import inspect
import logging

from lsprotocol import types
from pygls.capabilities import get_capability

from aqe.findings import Finding, TextEdit
from aqe.learning.events import ACCEPT, SUPPRESS
from aqe.lsp.convert import findings_in_context, to_diagnostic, to_text_edit
from aqe.lsp.features.diagnostics import DiagnosticsFeature
from aqe.lsp.features.learning import LearningFeature
from aqe.lsp.server import AqeLanguageServer
from aqe.review.suppression import suppression_edit

log = logging.getLogger(__name__)

FIX_ALL_KIND = f"{types.CodeActionKind.SourceFixAll.value}.aqe"


def register(server: AqeLanguageServer) -> None:
    options = types.CodeActionOptions(
        code_action_kinds=[types.CodeActionKind.QuickFix, types.CodeActionKind.SourceFixAll, FIX_ALL_KIND]
    )

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, options)
    async def code_action(ls: AqeLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        actions = await _rule_actions(ls, params)
        for provider in ls.code_action_providers:
            try:
                provided = provider(ls, params)
                actions.extend(await provided if inspect.isawaitable(provided) else provided)
            except Exception:
                log.exception("a code action provider failed on %s", params.text_document.uri)
        return actions


async def _rule_actions(ls: AqeLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    """The rules' quick fixes, "Ignore here" and fix-all."""
    uri = params.text_document.uri
    document = ls.engine.get_document(uri)
    if document is None or document.parsed is None:
        return []
    feature = DiagnosticsFeature.of(ls)
    analysis = feature.latest(uri) or await feature.analyze(uri)
    if analysis is None or analysis.version != document.version or document.parsed is None:
        return []
    parsed = document.parsed
    only = params.context.only
    actions: list[types.CodeAction] = []
    learning = LearningFeature.of(ls)
    if _wants(only, types.CodeActionKind.QuickFix):
        for finding in findings_in_context(analysis.findings, params):
            diagnostic = to_diagnostic(finding)
            if finding.fix is not None:
                # Applying the fix is an acceptance: the command after the edit records it.
                token = learning.offer(uri, finding, document.text, finding.fix.edits)
                actions.append(
                    types.CodeAction(
                        title=finding.fix.title,
                        kind=types.CodeActionKind.QuickFix,
                        diagnostics=[diagnostic],
                        is_preferred=True,
                        edit=_workspace_edit(ls, uri, document.version, finding.fix.edits),
                        command=learning.command("Apply fix", ACCEPT, token),
                    )
                )
            actions.append(
                types.CodeAction(
                    title=f"Ignore {finding.rule_id} on this line",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic],
                    edit=_workspace_edit(ls, uri, document.version, (suppression_edit(parsed, finding),)),
                    command=learning.command("Ignore here", SUPPRESS, learning.offer(uri, finding, document.text)),
                )
            )
    if only and any(_is_fix_all(kind) for kind in only):
        edits = _non_overlapping_fix_edits(analysis.findings)
        if edits:
            actions.append(
                types.CodeAction(
                    title="aqe: apply all safe fixes",
                    kind=FIX_ALL_KIND,
                    edit=_workspace_edit(ls, uri, document.version, edits),
                )
            )
    return actions


def _wants(only: list[str] | None, kind: str) -> bool:
    return not only or any(kind == wanted or kind.startswith(f"{wanted}.") for wanted in only)


def _is_fix_all(kind: str) -> bool:
    """`source`, `source.fixAll` or `source.fixAll.aqe` ask for it; kinds are dot-separated."""
    return kind == FIX_ALL_KIND or (FIX_ALL_KIND.startswith(f"{kind}.") and kind.startswith("source"))


def _non_overlapping_fix_edits(findings: tuple[Finding, ...]) -> tuple[TextEdit, ...]:
    chosen: list[TextEdit] = []
    for finding in findings:
        if finding.fix is None:
            continue
        edits = finding.fix.edits
        if any(e.span.overlaps(c.span) for e in edits for c in chosen):
            continue  # the next fix-all pass picks it up once this one is applied
        chosen.extend(edits)
    return tuple(sorted(chosen, key=lambda e: e.span.start))


def _workspace_edit(
    ls: AqeLanguageServer, uri: str, version: int | None, edits: tuple[TextEdit, ...]
) -> types.WorkspaceEdit:
    text_edits: list[types.TextEdit | types.AnnotatedTextEdit | types.SnippetTextEdit] = [
        to_text_edit(e) for e in edits
    ]
    if get_capability(ls.client_capabilities, "workspace.workspace_edit.document_changes", False):
        # Versioned, so a client refuses the edit if the file changed after we computed it.
        return types.WorkspaceEdit(
            document_changes=[
                types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
                    edits=text_edits,
                )
            ]
        )
    return types.WorkspaceEdit(changes={uri: [to_text_edit(e) for e in edits]})  # clients without versioned edits
