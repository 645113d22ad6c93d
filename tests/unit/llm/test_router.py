"""HybridRouter with real parts: the embedded model through LlamaCppProvider, and AnthropicProvider
talking to a fake Messages API on 127.0.0.1.

The local model is made to fail for real (a truncated GGUF) or to be "unsure" for real
(fallback_threshold 1.0: no mean token probability reaches it).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fakes.fake_anthropic import FakeAnthropic, Reply
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aqe.config import Settings
from aqe.llm import telemetry
from aqe.llm.anthropic_provider import AnthropicProvider
from aqe.llm.default_model import default_model
from aqe.llm.factory import cloud_factory
from aqe.llm.local import LlamaCppProvider
from aqe.llm.router import (
    ROUTE_CLOUD,
    ROUTE_CLOUD_COMPLEX,
    ROUTE_CLOUD_LOCAL_ERROR,
    ROUTE_CLOUD_LOW_CONFIDENCE,
    ROUTE_LOCAL,
    ROUTE_LOCAL_CLOUD_ERROR,
    HybridRouter,
    RoutingHints,
    RoutingRules,
)
from aqe.llm.types import (
    CancelToken,
    ChatMessage,
    CompletionOptions,
    Prompt,
    Provider,
    ProviderUnavailable,
    RequestCancelled,
)
from aqe.privacy.audit import AuditLog, RoutingDecision, read_audit

PLANTED = Path(__file__).parents[1] / "privacy" / "secrets_corpus" / "planted"
SECRETS = json.loads((PLANTED / "MANIFEST.json").read_text(encoding="utf-8"))["secrets"]

EASY = Prompt("def add(a, b):\n    return")
SHORT = CompletionOptions(max_tokens=8)
CLOUD_ANSWER = "a + b"


@pytest.fixture(scope="module")
def local_model() -> Iterator[LlamaCppProvider]:
    provider = LlamaCppProvider(threads=2, context_size=2048)
    yield provider
    provider.close()


@pytest.fixture(scope="module")
def broken_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaCppProvider]:
    """The real default model cut short after 2 MB: llama.cpp cannot load it."""
    path = tmp_path_factory.mktemp("models") / "truncated.gguf"
    with default_model().path.open("rb") as source:
        path.write_bytes(source.read(2_000_000))
    provider = LlamaCppProvider(path, threads=2)
    yield provider
    provider.close()


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(default=Reply(text=CLOUD_ANSWER)) as server:
        yield server


@pytest.fixture
def audit(tmp_path: Path) -> AuditLog:
    return AuditLog(tmp_path / ".aqe" / "audit.jsonl")


@pytest.fixture
def clouds() -> Iterator[list[Provider]]:
    """Cloud providers the routers built, closed at the end (the routers share the local model)."""
    built: list[Provider] = []
    yield built
    for provider in built:
        provider.close()


def cloud_for(
    fake: FakeAnthropic, mode: str, built: list[Provider], *, key: bool = True
) -> Callable[[], Provider] | None:
    """The factory's own cloud builder, pointed at the fake server."""
    settings = Settings(privacy_mode=mode, cloud_model="claude-test", cloud_base_url=fake.base_url)
    build = cloud_factory(settings, {"ANTHROPIC_API_KEY": fake.api_key} if key else {})
    if build is None:
        return None

    def tracked() -> Provider:
        provider = build()
        built.append(provider)
        return provider

    return tracked


def decisions(audit: AuditLog) -> list[RoutingDecision]:
    return [entry for entry in read_audit(audit.path).entries if isinstance(entry, RoutingDecision)]


# --- the routing matrix -----------------------------------------------------------------------------

MATRIX = [
    # mode, case, expected route, cloud requests, attempts in the audit entry
    ("strict", "local-ok", ROUTE_LOCAL, 0, ("llama.cpp:ok",)),
    ("strict", "local-unsure", ROUTE_LOCAL, 0, ("llama.cpp:ok",)),
    ("strict", "local-fails", None, 0, ("llama.cpp:ProviderUnavailable",)),
    ("strict", "complex", ROUTE_LOCAL, 0, ("llama.cpp:ok",)),
    ("strict", "no-api-key", ROUTE_LOCAL, 0, ("llama.cpp:ok",)),
    ("balanced", "local-ok", ROUTE_LOCAL, 0, ("llama.cpp:ok",)),
    ("balanced", "local-unsure", ROUTE_CLOUD_LOW_CONFIDENCE, 1, ("llama.cpp:low-confidence", "anthropic:ok")),
    ("balanced", "local-fails", ROUTE_CLOUD_LOCAL_ERROR, 1, ("llama.cpp:ProviderUnavailable", "anthropic:ok")),
    ("balanced", "complex", ROUTE_CLOUD_COMPLEX, 1, ("anthropic:ok",)),
    ("balanced", "no-api-key", ROUTE_LOCAL, 0, ("llama.cpp:low-confidence",)),
    ("off", "local-ok", ROUTE_CLOUD, 1, ("anthropic:ok",)),
    ("off", "local-unsure", ROUTE_CLOUD, 1, ("anthropic:ok",)),
    ("off", "local-fails", ROUTE_CLOUD, 1, ("anthropic:ok",)),
    ("off", "complex", ROUTE_CLOUD, 1, ("anthropic:ok",)),
    ("off", "no-api-key", ROUTE_LOCAL, 0, ("llama.cpp:ok",)),
]


@pytest.mark.parametrize(("mode", "case", "route", "cloud_requests", "attempts"), MATRIX, ids=lambda v: str(v))
def test_routing_matrix(
    mode: str,
    case: str,
    route: str | None,
    cloud_requests: int,
    attempts: tuple[str, ...],
    local_model: LlamaCppProvider,
    broken_model: LlamaCppProvider,
    fake: FakeAnthropic,
    audit: AuditLog,
    clouds: list[Provider],
) -> None:
    local = broken_model if case == "local-fails" else local_model
    threshold = 1.0 if case in ("local-unsure", "no-api-key") else 0.05
    hints = RoutingHints(tags=("Security review",)) if case == "complex" else None
    router = HybridRouter(
        local, cloud_for(fake, mode, clouds, key=case != "no-api-key"), mode, threshold, audit=audit
    )

    if route is None:
        with pytest.raises(ProviderUnavailable, match="not a valid GGUF model file"):
            router.complete(EASY, SHORT, hints=hints)
    else:
        completion = router.complete(EASY, SHORT, hints=hints)
        assert completion.route == route
        assert completion.provider == ("anthropic" if route.startswith("cloud") else "llama.cpp")
        if completion.provider == "anthropic":
            assert completion.text == CLOUD_ANSWER

    assert len(fake.message_requests) == cloud_requests
    assert router.cloud_built == (cloud_requests > 0)
    (decision,) = decisions(audit)
    assert decision.attempts == attempts
    assert decision.privacy_mode == mode
    assert decision.route == (route or "none")
    assert decision.outcome == ("ok" if route else "ProviderUnavailable")
    assert (decision.bytes_sent > 0) == (cloud_requests > 0)


def test_strict_mode_never_calls_the_cloud_factory(local_model: LlamaCppProvider, audit: AuditLog) -> None:
    called: list[str] = []

    def factory() -> Provider:
        called.append("built")
        raise AssertionError("strict mode built a cloud client")

    router = HybridRouter(local_model, factory, "strict", 1.0, audit=audit)
    router.complete(EASY, SHORT, hints=RoutingHints(tags=("architecture",)))
    list(router.stream(EASY, SHORT))

    assert called == []
    assert not router.cloud_built


def test_a_local_answer_below_the_threshold_is_kept_when_the_cloud_fails(
    local_model: LlamaCppProvider, fake: FakeAnthropic, audit: AuditLog, clouds: list[Provider]
) -> None:
    fake.default = Reply.error(529)
    router = HybridRouter(local_model, cloud_for(fake, "balanced", clouds), "balanced", 1.0, audit=audit)

    completion = router.complete(EASY, SHORT)

    assert completion.route == ROUTE_LOCAL
    assert completion.provider == "llama.cpp"
    (decision,) = decisions(audit)
    assert decision.reason.startswith("confidence ")
    assert "cloud failed" in decision.reason
    assert decision.attempts[0] == "llama.cpp:low-confidence"


def test_the_local_model_answers_when_the_cloud_fails_in_off_mode(
    local_model: LlamaCppProvider, fake: FakeAnthropic, audit: AuditLog, clouds: list[Provider]
) -> None:
    fake.default = Reply.error(401)
    router = HybridRouter(local_model, cloud_for(fake, "off", clouds), "off", 0.5, audit=audit)

    completion = router.complete(EASY, SHORT)

    assert completion.route == ROUTE_LOCAL_CLOUD_ERROR
    assert completion.provider == "llama.cpp"


def test_when_every_route_fails_the_error_is_raised_and_audited(
    broken_model: LlamaCppProvider, fake: FakeAnthropic, audit: AuditLog, clouds: list[Provider]
) -> None:
    fake.default = Reply.error(401)
    router = HybridRouter(broken_model, cloud_for(fake, "balanced", clouds), "balanced", 0.5, audit=audit)

    with pytest.raises(ProviderUnavailable):
        router.complete(EASY, SHORT)

    (decision,) = decisions(audit)
    assert decision.outcome != "ok"
    assert decision.attempts == ("llama.cpp:ProviderUnavailable", f"anthropic:{decision.outcome}")


def test_a_cancelled_request_is_not_retried_in_the_cloud(
    local_model: LlamaCppProvider, fake: FakeAnthropic, audit: AuditLog, clouds: list[Provider]
) -> None:
    """Cancelled before it starts, so the test does not race the model; mid-generation cancellation
    is the local provider's own specification."""
    router = HybridRouter(local_model, cloud_for(fake, "balanced", clouds), "balanced", 1.0, audit=audit)
    cancel = CancelToken()
    cancel.cancel("the user moved on")

    with pytest.raises(RequestCancelled):
        router.complete(Prompt("def fibonacci(n):\n"), CompletionOptions(max_tokens=200), cancel)
    with pytest.raises(RequestCancelled):
        list(router.stream(Prompt("def fibonacci(n):\n"), CompletionOptions(max_tokens=200), cancel))

    assert fake.message_requests == []
    assert [decision.outcome for decision in decisions(audit)] == ["cancelled", "cancelled"]
    assert not router.cloud_built


# --- redaction on the way out -----------------------------------------------------------------------


def _all_secret_fragments() -> list[str]:
    return [fragment for entry in SECRETS for fragment in (entry["secret"], *entry.get("also", []))]


def _assert_no_secret_in(text: str, where: str) -> None:
    leaked = [fragment for fragment in _all_secret_fragments() if fragment in text]
    assert leaked == [], f"{len(leaked)} planted secrets reached {where}"


@pytest.mark.parametrize("name", sorted({entry["file"] for entry in SECRETS}))
def test_no_planted_secret_reaches_the_cloud_when_the_local_model_is_unsure(
    name: str,
    local_model: LlamaCppProvider,
    fake: FakeAnthropic,
    audit: AuditLog,
    clouds: list[Provider],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    source = (PLANTED / name).read_text(encoding="utf-8")
    prompt = Prompt(
        text=f"# file: {name}\n{source}\n# Tests for the code above\n",
        chat=(ChatMessage("system", "You write tests."), ChatMessage("user", f"Write tests for:\n{source}")),
    )
    router = HybridRouter(local_model, cloud_for(fake, "balanced", clouds), "balanced", 1.0, audit=audit)

    completion = router.complete(prompt, SHORT)

    assert completion.route == ROUTE_CLOUD_LOW_CONFIDENCE
    assert len(fake.message_requests) == 1
    _assert_no_secret_in(fake.received_text(), "the fake cloud server")
    _assert_no_secret_in(json.dumps(fake.requests[0]["headers"]), "the request headers")
    _assert_no_secret_in(audit.path.read_text(encoding="utf-8"), "the audit log")
    _assert_no_secret_in(caplog.text, "the logs")
    planted_here = sum(1 for entry in SECRETS if entry["file"] == name)
    (decision,) = decisions(audit)
    assert sum(decision.redactions.values()) == planted_here
    assert "[REDACTED:" in fake.received_text()


def test_a_multi_file_review_goes_to_the_cloud_first_with_every_secret_removed(
    local_model: LlamaCppProvider, fake: FakeAnthropic, audit: AuditLog, clouds: list[Provider]
) -> None:
    files = sorted({entry["file"] for entry in SECRETS})
    text = "".join(f"# file: {name}\n{(PLANTED / name).read_text(encoding='utf-8')}\n" for name in files)
    router = HybridRouter(local_model, cloud_for(fake, "balanced", clouds), "balanced", 0.5, audit=audit)

    chunks = list(router.stream(Prompt(text), SHORT))

    final = chunks[-1].completion
    assert final is not None and final.route == ROUTE_CLOUD_COMPLEX
    _assert_no_secret_in(fake.received_text(), "the fake cloud server")
    (decision,) = decisions(audit)
    assert decision.reason == f"complex: {len(files)} files in the context (> 3)"
    assert sum(decision.redactions.values()) == len(SECRETS)
    assert decision.attempts == ("anthropic:ok",)


def test_off_mode_still_redacts_secrets(
    local_model: LlamaCppProvider, fake: FakeAnthropic, audit: AuditLog, clouds: list[Provider]
) -> None:
    source = (PLANTED / "billing.env").read_text(encoding="utf-8")
    router = HybridRouter(local_model, cloud_for(fake, "off", clouds), "off", 0.5, audit=audit)

    router.complete(Prompt(source), SHORT)

    _assert_no_secret_in(fake.received_text(), "the fake cloud server")
    assert "APP_ENV=development" in fake.received_text()


def test_bytes_sent_is_what_the_cloud_received(
    local_model: LlamaCppProvider, fake: FakeAnthropic, audit: AuditLog, clouds: list[Provider]
) -> None:
    prompt = Prompt("Explain what this does:\nx = [n * n for n in range(10)]\n")
    router = HybridRouter(local_model, cloud_for(fake, "off", clouds), "off", 0.5, audit=audit)

    router.complete(prompt, SHORT)

    sent = fake.message_requests[0]["json"]["messages"][0]["content"]
    (decision,) = decisions(audit)
    assert decision.bytes_sent == len(sent.encode("utf-8")) == len(prompt.text.encode("utf-8"))
    assert decision.redactions == {}


# --- streams, modes, telemetry ----------------------------------------------------------------------


def test_a_local_stream_yields_text_then_the_routed_completion(
    local_model: LlamaCppProvider, audit: AuditLog
) -> None:
    router = HybridRouter(local_model, None, "balanced", 0.5, audit=audit)

    chunks = list(router.stream(EASY, SHORT))

    final = chunks[-1].completion
    assert final is not None
    assert final.route == ROUTE_LOCAL
    assert "".join(chunk.text for chunk in chunks) == final.text
    assert final.request_id == decisions(audit)[0].request_id


def test_a_stream_falls_back_to_the_cloud_when_the_local_model_cannot_start(
    broken_model: LlamaCppProvider, fake: FakeAnthropic, audit: AuditLog, clouds: list[Provider]
) -> None:
    router = HybridRouter(broken_model, cloud_for(fake, "balanced", clouds), "balanced", 0.5, audit=audit)

    chunks = list(router.stream(EASY, SHORT))

    final = chunks[-1].completion
    assert final is not None and final.route == ROUTE_CLOUD_LOCAL_ERROR
    assert "".join(chunk.text for chunk in chunks) == CLOUD_ANSWER


def test_switching_to_strict_drops_the_cloud_client(
    local_model: LlamaCppProvider, fake: FakeAnthropic, audit: AuditLog, clouds: list[Provider]
) -> None:
    router = HybridRouter(local_model, cloud_for(fake, "off", clouds), "off", 0.5, audit=audit)
    router.complete(EASY, SHORT)
    assert router.cloud_built

    router.set_mode("strict")
    completion = router.complete(EASY, SHORT)

    assert not router.cloud_built
    assert completion.route == ROUTE_LOCAL
    assert len(fake.message_requests) == 1


def test_each_request_is_one_span_with_one_child_per_provider_tried(
    local_model: LlamaCppProvider, fake: FakeAnthropic, audit: AuditLog, clouds: list[Provider]
) -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.use_tracer_provider(tracer_provider)
    try:
        router = HybridRouter(local_model, cloud_for(fake, "balanced", clouds), "balanced", 1.0, audit=audit)
        completion = router.complete(EASY, SHORT)
    finally:
        telemetry.use_tracer_provider(None)

    spans = {span.name: span for span in exporter.get_finished_spans() if span.name.startswith("aqe.")}
    calls = [span for span in exporter.get_finished_spans() if span.name == telemetry.CALL_SPAN]
    request = spans[telemetry.REQUEST_SPAN]
    assert request.attributes["aqe.route"] == ROUTE_CLOUD_LOW_CONFIDENCE == completion.route
    assert request.attributes["aqe.privacy_mode"] == "balanced"
    assert [call.attributes["aqe.provider"] for call in calls] == ["llama.cpp", "anthropic"]
    assert all(call.parent is not None and call.parent.span_id == request.context.span_id for call in calls)
    local_call, cloud_call = calls
    assert local_call.attributes["aqe.model"] == local_model.model
    assert 0.0 < local_call.attributes["aqe.confidence"] < 1.0
    assert local_call.attributes["aqe.latency_s"] > 0
    assert local_call.attributes["gen_ai.usage.output_tokens"] > 0
    assert cloud_call.attributes["aqe.route"] == ROUTE_CLOUD_LOW_CONFIDENCE
    assert cloud_call.attributes["gen_ai.usage.input_tokens"] > 0
    assert all("def add" not in str(value) for span in (request, *calls) for value in span.attributes.values())


def test_a_failed_provider_call_is_an_error_span(broken_model: LlamaCppProvider, audit: AuditLog) -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.use_tracer_provider(tracer_provider)
    try:
        router = HybridRouter(broken_model, None, "strict", 0.5, audit=audit)
        with pytest.raises(ProviderUnavailable):
            router.complete(EASY, SHORT)
    finally:
        telemetry.use_tracer_provider(None)

    (call,) = [span for span in exporter.get_finished_spans() if span.name == telemetry.CALL_SPAN]
    assert not call.status.is_ok
    assert call.events[0].name == "exception"


# --- the routing rules ------------------------------------------------------------------------------


def test_a_long_prompt_is_complex() -> None:
    rules = RoutingRules(max_local_prompt_chars=100)

    assert rules.classify(Prompt("x" * 101)) == "complex: prompt of 101 characters (> 100)"
    assert rules.classify(Prompt("x" * 100)) is None


def test_quoting_more_files_than_allowed_is_complex() -> None:
    four = "".join(f"# file: src/m{n}.py\nprint({n})\n" for n in range(4))

    assert RoutingRules().classify(Prompt(four)) == "complex: 4 files in the context (> 3)"
    assert RoutingRules().classify(Prompt(four), RoutingHints(files=("a.py",))) is not None
    assert RoutingRules().classify(Prompt("x"), RoutingHints(files=("a.py", "b.py", "c.py"))) is None


@pytest.mark.parametrize("tag", ["architecture", "Security Review", "security_review", "THREAT-MODEL"])
def test_a_task_tag_from_the_default_list_is_complex(tag: str) -> None:
    assert RoutingRules().classify(EASY, RoutingHints(tags=(tag,))) is not None


def test_rules_are_configurable() -> None:
    rules = RoutingRules(complex_tags=frozenset({"generate-tests"}))

    assert rules.classify(EASY, RoutingHints(tags=("generate tests",))) == "complex: task tag 'generate-tests'"
    assert rules.classify(EASY, RoutingHints(tags=("architecture",))) is None


def test_embeddings_are_computed_by_the_local_model(local_model: LlamaCppProvider) -> None:
    router = HybridRouter(local_model, None, "balanced", 0.5)

    vectors = router.embed(["def add(a, b):\n    return a + b", "class Cart:\n    pass"])

    assert len(vectors) == 2
    assert len(vectors[0]) == len(vectors[1]) > 0


def test_strict_mode_refuses_a_team_server_that_is_not_on_this_machine(tmp_path: Path) -> None:
    """In a child with the network guard on: were the refusal missing, the guard would stop the packet."""
    script = textwrap.dedent(
        f"""
        import json, pathlib, sys
        from aqe.llm.openai_compatible import OpenAICompatibleProvider
        from aqe.llm.router import HybridRouter
        from aqe.llm.types import CompletionOptions, PrivacyViolation, Prompt
        from aqe.privacy.audit import AuditLog, read_audit
        from aqe.privacy.guard import GUARD, install_network_guard

        audit = AuditLog(pathlib.Path({str(tmp_path / "audit.jsonl")!r}))
        install_network_guard(audit, "strict")
        team_server = OpenAICompatibleProvider("http://10.255.255.1:9/v1", "team-model")
        router = HybridRouter(team_server, None, "strict", 0.5, audit=audit)
        try:
            router.complete(Prompt("x = 1"), CompletionOptions(max_tokens=2))
            outcome = "answered"
        except PrivacyViolation as error:
            outcome = str(error)
        (decision,) = read_audit(audit.path).entries
        print(json.dumps({{"outcome": outcome, "blocked": len(GUARD.blocked), "attempts": decision.attempts}}))
        """
    )
    env = {name: value for name, value in os.environ.items() if "proxy" not in name.lower()}

    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)

    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["outcome"].startswith("privacy mode strict: openai-compatible (team-model) is not on this machine")
    assert result["blocked"] == 0
    assert result["attempts"] == ["openai-compatible:refused"]


def test_the_router_is_a_provider() -> None:
    router = HybridRouter(None, None, "strict", 0.5)

    assert isinstance(router, Provider)
    with pytest.raises(ProviderUnavailable, match="privacy mode strict allows no other"):
        router.complete(EASY, SHORT)


def test_a_cloud_provider_built_by_the_factory_speaks_to_the_configured_endpoint(
    fake: FakeAnthropic, clouds: list[Provider]
) -> None:
    build = cloud_for(fake, "balanced", clouds)
    assert build is not None

    provider = build()

    assert isinstance(provider, AnthropicProvider)
    assert provider.base_url == fake.base_url
    assert provider.model == "claude-test"
