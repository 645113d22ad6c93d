"""A fake Anthropic Messages API: a real HTTP server on 127.0.0.1 that the official SDK talks to.

Tests point `AnthropicProvider(base_url=fake.base_url, api_key=fake.api_key)` at it, so the SDK,
its retries, its SSE parser and our error mapping all run for real; only the model is scripted.

Usage::

    from fakes.fake_anthropic import FakeAnthropic, Reply

    with FakeAnthropic() as fake:
        fake.script("first answer", Reply.error(429), Reply(text="{\"ok\": true}"))
        provider = AnthropicProvider(api_key=fake.api_key, model="claude-test", base_url=fake.base_url)
        ...
        assert fake.requests[0]["json"]["system"] == "Be brief."
        assert "AKIA..." not in fake.received_text()

What it speaks:
- `POST /v1/messages`, non-streaming (one JSON `message`) and `"stream": true` (SSE with the real
  event sequence: message_start, content_block_start, ping, content_block_delta (text_delta) per
  piece, content_block_stop, message_delta (stop_reason, stop_sequence, usage), message_stop).
- Authentication: the key may come as `x-api-key: KEY` or `Authorization: Bearer KEY` (the 2.x SDK
  sends the latter). A wrong or missing key gets 401 with the API's error JSON
  (`{"type": "error", "error": {"type": "authentication_error", ...}}`).
- Request validation the real API does and that our provider must respect: 400
  `invalid_request_error` for a missing `model`/`max_tokens`/`messages`, an empty `messages` list,
  sampling parameters (`temperature`, `top_p`, `top_k`: API version 2026-10-21 rejects them), and
  empty or whitespace-only `stop_sequences`.
- Stop sequences and `max_tokens` are applied to the scripted text the way the API would: the text
  is cut at the first requested stop sequence (`stop_reason: "stop_sequence"`) or after
  `max_tokens` pieces (`stop_reason: "max_tokens"`).
- Token accounting: a "token" is a word with its trailing whitespace (`\\S+\\s*`). `input_tokens`
  counts the words of `system` and all message texts; `output_tokens` the pieces sent.
- Any other path gets 404 `not_found_error`.

Scripting: `script(*replies)` queues replies consumed one per request, in order (a `str` is
`Reply(text=...)`). When the queue is empty, `default` answers (a `Reply`, or a callable
`(body: dict) -> Reply` to compute the answer from the request). Errors (`Reply.error(status)`)
carry the API's error JSON and `retry-after-ms` (default 10 ms, so SDK retries are fast in tests).
Slow mode: `Reply(delay_s=...)` waits before answering; `Reply(event_delay_s=...)` (or
`FakeAnthropic(event_delay_s=...)`) waits between SSE events, for cancellation tests.
`Reply(stream_error=...)` sends an `event: error` (e.g. "overloaded_error") after the first delta.

Recording: `requests` lists every request received, in arrival order, including rejected ones, as
dicts: `method`, `path`, `headers` (lower-cased names; note `authorization`/`x-api-key` carry the
API key), `json` (the parsed body, or None), `body` (the raw body text), `status` (what the fake
answered), and for streams `events_sent` and `client_closed` (True when the client went away
before the stream ended). `received_text()` joins every string value found in all bodies (decoded
from JSON, so secrets with quotes or newlines appear as they were sent), for "no secret reached the
cloud" assertions. `clear()` forgets requests and the script.
"""

from __future__ import annotations

import collections
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_API_KEY = "sk-ant-api03-fake-test-key-0123456789"
DEFAULT_TEXT = "Hello from the fake Messages API."
_PIECE = re.compile(r"\S+\s*|\s+")

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    529: "overloaded_error",
}
_ERROR_MESSAGES = {
    401: "invalid x-api-key",
    429: "Number of request tokens has exceeded your per-minute rate limit",
    500: "Internal server error",
    529: "Overloaded",
}
_SAMPLING_PARAMETERS = ("temperature", "top_p", "top_k")


@dataclass(frozen=True)
class Reply:
    """One scripted answer of the fake server."""

    text: str = DEFAULT_TEXT
    model: str | None = None
    """The model named in the answer; None echoes the request's model."""
    stop_reason: str = "end_turn"
    status: int = 200
    error_type: str | None = None
    error_message: str | None = None
    retry_after_ms: int | None = 10
    delay_s: float = 0.0
    """Seconds to wait before answering at all."""
    event_delay_s: float | None = None
    """Seconds between SSE events (None: the server's default)."""
    stream_error: str | None = None
    """Send `event: error` of this type after the first text delta, then end the stream."""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def error(cls, status: int, error_type: str | None = None, message: str | None = None, **kwargs: Any) -> Reply:
        return cls(status=status, error_type=error_type, error_message=message, **kwargs)


class FakeAnthropic:
    """A Messages API server on 127.0.0.1 with scripted replies and a record of every request."""

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        default: Reply | Callable[[dict[str, Any]], Reply] | None = None,
        event_delay_s: float = 0.0,
    ) -> None:
        self.api_key = api_key
        self.default = default if default is not None else Reply()
        self.event_delay_s = event_delay_s
        self.requests: list[dict[str, Any]] = []
        self._script: collections.deque[Reply] = collections.deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> FakeAnthropic:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        handler = type("FakeAnthropicHandler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-anthropic", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake server is not running")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- scripting and inspection --------------------------------------------------------------

    def script(self, *replies: Reply | str) -> None:
        with self._lock:
            self._script.extend(Reply(text=reply) if isinstance(reply, str) else reply for reply in replies)

    def clear(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()

    @property
    def message_requests(self) -> list[dict[str, Any]]:
        return [request for request in self.requests if request["path"] == "/v1/messages"]

    def received_text(self) -> str:
        """Every string value of every request body received, decoded, one per line."""
        with self._lock:
            bodies = [request["json"] if request["json"] is not None else request["body"] for request in self.requests]
        return "\n".join(_strings(bodies))

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(entry)

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if self._script:
                return self._script.popleft()
        return self.default(body) if callable(self.default) else self.default


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _pieces(text: str) -> list[str]:
    return _PIECE.findall(text)


def _message_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(block.get("text", "") for block in content if isinstance(block, dict))
    return ""


def _input_tokens(body: dict[str, Any]) -> int:
    texts = [_message_text(body.get("system", ""))]
    texts += [
        _message_text(message.get("content")) for message in body.get("messages", []) if isinstance(message, dict)
    ]
    return sum(len(text.split()) for text in texts)


def _validation_error(body: object) -> str | None:
    """The message the real API would answer 400 with, or None when the request is acceptable."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    for required in ("model", "max_tokens", "messages"):
        if required not in body:
            return f"{required}: Field required"
    if not isinstance(body["messages"], list) or not body["messages"]:
        return "messages: at least one message is required"
    for name in _SAMPLING_PARAMETERS:
        if name in body:
            return f"{name}: Extra inputs are not permitted"
    stops = body.get("stop_sequences", [])
    if any(not isinstance(stop, str) or not stop for stop in stops):
        return "stop_sequences: each stop sequence must be non-empty"
    if any(not stop.strip() for stop in stops):
        return "stop_sequences: each stop sequence must contain non-whitespace"
    return None


@dataclass
class _Answer:
    pieces: list[str]
    stop_reason: str
    stop_sequence: str | None


def _shape_answer(reply: Reply, body: dict[str, Any]) -> _Answer:
    """Apply the request's stop sequences and max_tokens to the scripted text, as the API would."""
    text = reply.text
    stop_reason = reply.stop_reason
    stop_sequence = None
    cuts = [(text.find(stop), stop) for stop in body.get("stop_sequences", []) if stop in text]
    if cuts:
        position, stop_sequence = min(cuts)
        text = text[:position]
        stop_reason = "stop_sequence"
    pieces = _pieces(text)
    max_tokens = int(body.get("max_tokens", len(pieces)))
    if len(pieces) > max_tokens:
        pieces = pieces[:max_tokens]
        stop_reason, stop_sequence = "max_tokens", None
    return _Answer(pieces, stop_reason, stop_sequence)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeAnthropic
    protocol_version = "HTTP/1.1"
    server_version = "FakeAnthropic/1.0"

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        entry: dict[str, Any] = {
            "method": self.command,
            "path": self.path,
            "headers": {name.lower(): value for name, value in self.headers.items()},
            "json": body,
            "body": raw,
            "status": None,
        }
        self.fake._record(entry)

        if self.path.split("?")[0] != "/v1/messages" or self.command != "POST":
            self._send_error(entry, 404, "not_found_error", f"Not found: {self.command} {self.path}")
            return
        if not self._authorised():
            self._send_error(entry, 401, "authentication_error", _ERROR_MESSAGES[401])
            return
        problem = _validation_error(body)
        if problem is not None:
            self._send_error(entry, 400, "invalid_request_error", problem)
            return
        assert isinstance(body, dict)
        reply = self.fake._next_reply(body)
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.status != 200:
            error_type = reply.error_type or _ERROR_TYPES.get(reply.status, "api_error")
            message = reply.error_message or _ERROR_MESSAGES.get(reply.status, error_type)
            extra = dict(reply.headers)
            if reply.retry_after_ms is not None:
                extra["retry-after-ms"] = str(reply.retry_after_ms)
            self._send_error(entry, reply.status, error_type, message, extra)
            return
        answer = _shape_answer(reply, body)
        if body.get("stream"):
            self._send_stream(entry, reply, body, answer)
        else:
            self._send_message(entry, reply, body, answer)

    def _authorised(self) -> bool:
        presented = self.headers.get("x-api-key")
        authorization = self.headers.get("authorization") or ""
        if presented is None and authorization.lower().startswith("bearer "):
            presented = authorization[7:].strip()
        return presented == self.fake.api_key

    # --- responses -----------------------------------------------------------------------------

    def _send_json(self, entry: dict[str, Any], status: int, payload: object, headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        entry["status"] = status
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", f"req_fake_{uuid.uuid4().hex[:20]}")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_error(
        self,
        entry: dict[str, Any],
        status: int,
        error_type: str,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        payload = {
            "type": "error",
            "error": {"type": error_type, "message": message},
            "request_id": f"req_fake_{uuid.uuid4().hex[:20]}",
        }
        self._send_json(entry, status, payload, headers or {})

    def _message(
        self, reply: Reply, body: dict[str, Any], content: list[dict[str, Any]], output_tokens: int
    ) -> dict[str, Any]:
        return {
            "id": f"msg_fake_{uuid.uuid4().hex[:20]}",
            "type": "message",
            "role": "assistant",
            "model": reply.model or body["model"],
            "content": content,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": _input_tokens(body), "output_tokens": output_tokens},
        }

    def _send_message(self, entry: dict[str, Any], reply: Reply, body: dict[str, Any], answer: _Answer) -> None:
        content = [{"type": "text", "text": "".join(answer.pieces)}]
        message = self._message(reply, body, content, len(answer.pieces))
        message["stop_reason"] = answer.stop_reason
        message["stop_sequence"] = answer.stop_sequence
        self._send_json(entry, 200, message, dict(reply.headers))

    def _send_stream(self, entry: dict[str, Any], reply: Reply, body: dict[str, Any], answer: _Answer) -> None:
        delay = reply.event_delay_s if reply.event_delay_s is not None else self.fake.event_delay_s
        entry["status"] = 200
        entry["events_sent"] = 0
        entry["client_closed"] = False
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("request-id", f"req_fake_{uuid.uuid4().hex[:20]}")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()

        start = self._message(reply, body, [], 1)
        events: list[tuple[str, dict[str, Any]]] = [
            ("message_start", {"type": "message_start", "message": start}),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            ("ping", {"type": "ping"}),
        ]
        for number, piece in enumerate(answer.pieces):
            events.append(
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
                )
            )
            if reply.stream_error and number == 0:
                error = {"type": "error", "error": {"type": reply.stream_error, "message": reply.stream_error}}
                events.append(("error", error))
                break
        else:
            events += [
                ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                (
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": answer.stop_reason, "stop_sequence": answer.stop_sequence},
                        "usage": {"output_tokens": len(answer.pieces)},
                    },
                ),
                ("message_stop", {"type": "message_stop"}),
            ]
        try:
            for number, (name, payload) in enumerate(events):
                if number and delay:
                    time.sleep(delay)
                self._write_chunk(f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode())
                entry["events_sent"] += 1
            self._write_chunk(b"")
        except OSError:
            entry["client_closed"] = True
            self.close_connection = True

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()
