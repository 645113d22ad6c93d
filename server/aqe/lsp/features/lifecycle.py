"""initialize / initialized / shutdown: settings, roots, logging and the diagnostics mode."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.capabilities import get_capability

from aqe.lsp.features.diagnostics import DiagnosticsFeature
from aqe.lsp.log import forward_logs_to_the_editor
from aqe.lsp.server import AqeLanguageServer, workspace_roots_of
from aqe.workspace import path_from_uri

log = logging.getLogger(__name__)


def register(server: AqeLanguageServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: AqeLanguageServer, params: types.InitializeParams) -> None:
        ls.bind_loop()
        forward_logs_to_the_editor(ls)
        options = params.initialization_options
        ls.initialization_options = options if isinstance(options, dict) else {}
        ls.workspace_roots = workspace_roots_of(params)
        ls.load_settings(None)
        pull = get_capability(ls.client_capabilities, "text_document.diagnostic") is not None
        DiagnosticsFeature.of(ls).use_pull_model(pull)
        log.info(
            "aqe %s started for %s (%s diagnostics, trusted=%s)",
            ls.version,
            ", ".join(map(str, ls.workspace_roots)) or "no workspace folder",
            "pull" if pull else "push",
            ls.loaded_settings.trusted if ls.loaded_settings else True,
        )

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    def did_change_workspace_folders(
        ls: AqeLanguageServer, params: types.DidChangeWorkspaceFoldersParams
    ) -> None:
        def real(uri: str) -> Path | None:
            path = path_from_uri(uri)
            return Path(os.path.realpath(path)) if path is not None else None

        removed = {real(folder.uri) for folder in params.event.removed}
        kept = [root for root in ls.workspace_roots if root not in removed]
        added = [real(folder.uri) for folder in params.event.added]
        ls.workspace_roots = tuple(dict.fromkeys([*kept, *(p for p in added if p is not None)]))
        ls.load_settings(None)
        DiagnosticsFeature.of(ls).settings_changed()
        ls.emit("settings")
        if getattr(ls, "models", None) is not None:
            from aqe.lsp.features.models import start_models

            ls.run_task(start_models(ls), "model restart")

    @server.feature(types.INITIALIZED)
    async def initialized(ls: AqeLanguageServer, params: types.InitializedParams) -> None:
        from aqe.lsp.features.configuration import refresh_configuration
        from aqe.lsp.features.models import check_sandbox, start_models

        await refresh_configuration(ls, None)
        ls.run_task(start_models(ls), "model warm-up")
        ls.run_task(check_sandbox(ls), "sandbox check")
        ls.emit("initialized")

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: AqeLanguageServer, *args: Any) -> None:
        await ls.emit_and_wait("shutdown")
