"""LlamaCppProvider with the real embedded model (Gemma 3 270M) in a real worker process.

Nothing is mocked: completions come from llama.cpp, crashes are real signals sent to the real worker,
and the corrupt models are real files. One provider is loaded for the whole module; the tests that
kill its worker check that it comes back, which is the behaviour under test.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from llama_cpp import Llama

from aqe.llm.default_model import ModelUnavailableError, default_model
from aqe.llm.local import LlamaCppProvider, physical_cores, read_gguf_metadata
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
)

CONTEXT = 1024
LIVENESS_S = 60.0
# One thread: on a shared machine, two OpenMP threads on two cores stall whenever another process runs.
TEST_FILE = Prompt(
    "import unittest\n\n\nclass TestMath(unittest.TestCase):\n"
    "    def test_add(self):\n        self.assertEqual(1 + 1, 2)\n\n    def test_"
)
COUNTING = Prompt("1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,")
GIBBERISH = Prompt("xq zv9 ##k lpw qqq 7&& mnb vcx }{ ]] 0o0 ~~ plk wq! zzt")


@pytest.fixture(scope="module")
def model_path() -> Path:
    try:
        return default_model().path
    except ModelUnavailableError as error:
        pytest.skip(f"the default model is not installed: {error}")


@pytest.fixture(scope="module")
def provider(model_path: Path) -> Iterator[LlamaCppProvider]:
    instance = LlamaCppProvider(context_size=CONTEXT, threads=1)
    instance.start()
    yield instance
    instance.close()


def _children_of_this_process() -> set[int]:
    """Live (not reaped, not zombie) child processes, read from /proc."""
    children = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, parent = fields[0], int(fields[1])
        if parent == os.getpid() and state != "Z":
            children.add(int(entry.name))
    return children


def _wait_until(condition, timeout: float = LIVENESS_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def _warm(provider: LlamaCppProvider, prompt: Prompt) -> None:
    """Evaluate the prompt once, so later calls reuse the same cached prefix.

    llama.cpp's arithmetic differs slightly between a prompt evaluated in one batch and the same
    prompt resumed from cache, which can change a greedy continuation; comparisons need equal footing.
    """
    provider.complete(prompt, CompletionOptions(max_tokens=1))


# --- the contract ---------------------------------------------------------------------------------------


def test_it_is_a_local_provider_of_the_shared_contract(provider: LlamaCppProvider) -> None:
    assert isinstance(provider, Provider)
    assert provider.is_local is True
    assert provider.name == "llama.cpp"
    assert provider.chat is False, "the embedded Gemma 3 270M is a base model: no chat template"


def test_completion_carries_text_tokens_timing_and_identity(provider: LlamaCppProvider) -> None:
    completion = provider.complete(TEST_FILE, CompletionOptions(max_tokens=12))

    assert completion.text.strip()
    assert completion.provider == "llama.cpp"
    assert completion.model == "gemma-3-270m-q4_k_m"
    assert completion.route == "local"
    assert completion.prompt_tokens > 20
    assert 1 <= completion.completion_tokens <= 12
    assert completion.latency_s > 0
    assert len(completion.request_id) == 16


def test_max_tokens_ends_generation_with_length(provider: LlamaCppProvider) -> None:
    completion = provider.complete(COUNTING, CompletionOptions(max_tokens=4))

    assert completion.completion_tokens == 4
    assert completion.finish_reason is FinishReason.LENGTH


def test_stop_sequence_ends_the_text_before_it(provider: LlamaCppProvider) -> None:
    _warm(provider, TEST_FILE)
    unstopped = provider.complete(TEST_FILE, CompletionOptions(max_tokens=48)).text
    assert "\n\n" in unstopped, "the continuation should reach the end of the test method"

    stopped = provider.complete(TEST_FILE, CompletionOptions(max_tokens=48, stop=("\n\n",)))

    assert stopped.text == unstopped.split("\n\n")[0]
    assert stopped.finish_reason is FinishReason.STOP


def test_confidence_is_a_probability_and_lower_for_gibberish(provider: LlamaCppProvider) -> None:
    easy = provider.complete(COUNTING, CompletionOptions(max_tokens=8))
    hard = provider.complete(GIBBERISH, CompletionOptions(max_tokens=8))

    assert 0.0 < easy.confidence <= 1.0
    assert 0.0 < hard.confidence <= 1.0
    assert easy.text.startswith(" 13, 14")
    assert easy.confidence > 0.8
    assert hard.confidence < easy.confidence - 0.3


def test_streaming_yields_the_same_text_as_a_plain_completion(provider: LlamaCppProvider) -> None:
    options = CompletionOptions(max_tokens=24)
    _warm(provider, TEST_FILE)
    plain = provider.complete(TEST_FILE, options)

    chunks = list(provider.stream(TEST_FILE, options))

    assert len(chunks) > 3, "text should arrive piece by piece"
    final = chunks[-1].completion
    assert final is not None
    assert all(chunk.completion is None for chunk in chunks[:-1])
    assert "".join(chunk.text for chunk in chunks) == plain.text == final.text


def test_streaming_never_shows_a_stop_sequence(provider: LlamaCppProvider) -> None:
    chunks = list(provider.stream(TEST_FILE, CompletionOptions(max_tokens=48, stop=("\n\n",))))

    streamed = "".join(chunk.text for chunk in chunks)
    assert "\n\n" not in streamed
    assert streamed == chunks[-1].completion.text


def test_sampling_with_a_seed_repeats_and_other_seeds_vary(provider: LlamaCppProvider) -> None:
    _warm(provider, TEST_FILE)

    def sample(seed: int) -> str:
        return provider.complete(TEST_FILE, CompletionOptions(max_tokens=24, temperature=1.0, seed=seed)).text

    assert sample(42) == sample(42)
    assert len({sample(seed) for seed in (1, 2, 3, 4)}) >= 2


def test_a_gbnf_grammar_constrains_the_output(provider: LlamaCppProvider) -> None:
    grammar = 'root ::= "assert " ("True" | "False")'

    completion = provider.complete(TEST_FILE, CompletionOptions(max_tokens=8, grammar=grammar))

    assert completion.text in {"assert True", "assert False"}


def test_a_json_schema_yields_parseable_json_of_that_shape(provider: LlamaCppProvider) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "passed": {"type": "boolean"}, "count": {"type": "integer"}},
        "required": ["name", "passed", "count"],
    }
    prompt = Prompt("A JSON object describing a unit test result:\n")

    completion = provider.complete(prompt, CompletionOptions(max_tokens=60, json_schema=schema))

    value = json.loads(completion.text)
    assert isinstance(value["name"], str)
    assert isinstance(value["passed"], bool)
    assert isinstance(value["count"], int)


def test_an_invalid_grammar_is_refused_and_the_provider_keeps_serving(provider: LlamaCppProvider) -> None:
    with pytest.raises(ProviderError, match="grammar"):
        provider.complete(COUNTING, CompletionOptions(max_tokens=4, grammar="root ::= ("))

    assert provider.complete(COUNTING, CompletionOptions(max_tokens=2)).completion_tokens == 2


def test_a_prompt_longer_than_the_context_keeps_its_end(provider: LlamaCppProvider) -> None:
    filler = "".join(f"value_{i} = {i}\n" for i in range(2000))
    prompt = Prompt(filler + "# the last line of the file\nprint(value_1999)")

    completion = provider.complete(prompt, CompletionOptions(max_tokens=8))

    assert completion.prompt_tokens + 8 <= CONTEXT
    assert completion.completion_tokens >= 1


def test_info_says_which_model_where_and_how(provider: LlamaCppProvider, model_path: Path) -> None:
    info = provider.info()

    assert info.name == "llama.cpp"
    assert info.is_local and not info.chat
    assert info.details["path"] == str(model_path)
    assert len(info.details["sha256"]) == 64
    assert int(info.details["size"]) == model_path.stat().st_size
    assert info.details["threads"] == "1"
    assert info.details["context_size"] == str(CONTEXT)
    assert "AVX" in info.details["system_info"]


def test_threads_default_to_the_physical_cores() -> None:
    assert LlamaCppProvider().threads == physical_cores() >= 1


# --- cancellation, crashes, hangs ------------------------------------------------------------------------


def test_cancelling_mid_generation_answers_promptly_and_the_worker_serves_on(provider: LlamaCppProvider) -> None:
    pid = provider.worker_pid
    token = CancelToken()
    stream = provider.stream(TEST_FILE, CompletionOptions(max_tokens=800), cancel=token)
    assert next(stream).text, "generation has started"

    cancelled_at = time.monotonic()
    token.cancel("the user moved on")
    with pytest.raises(RequestCancelled, match="the user moved on"):
        for _ in stream:
            pass
    waited = time.monotonic() - cancelled_at

    assert waited < 2.0, f"cancellation took {waited:.2f} s"
    after = provider.complete(COUNTING, CompletionOptions(max_tokens=2))
    assert after.completion_tokens == 2
    assert provider.worker_pid == pid, "a cancel stops the generation, not the worker"


def test_a_request_cancelled_before_it_starts_never_reaches_the_model(provider: LlamaCppProvider) -> None:
    token = CancelToken()
    token.cancel("never mind")

    with pytest.raises(RequestCancelled):
        provider.complete(TEST_FILE, CompletionOptions(max_tokens=400), cancel=token)


def test_a_killed_worker_fails_the_request_clearly_then_restarts(provider: LlamaCppProvider) -> None:
    token = CancelToken()
    stream = provider.stream(TEST_FILE, CompletionOptions(max_tokens=800), cancel=token)
    assert next(stream).text
    victim = provider.worker_pid
    assert victim is not None

    os.kill(victim, signal.SIGKILL)
    with pytest.raises(ProviderUnavailable, match="SIGKILL") as raised:
        for _ in stream:
            pass

    assert "during a request" in str(raised.value)
    recovered = provider.complete(COUNTING, CompletionOptions(max_tokens=3))
    assert recovered.completion_tokens == 3
    assert provider.worker_pid not in (None, victim)


def test_a_hung_worker_is_killed_by_the_watchdog_and_replaced(provider: LlamaCppProvider) -> None:
    stream = provider.stream(TEST_FILE, CompletionOptions(max_tokens=800))
    assert next(stream).text
    frozen = provider.worker_pid
    assert frozen is not None
    provider.hang_timeout_s = 1.5
    try:
        os.kill(frozen, signal.SIGSTOP)  # a real hang: the process is alive but does nothing
        with pytest.raises(ProviderTimeout, match=r"no progress for 1\.5 s"):
            for _ in stream:
                pass
    finally:
        provider.hang_timeout_s = 30.0
        if frozen in _children_of_this_process():
            os.kill(frozen, signal.SIGCONT)

    _wait_until(lambda: frozen not in _children_of_this_process())
    assert provider.complete(COUNTING, CompletionOptions(max_tokens=2)).completion_tokens == 2
    assert provider.worker_pid != frozen


def test_repeated_crashes_back_off_instead_of_spinning(model_path: Path) -> None:
    crashing = LlamaCppProvider(model_path, context_size=256, threads=1)
    try:
        for _ in range(2):
            crashing.start()
            victim = crashing.worker_pid
            assert victim is not None
            os.kill(victim, signal.SIGKILL)
            _wait_until(lambda victim=victim: crashing.worker_pid is None)
        with pytest.raises(ProviderUnavailable, match=r"restarts in \d"):
            crashing.complete(COUNTING, CompletionOptions(max_tokens=1))
        assert crashing.worker_pid is None, "no worker is started while backing off"

        time.sleep(0.6)
        assert crashing.complete(COUNTING, CompletionOptions(max_tokens=1)).completion_tokens == 1
    finally:
        crashing.close()


# --- bad model files ----------------------------------------------------------------------------------


def test_a_file_that_is_not_gguf_is_reported_and_not_retried(tmp_path: Path) -> None:
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"<html>not a model</html>" * 100)
    broken = LlamaCppProvider(bogus, context_size=256, threads=1)
    try:
        with pytest.raises(ProviderUnavailable, match="is not a valid GGUF model file"):
            broken.complete(COUNTING)
        with pytest.raises(ProviderUnavailable, match="is not a valid GGUF model file"):
            broken.complete(COUNTING)
        assert broken.restarts == 0, "the same broken file is not loaded again"
    finally:
        broken.close()


def test_a_truncated_gguf_is_reported_without_harm(tmp_path: Path, model_path: Path) -> None:
    truncated = tmp_path / "truncated.gguf"
    with model_path.open("rb") as source:
        truncated.write_bytes(source.read(8 * 1024 * 1024))
    broken = LlamaCppProvider(truncated, context_size=256, threads=1)
    try:
        with pytest.raises(ProviderUnavailable, match=str(truncated)):
            broken.complete(COUNTING)
    finally:
        broken.close()


def test_a_missing_model_file_is_named(tmp_path: Path) -> None:
    missing = LlamaCppProvider(tmp_path / "nowhere.gguf", context_size=256, threads=1)
    try:
        with pytest.raises(ProviderUnavailable, match="model file not found"):
            missing.start()
    finally:
        missing.close()


# --- chat models ---------------------------------------------------------------------------------------

GEMMA_TURNS = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<start_of_turn>' + message['role'] + '\n' + message['content'] + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)
"""The shape of Gemma's own chat template."""


def _copy_gguf_with_chat_template(source: Path, target: Path, template: str) -> None:
    """The same model with one more metadata key, so it reads as an instruct (chat) model."""
    data = source.read_bytes()
    kv_count = struct.unpack_from("<Q", data, 16)[0]
    tensor_count = struct.unpack_from("<Q", data, 8)[0]
    scalar = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    alignment = 32

    def skip(kind: int, at: int) -> int:
        if kind in scalar:
            return at + scalar[kind]
        if kind == 8:
            return at + 8 + struct.unpack_from("<Q", data, at)[0]
        element, count = struct.unpack_from("<IQ", data, at)
        at += 12
        if element in scalar:
            return at + count * scalar[element]
        for _ in range(count):
            at = skip(element, at)
        return at

    offset = 24
    for _ in range(kv_count):
        key_length = struct.unpack_from("<Q", data, offset)[0]
        key = data[offset + 8 : offset + 8 + key_length]
        offset += 8 + key_length
        (kind,) = struct.unpack_from("<I", data, offset)
        if key == b"general.alignment":
            alignment = struct.unpack_from("<I", data, offset + 4)[0]
        offset = skip(kind, offset + 4)
    kv_end = offset
    for _ in range(tensor_count):
        name_length = struct.unpack_from("<Q", data, offset)[0]
        offset += 8 + name_length
        (dims,) = struct.unpack_from("<I", data, offset)
        offset += 4 + 8 * dims + 4 + 8
    tensors_end = offset
    data_start = -(-tensors_end // alignment) * alignment

    def string(text: str) -> bytes:
        raw = text.encode("utf-8")
        return struct.pack("<Q", len(raw)) + raw

    extra = string("tokenizer.chat_template") + struct.pack("<I", 8) + string(template)
    header = data[:16] + struct.pack("<Q", kv_count + 1) + data[24:kv_end] + extra + data[kv_end:tensors_end]
    padding = b"\0" * (-len(header) % alignment)
    target.write_bytes(header + padding + data[data_start:])


def test_a_gguf_with_a_chat_template_is_prompted_through_it(tmp_path: Path, model_path: Path) -> None:
    instruct = tmp_path / "gemma-with-template.gguf"
    _copy_gguf_with_chat_template(model_path, instruct, GEMMA_TURNS)
    assert read_gguf_metadata(instruct, frozenset({"tokenizer.chat_template"})) == {
        "tokenizer.chat_template": GEMMA_TURNS
    }
    chat_provider = LlamaCppProvider(instruct, context_size=256, threads=1)
    plain_provider = LlamaCppProvider(instruct, context_size=256, threads=1, chat=False)
    prompt = Prompt("What is 2 + 2?", chat=(ChatMessage("user", "What is 2 + 2?"),))
    try:
        assert chat_provider.chat is True
        as_chat = chat_provider.complete(prompt, CompletionOptions(max_tokens=4))
        as_text = plain_provider.complete(prompt, CompletionOptions(max_tokens=4))
    finally:
        chat_provider.close()
        plain_provider.close()

    rendered = "<bos><start_of_turn>user\nWhat is 2 + 2?<end_of_turn>\n<start_of_turn>model\n"
    tokenizer = Llama(str(model_path), vocab_only=True, verbose=False)
    assert as_chat.prompt_tokens == len(tokenizer.tokenize(rendered.encode(), add_bos=False, special=True))
    assert as_text.prompt_tokens == len(tokenizer.tokenize(b"What is 2 + 2?", add_bos=True, special=True))
    assert as_chat.completion_tokens >= 1


# --- embeddings ---------------------------------------------------------------------------------------


def test_embeddings_are_unit_vectors_one_per_text(provider: LlamaCppProvider) -> None:
    vectors = provider.embed(["def add(a, b):\n    return a + b", "assert add(1, 2) == 3", "hello"])

    assert len(vectors) == 3
    assert {len(vector) for vector in vectors} == {640}
    assert np.allclose(np.linalg.norm(np.array(vectors), axis=1), 1.0, atol=1e-5)
    assert provider.embed([]) == []


def test_similar_texts_embed_closer_than_unrelated_ones(provider: LlamaCppProvider) -> None:
    add, plus, weather = (
        np.array(vector)
        for vector in provider.embed(
            [
                "def add(a, b):\n    return a + b",
                "def sum_two(x, y):\n    return x + y",
                "The weather in Paris is sunny and warm today.",
            ]
        )
    )

    assert add @ plus > add @ weather + 0.3


def test_a_long_text_is_embedded_from_its_start_even_with_a_small_context(model_path: Path) -> None:
    small = LlamaCppProvider(model_path, context_size=300, threads=1)
    long_text = "".join(f"def helper_{i}(value):\n    return value + {i}\n\n" for i in range(300))
    try:
        (vector,) = small.embed([long_text])
        (head,) = small.embed([long_text[:4000]])
    finally:
        small.close()

    assert len(vector) == 640
    assert np.dot(vector, head) == pytest.approx(1.0, abs=1e-4), "both are cut to the same first 300 tokens"


# --- processes ----------------------------------------------------------------------------------------


def test_close_leaves_no_child_process(model_path: Path) -> None:
    before = _children_of_this_process()
    closing = LlamaCppProvider(model_path, context_size=256, threads=1)
    closing.start()
    pid = closing.worker_pid
    assert pid in _children_of_this_process()

    closing.close()

    assert _children_of_this_process() - before == set()
    assert not Path(f"/proc/{pid}").exists()
    with pytest.raises(ProviderUnavailable, match="closed"):
        closing.complete(COUNTING)


def test_a_worker_whose_server_is_killed_exits_too(model_path: Path) -> None:
    """A language server killed with SIGKILL cannot clean up; its worker must notice and leave."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from aqe.llm.local import LlamaCppProvider\n"
            "provider = LlamaCppProvider(sys.argv[1], context_size=256, threads=1)\n"
            "provider.start()\n"
            "print(provider.worker_pid, flush=True)\n"
            "time.sleep(600)\n",
            str(model_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        worker = int(server.stdout.readline())
        assert _is_running(worker)

        server.kill()
        server.wait(LIVENESS_S)

        _wait_until(lambda: not _is_running(worker))
    finally:
        if server.poll() is None:
            server.kill()


def _is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_two_slots_decode_two_requests_at_once(model_path: Path) -> None:
    shared = LlamaCppProvider(model_path, context_size=256, threads=1, slots=2)
    results: dict[str, object] = {}
    try:
        shared.start()

        def ask(name: str, prompt: Prompt) -> None:
            results[name] = shared.complete(prompt, CompletionOptions(max_tokens=16))

        threads = [
            threading.Thread(target=ask, args=("counting", COUNTING)),
            threading.Thread(target=ask, args=("test", TEST_FILE)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(LIVENESS_S)
    finally:
        shared.close()

    assert results["counting"].text.startswith(" 13, 14")
    assert results["test"].completion_tokens >= 1


def test_the_model_runs_in_a_child_process(provider: LlamaCppProvider) -> None:
    pid = provider.worker_pid

    assert pid is not None and pid != os.getpid()
    assert pid in _children_of_this_process()
