"""The models as the front doors use them: a warm pool of routers behind one priority queue.

Each pool member is a `HybridRouter` with its own local worker process; all of them share one audit
log, so every decision lands in one file in order. The language server starts this in the
background and never awaits it on a request path; the command line builds a router directly.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from aqe.config import Settings
from aqe.llm.factory import audit_log_path, build_router
from aqe.llm.queue import ModelQueue
from aqe.llm.types import CancelToken, Completion, CompletionOptions, Priority, Prompt
from aqe.privacy.audit import AuditLog

log = logging.getLogger(__name__)

# Settings that change which model runs or how: a change rebuilds the service.
MODEL_SETTINGS = (
    "privacy_mode", "model_path", "model_threads", "context_size", "cloud_provider", "cloud_model",
    "cloud_base_url", "fallback_threshold", "warm_pool_size", "batch_size", "batch_interval_ms", "index_dir",
    "local_server_url", "local_server_model", "local_server_chat",
)  # fmt: skip


class ModelStatus(str, enum.Enum):
    STOPPED = "stopped"
    LOADING = "loading"
    READY = "ready"
    BUSY = "busy"
    ERROR = "error"


ProgressCallback = Callable[[str, "int | None"], None]


class ModelService:
    def __init__(self, settings: Settings, workspace_root: Path | None, *, env: Mapping[str, str] | None = None):
        self.settings = settings
        self.workspace_root = workspace_root
        self.audit = AuditLog(audit_log_path(settings, workspace_root))
        self.queue = ModelQueue(
            lambda: build_router(settings, workspace_root, self.audit, env=env),
            warm_pool_size=settings.warm_pool_size,
            batch_size=settings.batch_size,
            batch_interval_ms=settings.batch_interval_ms,
        )
        self._state = ModelStatus.STOPPED  # stopped, loading, ready or error; busy is derived
        self._reported: ModelStatus | None = None
        self.error: str | None = None
        self.on_status: Callable[[ModelService], None] | None = None
        self._idle_watch: asyncio.Task[None] | None = None
        self._outstanding = 0

    @property
    def status(self) -> ModelStatus:
        if self._state is ModelStatus.READY and (self.queue.running or self.queue.queued):
            return ModelStatus.BUSY
        return self._state

    def needs_restart(self, settings: Settings, workspace_root: Path | None) -> bool:
        if workspace_root != self.workspace_root:
            return True  # the audit log lives in the workspace
        return any(getattr(settings, key) != getattr(self.settings, key) for key in MODEL_SETTINGS)

    def tighten_to(self, mode: str) -> None:
        """Apply a stricter privacy mode to the routers already running, before this service closes:
        a request still finishing must not reach the cloud once the user chose strict."""
        for provider in self.queue.providers:
            set_mode = getattr(provider, "set_mode", None)
            if set_mode is not None:
                set_mode(mode)

    async def start(self, progress: ProgressCallback | None = None) -> None:
        """Load the warm pool; a failure is kept as the status (requests retry the load)."""
        self._set(ModelStatus.LOADING)
        try:
            await self.queue.start(progress)
        except Exception as error:
            log.warning("the local model did not load: %s", error)
            self._set(ModelStatus.ERROR, str(error))
            return
        self._set(ModelStatus.READY)

    async def complete(
        self,
        prompt: Prompt,
        options: CompletionOptions | None = None,
        priority: Priority = Priority.INTERACTIVE,
        cancel: CancelToken | None = None,
    ) -> Completion:
        if self._state is ModelStatus.STOPPED:
            self._set(ModelStatus.READY)  # loads on first use (warmPoolSize 0)
        self._outstanding += 1
        if self._idle_watch is None or self._idle_watch.done():
            self._idle_watch = asyncio.ensure_future(self._watch_activity())
        try:
            completion = await self.queue.submit(prompt, options or CompletionOptions(), priority, cancel)
        finally:
            self._outstanding -= 1
        if self._state is ModelStatus.ERROR:
            self._set(ModelStatus.READY)  # the load that failed at start has since succeeded
        return completion

    async def _watch_activity(self, poll_s: float = 0.05) -> None:
        """Report busy/ready as the queue changes, until no request is outstanding and the workers
        are idle (a cancelled request returns before its worker has stopped)."""
        while True:
            self._report()
            if self._outstanding == 0 and self.status is not ModelStatus.BUSY:
                return
            await asyncio.sleep(poll_s)

    async def close(self) -> None:
        if self._idle_watch is not None:
            self._idle_watch.cancel()
        await self.queue.close()
        self._set(ModelStatus.STOPPED)

    def _set(self, state: ModelStatus, error: str | None = None) -> None:
        self._state, self.error = state, error
        self._report()

    def _report(self) -> None:
        """Tell the listener when the visible status changed (it is partly derived from the queue)."""
        status = self.status
        if status is not self._reported and self.on_status is not None:
            self._reported = status
            self.on_status(self)
