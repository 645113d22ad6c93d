"""The cloud model: Anthropic's Messages API through the official `anthropic` SDK.

The SDK is imported when a provider is constructed, never when `aqe` is imported, so that in strict
privacy mode (where the router never builds this class) the process holds no cloud client at all.

How the Provider contract maps onto the API (SDK 2.x, API version 2026-10-21):
- `prompt.as_chat()`: system messages are joined into the `system` parameter; the others are sent
  as `messages`.
- max_tokens and stop sequences are sent. The API refuses empty and whitespace-only stop sequences
  (such as "\\n\\n", common for code), so those are applied here, to the text as it arrives.
- temperature and seed are NOT sent: this API version rejects sampling parameters (even
  temperature 1.0 is a 400) and has no seed. The model's own sampling applies.
- `grammar` raises UnsupportedOption (no GBNF in the API). `json_schema` uses the API's structured
  outputs (`output_config.format` of type `json_schema`) and the answer is checked to parse as JSON.
- confidence is always 0.5: the API exposes no token probabilities, and a made-up figure would let
  the router trust or distrust the cloud for no reason. 0.5 means "not measured".
- finish_reason: `max_tokens` and `model_context_window_exceeded` are LENGTH, the rest STOP.
- `complete()` calls `messages.create` when no cancel token is given; with one it streams (as
  `stream()` does), because a non-streaming call cannot be stopped once sent and a stream can
  (checked between events; a cancel also shuts the socket so a waiting read returns at once).
- `embed()`: the Messages API has no embeddings, so UnsupportedOption.
- Thinking is left to the model's default; thinking blocks are not part of the text, but their
  tokens count toward max_tokens (and completion_tokens).

The client is built with an explicit key and base URL, so the SDK never falls back to its own
sources (`ANTHROPIC_BASE_URL`, credential profiles or federation files): the traffic goes exactly
where aqe's settings say, which is what the audit log records. The SDK's own OpenTelemetry spans are
off; aqe's telemetry wraps model calls itself.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx2

from aqe.llm.openai_compatible import UNKNOWN_CONFIDENCE, RequestInterrupter
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
    StreamChunk,
    UnsupportedOption,
    new_request_id,
)

API_KEY_VARIABLE = "ANTHROPIC_API_KEY"
DEFAULT_BASE_URL = "https://api.anthropic.com"
_DEFAULT_OPTIONS = CompletionOptions()
_LENGTH_STOP_REASONS = frozenset({"max_tokens", "model_context_window_exceeded"})


@dataclass(frozen=True)
class _Request:
    arguments: dict[str, Any]
    """Keyword arguments for `messages.create` / `messages.stream`."""
    local_stops: tuple[str, ...]
    """Stop sequences the API refuses, applied to the text here."""


class _StopScanner:
    """Cuts streamed text at the first local stop sequence, holding back what could start one."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = stops
        self._hold = max((len(stop) for stop in stops), default=1) - 1
        self._pending = ""
        self.text = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        if self.stopped:
            return ""
        buffer = self._pending + piece
        cuts = [position for stop in self._stops if (position := buffer.find(stop)) >= 0]
        if cuts:
            released, self._pending, self.stopped = buffer[: min(cuts)], "", True
        else:
            split = max(0, len(buffer) - self._hold)
            released, self._pending = buffer[:split], buffer[split:]
        self.text += released
        return released

    def flush(self) -> str:
        released, self._pending = self._pending, ""
        self.text += released
        return released


class AnthropicProvider:
    """Claude over the Messages API; blocking and safe to share between threads."""

    name = "anthropic"
    is_local = False
    chat = True

    def __init__(
        self,
        api_key: str | None = None,
        *,
        model: str,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
        max_retries: int = 2,
    ) -> None:
        """`api_key` None reads ANTHROPIC_API_KEY; `base_url` None is Anthropic's own API."""
        key = (api_key if api_key is not None else os.environ.get(API_KEY_VARIABLE, "")).strip()
        if not key:
            raise ProviderUnavailable(
                f"no Anthropic API key: set {API_KEY_VARIABLE} in the environment that starts aqe "
                "to use the cloud model"
            )
        try:
            import anthropic
        except ImportError as error:
            raise ProviderUnavailable("the cloud model needs the 'anthropic' package: pip install anthropic") from error
        self._sdk = anthropic
        self.model = model
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self._client = anthropic.Anthropic(
            api_key=key,
            base_url=self.base_url,
            timeout=anthropic.Timeout(timeout_s, connect=connect_timeout_s),
            max_retries=max_retries,
            open_telemetry=False,
        )

    # --- the Provider interface ----------------------------------------------------------------

    def complete(
        self, prompt: Prompt, options: CompletionOptions = _DEFAULT_OPTIONS, cancel: CancelToken | None = None
    ) -> Completion:
        request = self._request(prompt, options)
        if cancel is not None:
            for chunk in self._stream(request, options, cancel):
                if chunk.completion is not None:
                    return chunk.completion
            raise ProviderError("the Anthropic stream ended without a message")
        started = time.monotonic()
        try:
            message = self._client.messages.create(**request.arguments, timeout=self._timeout(options))
        except self._sdk.APIError as error:
            raise self._user_error(error) from error
        scanner = _StopScanner(request.local_stops)
        scanner.feed("".join(block.text for block in message.content if block.type == "text"))
        scanner.flush()
        return self._completion(message, scanner, options, started)

    def stream(
        self, prompt: Prompt, options: CompletionOptions = _DEFAULT_OPTIONS, cancel: CancelToken | None = None
    ) -> Iterator[StreamChunk]:
        return self._stream(self._request(prompt, options), options, cancel)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        raise UnsupportedOption("the Anthropic Messages API has no embeddings; use the local model to embed")

    def close(self) -> None:
        self._client.close()

    def info(self) -> ProviderInfo:
        return ProviderInfo(
            name=self.name,
            model=self.model,
            is_local=False,
            chat=True,
            details={
                "base_url": self.base_url,
                "sdk": f"anthropic {self._sdk.__version__}",
                "max_retries": str(self.max_retries),
                "timeout_s": f"{self.timeout_s:g}",
            },
        )

    # --- requests ------------------------------------------------------------------------------

    def _request(self, prompt: Prompt, options: CompletionOptions) -> _Request:
        """Everything that can be refused is refused here, before a byte is sent."""
        if options.grammar is not None:
            raise UnsupportedOption(
                "the Anthropic API cannot follow a GBNF grammar; use json_schema or the local model"
            )
        chat = prompt.as_chat()
        system = "\n\n".join(message.content for message in chat if message.role == "system")
        messages = [{"role": message.role, "content": message.content} for message in chat if message.role != "system"]
        if not messages:
            raise ProviderError("a prompt for the cloud model needs at least one user message")
        arguments: dict[str, Any] = {"model": self.model, "max_tokens": options.max_tokens, "messages": messages}
        if system:
            arguments["system"] = system
        api_stops = [stop for stop in options.stop if stop.strip()]
        if api_stops:
            arguments["stop_sequences"] = api_stops
        if options.json_schema is not None:
            arguments["output_config"] = {"format": {"type": "json_schema", "schema": options.json_schema}}
        local_stops = tuple(stop for stop in options.stop if stop and not stop.strip())
        return _Request(arguments, local_stops)

    def _timeout(self, options: CompletionOptions) -> float:
        return options.timeout_s or self.timeout_s

    def _stream(
        self, request: _Request, options: CompletionOptions, cancel: CancelToken | None
    ) -> Iterator[StreamChunk]:
        started = time.monotonic()
        scanner = _StopScanner(request.local_stops)
        limit = self._timeout(options)
        with RequestInterrupter(cancel, limit) as interrupter:
            try:
                with self._client.messages.stream(**request.arguments, timeout=limit) as events:
                    interrupter.attach(events.response)
                    try:
                        for event in events:
                            interrupter.check()
                            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                                released = scanner.feed(event.delta.text)
                                if released:
                                    yield StreamChunk(released)
                                if scanner.stopped:
                                    break
                    finally:
                        interrupter.detach()
                    interrupter.check()
                    message = events.current_message_snapshot
            except (self._sdk.APIError, httpx2.HTTPError) as error:
                interrupter.check()
                if isinstance(error, self._sdk.APIError):
                    raise self._user_error(error) from error
                raise ProviderUnavailable(f"the connection to the Anthropic API broke: {error}") from error
        tail = scanner.flush()
        if tail:
            yield StreamChunk(tail)
        yield StreamChunk("", self._completion(message, scanner, options, started))

    # --- answers and errors --------------------------------------------------------------------

    def _completion(
        self, message: Any, scanner: _StopScanner, options: CompletionOptions, started: float
    ) -> Completion:
        text = scanner.text
        if options.json_schema is not None:
            try:
                json.loads(text)
            except ValueError as error:
                raise ProviderError("the cloud model's answer is not valid JSON for the requested schema") from error
        usage = message.usage
        prompt_tokens = (
            (usage.input_tokens or 0) + (usage.cache_creation_input_tokens or 0) + (usage.cache_read_input_tokens or 0)
        )
        stopped_here = scanner.stopped
        return Completion(
            text=text,
            confidence=UNKNOWN_CONFIDENCE,
            model=str(message.model or self.model),
            provider=self.name,
            latency_s=time.monotonic() - started,
            prompt_tokens=prompt_tokens,
            completion_tokens=usage.output_tokens or 0,
            request_id=new_request_id(),
            finish_reason=(
                FinishReason.LENGTH
                if not stopped_here and message.stop_reason in _LENGTH_STOP_REASONS
                else FinishReason.STOP
            ),
            route="cloud",
        )

    def _user_error(self, error: Exception) -> ProviderError:
        """An SDK error as a sentence a user can act on (never containing the key)."""
        sdk = self._sdk
        retried = f" after {self.max_retries} retries" if self.max_retries else ""
        if isinstance(error, sdk.APITimeoutError):
            return ProviderTimeout(f"the Anthropic API did not answer in time{retried}")
        if isinstance(error, sdk.APIConnectionError):
            cause = error.__cause__ or error
            return ProviderUnavailable(f"cannot reach the Anthropic API at {self.base_url}{retried}: {cause}")
        if not isinstance(error, sdk.APIStatusError):
            return ProviderError(f"the Anthropic API call failed: {error}")
        status = error.status_code
        kind = error.type or ""
        detail = error.api_message or kind or "no details"
        if status < 400:
            where, retried = f"in the middle of the answer, {kind}", ""
        else:
            where = f"HTTP {status}, {kind}" if kind else f"HTTP {status}"
        if status == 401 or kind == "authentication_error":
            return ProviderUnavailable(f"Anthropic rejected the API key ({where}: {detail}); check {API_KEY_VARIABLE}")
        if status == 403 or kind == "permission_error":
            return ProviderUnavailable(f"the API key may not use the model {self.model!r} ({where}: {detail})")
        if status == 404 or kind == "not_found_error":
            return ProviderUnavailable(f"Anthropic has no model {self.model!r} ({where}: {detail}); check cloudModel")
        if status == 429 or kind == "rate_limit_error":
            return ProviderUnavailable(f"Anthropic's rate limit was reached{retried} ({where}: {detail}); try later")
        if status == 529 or kind == "overloaded_error":
            return ProviderUnavailable(f"Anthropic is overloaded{retried} ({where}: {detail}); try later")
        if status == 413 or kind == "request_too_large":
            return ProviderError(f"the prompt is too large for the Anthropic API ({where}: {detail})")
        if status >= 500 or kind == "api_error":
            return ProviderUnavailable(f"the Anthropic API failed{retried} ({where}: {detail})")
        return ProviderError(f"Anthropic refused the request ({where}: {detail})")
