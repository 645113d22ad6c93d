"""The workspace index in the editor: a background first scan with `$/progress`, updates as files
change, "Find related tests", search and workspace symbols.

Every index call blocks (parsing, embedding, hnswlib, disk), so all of them run in worker threads;
the event loop only schedules. Diagnostics never wait for the index: the first scan starts after
`initialized` and reports progress the user can cancel. Edits are re-indexed after a quiet second,
saves at once; the store is committed to disk a few seconds after the last change and at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from lsprotocol import types
from pygls.capabilities import get_capability

from aqe.app.indexing import hit_json
from aqe.config import Settings
from aqe.coverage.gaps import gap_findings, semantic_gaps
from aqe.engine import OpenDocument
from aqe.findings import Finding
from aqe.index.service import ScanCancelled, WorkspaceIndex
from aqe.index.store import LoadOutcome, SearchHit
from aqe.lsp.convert import position_argument
from aqe.lsp.progress import Progress
from aqe.lsp.server import AqeLanguageServer
from aqe.parsing.units import is_test_file
from aqe.workspace import path_from_uri

log = logging.getLogger(__name__)

REINDEX_COMMAND = "aqe.reindex"
RELATED_TESTS_COMMAND = "aqe.findRelatedTests"
SEARCH_COMMAND = "aqe.search"
INDEX_STATUS_COMMAND = "aqe.indexStatus"

# Settings whose change means a different index (other files, vectors or place): rebuild the service.
INDEX_SETTINGS = (
    "index_enabled", "embedder", "embedding_model_path", "embedding_dim", "hnsw_m", "hnsw_ef_construction",
    "hnsw_ef_search", "index_dir", "exclude", "knowledge_paths", "max_file_size_mb", "model_threads",
    "index_max_files",
)  # fmt: skip
CHANGE_QUIET_S = 1.0
SAVE_QUIET_S = 3.0
_WATCHED_GLOB = "**/*.{py,pyi,js,jsx,mjs,cjs,ts,tsx,mts,cts,toml,md}"
_RELATED_TESTS_SHOWN = 10

T = TypeVar("T")


class IndexFeature:
    def __init__(self, server: AqeLanguageServer) -> None:
        self.server = server
        self.indexes: dict[Path, WorkspaceIndex] = {}
        self.settings: Settings | None = None
        self.roots: tuple[Path, ...] = ()
        self.ready = asyncio.Event()
        self._cancel_scan = threading.Event()
        self._scan: asyncio.Task[Any] | None = None
        self._updates: dict[str, asyncio.TimerHandle] = {}
        self._save: asyncio.TimerHandle | None = None
        self._restart = asyncio.Lock()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aqe-index-writer")
        """Scans, updates and saves queue here, one at a time, so that a long first scan never holds
        the threads that searches (Find related tests) run on."""

    async def _write(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, work)

    @classmethod
    def of(cls, server: AqeLanguageServer) -> IndexFeature:
        feature = getattr(server, "_aqe_index", None)
        if feature is None:
            feature = cls(server)
            server._aqe_index = feature  # type: ignore[attr-defined]
        return feature

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self, *, rebuild: bool = False) -> None:
        """(Re)open the indexes for the current folders and settings, then scan in the background."""
        async with self._restart:
            settings, roots = self.server.settings, self.server.workspace_roots
            unchanged = (
                self.settings is not None
                and roots == self.roots
                and all(getattr(settings, key) == getattr(self.settings, key) for key in INDEX_SETTINGS)
            )
            if unchanged and not rebuild:
                return
            await self._stop()
            self.settings, self.roots = settings, roots
            self.ready.clear()
            if not settings.index_enabled or not roots:
                return
            self._cancel_scan = threading.Event()
            self._scan = self.server.run_task(self._open_and_scan(settings, roots, self._cancel_scan), "indexing")

    async def _open_and_scan(self, settings: Settings, roots: tuple[Path, ...], cancel: threading.Event) -> None:
        progress = Progress(self.server, "aqe: indexing the workspace", cancellable=True)
        await progress.begin("opening the index")
        summary: list[str] = []
        try:
            for root in roots:
                index = await self._write(lambda root=root: _open(root, settings))  # type: ignore[misc]
                if index is None:
                    continue
                self.indexes[root] = index
                report = index.store.load_report if index.store else None
                if report is not None and report.outcome in (LoadOutcome.QUARANTINED, LoadOutcome.READ_ONLY):
                    log.warning("index of %s: %s", root, report.message)
                    self.server.notify_user(f"aqe: {report.message}", types.MessageType.Warning)

                def on_progress(done: int, total: int, path: str) -> None:
                    if progress.cancelled:
                        cancel.set()
                    progress.report(f"{done}/{total} files", int(100 * done / total) if total else None)

                try:
                    scan = await self._write(lambda index=index: index.scan(progress=on_progress, cancel=cancel))  # type: ignore[misc]
                except ScanCancelled as stopped:
                    log.info("%s", stopped)
                    summary.append("cancelled")
                    break
                summary.append(f"{scan.units} units in {scan.files_seen} files ({scan.embedded} embedded)")
                log.info("indexed %s: %s", root, scan.to_json())
            self.ready.set()
            self.server.emit("index-ready")  # diagnostics refresh every open document on it
        finally:
            progress.end("; ".join(summary) or "done")
            self._schedule_save(immediately=True)

    async def _stop(self) -> None:
        self._cancel_scan.set()
        if self._scan is not None and not self._scan.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._scan), timeout=30)
            except (asyncio.TimeoutError, Exception) as error:
                log.debug("the previous scan ended with %r", error)
        for handle in self._updates.values():
            handle.cancel()
        self._updates.clear()
        indexes, self.indexes = self.indexes, {}
        for index in indexes.values():
            await self._write(lambda index=index: (index.save(), index.close()))  # type: ignore[misc]

    async def shutdown(self) -> None:
        if self._save is not None:
            self._save.cancel()
        await self._stop()

    # --- keeping up with changes ------------------------------------------------------------------

    def document_event(self, event: str, uri: str) -> None:
        """Edits are indexed after a quiet moment, saves and opens at once, closes from disk."""
        if not self.indexes:
            return
        loop = asyncio.get_running_loop()
        if (handle := self._updates.pop(uri, None)) is not None:
            handle.cancel()
        delay = CHANGE_QUIET_S if event == "changed" else 0.0
        self._updates[uri] = loop.call_later(delay, lambda: self._update_now(uri, from_disk=event == "closed"))

    def _update_now(self, uri: str, *, from_disk: bool) -> None:
        self._updates.pop(uri, None)
        path = path_from_uri(uri)
        index = self._index_for(path)
        if path is None or index is None:
            return
        document = None if from_disk else self.server.engine.get_document(uri)
        if document is not None and (document.desynced or document.skipped is not None):
            return

        def update() -> None:
            if document is not None:
                index.update_text(path, document.text, document.language)
                return
            text = index.workspace.read_text(path, index.max_file_bytes)
            if isinstance(text, str):
                index.update_text(path, text)
            elif not path.exists():
                index.remove_paths([path])

        self.server.run_task(self._then_save(update), f"index update {uri}")

    async def _then_save(self, work: Callable[[], Any]) -> None:
        await self._write(work)
        self._schedule_save()

    def watched_files_changed(self, params: types.DidChangeWatchedFilesParams) -> None:
        """Files changed outside the editor (git checkout, a formatter, a generator)."""
        open_uris = set(self.server.engine.open_uris())
        for change in params.changes:
            if change.uri in open_uris:
                continue  # the editor's copy is what we index while it is open
            if change.type == types.FileChangeType.Deleted:
                path = path_from_uri(change.uri)
                index = self._index_for(path, must_exist=False)
                if path is not None and index is not None:
                    self.server.run_task(self._then_save(lambda index=index, path=path: index.remove_paths([path])),
                                         "index removal")  # fmt: skip
            elif (path := path_from_uri(change.uri)) is not None and path.suffix in (".toml", ".md"):
                index = self._index_for(path)
                if index is not None and _is_under(path, index, index.settings.knowledge_paths):
                    self.server.run_task(self._then_save(index.sync_knowledge), "knowledge update")
            else:
                self.document_event("closed", change.uri)  # read from disk

    def _schedule_save(self, *, immediately: bool = False) -> None:
        loop = self.server.loop
        if loop is None:
            return
        if self._save is not None:
            self._save.cancel()

        def save() -> None:
            self._save = None
            for index in list(self.indexes.values()):
                self.server.run_task(self._write(index.save), "index save")

        self._save = loop.call_later(0 if immediately else SAVE_QUIET_S, save)

    # --- questions --------------------------------------------------------------------------------

    async def related_tests(self, uri: str, line: int, character: int) -> list[types.Location]:
        path = path_from_uri(uri)
        index = self._index_for(path, must_exist=False)
        if path is None or index is None:
            raise ValueError(f"{uri} is not in an indexed workspace folder")
        document = self.server.engine.get_document(uri)
        text = document.text if document is not None else None
        if text is None:
            read = index.workspace.read_text(path, index.max_file_bytes)
            if not isinstance(read, str):
                raise ValueError(read.describe())
            text = read
        related = await _in_thread(lambda: index.related_tests(path, text, line, character, _RELATED_TESTS_SHOWN))
        if related is None:
            return []
        return [_location(index.root, hit) for hit in related.hits]

    async def search(self, query: str, k: int, category: str | None) -> list[dict[str, Any]]:
        results: list[tuple[Path, SearchHit]] = []
        for root, index in list(self.indexes.items()):
            hits = await _in_thread(lambda index=index: index.search(query, k, category))  # type: ignore[misc]
            results += [(root, hit) for hit in hits]
        results.sort(key=lambda item: -item[1].score)
        return [hit_json(root, hit) for root, hit in results[:k]]

    async def symbols(self, query: str) -> list[types.WorkspaceSymbol]:
        symbols: list[types.WorkspaceSymbol] = []
        for root, index in list(self.indexes.items()):
            records = await _in_thread(lambda index=index: index.symbols(query))  # type: ignore[misc]
            for record in records:
                location = _location(root, SearchHit(record, 1.0))
                symbols.append(
                    types.WorkspaceSymbol(
                        name=record.symbol,
                        kind=_SYMBOL_KINDS.get(record.kind, types.SymbolKind.Function),
                        location=location,
                        container_name=record.path,
                    )
                )
        return symbols

    def gap_findings_for(self, uri: str, document: OpenDocument) -> list[Finding]:
        """Semantic-gap hints for an open file (a diagnostics provider: runs in a worker thread)."""
        settings = self.server.settings
        path = path_from_uri(uri)
        if not settings.semantic_gap_hints or not self.ready.is_set() or path is None or document.language is None:
            return []
        index = self._index_for(path)
        relative = index.relative_path(path) if index is not None else None
        if index is None or relative is None or is_test_file(relative):
            return []
        gaps = semantic_gaps(index, settings.gap_threshold, [relative], {relative: document.text})
        return gap_findings(gaps, index.root)

    def related_test_files(self, source: Path) -> list[Path]:
        index = self._index_for(source) if self.ready.is_set() else None
        return index.related_test_files(source) if index is not None else []

    def similar_failures(self, description: str, k: int) -> list[str]:
        index = next(iter(self.indexes.values()), None) if self.ready.is_set() else None
        return index.similar_failure_patterns(description, k) if index is not None else []

    def status(self) -> dict[str, Any]:
        return {
            "enabled": bool(self.settings and self.settings.index_enabled),
            "ready": self.ready.is_set(),
            "indexes": [index.stats() for index in self.indexes.values() if index.store is not None],
        }

    def _index_for(self, path: Path | None, *, must_exist: bool = True) -> WorkspaceIndex | None:
        if path is None:
            return None
        best: WorkspaceIndex | None = None
        for root, index in self.indexes.items():
            if index.relative_path(path, must_exist=must_exist) is not None and (
                best is None or len(root.parts) > len(best.root.parts)
            ):
                best = index
        return best


_SYMBOL_KINDS = {
    "function": types.SymbolKind.Function,
    "test_function": types.SymbolKind.Function,
    "method": types.SymbolKind.Method,
    "class": types.SymbolKind.Class,
    "test_class": types.SymbolKind.Class,
    "module": types.SymbolKind.Module,
}


def _open(root: Path, settings: Settings) -> WorkspaceIndex | None:
    try:
        index = WorkspaceIndex(root, settings)
        index.open()
    except Exception:
        log.exception("the index of %s could not be opened; continuing without it", root)
        return None
    return index


async def _in_thread(work: Callable[[], T]) -> T:
    return await asyncio.get_running_loop().run_in_executor(None, work)


def _is_under(path: Path, index: WorkspaceIndex, folders: tuple[str, ...]) -> bool:
    relative = index.relative_path(path, must_exist=False) or ""
    return any(relative.startswith(folder.strip("/") + "/") for folder in folders)


def _location(root: Path, hit: SearchHit) -> types.Location:
    record = hit.record
    return types.Location(
        uri=(root / record.path).as_uri(),
        range=types.Range(
            start=types.Position(line=record.start_line, character=record.start_character),
            end=types.Position(line=record.end_line, character=record.end_character),
        ),
    )


def register(server: AqeLanguageServer) -> None:
    feature = IndexFeature.of(server)

    for event in ("opened", "changed", "saved", "closed"):
        server.listen(event, lambda uri, event=event: feature.document_event(event, uri))
    server.listen("initialized", lambda: _initialized(server, feature))
    server.listen("settings", lambda: feature.start() if feature.settings is not None else None)
    server.listen("shutdown", feature.shutdown)

    @server.command(REINDEX_COMMAND)
    async def reindex(ls: AqeLanguageServer, *args: Any) -> dict[str, Any]:
        """Scan everything again in the background (e.g. after a branch switch the editor missed)."""
        await feature.start(rebuild=True)
        return {"started": bool(feature.indexes) or feature._scan is not None}

    @server.command(RELATED_TESTS_COMMAND)
    async def find_related_tests(ls: AqeLanguageServer, *args: Any) -> list[types.Location]:
        uri, line, character = position_argument(args, RELATED_TESTS_COMMAND)
        return await feature.related_tests(uri, line, character)

    @server.command(SEARCH_COMMAND)
    async def search(ls: AqeLanguageServer, *args: Any) -> list[dict[str, Any]]:
        first = args[0] if args else None
        if isinstance(first, list) and first:
            first = first[0]
        if isinstance(first, str):
            first = {"query": first}
        if not isinstance(first, dict) or not isinstance(first.get("query"), str) or not first["query"].strip():
            raise ValueError('aqe.search expects [{"query": str, "k"?: int, "category"?: str}]')
        k = first.get("k", 10)
        if not isinstance(k, int) or not 1 <= k <= 200:
            raise ValueError("aqe.search: k must be an integer from 1 to 200")
        category = first.get("category")
        return await feature.search(first["query"], k, category if isinstance(category, str) else None)

    @server.command(INDEX_STATUS_COMMAND)
    def index_status(ls: AqeLanguageServer, *args: Any) -> dict[str, Any]:
        return feature.status()

    @server.feature(types.WORKSPACE_SYMBOL)
    async def workspace_symbol(
        ls: AqeLanguageServer, params: types.WorkspaceSymbolParams
    ) -> list[types.WorkspaceSymbol]:
        if not params.query.strip():
            return []
        return await feature.symbols(params.query.strip())

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(ls: AqeLanguageServer, params: types.DidChangeWatchedFilesParams) -> None:
        feature.watched_files_changed(params)

    async def related_tests_action(ls: AqeLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        only = params.context.only
        if only or not feature.indexes:
            return []
        document = ls.engine.get_document(params.text_document.uri)
        if document is None or document.parsed is None:
            return []
        from aqe.index.service import unit_at
        from aqe.parsing.units import extract_units

        position = params.range.start
        unit = unit_at(extract_units(document.parsed), position.line, position.character)
        if unit is None or unit.kind.is_test:
            return []
        argument = {
            "uri": params.text_document.uri,
            "position": {"line": position.line, "character": position.character},
        }
        return [
            types.CodeAction(
                title=f"Find related tests for `{unit.qualified_name}`",
                command=types.Command(title="Find related tests", command=RELATED_TESTS_COMMAND, arguments=[argument]),
            )
        ]

    server.code_action_providers.append(related_tests_action)
    server.diagnostic_providers.append(feature.gap_findings_for)
    from aqe.lsp.features.coverage import CoverageFeature

    CoverageFeature.of(server).more_related = feature.related_test_files


async def _initialized(server: AqeLanguageServer, feature: IndexFeature) -> None:
    if get_capability(server.client_capabilities, "workspace.did_change_watched_files.dynamic_registration", False):
        try:
            await server.client_register_capability_async(
                types.RegistrationParams(
                    registrations=[
                        types.Registration(
                            id="aqe-watched-files",
                            method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                            register_options=types.DidChangeWatchedFilesRegistrationOptions(
                                watchers=[types.FileSystemWatcher(glob_pattern=_WATCHED_GLOB)]
                            ),
                        )
                    ]
                )
            )
        except Exception as error:
            log.info("the client did not accept file watching: %s", error)
    await feature.start()
