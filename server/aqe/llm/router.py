"""Which model answers: the local one, the cloud one, or the local one after the cloud failed.

`HybridRouter` is itself a `Provider`, so features never know where an answer came from. What it
may do depends on the privacy mode:

- `strict`: the local provider only, always. The cloud factory is never called, so no cloud
  client (nor its SDK module) ever exists in the process; a local provider that is not actually
  local (an OpenAI-compatible server on another machine) is refused with `PrivacyViolation`.
- `balanced`: local first. The cloud answers instead when the local provider fails, when its
  confidence is under `fallback_threshold`, or when the routing rules class the request as complex
  (then the cloud is asked first and the local model is the fallback).
- `off`: the cloud first when a cloud provider exists (an API key is set), the local model as the
  fallback.

Whatever goes to a provider that is not local is redacted first (aqe.privacy.redaction), in
`off` mode too: "off" lifts the restriction on sending code, but no model needs the user's secrets
to answer and sending them to a third party is never what the user meant; redaction costs a few
milliseconds against a network round trip. Every request ends in one audit-log entry (route,
reason, bytes sent, redactions by kind, what each provider tried did) and one telemetry span.

When streaming, a low local confidence is only known after the text has been shown, so streams
fall back only on errors raised before the first chunk.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from aqe.llm import telemetry
from aqe.llm.types import (
    CancelToken,
    Completion,
    CompletionOptions,
    PrivacyViolation,
    Prompt,
    Provider,
    ProviderError,
    ProviderUnavailable,
    RequestCancelled,
    StreamChunk,
    new_request_id,
)
from aqe.privacy.audit import AuditLog, RoutingDecision, now_iso, short_error
from aqe.privacy.guard import GUARD, GuardState
from aqe.privacy.redaction import redact_prompt

if TYPE_CHECKING:
    from aqe.config import PrivacyMode

log = logging.getLogger(__name__)

ROUTE_LOCAL = "local"
ROUTE_CLOUD = "cloud"
ROUTE_CLOUD_COMPLEX = "cloud:complex"
ROUTE_CLOUD_LOW_CONFIDENCE = "cloud-fallback:low-confidence"
ROUTE_CLOUD_LOCAL_ERROR = "cloud-fallback:local-error"
ROUTE_LOCAL_CLOUD_ERROR = "local-fallback:cloud-error"
ROUTE_NONE = "none"

DEFAULT_COMPLEX_TAGS: frozenset[str] = frozenset(
    {
        "architecture",
        "design-review",
        "security-review",
        "threat-model",
        "cross-file-refactor",
        "migration-plan",
        "concurrency-review",
        "performance-analysis",
    }
)
"""Tasks that need reasoning across a whole system, which a small local model does badly."""

DEFAULT_MAX_LOCAL_PROMPT_CHARS = 12_000
"""About 3,000 tokens: with the default 4,096-token context, a longer prompt leaves the local model
too little room to answer (and a 270M model loses the thread long before that)."""

DEFAULT_MAX_LOCAL_FILES = 3

DEFAULT_FILE_HEADER = re.compile(
    r"^(?:#|//|--|;|<!--)\s*(?:file|path)\s*:\s*\S+|^<file\s+(?:path|name)=|^(?:\+\+\+|---) [ab]/\S+",
    re.IGNORECASE | re.MULTILINE,
)
"""How prompts name the files they quote: `# file: src/a.py`, `// path: x.ts`, `<file path=...>`, diff headers."""


@dataclass(frozen=True)
class RoutingHints:
    """What a feature knows about its request that the prompt text does not say plainly."""

    tags: tuple[str, ...] = ()
    """Task tags such as "security-review"; compared case-insensitively, spaces and `_` as `-`."""
    files: tuple[str, ...] = ()
    """Files whose content the prompt quotes."""


@dataclass(frozen=True)
class RoutingRules:
    """When a request counts as complex (balanced mode sends those to the cloud first).

    Defaults: a prompt over 12,000 characters; more than 3 files quoted (by `hints.files` or by file
    headers in the text); or a task tag in `DEFAULT_COMPLEX_TAGS`.
    """

    max_local_prompt_chars: int = DEFAULT_MAX_LOCAL_PROMPT_CHARS
    max_local_files: int = DEFAULT_MAX_LOCAL_FILES
    complex_tags: frozenset[str] = DEFAULT_COMPLEX_TAGS
    file_header: re.Pattern[str] = field(default=DEFAULT_FILE_HEADER, compare=False)

    def classify(self, prompt: Prompt, hints: RoutingHints | None = None) -> str | None:
        """Why the request is complex, or None when it is not."""
        if prompt.size > self.max_local_prompt_chars:
            return f"complex: prompt of {prompt.size} characters (> {self.max_local_prompt_chars})"
        files = self._file_count(prompt, hints)
        if files > self.max_local_files:
            return f"complex: {files} files in the context (> {self.max_local_files})"
        tags = sorted(_normalise_tag(tag) for tag in (hints.tags if hints else ()))
        matched = [tag for tag in tags if tag in self.complex_tags]
        if matched:
            return f"complex: task tag {matched[0]!r}"
        return None

    def _file_count(self, prompt: Prompt, hints: RoutingHints | None) -> int:
        named = set(hints.files) if hints else set()
        texts = [prompt.text, *(message.content for message in prompt.chat or ())]
        headers = max(len(self.file_header.findall(text)) for text in texts)
        return max(len(named), headers)


DEFAULT_RULES = RoutingRules()


def _normalise_tag(tag: str) -> str:
    return re.sub(r"[\s_]+", "-", tag.strip().lower())


@dataclass
class _Trail:
    """What happened to one request, for its audit entry."""

    request_id: str
    mode: str
    prompt_chars: int
    started: float = field(default_factory=time.perf_counter)
    attempts: list[str] = field(default_factory=list)
    bytes_sent: int = 0
    redactions: dict[str, int] = field(default_factory=dict)
    invisible_removed: int = 0

    def note(self, provider: Provider | str, outcome: str) -> None:
        name = provider if isinstance(provider, str) else provider.name
        self.attempts.append(f"{name}:{outcome}")


@dataclass(frozen=True)
class _Step:
    provider: Provider
    route: str
    reason: str


class HybridRouter:
    """A `Provider` that routes each request by privacy mode, confidence and routing rules."""

    name = "hybrid"

    def __init__(
        self,
        local: Provider | None,
        cloud_factory: Callable[[], Provider] | None,
        mode: PrivacyMode,
        fallback_threshold: float,
        rules: RoutingRules = DEFAULT_RULES,
        audit: AuditLog | None = None,
        *,
        guard: GuardState = GUARD,
    ) -> None:
        self.local = local
        self._cloud_factory = cloud_factory
        self._cloud: Provider | None = None
        self._cloud_lock = threading.Lock()
        self.fallback_threshold = fallback_threshold
        self.rules = rules
        self.audit = audit
        self._guard = guard
        self.mode: PrivacyMode = mode
        self.set_mode(mode)

    # --- the Provider surface ------------------------------------------------------------------

    @property
    def model(self) -> str:
        return self.local.model if self.local is not None else "none"

    @property
    def is_local(self) -> bool:
        return self.mode == "strict"

    @property
    def chat(self) -> bool:
        return self.local.chat if self.local is not None else False

    @property
    def cloud_built(self) -> bool:
        """Whether a cloud client exists in this process (never true in strict mode)."""
        return self._cloud is not None

    def set_mode(self, mode: PrivacyMode) -> None:
        """Switch privacy mode; the network guard follows, and strict drops any cloud client."""
        self.mode = mode
        self._guard.set_mode(mode)
        if mode == "strict":
            with self._cloud_lock:
                cloud, self._cloud = self._cloud, None
            if cloud is not None:
                cloud.close()

    def complete(
        self,
        prompt: Prompt,
        options: CompletionOptions | None = None,
        cancel: CancelToken | None = None,
        *,
        hints: RoutingHints | None = None,
    ) -> Completion:
        options = options or CompletionOptions()
        trail = _Trail(new_request_id(), self.mode, prompt.size)
        with telemetry.request_span(trail.request_id, trail.mode, trail.prompt_chars) as span:
            route, reason = ROUTE_NONE, ""
            try:
                completion, route, reason = self._complete(prompt, options, cancel, hints, trail)
            except BaseException as error:
                outcome = "cancelled" if isinstance(error, RequestCancelled) else type(error).__name__
                reason = "every route failed: " + (", ".join(trail.attempts) or outcome)
                self._record(trail, route, reason, None, outcome=outcome, error=error)
                telemetry.record_route(span, route, reason, outcome)
                raise
            final = replace(completion, route=route, request_id=trail.request_id)
            self._record(trail, route, reason, final)
            telemetry.record_route(span, route, reason)
            return final

    def stream(
        self,
        prompt: Prompt,
        options: CompletionOptions | None = None,
        cancel: CancelToken | None = None,
        *,
        hints: RoutingHints | None = None,
    ) -> Iterator[StreamChunk]:
        options = options or CompletionOptions()
        trail = _Trail(new_request_id(), self.mode, prompt.size)
        with telemetry.request_span(trail.request_id, trail.mode, trail.prompt_chars) as span:
            try:
                step: _Step | None = self._first_stream_step(prompt, hints, trail)
            except ProviderError as error:
                self._record(trail, ROUTE_NONE, str(error), None, outcome=type(error).__name__, error=error)
                telemetry.record_route(span, ROUTE_NONE, str(error), type(error).__name__)
                raise
            while step is not None:
                shown = False
                try:
                    for chunk in self._stream_from(step, prompt, options, cancel, trail):
                        if chunk.completion is None:
                            shown = True
                            yield chunk
                            continue
                        final = replace(chunk.completion, route=step.route, request_id=trail.request_id)
                        self._record(trail, step.route, step.reason, final)
                        telemetry.record_route(span, step.route, step.reason)
                        yield StreamChunk(chunk.text, final)
                        return
                    raise ProviderError(f"{step.provider.name} ended its stream without a completion")
                except RequestCancelled as error:
                    self._record(trail, step.route, step.reason, None, outcome="cancelled", error=error)
                    telemetry.record_route(span, step.route, step.reason, "cancelled")
                    raise
                except ProviderError as error:
                    fallback = None if shown else self._stream_fallback(step, error, trail)
                    if fallback is None:
                        self._record(trail, step.route, step.reason, None, outcome=type(error).__name__, error=error)
                        telemetry.record_route(span, step.route, step.reason, type(error).__name__)
                        raise
                    step = fallback

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embeddings never leave the machine: they are computed for the whole workspace."""
        if self.local is None:
            raise ProviderUnavailable("no local model is configured, and embeddings are only computed locally")
        self._refuse_if_not_local_in_strict(self.local)
        return self.local.embed(texts)

    @property
    def max_concurrency(self) -> int:
        """Requests the local provider decodes together (its batch slots); the queue sends no more."""
        return int(getattr(self.local, "max_concurrency", 1))

    def start(self, progress: Callable[[int], None] | None = None) -> None:
        """Load the local model now, so the warm pool's first request does not pay for the load."""
        start = getattr(self.local, "start", None)
        if start is not None:
            start(progress=progress)

    def close(self) -> None:
        with self._cloud_lock:
            cloud, self._cloud = self._cloud, None
        for provider in (cloud, self.local):
            if provider is not None:
                provider.close()

    # --- routing -------------------------------------------------------------------------------

    def _complete(
        self,
        prompt: Prompt,
        options: CompletionOptions,
        cancel: CancelToken | None,
        hints: RoutingHints | None,
        trail: _Trail,
    ) -> tuple[Completion, str, str]:
        if self.mode == "strict":
            return self._local_or_raise(prompt, options, cancel, trail, "privacy mode strict: local only")
        complex_reason = self.rules.classify(prompt, hints)
        if self.mode == "off" or complex_reason is not None:
            first_route = ROUTE_CLOUD if self.mode == "off" else ROUTE_CLOUD_COMPLEX
            first_reason = "privacy mode off: cloud preferred" if self.mode == "off" else str(complex_reason)
            cloud = self._cloud_provider(trail)
            if cloud is None:
                return self._local_or_raise(prompt, options, cancel, trail, f"{first_reason}; no cloud provider")
            try:
                return self._call(cloud, prompt, options, cancel, trail, first_route), first_route, first_reason
            except RequestCancelled:
                raise
            except ProviderError as error:
                return self._local_or_raise(
                    prompt, options, cancel, trail, f"cloud failed ({short_error(error)})", ROUTE_LOCAL_CLOUD_ERROR
                )
        return self._local_first(prompt, options, cancel, trail)

    def _local_first(
        self, prompt: Prompt, options: CompletionOptions, cancel: CancelToken | None, trail: _Trail
    ) -> tuple[Completion, str, str]:
        try:
            local = self._call(self._require_local(trail), prompt, options, cancel, trail, ROUTE_LOCAL)
        except RequestCancelled:
            raise
        except ProviderError as local_error:
            cloud = self._cloud_provider(trail)
            if cloud is None:
                raise
            reason = f"local failed ({short_error(local_error)})"
            route = ROUTE_CLOUD_LOCAL_ERROR
            return self._call(cloud, prompt, options, cancel, trail, route), route, reason
        threshold = self.fallback_threshold
        if local.confidence >= threshold:
            return local, ROUTE_LOCAL, f"confidence {local.confidence:.2f} >= threshold {threshold:.2f}"
        trail.attempts[-1] = f"{self._require_local(trail).name}:low-confidence"
        low = f"confidence {local.confidence:.2f} < threshold {threshold:.2f}"
        cloud = self._cloud_provider(trail)
        if cloud is None:
            return local, ROUTE_LOCAL, f"{low}; no cloud provider"
        try:
            route = ROUTE_CLOUD_LOW_CONFIDENCE
            return self._call(cloud, prompt, options, cancel, trail, route), route, low
        except RequestCancelled:
            raise
        except ProviderError as error:
            return local, ROUTE_LOCAL, f"{low}; cloud failed ({short_error(error)}), kept the local answer"

    def _local_or_raise(
        self,
        prompt: Prompt,
        options: CompletionOptions,
        cancel: CancelToken | None,
        trail: _Trail,
        reason: str,
        route: str = ROUTE_LOCAL,
    ) -> tuple[Completion, str, str]:
        return self._call(self._require_local(trail), prompt, options, cancel, trail, route), route, reason

    def _first_stream_step(self, prompt: Prompt, hints: RoutingHints | None, trail: _Trail) -> _Step:
        if self.mode == "strict":
            return _Step(self._require_local(trail), ROUTE_LOCAL, "privacy mode strict: local only")
        complex_reason = self.rules.classify(prompt, hints)
        if self.mode == "off" or complex_reason is not None:
            first_route = ROUTE_CLOUD if self.mode == "off" else ROUTE_CLOUD_COMPLEX
            first_reason = "privacy mode off: cloud preferred" if self.mode == "off" else str(complex_reason)
            cloud = self._cloud_provider(trail)
            if cloud is not None:
                return _Step(cloud, first_route, first_reason)
            return _Step(self._require_local(trail), ROUTE_LOCAL, f"{first_reason}; no cloud provider")
        if self.local is not None:
            return _Step(self.local, ROUTE_LOCAL, "balanced: local first")
        cloud = self._cloud_provider(trail)
        if cloud is None:
            raise self._no_provider_error()
        return _Step(cloud, ROUTE_CLOUD_LOCAL_ERROR, "no local model")

    def _stream_fallback(self, failed: _Step, error: ProviderError, trail: _Trail) -> _Step | None:
        """Where a stream goes when its provider failed before showing anything."""
        if failed.route in (ROUTE_CLOUD, ROUTE_CLOUD_COMPLEX) and self.local is not None:
            return _Step(self.local, ROUTE_LOCAL_CLOUD_ERROR, f"cloud failed ({short_error(error)})")
        if failed.route == ROUTE_LOCAL and self.mode == "balanced":
            cloud = self._cloud_provider(trail)
            if cloud is not None:
                return _Step(cloud, ROUTE_CLOUD_LOCAL_ERROR, f"local failed ({short_error(error)})")
        return None

    # --- calling providers ---------------------------------------------------------------------

    def _call(
        self,
        provider: Provider,
        prompt: Prompt,
        options: CompletionOptions,
        cancel: CancelToken | None,
        trail: _Trail,
        route: str,
    ) -> Completion:
        outgoing = self._prepare(provider, prompt, trail)
        with telemetry.call_span(provider, route, trail.request_id) as span:
            try:
                completion = provider.complete(outgoing, options, cancel)
            except RequestCancelled:
                trail.note(provider, "cancelled")
                raise
            except ProviderError as error:
                trail.note(provider, type(error).__name__)
                raise
            telemetry.record_completion(span, completion)
        trail.note(provider, "ok")
        return completion

    def _stream_from(
        self,
        step: _Step,
        prompt: Prompt,
        options: CompletionOptions,
        cancel: CancelToken | None,
        trail: _Trail,
    ) -> Iterator[StreamChunk]:
        outgoing = self._prepare(step.provider, prompt, trail)
        with telemetry.call_span(step.provider, step.route, trail.request_id) as span:
            try:
                for chunk in step.provider.stream(outgoing, options, cancel):
                    if chunk.completion is not None:
                        telemetry.record_completion(span, chunk.completion)
                        trail.note(step.provider, "ok")
                    yield chunk
            except RequestCancelled:
                trail.note(step.provider, "cancelled")
                raise
            except ProviderError as error:
                trail.note(step.provider, type(error).__name__)
                raise

    def _prepare(self, provider: Provider, prompt: Prompt, trail: _Trail) -> Prompt:
        """The prompt as it may be sent to `provider`: untouched if local, redacted otherwise."""
        if provider.is_local:
            return prompt
        if self.mode == "strict":
            trail.note(provider, "refused")
        self._refuse_if_not_local_in_strict(provider)
        redacted = redact_prompt(prompt, for_chat=provider.chat)
        for kind, count in redacted.counts_by_kind.items():
            trail.redactions[kind] = trail.redactions.get(kind, 0) + count
        trail.invisible_removed += redacted.invisible_removed
        trail.bytes_sent += _bytes_of(redacted.prompt, provider.chat)
        return redacted.prompt

    def _refuse_if_not_local_in_strict(self, provider: Provider) -> None:
        if self.mode == "strict" and not provider.is_local:
            raise PrivacyViolation(
                f"privacy mode strict: {provider.name} ({provider.model}) is not on this machine; nothing was sent"
            )

    def _require_local(self, trail: _Trail) -> Provider:
        if self.local is None:
            trail.note("local", "missing")
            raise self._no_provider_error()
        return self.local

    def _no_provider_error(self) -> ProviderUnavailable:
        if self.mode == "strict":
            return ProviderUnavailable("no local model is available, and privacy mode strict allows no other")
        return ProviderUnavailable("no model is available: the local model is missing and no cloud provider is set up")

    def _cloud_provider(self, trail: _Trail) -> Provider | None:
        """The cloud provider, built on first use; None when there is none (or in strict mode)."""
        if self.mode == "strict" or self._cloud_factory is None:
            return None
        with self._cloud_lock:
            if self._cloud is None:
                try:
                    self._cloud = self._cloud_factory()
                except ProviderError as error:
                    trail.note("cloud", f"unavailable ({short_error(error)})")
                    return None
            return self._cloud

    def _record(
        self,
        trail: _Trail,
        route: str,
        reason: str,
        completion: Completion | None,
        *,
        outcome: str = "ok",
        error: BaseException | None = None,
    ) -> None:
        answered_by = self._cloud if route.startswith("cloud") else self.local
        decision = RoutingDecision(
            time=now_iso(),
            request_id=trail.request_id,
            route=route,
            reason=reason,
            provider=completion.provider if completion else (answered_by.name if answered_by else "none"),
            model=completion.model if completion else (answered_by.model if answered_by else "none"),
            privacy_mode=trail.mode,
            bytes_sent=trail.bytes_sent,
            redactions=dict(trail.redactions),
            invisible_removed=trail.invisible_removed,
            prompt_chars=trail.prompt_chars,
            outcome=outcome,
            error=short_error(error) if error is not None else "",
            confidence=completion.confidence if completion else None,
            latency_s=round(time.perf_counter() - trail.started, 4),
            attempts=tuple(trail.attempts),
        )
        log.debug("model request %s: route %s (%s)", trail.request_id, route, reason)
        if self.audit is None:
            return
        try:
            self.audit.record_decision(decision)
        except OSError as write_error:
            log.warning("could not write the privacy audit log %s: %s", self.audit.path, write_error)


def _bytes_of(prompt: Prompt, chat: bool) -> int:
    if chat:
        return sum(len(message.content.encode("utf-8")) for message in prompt.as_chat())
    return len(prompt.text.encode("utf-8"))


def describe_rules(rules: RoutingRules = DEFAULT_RULES) -> Iterable[str]:
    """The rules in words, for `aqe privacy audit` and the docs."""
    yield f"prompt longer than {rules.max_local_prompt_chars} characters"
    yield f"more than {rules.max_local_files} files in the context"
    yield "task tagged " + ", ".join(sorted(rules.complex_tags))
