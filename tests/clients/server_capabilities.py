"""What the aqe server in this checkout offers, asked at run time with a real `initialize` handshake.

Editor tests for commands other work adds to the server (aqe.generateTest) run only when the server
advertises them, so they start running by themselves once the command lands.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from typing import Any

SERVER_COMMAND = [sys.executable, "-m", "aqe", "serve"]


def _frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode()
    return f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def _read_message(stream: Any) -> dict[str, Any]:
    length = None
    while True:
        line = stream.readline()
        if not line:
            raise EOFError("the server closed its output before answering initialize")
        line = line.strip()
        if not line:
            break
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    if length is None:
        raise ValueError("a message without Content-Length")
    return json.loads(stream.read(length))


@cache
def server_execute_commands() -> frozenset[str]:
    """`executeCommandProvider.commands` from the server's initialize result."""
    process = subprocess.Popen(SERVER_COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdin is not None and process.stdout is not None
    try:
        initialize = {"processId": None, "rootUri": None, "capabilities": {}, "initializationOptions": {}}
        process.stdin.write(_frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": initialize}))
        process.stdin.flush()
        while True:
            message = _read_message(process.stdout)
            if message.get("id") == 1:
                break
        process.stdin.write(_frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))
        process.stdin.write(_frame({"jsonrpc": "2.0", "method": "exit"}))
        process.stdin.flush()
        provider = message["result"]["capabilities"].get("executeCommandProvider") or {}
        return frozenset(provider.get("commands") or ())
    finally:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def missing_command_reason(command: str) -> str | None:
    """The skip reason when the server lacks `command`, else None."""
    if command in server_execute_commands():
        return None
    return f"the aqe server does not advertise {command} yet (executeCommandProvider.commands)"
