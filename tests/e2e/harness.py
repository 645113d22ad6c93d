"""A raw LSP client over a subprocess' stdio: sends any bytes, reads the server's frames strictly.

Unlike pytest-lsp it can send broken frames, measure the server's memory and report exactly which
responses arrived (and how often). Server-to-client requests (workspace/configuration,
client/registerCapability...) are answered with `null` by default so a server never blocks on us.

    with RawLspClient([sys.executable, "server.py"]) as client:
        client.initialize()
        response = client.request("textDocument/hover", params)
        client.send_raw(b"Content-Length: 3\\r\\n\\r\\nxyz")
        assert client.shutdown() == 0
"""

from __future__ import annotations

import collections
import contextlib
import io
import itertools
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

MessageId = int | str
ServerRequestHandler = Callable[[dict[str, Any]], Any]

DEFAULT_TIMEOUT = 10.0
_STDERR_LINES_KEPT = 400


class ServerProtocolViolation(AssertionError):
    """The server wrote something to stdout that is not a well-formed LSP frame."""


class RawLspClient:
    def __init__(
        self,
        command: Sequence[str],
        *,
        cwd: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        server_request_handler: ServerRequestHandler | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.command = list(command)
        self.timeout = timeout
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=dict(env) if env is not None else None,
        )
        self._server_request_handler = server_request_handler or (lambda request: None)
        self._ids = itertools.count(1)
        self._write_lock = threading.Lock()
        self._changed = threading.Condition()
        self._responses: dict[Any, list[dict[str, Any]]] = collections.defaultdict(list)
        self._notifications: list[dict[str, Any]] = []
        self._server_requests: list[dict[str, Any]] = []
        self._violations: list[str] = []
        self._stdout_closed = False
        self._stderr_lines: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES_KEPT)
        self._threads = [
            threading.Thread(target=self._read_stdout, name="lsp-client-stdout", daemon=True),
            threading.Thread(target=self._read_stderr, name="lsp-client-stderr", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    # --- sending -----------------------------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are; no framing added."""
        assert self.process.stdin is not None
        with self._write_lock:
            self.process.stdin.write(data)
            self.process.stdin.flush()

    def send(self, message: Mapping[str, Any]) -> None:
        self.send_raw(frame(message))

    def notify(self, method: str, params: Any = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)

    def send_request(self, method: str, params: Any = None, *, msg_id: MessageId | None = None) -> MessageId:
        """Send a request without waiting; returns its id."""
        msg_id = self.next_id() if msg_id is None else msg_id
        self.send(request_message(method, params, msg_id))
        return msg_id

    def request(self, method: str, params: Any = None, *, timeout: float | None = None) -> dict[str, Any]:
        """Send a request and return the whole response message (with "result" or "error")."""
        return self.wait_for_response(self.send_request(method, params), timeout=timeout)

    def next_id(self) -> int:
        return next(self._ids)

    def close_stdin(self) -> None:
        assert self.process.stdin is not None
        with self._write_lock:
            self.process.stdin.close()

    # --- lifecycle ---------------------------------------------------------------------------------

    def initialize(
        self,
        *,
        root_uri: str | None = None,
        capabilities: Mapping[str, Any] | None = None,
        initialization_options: Any = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """initialize + initialized; returns the InitializeResult (raises if the server refused)."""
        params: dict[str, Any] = {
            "processId": os.getpid(),
            "rootUri": root_uri,
            "capabilities": dict(capabilities or {}),
        }
        if root_uri is not None:
            params["workspaceFolders"] = [{"uri": root_uri, "name": Path(root_uri).name or "root"}]
        if initialization_options is not None:
            params["initializationOptions"] = initialization_options
        response = self.request("initialize", params, timeout=timeout)
        if "error" in response:
            raise AssertionError(f"initialize failed: {response['error']}")
        self.notify("initialized", {})
        return response["result"]

    def shutdown(self, *, timeout: float | None = None) -> int:
        """shutdown + exit; returns the server's exit code."""
        response = self.request("shutdown", timeout=timeout)
        if "error" in response:
            raise AssertionError(f"shutdown failed: {response['error']}")
        self.notify("exit")
        return self.wait_for_exit(timeout=timeout)

    def wait_for_exit(self, *, timeout: float | None = None) -> int:
        return self.process.wait(timeout=self._timeout(timeout))

    def is_alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        """Stop the server however it is doing; idempotent."""
        if self.process.poll() is None:
            try:
                self.close_stdin()
                self.process.wait(timeout=2)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        for thread in self._threads:
            thread.join(timeout=2)

    def __enter__(self) -> RawLspClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- receiving ---------------------------------------------------------------------------------

    def wait_for_response(self, msg_id: MessageId, *, timeout: float | None = None) -> dict[str, Any]:
        """The first response to `msg_id`; raises TimeoutError (with the server's stderr) if none comes."""
        deadline = time.monotonic() + self._timeout(timeout)
        with self._changed:
            while not self._responses.get(msg_id):
                self._wait_until(deadline, f"no response to request {msg_id!r}")
            return self._responses[msg_id][0]

    def responses_to(self, msg_id: MessageId) -> list[dict[str, Any]]:
        """Every response received so far for `msg_id` (a correct server sends exactly one)."""
        with self._changed:
            return list(self._responses.get(msg_id, ()))

    def response_ids(self) -> set[Any]:
        with self._changed:
            return set(self._responses)

    def wait_for_notification(self, method: str, *, timeout: float | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + self._timeout(timeout)
        with self._changed:
            while True:
                for message in self._notifications:
                    if message.get("method") == method:
                        return message
                self._wait_until(deadline, f"no {method!r} notification")

    def notifications(self, method: str | None = None) -> list[dict[str, Any]]:
        with self._changed:
            return [m for m in self._notifications if method is None or m.get("method") == method]

    def server_requests(self, method: str | None = None) -> list[dict[str, Any]]:
        """Requests the server sent us (each already answered by the server_request_handler)."""
        with self._changed:
            return [m for m in self._server_requests if method is None or m.get("method") == method]

    @property
    def violations(self) -> list[str]:
        """Everything the server wrote to stdout that was not a well-formed frame."""
        with self._changed:
            return list(self._violations)

    def stderr_text(self) -> str:
        return "\n".join(self._stderr_lines)

    def rss_bytes(self) -> int:
        """The server's resident memory, from /proc (Linux only)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS in /proc/{self.process.pid}/status")

    # --- internals ---------------------------------------------------------------------------------

    def _timeout(self, timeout: float | None) -> float:
        return self.timeout if timeout is None else timeout

    def _wait_until(self, deadline: float, what: str) -> None:
        """Called with self._changed held."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(self._explain(what))
        if self._stdout_closed:
            raise ConnectionError(self._explain(f"{what}: the server closed its stdout"))
        self._changed.wait(remaining)

    def _explain(self, what: str) -> str:
        state = "running" if self.process.poll() is None else f"exited with {self.process.returncode}"
        stderr = "\n".join(list(self._stderr_lines)[-40:])
        return f"{what} (server {state}); last stderr lines:\n{stderr}"

    def _read_stdout(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            while True:
                message = _read_frame(stdout)
                if message is None:
                    break
                self._dispatch(message)
        except ServerProtocolViolation as violation:
            with self._changed:
                self._violations.append(str(violation))
        except (OSError, ValueError):
            pass
        finally:
            with self._changed:
                self._stdout_closed = True
                self._changed.notify_all()

    def _dispatch(self, message: dict[str, Any]) -> None:
        with self._changed:
            if "method" in message and "id" in message:
                self._server_requests.append(message)
            elif "method" in message:
                self._notifications.append(message)
            else:
                self._responses[message.get("id")].append(message)
            self._changed.notify_all()
        if "method" in message and "id" in message:
            # Answered from another thread: this one must keep reading, or a server blocked writing
            # to us while we are blocked writing to it would deadlock both.
            threading.Thread(target=self._answer_server_request, args=(message,), daemon=True).start()

    def _answer_server_request(self, request: dict[str, Any]) -> None:
        try:
            result = self._server_request_handler(request)
            reply: dict[str, Any] = {"jsonrpc": "2.0", "id": request["id"], "result": result}
        except Exception as exc:
            reply = {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32603, "message": str(exc)}}
        with contextlib.suppress(OSError, ValueError):
            self.send(reply)

    def _read_stderr(self) -> None:
        stderr = self.process.stderr
        assert stderr is not None
        try:
            for line in iter(stderr.readline, b""):
                self._stderr_lines.append(line.decode("utf-8", "replace").rstrip())
        except (OSError, ValueError):
            pass


def request_message(method: str, params: Any, msg_id: MessageId) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def frame(message: Any, *, length_delta: int = 0, headers: Mapping[str, str] | None = None) -> bytes:
    """Encode `message` as an LSP frame; `length_delta` makes Content-Length deliberately wrong."""
    body = json.dumps(message).encode("utf-8")
    lines = {"Content-Length": str(len(body) + length_delta)} if headers is None else dict(headers)
    header = "".join(f"{name}: {value}\r\n" for name, value in lines.items()) + "\r\n"
    return header.encode("ascii") + body


def read_frames(data: bytes) -> list[dict[str, Any]]:
    """Every frame in `data`, parsed as strictly as the live client does (raises on a bad one)."""
    stream = io.BytesIO(data)
    frames = []
    while (message := _read_frame(stream)) is not None:
        frames.append(message)
    return frames


def _read_frame(stream: Any) -> dict[str, Any] | None:
    """One frame, strictly per the LSP base protocol; None at a clean end of stream."""
    length: int | None = None
    first = True
    while True:
        line = stream.readline(8192)
        if not line:
            if first:
                return None
            raise ServerProtocolViolation("stdout ended inside a header")
        first = False
        if not line.endswith(b"\r\n"):
            raise ServerProtocolViolation(f"header line not ended by CRLF: {line[:100]!r}")
        if line == b"\r\n":
            break
        name, sep, value = line[:-2].partition(b":")
        if not sep:
            raise ServerProtocolViolation(f"malformed header line: {line[:100]!r}")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length is None:
        raise ServerProtocolViolation("frame without Content-Length")
    body = b""
    while len(body) < length:
        more = stream.read(length - len(body))
        if not more:
            raise ServerProtocolViolation("stdout ended inside a body")
        body += more
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ServerProtocolViolation(f"body is not UTF-8 JSON ({exc}): {body[:200]!r}") from exc
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise ServerProtocolViolation(f"not a JSON-RPC 2.0 message: {body[:200]!r}")
    return message
