"""Logs go to the editor's output panel (window/logMessage), never to stdout, which carries LSP."""

from __future__ import annotations

import logging
import sys
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


class _ForwardedToTheEditor(logging.Filter):
    """Drops aqe's informational records from stderr: the editor already shows them once, through
    window/logMessage, and editors print a server's stderr too (VS Code marks every line of it an error).
    Warnings and errors stay on stderr, so a server's last words survive a crash."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith("aqe") and record.levelno < logging.WARNING)


def forward_logs_to_the_editor(server: AqeLanguageServer) -> None:
    """Send aqe's logs to the editor's output panel and stop echoing the informational ones on stderr."""
    aqe_logger = logging.getLogger("aqe")
    for stale in [handler for handler in aqe_logger.handlers if isinstance(handler, WindowLogHandler)]:
        aqe_logger.removeHandler(stale)  # one editor at a time: a server made again in-process replaces it
    aqe_logger.addHandler(WindowLogHandler(server))
    for handler in logging.getLogger().handlers:
        is_stderr = isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stderr, sys.__stderr__)
        if is_stderr and not any(isinstance(existing, _ForwardedToTheEditor) for existing in handler.filters):
            handler.addFilter(_ForwardedToTheEditor())
