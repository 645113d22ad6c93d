"""Hover over a finding: what the rule means, why it matters, and how to silence or configure it."""

from __future__ import annotations

from lsprotocol import types

from aqe.findings import Position
from aqe.lsp.convert import to_lsp_range
from aqe.lsp.features.diagnostics import DiagnosticsFeature
from aqe.lsp.server import AqeLanguageServer
from aqe.parsing.languages import Language


def register(server: AqeLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(ls: AqeLanguageServer, params: types.HoverParams) -> types.Hover | None:
        uri = params.text_document.uri
        document = ls.engine.get_document(uri)
        if document is None or document.parsed is None:
            return None
        feature = DiagnosticsFeature.of(ls)
        analysis = feature.latest(uri) or await feature.analyze(uri)
        if analysis is None:
            return None
        at = Position(params.position.line, params.position.character)
        here = [f for f in analysis.findings if f.span.start <= at <= f.span.end]
        if not here:
            return None
        infos = {info.id: info for info in ls.engine.rule_infos()}
        comment = "#" if document.language is Language.PYTHON else "//"
        sections = []
        for finding in here:
            info = infos.get(finding.rule_id)
            if info is None:
                continue
            sections.append(
                f"**{info.id} `{info.name}`** ({finding.severity.value})\n\n{info.summary}\n\n{info.rationale}\n\n"
                f"Silence this line with `{comment} aqe: ignore[{info.id}]`, or set "
                f'`rules = {{ {info.id} = "off" }}` under `[tool.aqe]`.'
            )
        if not sections:
            return None
        return types.Hover(
            contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value="\n\n---\n\n".join(sections)),
            range=to_lsp_range(here[0].span),
        )
