"""Logs go to the editor's output panel (window/logMessage), never to stdout, which carries LSP."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from aqe.lsp.server import AqeLanguageServer

_LEVELS = {
    logging.CRITICAL: types.MessageType.Error,
    logging.ERROR: types.MessageType.Error,
    logging.WARNING: types.MessageType.Warning,
    logging.INFO: types.MessageType.Info,
}


class WindowLogHandler(logging.Handler):
    """Forwards records to the client from any thread, through the server's event loop."""

    def __init__(self, server: AqeLanguageServer) -> None:
        super().__init__()
        self.server = server
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        # pygls logs about its own transport; echoing those back through it could recurse.
        if record.name.startswith("pygls"):
            return
        try:
            message = self.format(record)
            kind = _LEVELS.get(record.levelno, types.MessageType.Log)
            self.server.send_soon(
                lambda: self.server.window_log_message(types.LogMessageParams(type=kind, message=message))
            )
        except Exception:  # a log handler must never raise into the code that logged
            self.handleError(record)
