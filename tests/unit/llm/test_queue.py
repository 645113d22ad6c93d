"""ModelQueue in front of the real local model: priorities, coalescing, cancellation, warm pool.

The model calls are real (Gemma 3 270M in a worker process). Most tests share one provider that the
queues do not own, so the model loads once per module; the warm-pool and shutdown tests build their
own providers because loading and stopping them is what they check.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from aqe.llm.default_model import ModelUnavailableError, default_model
from aqe.llm.local import LlamaCppProvider
from aqe.llm.queue import ModelQueue, coalescing_key
from aqe.llm.types import (
    CancelToken,
    Completion,
    CompletionOptions,
    Priority,
    Prompt,
    ProviderUnavailable,
    RequestCancelled,
)

LIVENESS_S = 60.0
LONG = CompletionOptions(max_tokens=48)
SHORT = CompletionOptions(max_tokens=4)
BLOCKER = Prompt("import os\n\n\ndef read_config(path):\n    ")


@pytest.fixture(scope="module")
def model_path() -> Path:
    try:
        return default_model().path
    except ModelUnavailableError as error:
        pytest.skip(f"the default model is not installed: {error}")


@pytest.fixture(scope="module")
def shared(model_path: Path) -> Iterator[LlamaCppProvider]:
    provider = LlamaCppProvider(model_path, context_size=512, threads=1)
    provider.start()
    yield provider
    provider.close()


def _queue(provider: LlamaCppProvider, batch_size: int = 1, batch_interval_ms: int = 0) -> ModelQueue:
    return ModelQueue(
        lambda: provider,
        warm_pool_size=1,
        batch_size=batch_size,
        batch_interval_ms=batch_interval_ms,
        owns_providers=False,
    )


def _numbered(i: int) -> Prompt:
    return Prompt(f"# helper number {i}\ndef helper_{i}(value):\n    return")


def _children_of_this_process() -> set[int]:
    children = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            children.add(int(entry.name))
    return children


async def _until(condition) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LIVENESS_S
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def test_a_completion_goes_through_the_queue(shared: LlamaCppProvider) -> None:
    queue = _queue(shared)
    try:
        completion = await queue.submit(Prompt("1, 2, 3, 4, 5,"), SHORT, Priority.INTERACTIVE)
    finally:
        await queue.close()

    assert isinstance(completion, Completion)
    assert completion.text.startswith(" 6,")
    assert queue.stats.model_calls == 1


async def test_interactive_requests_run_before_background_ones_and_fifo_within_each(
    shared: LlamaCppProvider,
) -> None:
    queue = _queue(shared)
    finished: list[str] = []

    async def ask(name: str, number: int, priority: Priority) -> None:
        await queue.submit(_numbered(number), SHORT, priority)
        finished.append(name)

    try:
        blocker = asyncio.create_task(queue.submit(BLOCKER, LONG, Priority.INTERACTIVE))
        await _until(lambda: queue.running == 1)
        waiting = [
            asyncio.create_task(ask(name, number, priority))
            for number, (name, priority) in enumerate(
                [
                    ("review a.py", Priority.BACKGROUND),
                    ("code action", Priority.INTERACTIVE),
                    ("review b.py", Priority.BACKGROUND),
                    ("generate test", Priority.INTERACTIVE),
                ]
            )
        ]
        await _until(lambda: queue.queued == 4)
        await asyncio.gather(blocker, *waiting)
    finally:
        await queue.close()

    assert finished == ["code action", "generate test", "review a.py", "review b.py"]


async def test_identical_requests_share_one_model_call_even_when_most_give_up(shared: LlamaCppProvider) -> None:
    queue = _queue(shared)
    prompt = Prompt("def is_even(number):\n    return")
    tokens = [CancelToken() for _ in range(100)]
    try:
        requests = [asyncio.create_task(queue.submit(prompt, SHORT, cancel=token)) for token in tokens]
        await _until(lambda: queue.stats.submitted == 100)
        for token in tokens[1:]:
            token.cancel("not needed")
        outcomes = await asyncio.gather(*requests, return_exceptions=True)
    finally:
        await queue.close()

    assert isinstance(outcomes[0], Completion)
    assert outcomes[0].completion_tokens >= 1
    assert all(isinstance(outcome, RequestCancelled) for outcome in outcomes[1:])
    assert queue.stats.model_calls == 1
    assert queue.stats.coalesced == 99


async def test_coalesced_waiters_all_receive_the_one_answer(shared: LlamaCppProvider) -> None:
    queue = _queue(shared)
    prompt = Prompt("class Stack:\n    def push(self, item):\n        ")
    try:
        answers = await asyncio.gather(*(queue.submit(prompt, SHORT) for _ in range(5)))
    finally:
        await queue.close()

    assert len({answer.request_id for answer in answers}) == 1
    assert queue.stats.model_calls == 1


def test_sampling_without_a_seed_is_never_coalesced() -> None:
    prompt = Prompt("x")

    assert coalescing_key(prompt, CompletionOptions(temperature=0.8)) is None
    assert coalescing_key(prompt, CompletionOptions(temperature=0.8, seed=7)) is not None
    assert coalescing_key(prompt, CompletionOptions()) == coalescing_key(prompt, CompletionOptions())
    assert coalescing_key(prompt, CompletionOptions(max_tokens=5)) != coalescing_key(prompt, CompletionOptions())


async def test_a_queued_request_cancelled_by_token_never_runs(shared: LlamaCppProvider) -> None:
    queue = _queue(shared)
    token = CancelToken()
    try:
        blocker = asyncio.create_task(queue.submit(BLOCKER, LONG, Priority.INTERACTIVE))
        await _until(lambda: queue.running == 1)
        doomed = asyncio.create_task(queue.submit(_numbered(1), SHORT, cancel=token))
        await _until(lambda: queue.queued == 1)

        token.cancel("the file was closed")
        with pytest.raises(RequestCancelled, match="the file was closed"):
            await doomed
        await blocker
    finally:
        await queue.close()

    assert queue.stats.model_calls == 1
    assert queue.stats.cancelled_before_run == 1


async def test_a_queued_request_whose_task_is_cancelled_never_runs(shared: LlamaCppProvider) -> None:
    queue = _queue(shared)
    try:
        blocker = asyncio.create_task(queue.submit(BLOCKER, LONG, Priority.INTERACTIVE))
        await _until(lambda: queue.running == 1)
        doomed = asyncio.create_task(queue.submit(_numbered(2), SHORT))
        await _until(lambda: queue.queued == 1)

        doomed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed
        await blocker
    finally:
        await queue.close()

    assert queue.stats.model_calls == 1
    assert queue.stats.cancelled_before_run == 1


async def test_cancelling_the_only_waiter_stops_the_running_call(shared: LlamaCppProvider) -> None:
    queue = _queue(shared)
    token = CancelToken()
    try:
        running = asyncio.create_task(queue.submit(BLOCKER, CompletionOptions(max_tokens=400), cancel=token))
        await _until(lambda: queue.running == 1)
        await asyncio.sleep(0.2)

        token.cancel()
        with pytest.raises(RequestCancelled):
            await running
        await _until(lambda: queue.running == 0)
        after = await queue.submit(Prompt("1, 2, 3,"), SHORT, Priority.INTERACTIVE)
    finally:
        await queue.close()

    assert queue.stats.cancelled_while_running == 1
    assert after.completion_tokens >= 1


async def test_the_event_loop_keeps_running_while_the_model_generates(shared: LlamaCppProvider) -> None:
    queue = _queue(shared)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        await queue.submit(BLOCKER, CompletionOptions(max_tokens=48), Priority.INTERACTIVE)
    finally:
        ticker.cancel()
        await queue.close()

    assert ticks >= 5


async def test_batch_size_lets_one_provider_run_several_requests_at_once(model_path: Path) -> None:
    provider = LlamaCppProvider(model_path, context_size=512, threads=1, slots=2)
    queue = ModelQueue(lambda: provider, warm_pool_size=1, batch_size=2, batch_interval_ms=0)
    try:
        await queue.start()
        requests = [asyncio.create_task(queue.submit(_numbered(i), LONG)) for i in range(3)]
        await _until(lambda: queue.running == 2)
        assert queue.queued == 1
        answers = await asyncio.gather(*requests)
    finally:
        await queue.close()

    assert [answer.completion_tokens >= 1 for answer in answers] == [True, True, True]


async def test_background_work_does_not_join_a_batch_someone_is_waiting_for(model_path: Path) -> None:
    provider = LlamaCppProvider(model_path, context_size=512, threads=1, slots=2)
    queue = ModelQueue(lambda: provider, warm_pool_size=1, batch_size=2, batch_interval_ms=0)
    finished: list[str] = []

    async def ask(name: str, prompt: Prompt, options: CompletionOptions, priority: Priority) -> None:
        await queue.submit(prompt, options, priority)
        finished.append(name)

    try:
        await queue.start()
        requests = [asyncio.create_task(ask("code action", BLOCKER, LONG, Priority.INTERACTIVE))]
        await _until(lambda: queue.running == 1)
        requests.append(asyncio.create_task(ask("review", _numbered(3), SHORT, Priority.BACKGROUND)))
        requests.append(asyncio.create_task(ask("hover", _numbered(4), SHORT, Priority.INTERACTIVE)))
        await _until(lambda: queue.running == 2)
        assert queue.queued == 1, "the review waits although a slot was free when it arrived"
        await asyncio.gather(*requests)
    finally:
        await queue.close()

    assert finished[-1] == "review"


class _Undeclared:
    """A provider that does not say how many requests it can run at once (a router, say)."""

    def __init__(self, inner: LlamaCppProvider) -> None:
        self.inner = inner
        self.name, self.model, self.is_local, self.chat = inner.name, inner.model, True, False

    def complete(self, prompt: Prompt, options: CompletionOptions, cancel: CancelToken | None = None) -> Completion:
        return self.inner.complete(prompt, options, cancel)

    def close(self) -> None:
        pass


async def test_a_provider_that_declares_no_concurrency_gets_one_request_at_a_time(
    shared: LlamaCppProvider,
) -> None:
    queue = ModelQueue(lambda: _Undeclared(shared), warm_pool_size=1, batch_size=4, batch_interval_ms=0)
    most_running = 0

    async def watch() -> None:
        nonlocal most_running
        while True:
            most_running = max(most_running, queue.running)
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    try:
        await asyncio.gather(*(queue.submit(_numbered(i), SHORT) for i in range(3)))
    finally:
        watcher.cancel()
        await queue.close()

    assert most_running == 1
    assert queue.stats.model_calls == 3


async def test_a_failing_provider_fails_every_waiter_with_its_reason(tmp_path: Path) -> None:
    provider = LlamaCppProvider(tmp_path / "missing.gguf", context_size=256, threads=1)
    queue = ModelQueue(lambda: provider, warm_pool_size=0, batch_size=1, batch_interval_ms=0)
    try:
        outcomes = await asyncio.gather(*(queue.submit(Prompt("x"), SHORT) for _ in range(3)), return_exceptions=True)
    finally:
        await queue.close()

    assert all(isinstance(outcome, ProviderUnavailable) for outcome in outcomes)
    assert "model file not found" in str(outcomes[0])


# --- warm pool and shutdown ----------------------------------------------------------------------------


async def test_the_warm_pool_loads_the_model_before_the_first_request(model_path: Path) -> None:
    reports: list[tuple[str, int | None]] = []
    queue = ModelQueue(
        lambda: LlamaCppProvider(model_path, context_size=256, threads=1), warm_pool_size=1, batch_interval_ms=0
    )
    try:
        await queue.start(lambda message, percent: reports.append((message, percent)))
        (provider,) = queue.providers
        assert isinstance(provider, LlamaCppProvider)
        worker = provider.worker_pid
        assert worker is not None, "the model is loaded before anything was asked"

        await queue.submit(Prompt("1, 2, 3,"), SHORT, Priority.INTERACTIVE)

        assert provider.worker_pid == worker
        assert provider.restarts == 0
    finally:
        await queue.close()

    assert reports[-1] == ("The local model is ready (1 loaded)", 100)
    loading = [message for message, _ in reports[:-1]]
    assert loading and all(message == provider.model for message in loading)  # the title says "loading"
    percents = [percent for _, percent in reports if percent is not None]
    assert percents == sorted(percents)


async def test_without_a_warm_pool_the_model_loads_on_first_use(model_path: Path) -> None:
    reports: list[tuple[str, int | None]] = []
    queue = ModelQueue(
        lambda: LlamaCppProvider(model_path, context_size=256, threads=1), warm_pool_size=0, batch_interval_ms=0
    )
    try:
        await queue.start(lambda message, percent: reports.append((message, percent)))
        assert queue.providers == []

        await queue.submit(Prompt("1, 2, 3,"), SHORT, Priority.INTERACTIVE)

        (provider,) = queue.providers
        assert isinstance(provider, LlamaCppProvider)
        assert provider.worker_pid is not None
    finally:
        await queue.close()

    assert reports == [("The local model loads on first use", None)]


async def test_two_warm_workers_answer_two_requests_in_parallel(model_path: Path) -> None:
    queue = ModelQueue(lambda: LlamaCppProvider(model_path, context_size=256, threads=1), warm_pool_size=2)
    try:
        await queue.start()
        pids = {provider.worker_pid for provider in queue.providers}
        assert len(pids) == 2 and None not in pids
        requests = [asyncio.create_task(queue.submit(_numbered(i), LONG)) for i in range(2)]
        await _until(lambda: queue.running == 2)
        await asyncio.gather(*requests)
    finally:
        await queue.close()

    assert queue.stats.model_calls == 2


async def test_close_stops_every_worker_and_fails_what_was_waiting(model_path: Path) -> None:
    before = _children_of_this_process()
    queue = ModelQueue(lambda: LlamaCppProvider(model_path, context_size=256, threads=1), warm_pool_size=2)
    await queue.start()
    assert len(_children_of_this_process() - before) == 2
    running = [asyncio.create_task(queue.submit(_numbered(i), CompletionOptions(max_tokens=400))) for i in range(2)]
    queued = asyncio.create_task(queue.submit(_numbered(9), SHORT))
    await _until(lambda: queue.running == 2 and queue.queued == 1)

    await queue.close()

    outcomes = await asyncio.gather(*running, queued, return_exceptions=True)
    assert all(isinstance(outcome, (ProviderUnavailable, RequestCancelled)) for outcome in outcomes)
    assert _children_of_this_process() - before == set()
    with pytest.raises(ProviderUnavailable, match="closed"):
        await queue.submit(Prompt("x"), SHORT)


async def test_a_provider_that_cannot_be_built_fails_requests_not_the_queue() -> None:
    def no_model() -> LlamaCppProvider:
        raise ValueError("context_size must be at least 64 tokens")

    queue = ModelQueue(no_model, warm_pool_size=0, batch_interval_ms=0)
    try:
        with pytest.raises(ProviderUnavailable, match="could not be created: context_size"):
            await queue.submit(Prompt("x"), SHORT)
        with pytest.raises(ProviderUnavailable, match="could not be created"):
            await queue.submit(Prompt("y"), SHORT, Priority.INTERACTIVE)
    finally:
        await queue.close()
