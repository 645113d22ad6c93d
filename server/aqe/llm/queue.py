"""`ModelQueue`: the asyncio front of the model layer, so the language server never waits on a model.

Requests wait in a priority queue (what a person is waiting for before background reviews; first
come, first served within a priority) and run on worker threads that call the blocking providers.
Identical deterministic requests in flight share one model call. A warm pool loads the providers'
models at start, reporting progress, so the first request does not pay the load.

`batch_size` is how many requests one provider runs at once; the local provider decodes them
together in one llama.cpp batch (it needs `slots=batch_size`). Batching raises throughput but every
request in the batch shares each step's time, so no BACKGROUND request joins a provider while an
INTERACTIVE one runs there. `batch_interval_ms` is how long a BACKGROUND request may wait before it
starts, so that duplicates coalesce into it and requests that arrive together start in the same
batch; INTERACTIVE requests never wait for it. docs/benchmarks.md has the measurements.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import heapq
import itertools
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aqe.llm.types import (
    CancelToken,
    Completion,
    CompletionOptions,
    Priority,
    Prompt,
    Provider,
    ProviderError,
    ProviderUnavailable,
    RequestCancelled,
)

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str, "int | None"], None]
"""(message, percent or None): what the LSP layer turns into `$/progress` reports."""

_CANCEL_POLL_S = 0.02
_DEFAULT_OPTIONS = CompletionOptions()


@dataclass
class QueueStats:
    """Counters a test or `aqe` diagnostics can read; they only ever grow."""

    submitted: int = 0
    model_calls: int = 0
    coalesced: int = 0
    cancelled_before_run: int = 0
    cancelled_while_running: int = 0
    completed: int = 0
    failed: int = 0


@dataclass(eq=False)
class _Waiter:
    future: asyncio.Future[Completion]
    cancel: CancelToken | None


@dataclass(eq=False)
class _Job:
    key: tuple[Any, ...] | None
    prompt: Prompt
    options: CompletionOptions
    priority: Priority
    sequence: int
    queued_at: float
    waiters: list[_Waiter] = field(default_factory=list)
    cancel: CancelToken = field(default_factory=CancelToken)
    """The shared call's own token: cancelled only when no waiter is left."""
    state: str = "queued"


@dataclass(eq=False)
class _PoolMember:
    provider: Provider
    capacity: int
    running: int = 0
    interactive_running: int = 0


def coalescing_key(prompt: Prompt, options: CompletionOptions) -> tuple[Any, ...] | None:
    """Requests with equal keys share one model call. Sampling at a temperature without a seed is
    meant to differ on every call, so those requests never share."""
    if options.temperature > 0 and options.seed is None:
        return None
    return (prompt, json.dumps(dataclasses.asdict(options), sort_keys=True, default=str))


class ModelQueue:
    def __init__(
        self,
        provider_factory: Callable[[], Provider],
        warm_pool_size: int = 1,
        batch_size: int = 4,
        batch_interval_ms: int = 50,
        *,
        owns_providers: bool = True,
    ) -> None:
        """`owns_providers=False` leaves the providers running at close(), for callers that share them."""
        if warm_pool_size < 0 or batch_size < 1 or batch_interval_ms < 0:
            raise ValueError("warm_pool_size >= 0, batch_size >= 1 and batch_interval_ms >= 0 are required")
        self._factory = provider_factory
        self._owns_providers = owns_providers
        self.warm_pool_size = warm_pool_size
        self.batch_size = batch_size
        self.batch_interval_s = batch_interval_ms / 1000
        self.stats = QueueStats()
        self._pool: list[_PoolMember] = []
        self._heap: list[tuple[int, int, _Job]] = []
        self._jobs: dict[tuple[Any, ...], _Job] = {}
        self._sequence = itertools.count()
        self._watched: set[tuple[_Job, _Waiter]] = set()
        self._executor: ThreadPoolExecutor | None = None
        self._wake: asyncio.Event | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._active: set[_Job] = set()
        self._closed = False

    # --- lifecycle -----------------------------------------------------------------------------------

    async def start(self, progress: ProgressCallback | None = None) -> None:
        """Create the warm pool and load every provider's model, reporting progress on the way.

        Raises the first load error once every provider has settled; the pool stays usable (a provider
        that failed to load retries on its next request). With `warm_pool_size` 0 nothing loads now.
        """
        self._ensure_running()
        if self.warm_pool_size == 0:
            if progress is not None:
                progress("The local model loads on first use", None)
            return
        loop = asyncio.get_running_loop()
        while len(self._pool) < self.warm_pool_size:
            self._pool.append(self._member(await loop.run_in_executor(self._executor, self._factory)))
        members = list(self._pool)
        percents = [0] * len(members)
        ready = [False] * len(members)

        def report(index: int, percent: int) -> None:
            percents[index] = percent
            ready[index] = percent >= 100
            if progress is not None:
                # The editor shows this under a title that already says a model is loading.
                model = getattr(members[index].provider, "model", "model")
                count = f" ({sum(ready)} of {len(members)} ready)" if len(members) > 1 else ""
                progress(f"{model}{count}", sum(percents) // len(members))

        def warm(index: int) -> None:
            start = getattr(members[index].provider, "start", None)
            if start is None:
                loop.call_soon_threadsafe(report, index, 100)
                return
            start(progress=lambda percent: loop.call_soon_threadsafe(report, index, percent))

        results = await asyncio.gather(
            *(loop.run_in_executor(self._executor, warm, index) for index in range(len(members))),
            return_exceptions=True,
        )
        self._wake_dispatcher()
        errors = [result for result in results if isinstance(result, BaseException)]
        if errors:
            if progress is not None:
                progress(f"The local model did not load: {errors[0]}", None)
            raise errors[0]
        if progress is not None:
            progress(f"The local model is ready ({len(members)} loaded)", 100)

    async def close(self) -> None:
        """Fail what is queued, stop what runs, and stop every provider's worker."""
        if self._closed:
            return
        self._closed = True
        self._fail_queued(ProviderUnavailable("the model queue was closed"))
        self._jobs.clear()
        for job in self._active:
            job.cancel.cancel("the model queue was closed")
        for task in (self._dispatcher, self._watcher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        loop = asyncio.get_running_loop()
        if self._pool and self._owns_providers:
            await asyncio.gather(
                *(loop.run_in_executor(self._executor, member.provider.close) for member in self._pool),
                return_exceptions=True,
            )
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        if self._executor is not None:
            # Joining the threads can take as long as a provider's close: never on the event loop.
            await loop.run_in_executor(None, self._executor.shutdown, True)

    # --- requests ------------------------------------------------------------------------------------

    async def submit(
        self,
        prompt: Prompt,
        options: CompletionOptions = _DEFAULT_OPTIONS,
        priority: Priority = Priority.BACKGROUND,
        cancel: CancelToken | None = None,
    ) -> Completion:
        """Run a completion off the event loop; cancel through `cancel` or by cancelling the awaiting task."""
        if self._closed:
            raise ProviderUnavailable("the model queue was closed")
        if cancel is not None and cancel.cancelled:
            raise RequestCancelled(cancel.reason or "cancelled")
        self._ensure_running()
        self.stats.submitted += 1
        loop = asyncio.get_running_loop()
        key = coalescing_key(prompt, options)
        job = self._jobs.get(key) if key is not None else None
        if job is None:
            job = _Job(key, prompt, options, priority, next(self._sequence), loop.time())
            if key is not None:
                self._jobs[key] = job
            heapq.heappush(self._heap, (int(priority), job.sequence, job))
        else:
            self.stats.coalesced += 1
            if priority < job.priority and job.state == "queued":
                job.priority = priority
                heapq.heappush(self._heap, (int(priority), job.sequence, job))
        waiter = _Waiter(loop.create_future(), cancel)
        job.waiters.append(waiter)
        if cancel is not None:
            self._watched.add((job, waiter))
            if self._watcher is None or self._watcher.done():
                self._watcher = loop.create_task(self._watch_cancel_tokens())
        self._wake_dispatcher()
        try:
            return await waiter.future
        except asyncio.CancelledError:
            self._detach(job, waiter)
            raise
        finally:
            self._watched.discard((job, waiter))

    @property
    def queued(self) -> int:
        # A job whose priority was raised sits in the heap twice: count jobs, not entries.
        return len({id(job) for _, _, job in self._heap if job.state == "queued"})

    @property
    def running(self) -> int:
        return len(self._active)

    @property
    def providers(self) -> list[Provider]:
        return [member.provider for member in self._pool]

    # --- internals -----------------------------------------------------------------------------------

    def _ensure_running(self) -> None:
        if self._executor is None:
            threads = max(1, self.warm_pool_size) * self.batch_size + 2
            self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="aqe-model")
        if self._wake is None:
            self._wake = asyncio.Event()
        if self._dispatcher is None:
            self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch_loop())

    def _member(self, provider: Provider) -> _PoolMember:
        """A provider runs as many requests at once as it declares (`max_concurrency`, the local
        provider's slots), up to `batch_size`; one if it declares nothing. Requests sent beyond that
        would wait inside the provider, where priorities no longer hold."""
        capacity = min(self.batch_size, int(getattr(provider, "max_concurrency", 1)))
        return _PoolMember(provider, max(1, capacity))

    def _wake_dispatcher(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _detach(self, job: _Job, waiter: _Waiter) -> None:
        """A waiter gave up; the shared call stops only when nobody is left waiting for it."""
        if waiter in job.waiters:
            job.waiters.remove(waiter)
        self._watched.discard((job, waiter))
        if job.waiters or job.state == "done":
            return
        if job.key is not None and self._jobs.get(job.key) is job:
            del self._jobs[job.key]
        if job.state == "queued":
            job.state = "done"
            self.stats.cancelled_before_run += 1
        else:
            self.stats.cancelled_while_running += 1
            job.cancel.cancel("no caller is waiting any more")

    async def _watch_cancel_tokens(self) -> None:
        while self._watched:
            await asyncio.sleep(_CANCEL_POLL_S)
            for job, waiter in list(self._watched):
                token = waiter.cancel
                if token is not None and token.cancelled and not waiter.future.done():
                    waiter.future.set_exception(RequestCancelled(token.reason or "cancelled"))
                    self._detach(job, waiter)

    async def _dispatch_loop(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._heap:
                priority, _, job = self._heap[0]
                if job.state != "queued" or priority != job.priority:
                    heapq.heappop(self._heap)
                    continue
                if job.priority == Priority.BACKGROUND and self.batch_interval_s > 0:
                    ready_at = job.queued_at + self.batch_interval_s
                    if loop.time() < ready_at:
                        loop.call_at(ready_at, self._wake_dispatcher)
                        break
                member = self._free_member(job.priority)
                if member is None:
                    break
                heapq.heappop(self._heap)
                job.state = "running"
                member.running += 1
                if job.priority == Priority.INTERACTIVE:
                    member.interactive_running += 1
                task = loop.create_task(self._run(job, member))
                self._running.add(task)
                task.add_done_callback(self._running.discard)

    def _free_member(self, priority: Priority) -> _PoolMember | None:
        """The least busy provider with a free slot. Background work does not join a provider while a
        request someone waits for runs there: requests decoded together share each step's time."""
        if not self._pool:
            try:
                self._pool.append(self._member(self._factory()))
            except Exception as error:  # a factory that cannot build must fail the requests, not the loop
                log.warning("the model provider could not be created: %s", error)
                self._fail_queued(ProviderUnavailable(f"the model provider could not be created: {error}"))
                return None
        free = [
            member
            for member in self._pool
            if member.running < member.capacity
            and (priority == Priority.INTERACTIVE or member.interactive_running == 0)
        ]
        return min(free, key=lambda member: member.running / member.capacity) if free else None

    def _fail_queued(self, error: ProviderError) -> None:
        for _, _, job in self._heap:
            if job.state == "queued":
                job.state = "done"
                if job.key is not None and self._jobs.get(job.key) is job:
                    del self._jobs[job.key]
                self._settle(job, error)
        self._heap.clear()

    async def _run(self, job: _Job, member: _PoolMember) -> None:
        loop = asyncio.get_running_loop()
        self.stats.model_calls += 1
        self._active.add(job)
        outcome: Completion | BaseException
        try:
            outcome = await loop.run_in_executor(
                self._executor, member.provider.complete, job.prompt, job.options, job.cancel
            )
            self.stats.completed += 1
        except ProviderError as error:
            outcome = error
            self.stats.failed += 1
            log.debug("model call failed: %s", error)
        except Exception as error:  # every waiter must be answered, whatever a provider raises
            outcome = ProviderError(f"the model call failed unexpectedly: {error!r}")
            self.stats.failed += 1
            log.exception("model call failed unexpectedly")
        finally:
            self._active.discard(job)
            member.running -= 1
            if job.priority == Priority.INTERACTIVE:
                member.interactive_running -= 1
            job.state = "done"
            if job.key is not None and self._jobs.get(job.key) is job:
                del self._jobs[job.key]
            self._wake_dispatcher()
        self._settle(job, outcome)

    def _settle(self, job: _Job, outcome: Completion | BaseException) -> None:
        for waiter in job.waiters:
            if waiter.future.done():
                continue
            if isinstance(outcome, BaseException):
                waiter.future.set_exception(outcome)
            else:
                waiter.future.set_result(outcome)
        job.waiters.clear()
