"""OpenTelemetry spans around model calls.

Only opentelemetry-api is required: without an SDK configured, every span is the API's no-op and
costs next to nothing. A user who installs the SDK and an exporter sees one `aqe.llm.request` span
per routed request (mode, route, reason) with one `aqe.llm.call` child per provider tried (model,
provider, confidence, latency, tokens). Attribute names follow the GenAI semantic conventions where
one exists (`gen_ai.*`) and use `aqe.*` for what is ours. Prompt text is never an attribute.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode, TracerProvider

from aqe import __version__
from aqe.llm.types import Completion, Provider

TRACER_NAME = "aqe.llm"
REQUEST_SPAN = "aqe.llm.request"
CALL_SPAN = "aqe.llm.call"


_tracer_provider: TracerProvider | None = None


def use_tracer_provider(provider: TracerProvider | None) -> None:
    """Send aqe's spans to `provider` instead of the global one (None: back to the global)."""
    global _tracer_provider
    _tracer_provider = provider


def _tracer() -> trace.Tracer:
    """Looked up per use, so an SDK configured after import is honoured."""
    return trace.get_tracer(TRACER_NAME, __version__, tracer_provider=_tracer_provider)


@contextmanager
def request_span(request_id: str, privacy_mode: str, prompt_chars: int) -> Iterator[Span]:
    """The whole routed request; the router adds the route and reason once it knows them."""
    attributes = {"aqe.request_id": request_id, "aqe.privacy_mode": privacy_mode, "aqe.prompt_chars": prompt_chars}
    with _tracer().start_as_current_span(REQUEST_SPAN, attributes=attributes) as span:
        yield span


@contextmanager
def call_span(provider: Provider, route: str, request_id: str) -> Iterator[Span]:
    """One call to one provider; errors are recorded on the span and re-raised."""
    attributes: dict[str, Any] = {
        "gen_ai.system": provider.name,
        "gen_ai.request.model": provider.model,
        "aqe.provider": provider.name,
        "aqe.model": provider.model,
        "aqe.route": route,
        "aqe.request_id": request_id,
        "aqe.local": bool(provider.is_local),
    }
    with _tracer().start_as_current_span(
        CALL_SPAN, attributes=attributes, record_exception=True, set_status_on_exception=True
    ) as span:
        yield span


def record_completion(span: Span, completion: Completion) -> None:
    span.set_attributes(
        {
            "gen_ai.response.model": completion.model,
            "gen_ai.usage.input_tokens": completion.prompt_tokens,
            "gen_ai.usage.output_tokens": completion.completion_tokens,
            "aqe.model": completion.model,
            "aqe.confidence": float(completion.confidence),
            "aqe.latency_s": float(completion.latency_s),
            "aqe.finish_reason": str(completion.finish_reason.value),
        }
    )


def record_route(span: Span, route: str, reason: str, outcome: str = "ok") -> None:
    span.set_attributes({"aqe.route": route, "aqe.reason": reason, "aqe.outcome": outcome})
    if outcome != "ok":
        span.set_status(Status(StatusCode.ERROR, outcome))
