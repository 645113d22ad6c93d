"""A provider for a team inference server that speaks the OpenAI HTTP API (llama.cpp, vLLM, Ollama).

Why httpx2 and not the `openai` SDK: these servers share only the core of the OpenAI API and each
adds its own fields (llama.cpp's `grammar`, llama-cpp-python's `{"type": "json_object", "schema"}`)
and its own gaps (no logprobs unless started with them, token-level embeddings). Plain HTTP keeps
those differences visible and lets us negotiate them; the SDK would add a dependency, read
`OPENAI_*` environment variables that could redirect traffic, and still need `extra_body` for
everything that matters here. httpx2 is already installed as the HTTP client of the `anthropic`
SDK, has real timeouts and an SSE reader, and exposes the socket (see `RequestInterrupter`).

What is sent: `POST {base}/v1/completions` with `prompt.text` for base models (`chat=False`) or
`/v1/chat/completions` with `prompt.as_chat()` for instruct models (`chat=True`), with max_tokens,
temperature, stop, seed, llama.cpp's `grammar`, a `response_format` for `json_schema`, and
logprobs. Two capabilities are negotiated once per provider, from the server's own error message:
if it refuses logprobs, they are dropped (confidence becomes 0.5); if it refuses OpenAI's
`{"type": "json_schema"}` response format, llama-cpp-python's `{"type": "json_object", "schema"}` is
tried. A server that silently ignores a JSON constraint is caught by parsing the answer.

Confidence is the mean probability of the chosen tokens, exp(logprob), when the server returns
logprobs, else 0.5. With a cancel token, `complete()` streams on the wire, so that cancelling also
stops the server's work (see `complete`). Streams ask for usage (`stream_options`); a server that
does not send it gets its generated tokens counted from the chunks and 0 prompt tokens. `embed()`
uses /v1/embeddings; a server without pooling answers one vector per token, which is mean-pooled;
vectors are L2-normalised so that those of any provider compare by dot product.

`is_local` is True only for a loopback host (127.0.0.0/8, ::1, `localhost`), decided from the URL
without DNS. For such a server, proxy environment variables are ignored, so "local" stays on the
machine. Redirects are never followed (a redirect could carry a prompt elsewhere).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import math
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx2

from aqe.llm.types import (
    CancelToken,
    Completion,
    CompletionOptions,
    FinishReason,
    Prompt,
    ProviderError,
    ProviderInfo,
    ProviderTimeout,
    ProviderUnavailable,
    RequestCancelled,
    StreamChunk,
    UnsupportedOption,
    new_request_id,
)

UNKNOWN_CONFIDENCE = 0.5
"""What a provider reports when the server gives no token probabilities."""

_DEFAULT_OPTIONS = CompletionOptions()
_EMBEDDING_BATCH = 64
_LOOPBACK_NAMES = frozenset({"localhost", "localhost."})


def is_loopback_url(url: str) -> bool:
    """True when the URL's host is a loopback address or `localhost`; never resolves a name."""
    host = (urlsplit(url).hostname or "").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


class RequestInterrupter:
    """Ends a blocking HTTP request at once when its cancel token fires or its deadline passes.

    A read blocked in httpx2 ignores `close()` from another thread (it returns only when the server
    sends more), so a watcher thread shuts the socket down instead, which wakes the read with an
    error that `check()` turns into RequestCancelled or ProviderTimeout. The socket is learnt at
    connect time through httpx2's `trace` extension (pass `trace` as `extensions={"trace": ...}`),
    or from a response with `attach()`. Call `detach()` before a pooled connection goes back to its
    pool: from then on the watcher leaves the socket alone, since another request may reuse it.
    """

    def __init__(self, cancel: CancelToken | None, limit_s: float | None) -> None:
        self._cancel = cancel
        self._limit_s = limit_s
        self._deadline = None if limit_s is None else time.monotonic() + limit_s
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._stream: Any = None
        self.reason: str | None = None
        """"cancelled" or "timeout" once the watcher fired."""

    def __enter__(self) -> RequestInterrupter:
        self.check()
        if self._cancel is not None or self._deadline is not None:
            threading.Thread(target=self._watch, name="aqe-request-interrupter", daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._finished.set()
            self._stream = None

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event.endswith("connect_tcp.complete"):
            self._learn(info.get("return_value"))

    def attach(self, response: httpx2.Response) -> None:
        self._learn(response.extensions.get("network_stream"))

    def detach(self) -> None:
        with self._lock:
            self._stream = None

    def check(self) -> None:
        """Raise if the request was cancelled or ran out of time."""
        if self.reason == "timeout":
            raise ProviderTimeout(f"the model call did not finish within {self._limit_s:g} s")
        if self.reason == "cancelled" or (self._cancel is not None and self._cancel.cancelled):
            raise RequestCancelled(self._cancel.reason if self._cancel is not None else "cancelled")

    def _learn(self, stream: Any) -> None:
        with self._lock:
            if self._finished.is_set():
                return
            self._stream = stream
            if self.reason is not None:
                self._shutdown_locked()

    def _watch(self) -> None:
        while not self._finished.is_set():
            remaining = None if self._deadline is None else self._deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                self._fire("timeout")
                return
            if self._cancel is None:
                self._finished.wait(remaining)
            elif self._cancel.wait(0.05 if remaining is None else min(0.05, remaining)):
                self._fire("cancelled")
                return

    def _fire(self, reason: str) -> None:
        with self._lock:
            if self._finished.is_set():
                return
            self.reason = reason
            self._shutdown_locked()

    def _shutdown_locked(self) -> None:
        sock = None if self._stream is None else self._stream.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def mean_probability(logprobs: Sequence[float | None]) -> float | None:
    """Mean probability of the chosen tokens from their logprobs; None when there are none."""
    probabilities = [math.exp(value) for value in logprobs if value is not None and math.isfinite(value)]
    if not probabilities:
        return None
    return min(1.0, sum(probabilities) / len(probabilities))


def _final_completion(chunks: Iterator[StreamChunk]) -> Completion:
    for chunk in chunks:
        if chunk.completion is not None:
            return chunk.completion
    raise ProviderError("the stream ended without a completion")


def _finish_reason(value: object) -> FinishReason:
    return FinishReason.LENGTH if value == "length" else FinishReason.STOP


def _error_message(response: httpx2.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:500]
        if isinstance(error, str):
            return error[:500]
        if body.get("detail"):
            return str(body["detail"])[:500]
        if body.get("message"):
            return str(body["message"])[:500]
    return json.dumps(body)[:500]


class _Answer:
    """What the server said, gathered from one JSON response or a stream of chunks."""

    def __init__(self, chat: bool) -> None:
        self.chat = chat
        self.parts: list[str] = []
        self.logprobs: list[float | None] = []
        self.chunks_with_text = 0
        self.finish: object = None
        self.model = ""
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None

    def take(self, payload: dict[str, Any], streaming: bool) -> str:
        """Absorb a response or chunk; return the new text it carries."""
        if "error" in payload and not payload.get("choices"):
            raise ProviderError(f"the inference server failed mid-answer: {payload['error']}")
        self.model = str(payload.get("model") or self.model)
        usage = payload.get("usage")
        if isinstance(usage, dict):
            self.prompt_tokens = usage.get("prompt_tokens", self.prompt_tokens)
            self.completion_tokens = usage.get("completion_tokens", self.completion_tokens)
        choices = payload.get("choices") or []
        if not choices:
            return ""
        choice = choices[0]
        if self.chat:
            source = choice.get("delta") if streaming else choice.get("message")
            text = (source or {}).get("content") or ""
        else:
            text = choice.get("text") or ""
        logprobs = choice.get("logprobs")
        if isinstance(logprobs, dict):
            if self.chat:
                self.logprobs += [entry.get("logprob") for entry in logprobs.get("content") or []]
            else:
                self.logprobs += list(logprobs.get("token_logprobs") or [])
        if choice.get("finish_reason"):
            self.finish = choice["finish_reason"]
        if text:
            self.parts.append(text)
            self.chunks_with_text += 1
        return text

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def generated_tokens(self) -> int:
        if self.completion_tokens is not None:
            return int(self.completion_tokens)
        return len(self.logprobs) if self.logprobs else self.chunks_with_text


class OpenAICompatibleProvider:
    """A model served over the OpenAI HTTP API; blocking and safe to share between threads."""

    name = "openai-compatible"

    def __init__(
        self,
        base_url: str,
        model: str = "",
        *,
        chat: bool = True,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        connect_timeout_s: float = 5.0,
        request_logprobs: bool = True,
    ) -> None:
        """`base_url` may end in `/v1` or not; `model` may be empty for single-model servers."""
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the inference server URL must be http(s)://host[:port], not {base_url!r}")
        root = base_url.strip().rstrip("/")
        self.base_url = root[: -len("/v1")] if root.endswith("/v1") else root
        self.model = model
        self.chat = chat
        self.is_local = is_loopback_url(self.base_url)
        self.timeout_s = timeout_s
        self._logprobs = request_logprobs
        self._json_format = "json_schema"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx2.Client(
            headers=headers,
            timeout=httpx2.Timeout(timeout_s, connect=connect_timeout_s),
            limits=httpx2.Limits(max_keepalive_connections=0),
            follow_redirects=False,
            trust_env=not self.is_local,
        )

    # --- the Provider interface ----------------------------------------------------------------

    def complete(
        self, prompt: Prompt, options: CompletionOptions = _DEFAULT_OPTIONS, cancel: CancelToken | None = None
    ) -> Completion:
        """With a cancel token the answer is streamed on the wire, so that cancelling stops the server too.

        (llama-cpp-python's server, for one, stops a stream when the client goes away but runs a
        plain request to the end, keeping a shared server busy for an answer nobody will read.)
        """
        if cancel is not None:
            return _final_completion(self.stream(prompt, options, cancel))
        body = self._body(prompt, options)
        started = time.monotonic()
        with self._interrupter(options, cancel) as interrupter:
            payload = self._post_json(self._path, body, options, interrupter)
        answer = _Answer(self.chat)
        answer.take(payload, streaming=False)
        return self._completion(answer, options, started)

    def stream(
        self, prompt: Prompt, options: CompletionOptions = _DEFAULT_OPTIONS, cancel: CancelToken | None = None
    ) -> Iterator[StreamChunk]:
        body = self._body(prompt, options)
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        return self._stream(body, options, cancel)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One L2-normalised vector per text; token-level answers are mean-pooled first."""
        vectors: list[list[float]] = []
        items = list(texts)
        for start in range(0, len(items), _EMBEDDING_BATCH):
            body: dict[str, Any] = {"input": items[start : start + _EMBEDDING_BATCH]}
            if self.model:
                body["model"] = self.model
            vectors += self._embed_batch(body)
        return vectors

    def close(self) -> None:
        self._client.close()

    def info(self) -> ProviderInfo:
        return ProviderInfo(
            name=self.name,
            model=self.model or "(server default)",
            is_local=self.is_local,
            chat=self.chat,
            details={
                "base_url": self.base_url,
                "endpoint": self._path,
                "logprobs": "requested" if self._logprobs else "not available",
            },
        )

    # --- requests ------------------------------------------------------------------------------

    @property
    def _path(self) -> str:
        return "/v1/chat/completions" if self.chat else "/v1/completions"

    def _body(self, prompt: Prompt, options: CompletionOptions) -> dict[str, Any]:
        if options.grammar is not None and options.json_schema is not None:
            raise UnsupportedOption("give either a grammar or a json_schema, not both")
        body: dict[str, Any] = {"max_tokens": options.max_tokens, "temperature": options.temperature}
        if self.model:
            body["model"] = self.model
        if self.chat:
            body["messages"] = [{"role": message.role, "content": message.content} for message in prompt.as_chat()]
        else:
            body["prompt"] = prompt.text
        if options.stop:
            body["stop"] = list(options.stop)
        if options.seed is not None:
            body["seed"] = options.seed
        if options.grammar is not None:
            body["grammar"] = options.grammar
        if options.json_schema is not None:
            body["response_format"] = self._response_format(options.json_schema)
        if self._logprobs:
            body.update({"logprobs": True, "top_logprobs": 1} if self.chat else {"logprobs": 1})
        return body

    def _response_format(self, schema: dict) -> dict[str, Any]:
        if self._json_format == "json_object":
            return {"type": "json_object", "schema": schema}
        return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}

    def _interrupter(self, options: CompletionOptions, cancel: CancelToken | None) -> RequestInterrupter:
        return RequestInterrupter(cancel, options.timeout_s or self.timeout_s)

    def _renegotiate(self, body: dict[str, Any], message: str) -> bool:
        """Drop or reshape a feature the server refused; False when there is nothing to change."""
        lowered = message.lower()
        if self._logprobs and "logprob" in lowered and "logprobs" in body:
            self._logprobs = False
            body.pop("logprobs", None)
            body.pop("top_logprobs", None)
            return True
        response_format = body.get("response_format")
        if response_format and "response_format" in lowered:
            if response_format.get("type") == "json_schema":
                self._json_format = "json_object"
                body["response_format"] = self._response_format(response_format["json_schema"]["schema"])
                return True
            raise UnsupportedOption(f"{self.base_url} cannot constrain its output to JSON: {message}")
        return False

    def _post_json(
        self, path: str, body: dict[str, Any], options: CompletionOptions, interrupter: RequestInterrupter
    ) -> dict[str, Any]:
        while True:
            try:
                response = self._client.post(self.base_url + path, json=body, extensions={"trace": interrupter.trace})
            except httpx2.HTTPError as error:
                raise self._transport_error(error, interrupter, options) from error
            if response.status_code < 400:
                try:
                    payload = response.json()
                except ValueError as error:
                    raise ProviderError(f"{self.base_url} sent a response that is not JSON") from error
                if not isinstance(payload, dict):
                    raise ProviderError(f"the inference server at {self.base_url} sent an unexpected response")
                return payload
            message = _error_message(response)
            if not self._renegotiate(body, message):
                raise self._status_error(response.status_code, message, path)

    def _stream(
        self, body: dict[str, Any], options: CompletionOptions, cancel: CancelToken | None
    ) -> Iterator[StreamChunk]:
        started = time.monotonic()
        answer = _Answer(self.chat)
        with self._interrupter(options, cancel) as interrupter:
            try:
                yield from self._stream_events(body, answer, options, interrupter)
            except httpx2.HTTPError as error:
                raise self._transport_error(error, interrupter, options) from error
            interrupter.check()
        yield StreamChunk("", self._completion(answer, options, started))

    def _stream_events(
        self, body: dict[str, Any], answer: _Answer, options: CompletionOptions, interrupter: RequestInterrupter
    ) -> Iterator[StreamChunk]:
        while True:
            with self._client.sse(
                self.base_url + self._path, method="POST", json=body, extensions={"trace": interrupter.trace}
            ) as events:
                response = events.response
                if response.status_code >= 400:
                    response.read()
                    message = _error_message(response)
                    if self._renegotiate(body, message):
                        continue
                    raise self._status_error(response.status_code, message, self._path)
                for event in events:
                    interrupter.check()
                    if event.data.strip() == "[DONE]":
                        break
                    try:
                        payload = json.loads(event.data)
                    except ValueError as error:
                        raise ProviderError(f"{self.base_url} sent a malformed event") from error
                    if isinstance(payload, dict):
                        text = answer.take(payload, streaming=True)
                        if text:
                            yield StreamChunk(text)
            interrupter.check()
            if answer.finish is None:
                raise ProviderError(
                    f"{self.base_url} ended the answer without finishing it (llama-cpp-python's server does so "
                    "when another request arrives, unless started with --interrupt_requests false)"
                )
            return

    def _embed_batch(self, body: dict[str, Any]) -> list[list[float]]:
        try:
            response = self._client.post(self.base_url + "/v1/embeddings", json=body)
        except httpx2.HTTPError as error:
            raise self._transport_error(error, None, _DEFAULT_OPTIONS) from error
        if response.status_code >= 400:
            message = _error_message(response)
            if response.status_code in (404, 405, 501) or "embedding" in message.lower():
                raise UnsupportedOption(f"the inference server at {self.base_url} does not serve embeddings: {message}")
            raise self._status_error(response.status_code, message, "/v1/embeddings")
        data = sorted(response.json().get("data") or [], key=lambda item: item.get("index", 0))
        return [_normalised(_pooled(item["embedding"])) for item in data]

    # --- answers and errors --------------------------------------------------------------------

    def _completion(self, answer: _Answer, options: CompletionOptions, started: float) -> Completion:
        text = answer.text
        if options.json_schema is not None:
            try:
                json.loads(text)
            except ValueError as error:
                raise ProviderError(
                    f"the inference server at {self.base_url} did not return valid JSON for the requested schema"
                ) from error
        confidence = mean_probability(answer.logprobs)
        return Completion(
            text=text,
            confidence=UNKNOWN_CONFIDENCE if confidence is None else confidence,
            model=answer.model or self.model or "unknown",
            provider=self.name,
            latency_s=time.monotonic() - started,
            prompt_tokens=int(answer.prompt_tokens or 0),
            completion_tokens=answer.generated_tokens(),
            request_id=new_request_id(),
            finish_reason=_finish_reason(answer.finish),
            route="local" if self.is_local else "cloud",
        )

    def _transport_error(
        self, error: httpx2.HTTPError, interrupter: RequestInterrupter | None, options: CompletionOptions
    ) -> ProviderError:
        if interrupter is not None:
            try:
                interrupter.check()
            except ProviderError as stopped:
                return stopped
        if isinstance(error, httpx2.TimeoutException):
            limit = options.timeout_s or self.timeout_s
            return ProviderTimeout(f"the inference server at {self.base_url} did not answer within {limit:g} s")
        if isinstance(error, httpx2.ConnectError):
            return ProviderUnavailable(f"cannot connect to the inference server at {self.base_url}: {error}")
        return ProviderUnavailable(f"the connection to the inference server at {self.base_url} failed: {error}")

    def _status_error(self, status: int, message: str, path: str) -> ProviderError:
        where = f"the inference server at {self.base_url}"
        if status in (401, 403):
            return ProviderUnavailable(f"{where} refused the credentials (HTTP {status}): {message}")
        if status == 404:
            model = f" or the model {self.model!r}" if self.model else ""
            return ProviderUnavailable(f"{where} has no {path}{model} (HTTP 404): {message}")
        if status in (408, 504):
            return ProviderTimeout(f"{where} timed out (HTTP {status}): {message}")
        if status in (429, 503):
            return ProviderUnavailable(f"{where} is busy (HTTP {status}): {message}")
        if status < 500:
            return ProviderError(f"{where} rejected the request (HTTP {status}): {message}")
        return ProviderError(f"{where} failed (HTTP {status}): {message}")


def _pooled(embedding: list) -> list[float]:
    """A server without pooling (llama-cpp-python with most GGUFs) answers one vector per token."""
    if embedding and isinstance(embedding[0], list):
        width = len(embedding[0])
        return [sum(row[column] for row in embedding) / len(embedding) for column in range(width)]
    return [float(value) for value in embedding]


def _normalised(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / norm for value in vector] if norm else vector
