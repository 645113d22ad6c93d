"""The smallest pygls server on `AqeProtocol` + `serve_stdio`: transport tests without aqe's features.

Requests: textDocument/hover; aqe/echo (raises when text == "raise"); aqe/sleep (async) and
aqe/block (@thread, one worker) to exercise cancellation; aqe/unserialisable (returns an object JSON
cannot hold); aqe/print (writes to stdout three ways: print, fd 1, a child process). Notification
aqe/explode raises in its handler.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from aqe.lsp.transport.protocol import AqeProtocol, serve_stdio

ECHO = "aqe/echo"
SLEEP = "aqe/sleep"
BLOCK = "aqe/block"
UNSERIALISABLE = "aqe/unserialisable"
EXPLODE = "aqe/explode"
PRINT = "aqe/print"
RAISE_ON = "raise"


def create_server() -> LanguageServer:
    server = LanguageServer("aqe-minimal", "0", protocol_cls=AqeProtocol, max_workers=1)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: LanguageServer, params: types.HoverParams) -> types.Hover:
        where = f"{params.text_document.uri}:{params.position.line}:{params.position.character}"
        return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.PlainText, value=where))

    @server.feature(ECHO)
    def echo(ls: LanguageServer, params: Any) -> dict[str, Any]:
        text = getattr(params, "text", None)
        if text == RAISE_ON:
            raise RuntimeError("aqe/echo was asked to raise")
        return {"text": text}

    @server.feature(SLEEP)
    async def sleep(ls: LanguageServer, params: Any) -> str:
        await asyncio.sleep(params.seconds)
        return "slept"

    @server.feature(BLOCK)
    @server.thread()
    def block(ls: LanguageServer, params: Any) -> str:
        time.sleep(params.seconds)
        return "blocked"

    @server.feature(UNSERIALISABLE)
    def unserialisable(ls: LanguageServer, params: Any) -> object:
        return object()

    @server.feature(PRINT)
    def print_to_stdout(ls: LanguageServer, params: Any) -> str:
        print("stray print() output")
        os.write(1, b"stray write to fd 1\n")
        subprocess.run([sys.executable, "-c", "print('stray child output')"], check=True)
        return "printed"

    @server.feature(EXPLODE)
    def explode(ls: LanguageServer, params: Any) -> None:
        raise RuntimeError("aqe/explode always raises")

    return server


def main() -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    serve_stdio(create_server())


if __name__ == "__main__":
    main()
