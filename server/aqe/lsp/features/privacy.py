"""`aqe.privacyAudit`: the privacy audit report in the editor, the same JSON `aqe privacy audit` prints."""

from __future__ import annotations

from typing import Any

from aqe.lsp.server import AqeLanguageServer
from aqe.privacy.report import audit_report

PRIVACY_AUDIT_COMMAND = "aqe.privacyAudit"


def register(server: AqeLanguageServer) -> None:
    @server.command(PRIVACY_AUDIT_COMMAND)
    def privacy_audit(ls: AqeLanguageServer, *args: Any) -> dict[str, Any]:
        root = ls.workspace_roots[0] if ls.workspace_roots else None
        return audit_report(ls.settings, root)
