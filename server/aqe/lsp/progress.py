"""`$/progress` for long work (model loading, indexing, test generation), when the client allows it.

Clients may refuse or not support work-done progress; then every call here is a quiet no-op, so
features never have to check.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.capabilities import get_capability

if TYPE_CHECKING:
    from aqe.lsp.server import AqeLanguageServer

log = logging.getLogger(__name__)


class Progress:
    def __init__(self, server: AqeLanguageServer, title: str, *, cancellable: bool = False) -> None:
        self.server = server
        self.title = title
        self.cancellable = cancellable
        self.token: str | None = None

    @property
    def cancelled(self) -> bool:
        """True when the user pressed cancel on this progress in the editor."""
        if self.token is None:
            return False
        future = self.server.work_done_progress.tokens.get(self.token)
        return bool(future is not None and future.cancelled())

    async def begin(self, message: str | None = None) -> None:
        if not get_capability(self.server.client_capabilities, "window.work_done_progress", False):
            return
        token = f"aqe-{uuid.uuid4().hex[:12]}"
        try:
            await self.server.work_done_progress.create_async(token)
        except Exception as error:  # the client may refuse; progress is a courtesy, not a requirement
            log.debug("client refused progress %r: %s", self.title, error)
            return
        self.token = token
        self.server.work_done_progress.begin(
            token,
            types.WorkDoneProgressBegin(title=self.title, message=message, cancellable=self.cancellable, percentage=0),
        )

    def report(self, message: str | None = None, percentage: int | None = None) -> None:
        if self.token is not None:
            token = self.token
            value = types.WorkDoneProgressReport(message=message, percentage=percentage)
            self.server.send_soon(lambda: self.server.work_done_progress.report(token, value))

    def end(self, message: str | None = None) -> None:
        if self.token is not None:
            token, self.token = self.token, None
            value = types.WorkDoneProgressEnd(message=message)
            self.server.send_soon(lambda: self.server.work_done_progress.end(token, value))
