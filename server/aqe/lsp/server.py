"""The aqe language server: state lives on this subclass; features register themselves on it."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol.language_server import lsp_method

from aqe import __version__
from aqe.app.learning import LearningService
from aqe.app.review import FindingProvider, ReviewService
from aqe.config import LoadedSettings, Settings, editor_trust, load_settings
from aqe.engine import Engine
from aqe.lsp.transport.framing import FrameError
from aqe.lsp.transport.protocol import AqeProtocol

if TYPE_CHECKING:
    from aqe.app.project import Project

log = logging.getLogger(__name__)

CodeActionProvider = Callable[
    ["AqeLanguageServer", types.CodeActionParams], "list[types.CodeAction] | Awaitable[list[types.CodeAction]]"
]
"""Code actions beyond the rules' fixes (coverage, flaky tests, related tests, generate test)."""

_NOTIFY_THRESHOLD = {
    "off": None,
    "onError": types.MessageType.Error,
    "onWarning": types.MessageType.Warning,
    "always": types.MessageType.Log,
}


_DOCUMENT_SYNC_METHODS = (
    None,
    types.TEXT_DOCUMENT_DID_OPEN,
    types.TEXT_DOCUMENT_DID_CHANGE,
    types.TEXT_DOCUMENT_DID_SAVE,
)


class AqeServerProtocol(AqeProtocol):
    """Pins positions to UTF-16: the engine's unit, and the one every LSP client must support.

    pygls picks the client's first offered encoding (Neovim offers UTF-8 first); answering in a unit
    the engine does not use would shift every range after a non-ASCII character.
    """

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Generator[Any, Any, types.InitializeResult]:
        if params.capabilities.general is not None:
            params.capabilities.general.position_encodings = [types.PositionEncodingKind.Utf16]
        return (yield from super().lsp_initialize(params))

    # pygls runs `workspace/executeCommand` as a generator that starts the command's coroutine under a
    # fresh id, so `$/cancelRequest` cancels only the outer future and a running command (a model call)
    # goes on. These three link the two, so cancelling the request cancels the command.

    def _run_generator(self, future: Any, *, gen: Any, result_future: Any) -> None:
        previous, self._outer_request = getattr(self, "_outer_request", None), result_future
        try:
            super()._run_generator(future, gen=gen, result_future=result_future)
        finally:
            self._outer_request = previous

    def _execute_handler(self, msg_id: Any, handler: Any, *args: Any, **kwargs: Any) -> None:
        outer = getattr(self, "_outer_request", None)
        if outer is not None:
            inner = getattr(self, "_inner_requests", None)
            if inner is None:
                inner = self._inner_requests = {}
            inner[id(outer)] = msg_id
            outer.add_done_callback(lambda done: self._cancel_inner(done))
        super()._execute_handler(msg_id, handler, *args, **kwargs)

    def _cancel_inner(self, outer: Any) -> None:
        inner_id = getattr(self, "_inner_requests", {}).pop(id(outer), None)
        if inner_id is not None and outer.cancelled():
            inner = self._request_futures.pop(inner_id, None)
            if inner is not None:
                inner.cancel()

    # The engine keeps its own, incrementally parsed copy of every open document. pygls would keep a
    # second copy, apply every edit to it too, and fail on edits to a document it never saw opened
    # (one dropped as too large). These overrides hand the notifications straight to aqe's handlers.

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> Generator[Any, Any, None]:
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Generator[Any, Any, None]:
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> Generator[Any, Any, None]:
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_CLOSE, params)

    def _user_handler(self, method: str, params: Any) -> Generator[Any, Any, None]:
        handler = self.fm.features.get(method)
        if handler is not None:
            yield handler, (params,), None

    def oversized_message_dropped(self, error: FrameError) -> None:
        """A didOpen/didChange too large to receive: the file is skipped with the usual notice.

        The method is often unknown: clients may serialise `params` (the huge text) before `method`,
        beyond the part of the message that was kept. A huge message naming a document is a sync.
        """
        if error.uri is None or error.method not in _DOCUMENT_SYNC_METHODS:
            return
        from aqe.workspace import path_from_uri

        server: AqeLanguageServer = self._server  # type: ignore[assignment]
        path = path_from_uri(error.uri)
        detail = "the editor sent it in a message too large to receive"
        server.engine.mark_oversized(error.uri, str(path) if path else error.uri, detail)
        server.emit("oversized", error.uri)  # diagnostics show the skip notice on it


FeatureT = TypeVar("FeatureT")


class FeatureRegistry:
    """The features of one server, one object per type, each made once on first use.

    Features that need each other ask for it by type (`server.features.get(DiagnosticsFeature, ...)`)
    and get a typed object: no attributes stuck onto the server, no import of the server's module
    from a feature's and back.
    """

    def __init__(self) -> None:
        self._features: dict[type[Any], Any] = {}

    def get(self, kind: type[FeatureT], make: Callable[[], FeatureT]) -> FeatureT:
        feature = self._features.get(kind)
        if feature is None:
            feature = self._features[kind] = make()
        return cast(FeatureT, feature)


class AqeLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "aqe",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=AqeServerProtocol,
            max_workers=4,
        )
        self.engine: Engine = Engine(Settings())
        self.learning = LearningService(self.engine)
        self.review = ReviewService(self.engine, self.learning)
        self.loaded_settings: LoadedSettings | None = None
        self.initialization_options: Mapping[str, Any] = {}
        self.workspace_roots: tuple[Path, ...] = ()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._shown_messages: set[str] = set()
        self._listeners: dict[str, list[Callable[..., Any]]] = {}
        self.features = FeatureRegistry()
        # Features beyond the rules (coverage, flaky tests, the index, test generation) add to the one
        # diagnostics stream and the one code-action handler through these: LSP allows one handler
        # per method.
        self.diagnostic_providers: list[FindingProvider] = self.review.providers
        self.code_action_providers: list[CodeActionProvider] = []

    @property
    def trusted(self) -> bool:
        """The editor's workspace trust: an untrusted workspace never has its code run."""
        return self.loaded_settings.trusted if self.loaded_settings is not None else True

    @property
    def settings(self) -> Settings:
        return self.engine.settings

    def project(self, root: Path) -> Project:
        """A workspace folder as the application layer sees it, with the editor's settings and trust
        (before initialize nothing is trusted)."""
        from aqe.app.project import Project

        loaded = self.loaded_settings
        if loaded is None:
            loaded = LoadedSettings(settings=self.settings, issues=(), trusted=False)
        return Project(root, loaded)

    # --- settings -------------------------------------------------------------------------------------

    def load_settings(self, client_settings: Mapping[str, Any] | None) -> LoadedSettings:
        """Re-read every source (pyproject, client, environment) and reconfigure the engine."""
        root = self.workspace_roots[0] if self.workspace_roots else None
        options = dict(self.initialization_options)
        if client_settings:
            options = _merge_client_settings(options, client_settings)
        loaded = load_settings(root, client_options=options)
        self.loaded_settings = loaded
        self.engine.configure(loaded.settings, self.workspace_roots)
        logging.getLogger("aqe").setLevel(loaded.settings.log_level.upper())
        for issue in loaded.issues:
            log.warning("settings: %s", issue.message)
            self.notify_user(f"aqe settings: {issue.message}", types.MessageType.Warning, always=True)
        for key in self.engine.unknown_rule_keys:
            self.notify_user(
                f"aqe settings: 'rules' names an unknown rule {key!r}; see `aqe rules` for the list",
                types.MessageType.Warning,
                always=True,
            )
        return loaded

    # --- talking to the user --------------------------------------------------------------------------

    def notify_user(self, message: str, kind: types.MessageType, *, always: bool = False) -> None:
        """window/showMessage, gated by `showNotifications`, each distinct message once per session.

        `always` is for problems the user must act on (a broken setting): shown unless notifications
        are off entirely.
        """
        threshold = _NOTIFY_THRESHOLD.get(self.settings.show_notifications, types.MessageType.Error)
        if threshold is None or (not always and kind > threshold) or message in self._shown_messages:
            return
        self._shown_messages.add(message)
        self.send_soon(lambda: self.window_show_message(types.ShowMessageParams(type=kind, message=message)))

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Log instead of pygls' popup per bad message (298 popups for 300 garbage bodies)."""
        log.error("server error (%s): %s", getattr(source, "__name__", source), error)

    # --- events between features ---------------------------------------------------------------------

    def listen(self, event: str, callback: Callable[..., Any]) -> None:
        """Be told of a server event: `opened`, `changed`, `saved`, `closed`, `oversized` (with the uri),
        `settings` (after settings were reloaded), `initialized`, `index-ready` (the first scan of the
        workspace index finished) and `shutdown` (awaited)."""
        self._listeners.setdefault(event, []).append(callback)

    def emit(self, event: str, *args: Any) -> None:
        """Tell the listeners, on the loop thread; one failing listener never stops the others."""
        for callback in self._listeners.get(event, ()):
            try:
                result = callback(*args)
                if asyncio.iscoroutine(result):
                    self.run_task(result, f"{event} listener")
            except Exception:
                log.exception("a %s listener failed", event)

    async def emit_and_wait(self, event: str, *args: Any) -> None:
        """Like `emit`, but await coroutine listeners (for shutdown, which must finish its work)."""
        for callback in self._listeners.get(event, ()):
            try:
                result = callback(*args)
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                log.exception("a %s listener failed", event)

    # --- the event loop -------------------------------------------------------------------------------

    def bind_loop(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()

    def send_soon(self, send: Callable[[], Any]) -> None:
        """Run `send` on the event loop thread: the transport is not safe to write from two threads."""
        loop = self.loop
        if loop is None or threading.get_ident() == self._loop_thread:
            send()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(send)

    def run_task(self, coroutine: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Start background work, keep a reference, and log (never lose) its exception."""
        task = asyncio.ensure_future(coroutine)
        task.set_name(name)
        self._tasks.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self._tasks.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                log.error("%s failed", name, exc_info=finished.exception())

        task.add_done_callback(done)
        return task


def _merge_client_settings(options: Mapping[str, Any], client_settings: Mapping[str, Any]) -> dict[str, Any]:
    """workspace/configuration answers replace the client part of initializationOptions.

    Trust comes only from initializationOptions, which the editor itself sends at start-up: a
    configuration answer can come from the repository's own settings files, so any `trusted` in it
    is dropped, and the editor's flag is set on top.
    """
    merged = {key: value for key, value in client_settings.items() if key != "trusted"}
    if isinstance(merged.get("aqe"), Mapping):
        merged["aqe"] = {key: value for key, value in merged["aqe"].items() if key != "trusted"}
    merged["trusted"] = editor_trust(options)
    return merged


def workspace_roots_of(params: types.InitializeParams) -> tuple[Path, ...]:
    from aqe.workspace import path_from_uri

    roots: list[Path] = []
    for folder in params.workspace_folders or []:
        path = path_from_uri(folder.uri)
        if path is not None:
            roots.append(path)
    if not roots and params.root_uri:
        path = path_from_uri(params.root_uri)
        if path is not None:
            roots.append(path)
    if not roots and params.root_path:
        roots.append(Path(params.root_path))
    return tuple(Path(os.path.realpath(r)) for r in roots)


FEATURES = (
    "lifecycle", "documents", "diagnostics", "code_actions", "hover", "configuration", "models", "index", "coverage",
    "flaky", "privacy", "testgen", "learning", "model_review", "metrics",
)  # fmt: skip


def create_server() -> AqeLanguageServer:
    """Build the server with every feature registered; one broken feature must not stop the rest."""
    import importlib

    server = AqeLanguageServer()
    for name in FEATURES:
        try:
            module = importlib.import_module(f"aqe.lsp.features.{name}")
            module.register(server)
        except Exception:
            log.exception("feature %s could not be registered; continuing without it", name)
    return server
