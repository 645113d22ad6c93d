"""Text synchronisation: the engine keeps its own incrementally parsed copy of each open file."""

from __future__ import annotations

import logging

from lsprotocol import types

from aqe.lsp.convert import to_content_changes
from aqe.lsp.features.diagnostics import DiagnosticsFeature
from aqe.lsp.server import AqeLanguageServer
from aqe.workspace import path_from_uri

log = logging.getLogger(__name__)


def register(server: AqeLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: AqeLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        path = path_from_uri(item.uri)
        ls.engine.open_document(item.uri, str(path) if path else item.uri, item.text, item.version, item.language_id)
        DiagnosticsFeature.of(ls).document_changed(item.uri, immediately=True)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: AqeLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        try:
            ls.engine.change_document(uri, to_content_changes(params.content_changes), params.text_document.version)
        except KeyError:
            log.warning("didChange for a document that was never opened: %s", uri)
            return
        DiagnosticsFeature.of(ls).document_changed(uri, immediately=False)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: AqeLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
        DiagnosticsFeature.of(ls).document_changed(params.text_document.uri, immediately=True)
        for listener in ls.save_listeners:
            try:
                listener(params.text_document.uri)
            except Exception:  # one feature's failure must not stop the others
                log.exception("a save listener failed for %s", params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: AqeLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.engine.close_document(uri)
        DiagnosticsFeature.of(ls).document_closed(uri)
