"""Settings changes from the client: re-read every source, then refresh diagnostics."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from lsprotocol import types
from pygls.capabilities import get_capability

from aqe.lsp.features.diagnostics import DiagnosticsFeature
from aqe.lsp.server import AqeLanguageServer

log = logging.getLogger(__name__)


async def refresh_configuration(ls: AqeLanguageServer, pushed: Any) -> None:
    """Use pushed settings when the client sent them, else ask with workspace/configuration."""
    settings: Mapping[str, Any] | None = None
    if isinstance(pushed, dict) and pushed:
        settings = pushed
    elif get_capability(ls.client_capabilities, "workspace.configuration", False):
        root_uri = ls.workspace_roots[0].as_uri() if ls.workspace_roots else None
        try:
            answer = await ls.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(scope_uri=root_uri, section="aqe")])
            )
        except Exception as error:  # clients may refuse or time out; keep the settings we have
            log.warning("workspace/configuration failed: %s", error)
            return
        if answer and isinstance(answer[0], dict) and answer[0]:
            settings = answer[0]
    if settings is None and pushed is None:
        return  # nothing new from the client at start-up: initializationOptions already applied
    ls.load_settings(settings)
    DiagnosticsFeature.of(ls).settings_changed()
    ls.emit("settings")
    if getattr(ls, "models", None) is not None:
        from aqe.lsp.features.models import start_models

        ls.run_task(start_models(ls), "model restart")


def register(server: AqeLanguageServer) -> None:
    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: AqeLanguageServer, params: types.DidChangeConfigurationParams
    ) -> None:
        await refresh_configuration(ls, params.settings if params.settings is not None else {})
