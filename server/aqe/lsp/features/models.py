"""The local model in the editor: warm-up with progress, a status notification, `aqe.ask`.

The model service starts in the background after `initialized` (unless `warmPoolSize` is 0, which
loads on first use); no request handler ever waits for a load. `aqe/status` tells clients what the
model is doing, for a status bar item.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types

from aqe.llm.service import ModelService
from aqe.llm.types import CancelToken, CompletionOptions, Priority, Prompt, ProviderError
from aqe.lsp.progress import Progress
from aqe.lsp.server import AqeLanguageServer
from aqe.privacy.guard import set_guard_mode
from aqe.sandbox.engines import isolation_support, known_support, support_json

log = logging.getLogger(__name__)

STATUS_NOTIFICATION = "aqe/status"
ASK_COMMAND = "aqe.ask"
STATUS_COMMAND = "aqe.modelStatus"


def status_of(ls: AqeLanguageServer) -> dict[str, Any]:
    service: ModelService | None = getattr(ls, "models", None)
    return {
        "model": service.status.value if service else "stopped",
        "error": service.error if service else None,
        "privacyMode": ls.settings.privacy_mode,
        "queued": service.queue.queued if service else 0,
        "sandbox": support_json(support) if (support := known_support()) is not None else None,
    }


def _send_status(ls: AqeLanguageServer) -> None:
    ls.send_soon(lambda: ls.protocol.notify(STATUS_NOTIFICATION, status_of(ls)))


_restart_lock = asyncio.Lock()


async def start_models(ls: AqeLanguageServer) -> None:
    """(Re)build the model service for the current settings and warm it up in the background.

    Serialised: a settings change during the warm-up waits for it, then replaces it.
    """
    async with _restart_lock:
        old: ModelService | None = getattr(ls, "models", None)
        root = ls.workspace_roots[0] if ls.workspace_roots else None
        set_guard_mode(ls.settings.privacy_mode)  # the network guard follows the new mode at once
        if old is not None and not old.needs_restart(ls.settings, root):
            return
        service = ModelService(ls.settings, root)
        service.on_status = lambda _: _send_status(ls)
        ls.models = service  # type: ignore[attr-defined]
        if old is not None:
            old.tighten_to(ls.settings.privacy_mode)
            await old.close()
        _send_status(ls)
        if ls.settings.warm_pool_size == 0:
            return
        progress = Progress(ls, "aqe: loading the local model")
        await progress.begin()
        await service.start(lambda message, percent: progress.report(message, percent))
        progress.end(f"model {service.status.value}" + (f": {service.error}" if service.error else ""))
        if service.error:
            ls.notify_user(f"aqe: the local model did not load: {service.error}", types.MessageType.Error)


async def check_sandbox(ls: AqeLanguageServer) -> None:
    """Find out once, off the event loop, what can contain project code here; the status says it, and
    a user whose machine cannot contain it hears why once (nothing of the project's will run)."""
    loop = asyncio.get_running_loop()
    support = await loop.run_in_executor(ls.thread_pool, isolation_support)
    _send_status(ls)
    if not support.contained and ls.trusted:
        accepted = ls.settings.sandbox_allow_uncontained
        ls.notify_user(
            f"aqe: project code is not contained on this machine ({support.detail}); "
            + ("it runs anyway, as you set sandboxAllowUncontained." if accepted
               else "aqe will not run tests or generated tests until bubblewrap is installed."),
            types.MessageType.Warning,
        )  # fmt: skip


async def stop_models(ls: AqeLanguageServer) -> None:
    service: ModelService | None = getattr(ls, "models", None)
    if service is not None:
        await service.close()


def register(server: AqeLanguageServer) -> None:
    server.models = None  # type: ignore[attr-defined]

    @server.command(STATUS_COMMAND)
    def model_status(ls: AqeLanguageServer, *args: Any) -> dict[str, Any]:
        return status_of(ls)

    @server.command(ASK_COMMAND)
    async def ask(ls: AqeLanguageServer, prompt: str = "", options: dict[str, Any] | None = None) -> dict[str, Any]:
        """A direct question to the model, for a quick check from the editor (`aqe ask` in the CLI)."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("aqe.ask needs a non-empty prompt string as its first argument")
        service: ModelService | None = ls.models  # type: ignore[attr-defined]
        if service is None:  # before `initialized` built it: the queue loads the model on first use
            service = ModelService(ls.settings, ls.workspace_roots[0] if ls.workspace_roots else None)
            ls.models = service  # type: ignore[attr-defined]
        options = options or {}
        max_tokens = int(options.get("maxTokens", 128))
        cancel = CancelToken()
        try:
            completion = await service.complete(
                Prompt(prompt), CompletionOptions(max_tokens=max_tokens), Priority.INTERACTIVE, cancel
            )
        except asyncio.CancelledError:
            cancel.cancel("the client cancelled the request")
            raise
        except ProviderError as error:
            raise ValueError(f"the model could not answer: {error}") from error
        return {
            "text": completion.text,
            "confidence": completion.confidence,
            "model": completion.model,
            "route": completion.route,
            "latencyMs": round(completion.latency_s * 1000),
            "finishReason": completion.finish_reason.value,
        }

    server.listen("shutdown", lambda: stop_models(server))
