"""Providers and the router, built from `Settings`.

This is the one place that decides which classes exist in the process. In strict privacy mode no
cloud factory is made at all, so `anthropic` is never even imported. The cloud provider is built
lazily, on the first request that needs it, and only when ANTHROPIC_API_KEY is set: with no key the
router simply has no cloud to fall back to.

Settings that choose what runs (`modelPath`) or where code goes (`cloudBaseUrl`, `privacyMode`
looser than the user's) are user-scoped in aqe.config: a repository cannot set them.

A team inference server (llama.cpp server, vLLM, Ollama) replaces the embedded model when the
settings name one (`local_server_url`, `local_server_model`; read with getattr until aqe.config
declares them). It counts as local only on loopback; elsewhere the router treats it as off-machine
(redacted in balanced mode, refused in strict mode).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from aqe.config import Settings
from aqe.llm.router import DEFAULT_RULES, HybridRouter, RoutingRules
from aqe.llm.types import (
    CancelToken,
    Completion,
    CompletionOptions,
    Prompt,
    Provider,
    ProviderError,
    ProviderUnavailable,
    StreamChunk,
)
from aqe.privacy.audit import AUDIT_FILE_NAME, AuditLog
from aqe.privacy.guard import install_network_guard

log = logging.getLogger(__name__)

API_KEY_VARIABLE = "ANTHROPIC_API_KEY"


def audit_log_path(settings: Settings, workspace_root: Path | None) -> Path:
    """`<workspace>/<indexDir>/audit.jsonl` (indexDir defaults to `.aqe`)."""
    root = Path(workspace_root) if workspace_root is not None else Path.cwd()
    return root / settings.index_dir / AUDIT_FILE_NAME


def build_router(
    settings: Settings,
    workspace_root: Path | None,
    audit: AuditLog | None = None,
    *,
    env: Mapping[str, str] | None = None,
    rules: RoutingRules = DEFAULT_RULES,
    install_guard: bool = True,
) -> HybridRouter:
    """The router for these settings, with the network guard installed (unless told not to).

    The guard is an audit hook and stays for the life of the process; tests that must not leave one
    in the test runner pass `install_guard=False`.
    """
    environ = os.environ if env is None else env
    audit = audit if audit is not None else AuditLog(audit_log_path(settings, workspace_root))
    if install_guard:
        install_network_guard(audit, settings.privacy_mode)
    return HybridRouter(
        local=build_local_provider(settings),
        cloud_factory=cloud_factory(settings, environ),
        mode=settings.privacy_mode,
        fallback_threshold=settings.fallback_threshold,
        rules=rules,
        audit=audit,
    )


def build_local_provider(settings: Settings) -> Provider:
    """The team server if one is configured, else llama.cpp with the user's GGUF or the default."""
    server_url = settings.local_server_url
    try:
        if server_url:
            from aqe.llm.openai_compatible import OpenAICompatibleProvider

            return OpenAICompatibleProvider(server_url, settings.local_server_model, chat=settings.local_server_chat)
        from aqe.llm.local import LlamaCppProvider

        return LlamaCppProvider(
            model_path=Path(settings.model_path).expanduser() if settings.model_path else None,
            threads=settings.model_threads,
            context_size=settings.context_size,
            slots=settings.batch_size,
        )
    except (ProviderError, ValueError, OSError, ImportError) as error:
        log.warning("the local model cannot be used: %s", error)
        return UnavailableProvider("llama.cpp", str(settings.model_path or "default"), error)


def cloud_factory(settings: Settings, env: Mapping[str, str]) -> Callable[[], Provider] | None:
    """A builder of the cloud provider, or None in strict mode or when no API key is set."""
    if settings.privacy_mode == "strict":
        return None
    api_key = env.get(API_KEY_VARIABLE, "").strip()
    if not api_key:
        return None
    model, base_url = settings.cloud_model, settings.cloud_base_url

    def build() -> Provider:
        try:
            from aqe.llm.anthropic_provider import AnthropicProvider
        except ImportError as error:
            raise ProviderUnavailable(f"the anthropic SDK is not installed ({error})") from error
        return AnthropicProvider(api_key=api_key, model=model, base_url=base_url)

    return build


class UnavailableProvider:
    """Stands in for a local provider that could not be built, so every request says why."""

    is_local = True
    chat = False

    def __init__(self, name: str, model: str, error: BaseException) -> None:
        self.name = name
        self.model = model
        self._message = f"the local model is unavailable: {error}"

    def complete(
        self, prompt: Prompt, options: CompletionOptions | None = None, cancel: CancelToken | None = None
    ) -> Completion:
        raise ProviderUnavailable(self._message)

    def stream(
        self, prompt: Prompt, options: CompletionOptions | None = None, cancel: CancelToken | None = None
    ) -> Iterator[StreamChunk]:
        raise ProviderUnavailable(self._message)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        raise ProviderUnavailable(self._message)

    def close(self) -> None:
        return None
