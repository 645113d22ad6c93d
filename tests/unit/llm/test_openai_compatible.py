"""OpenAICompatibleProvider against a real server: llama-cpp-python's own OpenAI-compatible server.

The server runs the embedded default model (Gemma 3 270M, a base model) on 127.0.0.1, started once
per module. It is started with `--chat_format chatml` so the chat endpoint has a template that keeps
system messages (llama-cpp-python's "gemma" format silently drops them), `--embedding true` so it
serves /v1/embeddings, and `--interrupt_requests false` so a request is never cut short by the next
one. A second server, without logprobs or embeddings, shows how the
provider copes with a server that refuses them.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from aqe.llm.default_model import default_model
from aqe.llm.openai_compatible import OpenAICompatibleProvider, is_loopback_url, mean_probability
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

STARTUP_LIMIT_S = 180
LIVENESS_S = 120
EASY = Prompt("def add(a, b):\n    return")
GIBBERISH = Prompt("zq xv qqj wpf kkz ub ofl ghx")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_server(tmp_path: Path, *extra: str) -> Iterator[str]:
    model = default_model()
    port = _free_port()
    log = (tmp_path / f"llama-server-{port}.log").open("w")
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model.path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "1024",
        "--n_threads",
        "2",
        "--interrupt_requests",
        "false",
        *extra,
    ]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_LIMIT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {process.returncode}; see {log.name}")
            try:
                if httpx2.get(f"{base_url}/v1/models", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not listen within {STARTUP_LIMIT_S} s; see {log.name}")
            time.sleep(0.2)
        yield base_url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    yield from _start_server(tmp_path_factory.mktemp("llama-server"), "--chat_format", "chatml", "--embedding", "true")


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory) -> Iterator[str]:
    """A server as many teams run it: no logprobs (logits_all off), no embeddings."""
    yield from _start_server(tmp_path_factory.mktemp("llama-server-plain"), "--logits_all", "false")


@pytest.fixture
def base_model(server) -> Iterator[OpenAICompatibleProvider]:
    provider = OpenAICompatibleProvider(server + "/v1", chat=False)
    yield provider
    provider.close()


@pytest.fixture
def chat_model(server) -> Iterator[OpenAICompatibleProvider]:
    provider = OpenAICompatibleProvider(server, chat=True)
    yield provider
    provider.close()


def _run_with_liveness(target) -> object:
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


# --- completions (the default model is a base model) -------------------------------------------


def test_a_loopback_server_is_a_local_provider(base_model):
    assert isinstance(base_model, Provider)
    assert base_model.is_local is True
    assert base_model.name == "openai-compatible"


def test_completion_continues_a_base_model_prompt(base_model):
    completion = base_model.complete(EASY, CompletionOptions(max_tokens=8, stop=("\n",)))

    assert completion.text.strip() == "a + b"
    assert completion.finish_reason is FinishReason.STOP
    assert completion.model.endswith(".gguf")
    assert completion.provider == "openai-compatible"
    assert completion.route == "local"
    assert completion.prompt_tokens > 0
    assert completion.completion_tokens > 0
    assert completion.latency_s > 0


def test_a_stop_sequence_ends_the_answer_before_it(base_model):
    unstopped = base_model.complete(EASY, CompletionOptions(max_tokens=6))
    stopped = base_model.complete(EASY, CompletionOptions(max_tokens=6, stop=("\n",)))

    assert "\n" in unstopped.text
    assert stopped.text == unstopped.text.split("\n")[0]


def test_max_tokens_bounds_the_answer_and_reports_length(base_model):
    completion = base_model.complete(EASY, CompletionOptions(max_tokens=3))

    assert completion.completion_tokens == 3
    assert completion.finish_reason is FinishReason.LENGTH


def test_confidence_comes_from_logprobs_and_is_lower_for_gibberish(base_model):
    easy = base_model.complete(EASY, CompletionOptions(max_tokens=4, stop=("\n",)))
    gibberish = base_model.complete(GIBBERISH, CompletionOptions(max_tokens=4))

    assert 0 < easy.confidence <= 1
    assert 0 < gibberish.confidence <= 1
    assert gibberish.confidence < easy.confidence


def test_the_same_seed_repeats_a_sampled_answer(base_model):
    options = CompletionOptions(max_tokens=6, temperature=1.5, seed=7)

    first = base_model.complete(Prompt("Once upon"), options)
    second = base_model.complete(Prompt("Once upon"), options)

    assert first.text == second.text


def test_a_grammar_constrains_the_answer(base_model):
    completion = base_model.complete(
        Prompt("Is the sky green? The answer is"),
        CompletionOptions(max_tokens=4, grammar='root ::= " yes" | " no"'),
    )

    assert completion.text in (" yes", " no")


def test_a_json_schema_the_completions_endpoint_ignores_is_caught_by_parsing(base_model):
    with pytest.raises(ProviderError, match="valid JSON"):
        base_model.complete(EASY, CompletionOptions(max_tokens=4, json_schema={"type": "object"}))


def test_grammar_and_json_schema_together_are_refused_before_sending(base_model):
    with pytest.raises(UnsupportedOption):
        base_model.complete(EASY, CompletionOptions(grammar='root ::= "x"', json_schema={"type": "object"}))


# --- streaming and cancellation ----------------------------------------------------------------


def test_streaming_yields_the_same_text_as_a_completion(base_model):
    options = CompletionOptions(max_tokens=8, stop=("\n",))

    completion = base_model.complete(EASY, options)
    chunks = list(base_model.stream(EASY, options))

    assert len(chunks) > 2
    assert "".join(chunk.text for chunk in chunks) == completion.text
    final = chunks[-1].completion
    assert final is not None
    assert final.text == completion.text
    assert final.confidence == pytest.approx(completion.confidence)
    assert final.finish_reason is FinishReason.STOP


def test_cancelling_mid_stream_stops_and_the_server_serves_the_next_request(base_model):
    cancel = CancelToken()
    received: list[str] = []

    def consume() -> None:
        for chunk in base_model.stream(Prompt("Once upon a time"), CompletionOptions(max_tokens=200), cancel):
            received.append(chunk.text)
            if len(received) == 2:
                cancel.cancel("enough")

    with pytest.raises(RequestCancelled, match="enough"):
        _run_with_liveness(consume)

    assert len(received) == 2
    after = _run_with_liveness(lambda: base_model.complete(EASY, CompletionOptions(max_tokens=8, stop=("\n",))))
    assert after.text.strip() == "a + b"


def test_complete_with_a_cancel_token_can_be_cancelled_while_waiting(base_model):
    cancel = CancelToken()
    threading.Timer(0.5, cancel.cancel).start()

    with pytest.raises(RequestCancelled):
        _run_with_liveness(
            lambda: base_model.complete(Prompt("Once upon a time"), CompletionOptions(max_tokens=200), cancel)
        )


def test_a_call_over_its_time_limit_is_a_provider_timeout(base_model):
    with pytest.raises(ProviderTimeout, match=r"0\.3 s"):
        _run_with_liveness(
            lambda: list(
                base_model.stream(Prompt("Once upon a time"), CompletionOptions(max_tokens=200, timeout_s=0.3))
            )
        )


# --- chat --------------------------------------------------------------------------------------


def test_the_chat_endpoint_answers_with_system_and_user_messages(chat_model):
    prompt = Prompt(
        "unused by chat models",
        chat=(ChatMessage("system", "You count."), ChatMessage("user", "one, two, three,")),
    )

    completion = chat_model.complete(prompt, CompletionOptions(max_tokens=6))
    user_only = chat_model.complete(Prompt("one, two, three,"), CompletionOptions(max_tokens=6))

    assert completion.completion_tokens > 0
    assert 0 < completion.confidence <= 1
    assert completion.prompt_tokens > user_only.prompt_tokens


def test_chat_streaming_yields_the_same_text_as_a_chat_completion(chat_model):
    options = CompletionOptions(max_tokens=6)

    completion = chat_model.complete(Prompt("one, two, three,"), options)
    chunks = list(chat_model.stream(Prompt("one, two, three,"), options))

    assert "".join(chunk.text for chunk in chunks) == completion.text
    assert chunks[-1].completion is not None


def test_a_json_schema_on_chat_yields_parseable_json(chat_model):
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}

    completion = chat_model.complete(
        Prompt("Is it ok? Answer in JSON."), CompletionOptions(max_tokens=16, json_schema=schema)
    )

    assert isinstance(json.loads(completion.text)["ok"], bool)


# --- embeddings --------------------------------------------------------------------------------


def test_embeddings_are_one_unit_vector_per_text(base_model):
    vectors = base_model.embed(["def add(a, b): return a + b", "the weather is nice", "x"])

    assert len(vectors) == 3
    assert len({len(vector) for vector in vectors}) == 1
    assert len(vectors[0]) > 100
    for vector in vectors:
        assert math.sqrt(sum(value * value for value in vector)) == pytest.approx(1.0)
    assert vectors[0] != vectors[1]


def test_embedding_nothing_sends_nothing(base_model):
    assert base_model.embed([]) == []


# --- a server without logprobs or embeddings ---------------------------------------------------


def test_a_server_that_refuses_logprobs_still_answers_with_unknown_confidence(plain_server):
    provider = OpenAICompatibleProvider(plain_server, chat=False)

    completion = provider.complete(EASY, CompletionOptions(max_tokens=8, stop=("\n",)))

    assert completion.text.strip() == "a + b"
    assert completion.confidence == 0.5
    assert provider.info().details["logprobs"] == "not available"


def test_a_server_without_embeddings_says_so(plain_server):
    provider = OpenAICompatibleProvider(plain_server, chat=False)

    with pytest.raises(UnsupportedOption, match="embeddings"):
        provider.embed(["some text"])


# --- addresses and errors (no server needed) ---------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://127.9.8.7:8000/v1",
        "http://localhost:11434",
        "http://LOCALHOST:11434/v1/",
        "http://[::1]:8000",
        "http://[::ffff:127.0.0.1]:8000",
    ],
)
def test_loopback_urls_are_local(url):
    assert is_loopback_url(url)
    assert OpenAICompatibleProvider(url).is_local is True


@pytest.mark.parametrize(
    "url",
    [
        "http://10.255.255.1:8000",
        "http://192.168.1.20:8000/v1",
        "https://inference.example.com",
        "http://localhost.example.com:8000",
        "http://127.0.0.1.example.com",
        "http://[::ffff:10.0.0.1]:8000",
        "http://0.0.0.0:8000",
    ],
)
def test_other_urls_are_not_local(url):
    """Constructed only: nothing connects to these addresses."""
    assert not is_loopback_url(url)
    assert OpenAICompatibleProvider(url).is_local is False


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "127.0.0.1:8000", "file:///etc/passwd", "http://"])
def test_a_url_that_is_not_http_is_refused(url):
    with pytest.raises(ValueError, match="http"):
        OpenAICompatibleProvider(url)


def test_the_base_url_may_be_given_with_or_without_v1():
    assert OpenAICompatibleProvider("http://127.0.0.1:8000/v1/").base_url == "http://127.0.0.1:8000"
    assert OpenAICompatibleProvider("http://127.0.0.1:8000").base_url == "http://127.0.0.1:8000"


def test_connection_refused_is_provider_unavailable():
    provider = OpenAICompatibleProvider(f"http://127.0.0.1:{_free_port()}", chat=False)

    with pytest.raises(ProviderUnavailable, match="cannot connect"):
        provider.complete(EASY)
    with pytest.raises(ProviderUnavailable, match="cannot connect"):
        list(provider.stream(EASY))


def test_a_wrong_path_is_provider_unavailable_naming_the_endpoint(server):
    provider = OpenAICompatibleProvider(server + "/not-here", chat=False)

    with pytest.raises(ProviderUnavailable, match="/v1/completions"):
        provider.complete(EASY)


def test_a_loopback_provider_ignores_proxy_settings(base_model, monkeypatch):
    """A proxy could be anywhere; "local" must mean the request goes straight to the local server."""
    with socket.socket() as trap:
        trap.bind(("127.0.0.1", 0))
        trap.listen()
        trap.settimeout(0.5)
        proxy = f"http://127.0.0.1:{trap.getsockname()[1]}"
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.setenv(name, proxy)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        provider = OpenAICompatibleProvider(base_model.base_url, chat=False, timeout_s=60)

        completion = provider.complete(EASY, CompletionOptions(max_tokens=8, stop=("\n",)))

        assert completion.text.strip() == "a + b"
        with pytest.raises(TimeoutError):
            trap.accept()


def test_mean_probability_of_chosen_tokens():
    assert mean_probability([0.0, 0.0]) == 1.0
    assert mean_probability([math.log(0.5), math.log(0.25)]) == pytest.approx(0.375)
    assert mean_probability([None, math.log(0.5)]) == pytest.approx(0.5)
    assert mean_probability([]) is None
