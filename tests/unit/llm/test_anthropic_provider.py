"""AnthropicProvider: the official SDK against a fake Messages API server on 127.0.0.1.

Everything here is real except the model: the SDK, its retries and SSE parser, our mapping of
options and errors, and HTTP over a loopback socket. Nothing ever leaves the machine.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx2
import pytest
from fakes.fake_anthropic import FakeAnthropic, Reply

from aqe.llm.anthropic_provider import DEFAULT_BASE_URL, AnthropicProvider
from aqe.llm.types import (
    CancelToken,
    ChatMessage,
    CompletionOptions,
    FinishReason,
    Prompt,
    Provider,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RequestCancelled,
    UnsupportedOption,
)

REPO = Path(__file__).resolve().parents[3]
MODEL = "claude-test-model"
LIVENESS_S = 30


@pytest.fixture
def fake():
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def provider(fake):
    instance = AnthropicProvider(api_key=fake.api_key, model=MODEL, base_url=fake.base_url, max_retries=2)
    yield instance
    instance.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run_with_liveness(target) -> object:
    """Run `target` in a thread so a hang fails the test instead of stalling the suite."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = target()
        except BaseException as error:
            outcome["error"] = error

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(LIVENESS_S)
    assert not worker.is_alive(), "the call did not return"
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("value")


# --- completion --------------------------------------------------------------------------------


def test_it_is_a_cloud_chat_provider(provider):
    assert isinstance(provider, Provider)
    assert (provider.name, provider.is_local, provider.chat, provider.model) == ("anthropic", False, True, MODEL)


def test_completion_carries_text_usage_model_and_finish_reason(fake, provider):
    fake.script("The function returns the sum of its arguments.")

    completion = provider.complete(Prompt("What does add do?"), CompletionOptions(max_tokens=64))

    assert completion.text == "The function returns the sum of its arguments."
    assert completion.model == MODEL
    assert completion.provider == "anthropic"
    assert completion.prompt_tokens == 4
    assert completion.completion_tokens == 8
    assert completion.finish_reason is FinishReason.STOP
    assert completion.confidence == 0.5
    assert completion.route == "cloud"
    assert completion.latency_s > 0
    assert len(completion.request_id) == 16


def test_the_request_names_the_model_and_max_tokens_and_uses_a_non_streaming_call(fake, provider):
    provider.complete(Prompt("hello"), CompletionOptions(max_tokens=77))

    body = fake.message_requests[-1]["json"]
    assert body["model"] == MODEL
    assert body["max_tokens"] == 77
    assert "stream" not in body


def test_a_text_prompt_becomes_one_user_message(fake, provider):
    provider.complete(Prompt("def add(a, b):"))

    body = fake.message_requests[-1]["json"]
    assert body["messages"] == [{"role": "user", "content": "def add(a, b):"}]
    assert "system" not in body


def test_system_messages_go_to_the_system_parameter(fake, provider):
    chat = (
        ChatMessage("system", "You review Python code."),
        ChatMessage("system", "Answer in one sentence."),
        ChatMessage("user", "Is this safe?"),
        ChatMessage("assistant", "Which part?"),
        ChatMessage("user", "The division."),
    )

    provider.complete(Prompt("ignored for chat models", chat=chat))

    body = fake.message_requests[-1]["json"]
    assert body["system"] == "You review Python code.\n\nAnswer in one sentence."
    assert body["messages"] == [
        {"role": "user", "content": "Is this safe?"},
        {"role": "assistant", "content": "Which part?"},
        {"role": "user", "content": "The division."},
    ]


def test_a_chat_of_only_system_messages_is_refused_before_sending(fake, provider):
    with pytest.raises(ProviderError, match="user message"):
        provider.complete(Prompt("x", chat=(ChatMessage("system", "Be brief."),)))
    assert fake.requests == []


def test_stop_sequences_are_sent_and_end_the_answer(fake, provider):
    fake.script("assert add(1, 2) == 3\ndef test_next():")

    completion = provider.complete(Prompt("def test_add():"), CompletionOptions(stop=("def test_",)))

    assert fake.message_requests[-1]["json"]["stop_sequences"] == ["def test_"]
    assert completion.text == "assert add(1, 2) == 3\n"
    assert completion.finish_reason is FinishReason.STOP


def test_whitespace_only_stop_sequences_are_applied_locally_because_the_api_refuses_them(fake, provider):
    fake.script("first paragraph\n\nsecond paragraph")

    completion = provider.complete(Prompt("Write two paragraphs"), CompletionOptions(stop=("\n\n", "END")))

    assert fake.message_requests[-1]["json"]["stop_sequences"] == ["END"]
    assert completion.text == "first paragraph"
    assert completion.finish_reason is FinishReason.STOP


def test_a_stream_is_cut_at_a_local_stop_sequence_split_across_deltas(fake, provider):
    fake.script("one two \n\nthree four")

    chunks = list(provider.stream(Prompt("count"), CompletionOptions(stop=(" \n\n",))))

    assert "".join(chunk.text for chunk in chunks) == "one two"
    assert chunks[-1].completion is not None
    assert chunks[-1].completion.text == "one two"
    assert fake.message_requests[-1]["json"].get("stop_sequences") is None


def test_an_answer_cut_by_max_tokens_finishes_with_length(fake, provider):
    fake.script("one two three four five six")

    completion = provider.complete(Prompt("count"), CompletionOptions(max_tokens=3))

    assert completion.text == "one two three "
    assert completion.completion_tokens == 3
    assert completion.finish_reason is FinishReason.LENGTH


def test_temperature_and_seed_are_not_sent_because_the_api_version_rejects_sampling_parameters(fake, provider):
    completion = provider.complete(Prompt("hello"), CompletionOptions(temperature=0.7, seed=42))

    body = fake.message_requests[-1]["json"]
    assert "temperature" not in body
    assert "seed" not in body
    assert completion.text


def test_the_key_is_sent_as_a_credential_header_and_never_in_the_body(fake, provider):
    provider.complete(Prompt("hello"))

    request = fake.message_requests[-1]
    headers = request["headers"]
    assert fake.api_key in (headers.get("x-api-key", ""), headers.get("authorization", "").removeprefix("Bearer "))
    assert fake.api_key not in request["body"]


# --- streaming ---------------------------------------------------------------------------------


def test_streaming_assembles_the_same_text_as_a_completion(fake, provider):
    text = "def test_add():\n    assert add(2, 3) == 5\n"
    fake.script(text, text)

    completion = provider.complete(Prompt("write a test"))
    chunks = list(provider.stream(Prompt("write a test")))

    assert fake.message_requests[-1]["json"]["stream"] is True
    assert len(chunks) > 2
    assert "".join(chunk.text for chunk in chunks) == completion.text == text
    assert [chunk.completion is not None for chunk in chunks] == [False] * (len(chunks) - 1) + [True]


def test_the_last_stream_chunk_carries_usage_and_finish_reason(fake, provider):
    fake.script("alpha beta gamma")

    final = list(provider.stream(Prompt("three words"), CompletionOptions(max_tokens=2)))[-1].completion

    assert final is not None
    assert final.text == "alpha beta "
    assert final.completion_tokens == 2
    assert final.prompt_tokens == 2
    assert final.finish_reason is FinishReason.LENGTH


def test_cancelling_mid_stream_raises_and_closes_the_stream(fake, provider):
    fake.script(Reply(text=" ".join(f"word{number}" for number in range(40)), event_delay_s=0.2))
    cancel = CancelToken()
    received: list[str] = []

    def consume() -> None:
        for chunk in provider.stream(Prompt("long answer"), cancel=cancel):
            received.append(chunk.text)
            cancel.cancel("the user moved on")

    with pytest.raises(RequestCancelled, match="the user moved on"):
        _run_with_liveness(consume)

    assert received == ["word0 "]
    request = fake.message_requests[-1]
    total_events = 3 + 40 + 3
    _wait_for(lambda: request["client_closed"])
    assert request["events_sent"] < total_events


def test_a_cancel_while_waiting_for_the_next_event_returns_without_waiting_for_it(fake, provider):
    fake.script(Reply(text="slow answer here", event_delay_s=20))
    cancel = CancelToken()
    threading.Timer(0.5, cancel.cancel).start()

    with pytest.raises(RequestCancelled):
        _run_with_liveness(lambda: list(provider.stream(Prompt("slow"), cancel=cancel)))


def test_complete_with_a_cancel_token_streams_so_it_can_be_cancelled(fake, provider):
    fake.script(Reply(text=" ".join(["word"] * 40), event_delay_s=0.2), "streamed answer")
    cancel = CancelToken()
    threading.Timer(0.5, cancel.cancel).start()

    with pytest.raises(RequestCancelled):
        _run_with_liveness(lambda: provider.complete(Prompt("long"), cancel=cancel))

    completion = provider.complete(Prompt("again"), cancel=CancelToken())
    assert completion.text == "streamed answer"
    assert fake.message_requests[-1]["json"]["stream"] is True


def test_a_request_cancelled_before_it_starts_sends_nothing(fake, provider):
    cancel = CancelToken()
    cancel.cancel()

    with pytest.raises(RequestCancelled):
        provider.complete(Prompt("never sent"), cancel=cancel)
    with pytest.raises(RequestCancelled):
        list(provider.stream(Prompt("never sent"), cancel=cancel))
    assert fake.requests == []


def test_a_stream_that_outlives_its_timeout_is_a_provider_timeout(fake, provider):
    fake.script(Reply(text="too slow for the limit", event_delay_s=20))

    with pytest.raises(ProviderTimeout):
        _run_with_liveness(lambda: list(provider.stream(Prompt("slow"), CompletionOptions(timeout_s=0.5))))


def _wait_for(condition, timeout_s: float = 10.0) -> None:
    event = threading.Event()
    for _ in range(int(timeout_s / 0.05)):
        if condition():
            return
        event.wait(0.05)
    raise AssertionError("condition not met in time")


# --- options the API cannot honour -------------------------------------------------------------


def test_a_grammar_is_unsupported_and_nothing_is_sent(fake, provider):
    with pytest.raises(UnsupportedOption, match="grammar"):
        provider.complete(Prompt("yes or no?"), CompletionOptions(grammar='root ::= "yes" | "no"'))
    with pytest.raises(UnsupportedOption):
        provider.stream(Prompt("yes or no?"), CompletionOptions(grammar='root ::= "yes" | "no"'))
    assert fake.requests == []


def test_a_json_schema_asks_for_structured_output_and_the_answer_must_parse(fake, provider):
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    fake.script('{"ok": true}', "Sure! Here is the JSON you asked for.")

    completion = provider.complete(Prompt("Is it ok?"), CompletionOptions(json_schema=schema))

    assert json.loads(completion.text) == {"ok": True}
    assert fake.message_requests[-1]["json"]["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    with pytest.raises(ProviderError, match="not valid JSON"):
        provider.complete(Prompt("Is it ok?"), CompletionOptions(json_schema=schema))


def test_embeddings_are_unsupported(fake, provider):
    with pytest.raises(UnsupportedOption, match="embeddings"):
        provider.embed(["some text"])
    assert fake.requests == []


# --- errors ------------------------------------------------------------------------------------


def test_a_wrong_api_key_is_a_clear_error_that_does_not_repeat_the_key(fake):
    wrong_key = "sk-ant-api03-not-the-right-key"
    provider = AnthropicProvider(api_key=wrong_key, model=MODEL, base_url=fake.base_url)

    with pytest.raises(ProviderUnavailable, match="rejected the API key") as caught:
        provider.complete(Prompt("hello"))

    assert "ANTHROPIC_API_KEY" in str(caught.value)
    assert wrong_key not in str(caught.value)
    assert [request["status"] for request in fake.requests] == [401]


@pytest.mark.parametrize(
    ("status", "words"),
    [(429, "rate limit"), (529, "overloaded"), (500, "failed")],
)
def test_retryable_errors_are_retried_per_max_retries_then_reported(fake, status, words):
    fake.script(*[Reply.error(status)] * 3)
    provider = AnthropicProvider(api_key=fake.api_key, model=MODEL, base_url=fake.base_url, max_retries=2)

    with pytest.raises(ProviderUnavailable, match=words) as caught:
        provider.complete(Prompt("hello"))

    assert "after 2 retries" in str(caught.value)
    assert [request["status"] for request in fake.requests] == [status] * 3


def test_streams_are_retried_like_completions(fake, provider):
    fake.script(Reply.error(529), "recovered")

    chunks = list(provider.stream(Prompt("hello")))

    assert chunks[-1].completion is not None
    assert chunks[-1].completion.text == "recovered"
    assert [request["status"] for request in fake.requests] == [529, 200]


def test_a_transient_rate_limit_recovers_within_the_retries(fake, provider):
    fake.script(Reply.error(429), "after the wait")

    assert provider.complete(Prompt("hello")).text == "after the wait"
    assert [request["status"] for request in fake.requests] == [429, 200]


def test_no_retries_when_max_retries_is_zero(fake):
    fake.script(Reply.error(529))
    provider = AnthropicProvider(api_key=fake.api_key, model=MODEL, base_url=fake.base_url, max_retries=0)

    with pytest.raises(ProviderUnavailable, match="overloaded"):
        provider.complete(Prompt("hello"))
    assert len(fake.requests) == 1


def test_an_error_event_in_the_middle_of_a_stream_is_reported(fake, provider):
    fake.script(Reply(text="partial answer that breaks", stream_error="overloaded_error"))

    with pytest.raises(ProviderUnavailable, match=r"overloaded.*middle of the answer"):
        list(provider.stream(Prompt("hello")))


def test_a_bad_request_is_reported_with_the_api_message(fake, provider):
    fake.script(Reply.error(400, message="messages: roles must alternate"))

    with pytest.raises(ProviderError, match="roles must alternate"):
        provider.complete(Prompt("hello"))


def test_connection_refused_is_provider_unavailable():
    port = _free_port()
    provider = AnthropicProvider(api_key="sk-ant-test", model=MODEL, base_url=f"http://127.0.0.1:{port}", max_retries=0)

    with pytest.raises(ProviderUnavailable, match=f"cannot reach the Anthropic API at http://127.0.0.1:{port}"):
        provider.complete(Prompt("hello"))


def test_a_missing_api_key_is_provider_unavailable_and_nothing_is_sent(fake, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)

    with pytest.raises(ProviderUnavailable, match="ANTHROPIC_API_KEY"):
        AnthropicProvider(model=MODEL, base_url=fake.base_url)
    with pytest.raises(ProviderUnavailable, match="ANTHROPIC_API_KEY"):
        AnthropicProvider(api_key="  ", model=MODEL, base_url=fake.base_url)
    assert fake.requests == []


def test_the_api_key_is_read_from_the_environment(fake, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", fake.api_key)

    provider = AnthropicProvider(model=MODEL, base_url=fake.base_url)

    assert provider.complete(Prompt("hello")).text
    assert [request["status"] for request in fake.requests] == [200]


def test_the_sdk_environment_cannot_redirect_the_traffic(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")

    provider = AnthropicProvider(model=MODEL)

    assert provider.base_url == DEFAULT_BASE_URL
    assert str(provider._client.base_url).startswith(DEFAULT_BASE_URL)
    provider.close()


# --- isolation ---------------------------------------------------------------------------------

_CONNECT_RECORDER = """
import json, sys
connections = []
def record(event, args):
    if event == "socket.connect":
        address = args[1]
        if isinstance(address, tuple):
            connections.append([str(address[0]), int(address[1])])
sys.addaudithook(record)
from aqe.llm.anthropic_provider import AnthropicProvider
from aqe.llm.types import CancelToken, Prompt, ProviderError
provider = AnthropicProvider(api_key=sys.argv[2], model="claude-test-model", base_url=sys.argv[1], max_retries=1)
calls = 0
provider.complete(Prompt("one")); calls += 1
list(provider.stream(Prompt("two"))); calls += 1
provider.complete(Prompt("three"), cancel=CancelToken()); calls += 1
try:
    provider.complete(Prompt("four")); calls += 1
except ProviderError:
    calls += 1
print(json.dumps({"connections": connections, "calls": calls}))
"""


def test_the_sdk_talks_to_nothing_but_the_configured_server(fake):
    """Every socket the SDK opened (seen by an audit hook in a child process) went to the fake."""
    fake.script("one", "two", "three", Reply.error(529), Reply.error(529))
    environment = {key: value for key, value in os.environ.items() if not key.startswith("ANTHROPIC_")}
    environment["PYTHONPATH"] = str(REPO / "server")

    run = subprocess.run(
        [sys.executable, "-c", _CONNECT_RECORDER, fake.base_url, fake.api_key],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        check=False,
    )

    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["calls"] == 4
    assert report["connections"], "no connection was recorded"
    assert {tuple(address) for address in report["connections"]} == {("127.0.0.1", fake.port)}
    assert len(fake.message_requests) == 5


def test_importing_the_model_layer_does_not_import_the_sdk():
    """Strict mode relies on this: only constructing an AnthropicProvider loads `anthropic`."""
    code = (
        "import sys\n"
        "import aqe.llm.anthropic_provider, aqe.llm.openai_compatible, aqe.llm.types\n"
        "print('anthropic' in sys.modules)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO / "server")},
        check=False,
    )

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"


# --- the fake itself (other tests rely on its fidelity) ----------------------------------------


def test_the_fake_streams_the_real_event_sequence(fake):
    fake.script("two words")
    body = {"model": MODEL, "max_tokens": 10, "stream": True, "messages": [{"role": "user", "content": "hi"}]}

    with httpx2.Client() as client:
        response = client.post(f"{fake.base_url}/v1/messages", json=body, headers={"x-api-key": fake.api_key})

    names = [line.removeprefix("event: ") for line in response.text.splitlines() if line.startswith("event: ")]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


def test_the_fake_records_what_it_received_as_decoded_text(fake, provider):
    planted = 'password = "hunter2"\nline two'

    provider.complete(Prompt("x", chat=(ChatMessage("system", planted), ChatMessage("user", "check this"))))

    assert planted in fake.received_text()
    assert "check this" in fake.received_text()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"temperature": 0.0}, "temperature: Extra inputs are not permitted"),
        ({"stop_sequences": ["\n\n"]}, "must contain non-whitespace"),
        ({"messages": []}, "at least one message"),
    ],
)
def test_the_fake_refuses_what_the_real_api_refuses(fake, change, message):
    body = {"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], **change}

    with httpx2.Client() as client:
        response = client.post(f"{fake.base_url}/v1/messages", json=body, headers={"x-api-key": fake.api_key})

    error = response.json()["error"]
    assert response.status_code == 400
    assert error["type"] == "invalid_request_error"
    assert message in error["message"]
