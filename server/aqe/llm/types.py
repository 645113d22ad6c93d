"""The one contract every model provider honours: local llama.cpp, Anthropic, OpenAI-compatible.

Features (test generation, review) build a `Prompt` in both shapes — a plain continuation for base
models and chat messages for instruct and cloud models — and each provider picks the shape it
needs. Providers are blocking and thread-confined; the queue (aqe.llm.queue) runs them off the event
loop and is what the language server talks to.
"""

from __future__ import annotations

import enum
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class Prompt:
    """What to ask, in the two shapes models understand.

    `text` is a continuation prompt (a file header, the code, the start of the answer) for base
    models such as the embedded default. `chat` is the same request as messages, for instruct and
    cloud models; when it is None, chat providers wrap `text` in one user message.
    """

    text: str
    chat: tuple[ChatMessage, ...] | None = None

    def as_chat(self) -> tuple[ChatMessage, ...]:
        return self.chat if self.chat is not None else (ChatMessage("user", self.text),)

    @property
    def size(self) -> int:
        """Characters that would be sent: the larger shape, for routing and audit."""
        chat_size = sum(len(m.content) for m in self.chat) if self.chat else 0
        return max(len(self.text), chat_size)


@dataclass(frozen=True)
class CompletionOptions:
    max_tokens: int = 128
    stop: tuple[str, ...] = ()
    temperature: float = 0.0
    seed: int | None = None
    grammar: str | None = None
    """A GBNF grammar (llama.cpp); providers that cannot honour it raise UnsupportedOption."""
    json_schema: dict | None = None
    """Constrain the output to JSON of this schema (llama.cpp converts it to a grammar)."""
    timeout_s: float | None = None
    """Wall-clock limit for the whole call; None means the provider's default."""


class Priority(enum.IntEnum):
    """Lower runs first: what a person is waiting for beats background review."""

    INTERACTIVE = 0
    BACKGROUND = 1


class FinishReason(str, enum.Enum):
    STOP = "stop"
    LENGTH = "length"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Completion:
    text: str
    confidence: float
    """Mean probability of the chosen tokens, 0..1 (providers that cannot measure it say 0.5)."""
    model: str
    provider: str
    latency_s: float
    prompt_tokens: int
    completion_tokens: int
    request_id: str
    finish_reason: FinishReason = FinishReason.STOP
    route: str = "local"
    """How the router chose it: "local", "cloud", "cloud-fallback", ... (set by the router)."""


@dataclass(frozen=True)
class StreamChunk:
    """A piece of generated text; the last chunk of a stream carries the whole `completion`."""

    text: str
    completion: Completion | None = None


class CancelToken:
    """Cancels a request between tokens (llama.cpp cannot stop inside prompt processing)."""

    __slots__ = ("_event", "reason")

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]


# --- errors -----------------------------------------------------------------------------------------


class ProviderError(Exception):
    """A model call failed; the message is fit to show a user."""


class ProviderUnavailable(ProviderError):
    """The provider cannot serve now (model missing or corrupt, worker crashed, server down)."""


class ProviderTimeout(ProviderError):
    pass


class RequestCancelled(ProviderError):
    pass


class UnsupportedOption(ProviderError):
    """An option the backend cannot honour (a grammar for a cloud model, for instance)."""


class PrivacyViolation(ProviderError):
    """The privacy mode forbids this call; nothing was sent."""


# --- the interface ----------------------------------------------------------------------------------


@runtime_checkable
class Provider(Protocol):
    name: str
    """"llama.cpp", "anthropic", "openai-compatible"."""
    model: str
    is_local: bool
    """True when nothing leaves the machine (the privacy modes rely on it)."""
    chat: bool
    """True for instruct/chat models (prompted with `Prompt.as_chat()`)."""

    def complete(
        self, prompt: Prompt, options: CompletionOptions = ..., cancel: CancelToken | None = None
    ) -> Completion: ...

    def stream(
        self, prompt: Prompt, options: CompletionOptions = ..., cancel: CancelToken | None = None
    ) -> Iterator[StreamChunk]: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ProviderInfo:
    """What `aqe model info` and the audit log say about a provider."""

    name: str
    model: str
    is_local: bool
    chat: bool
    details: dict[str, str] = field(default_factory=dict)
