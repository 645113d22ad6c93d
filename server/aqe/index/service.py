"""The workspace index: what the language server and the CLI call. No LSP types in here.

One `WorkspaceIndex` per workspace folder, stored under `<root>/<indexDir>/index/`. A scan walks the
workspace (.gitignore, `exclude`, size caps and binary detection through `aqe.workspace`), parses each
file with tree-sitter, and re-embeds only units whose content hash changed; units that moved keep their
vector and get their new range. The knowledge base (built-in plus the team's files) is synchronised
into the same store. All methods are blocking: the language server calls them from worker threads.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aqe.config import Settings
from aqe.durable import make_state_folder
from aqe.findings import Position
from aqe.index.embedders import HASHING_EMBEDDER, Embedder, HashingCodeEmbedder, ModelEmbedder
from aqe.index.knowledge import KNOWLEDGE_KIND, LoadedKnowledge, load_knowledge
from aqe.index.pipeline import BackgroundInserts
from aqe.index.records import (
    SOURCE_CATEGORY,
    TESTS_CATEGORY,
    PreparedRecord,
    record_for_knowledge,
    records_for_document,
)
from aqe.index.store import HnswParams, IndexLocked, IndexRecord, LoadReport, SearchHit, VectorStore
from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language, language_for_path
from aqe.parsing.units import CodeUnit, UnitKind, extract_units
from aqe.workspace import FileSkipped, Workspace

log = logging.getLogger(__name__)

INDEX_SUBDIR = "index"
_EMBED_BATCH = 256
_PROGRESS_EVERY_S = 0.25

ProgressCallback = Callable[[int, int, str], None]
"""(files done, files in all, a short message)"""


class ScanCancelled(Exception):
    pass


@dataclass
class ScanReport:
    files_seen: int = 0
    files_changed: int = 0
    files_removed: int = 0
    bytes_read: int = 0
    units: int = 0
    embedded: int = 0
    moved: int = 0
    removed: int = 0
    knowledge_entries: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    truncated: bool = False
    """More files than `indexMaxFiles`: the rest were left out."""
    seconds: float = 0.0
    generation: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "filesSeen": self.files_seen,
            "filesChanged": self.files_changed,
            "filesRemoved": self.files_removed,
            "bytesRead": self.bytes_read,
            "units": self.units,
            "embedded": self.embedded,
            "moved": self.moved,
            "removed": self.removed,
            "knowledgeEntries": self.knowledge_entries,
            "skipped": dict(self.skipped),
            "truncated": self.truncated,
            "seconds": round(self.seconds, 3),
            "generation": self.generation,
        }


@dataclass(frozen=True)
class FileUpdate:
    embedded: int
    moved: int
    removed: int
    units: int


def index_directory(root: Path, settings: Settings) -> Path:
    return root / settings.index_dir / INDEX_SUBDIR


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings choose. The model embedder runs the local model in its own worker."""
    if settings.embedder == HASHING_EMBEDDER:
        return HashingCodeEmbedder(settings.embedding_dim)
    from aqe.llm.local import LlamaCppProvider

    path = Path(settings.embedding_model_path).expanduser() if settings.embedding_model_path else None
    provider = LlamaCppProvider(model_path=path, threads=settings.model_threads, context_size=2048)
    if path is not None:
        try:
            model_id = f"{path.name}:{path.stat().st_size}"
        except OSError:
            model_id = path.name
    else:
        model_id = "default:gemma-3-270m-q4_k_m"
    return ModelEmbedder(provider, model_id)


class WorkspaceIndex:
    """The index of one workspace folder. Thread-safe: scans and updates are serialised."""

    def __init__(self, root: Path, settings: Settings, embedder: Embedder | None = None) -> None:
        self.root = Path(os.path.realpath(root))
        self.settings = settings
        self.embedder = embedder if embedder is not None else make_embedder(settings)
        self.workspace = Workspace((self.root,), settings.exclude)
        self.store: VectorStore | None = None
        self.knowledge: LoadedKnowledge | None = None
        self._write_lock = threading.RLock()

    # --- lifecycle --------------------------------------------------------------------------------

    def open(self, *, persistent: bool = True) -> LoadReport:
        """Load the committed index (or quarantine a damaged one and start empty)."""
        params = HnswParams(self.settings.hnsw_m, self.settings.hnsw_ef_construction, self.settings.hnsw_ef_search)
        directory = index_directory(self.root, self.settings) if persistent else None
        if directory is not None:
            with contextlib.suppress(OSError):  # a read-only checkout: the store says so and keeps it in memory
                make_state_folder(directory.parent)
        self.store = VectorStore.open(directory, self.embedder.identity, params)
        report = self.store.load_report
        if report.message:
            log.info("index of %s: %s", self.root, report.message)  # front doors show it to the user once
        return report

    def save(self) -> int | None:
        """Commit pending changes; another window holding the lock too long only delays it."""
        store = self._store()
        with self._write_lock:
            try:
                return store.save()
            except IndexLocked as error:
                log.warning("the index was not saved yet: %s", error)
                return None
            except OSError as error:
                log.error("the index could not be saved: %s", error)
                return None

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
        close = getattr(self.embedder, "close", None)
        if close is not None:
            close()

    def _store(self) -> VectorStore:
        if self.store is None:
            raise RuntimeError("the index is not open")
        return self.store

    # --- building ---------------------------------------------------------------------------------

    def scan(
        self,
        paths: Iterable[Path] | None = None,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> ScanReport:
        """Bring the index up to date with the files on disk (and the knowledge base). Files under
        `paths` only when given; otherwise the whole folder, and units of vanished files are removed."""
        started = time.perf_counter()
        store = self._store()
        report = ScanReport()
        files = list(itertools.islice(self.workspace.iter_source_files(paths), self.settings.index_max_files + 1))
        if len(files) > self.settings.index_max_files:
            files = files[: self.settings.index_max_files]
            report.truncated = True
            log.warning(
                "%s has more than %d source files (indexMaxFiles); the rest are not indexed",
                self.root,
                self.settings.index_max_files,
            )
        total = len(files)
        seen_paths: set[str] = set()
        pending: list[PreparedRecord] = []
        last_progress = 0.0
        with self._write_lock, BackgroundInserts(store) as inserts:
            indexed = store.paths()
            for number, path in enumerate(files, start=1):
                if cancel is not None and cancel.is_set():
                    self._flush(pending, report, inserts)
                    raise ScanCancelled(f"indexing cancelled after {number - 1} of {total} files")
                relative = self.relative_path(path)
                if relative is None:
                    continue
                seen_paths.add(relative)
                report.files_seen += 1
                text = self.workspace.read_text(path, self.max_file_bytes)
                if isinstance(text, FileSkipped):
                    report.skipped[text.reason.value] += 1
                    report.removed += store.delete_path(relative)
                    continue
                report.bytes_read += len(text)
                update = self._stage_text(
                    relative, text, language_for_path(str(path)), pending, known_path=relative in indexed
                )
                report.units += update.units
                report.moved += update.moved
                report.removed += update.removed
                if update.embedded or update.removed:
                    report.files_changed += 1
                if len(pending) >= _EMBED_BATCH:
                    self._flush(pending, report, inserts)
                now = time.monotonic()
                if progress is not None and (now - last_progress >= _PROGRESS_EVERY_S or number == total):
                    last_progress = now
                    progress(number, total, relative)
            self._flush(pending, report, inserts)
            inserts.wait()
            if paths is None:
                for gone in store.paths() - seen_paths:
                    if gone.startswith("builtin:") or self._is_knowledge_source(gone):
                        continue
                    report.removed += store.delete_path(gone)
                    report.files_removed += 1
            report.knowledge_entries = self.sync_knowledge(report)
        report.generation = store.generation
        report.seconds = time.perf_counter() - started
        return report

    def sync_knowledge(self, report: ScanReport | None = None) -> int:
        """Load built-in and team knowledge and bring the store in line with it."""
        store = self._store()
        self.knowledge = load_knowledge(self.root, self.settings.knowledge_paths)
        prepared = [record_for_knowledge(entry) for entry in self.knowledge.entries]
        wanted = {item.record.key for item in prepared}
        with self._write_lock:
            stale = [r.key for r in store.records() if r.kind == KNOWLEDGE_KIND and r.key not in wanted]
            removed = store.delete(stale)
            changed = [item for item in prepared if _stored_hash(store, item.record.key) != item.record.content_hash]
            if changed:
                vectors = self.embedder.embed([item.embedding_text for item in changed])
                store.upsert([item.record for item in changed], vectors)
        if report is not None:
            report.embedded += len(changed)
            report.removed += removed
        return len(prepared)

    def update_text(self, path: Path, text: str, language: Language | None = None) -> FileUpdate | None:
        """Re-index one file from text the editor holds (saved or not). None when it is not ours to
        index (outside the folder, excluded, unsupported, too large or binary)."""
        relative = self.relative_path(path)
        language = language or language_for_path(str(path))
        if relative is None or language is None or self.workspace.is_excluded(path):
            return None
        if len(text.encode("utf-8", errors="surrogatepass")) > self.max_file_bytes or "\x00" in text:
            self._store().delete_path(relative)
            return None
        pending: list[PreparedRecord] = []
        with self._write_lock:
            update = self._stage_text(relative, text, language, pending)
            report = ScanReport()
            self._flush(pending, report)
        return update

    def remove_paths(self, paths: Iterable[Path]) -> int:
        """Forget deleted files (or whole deleted folders)."""
        store = self._store()
        removed = 0
        with self._write_lock:
            indexed = store.paths()
            for path in paths:
                relative = self.relative_path(path, must_exist=False)
                if relative is None:
                    continue
                prefix = relative.rstrip("/") + "/"
                for candidate in [p for p in indexed if p == relative or p.startswith(prefix)]:
                    removed += store.delete_path(candidate)
        return removed

    def _stage_text(
        self,
        relative: str,
        text: str,
        language: Language | None,
        pending: list[PreparedRecord],
        *,
        known_path: bool = True,
    ) -> FileUpdate:
        """Parse, compare content hashes with the store, and queue only changed units for embedding;
        moved units get their new metadata at once, vanished ones are deleted. `known_path=False` (a
        file the store has never seen) skips the look-ups, which would wait on a running insert."""
        store = self._store()
        if language is None:
            return FileUpdate(0, 0, 0, 0)
        document = ParsedDocument.parse(relative, text, language)
        prepared = records_for_document(document, relative)
        known = {record.key: record for record in store.records(path=relative)} if known_path else {}
        fresh = {item.record.key for item in prepared}
        stale = [key for key in known if key not in fresh]
        removed = store.delete(stale) if stale else 0
        changed: list[PreparedRecord] = []
        moved: list[IndexRecord] = []
        for item in prepared:
            stored = known.get(item.record.key)
            if stored is None or stored.content_hash != item.record.content_hash:
                changed.append(item)
            elif stored != item.record:
                moved.append(item.record)
        if moved:
            store.update_metadata(moved)
        pending += changed
        return FileUpdate(embedded=len(changed), moved=len(moved), removed=removed, units=len(prepared))

    def _flush(
        self, pending: list[PreparedRecord], report: ScanReport, inserts: BackgroundInserts | None = None
    ) -> None:
        if not pending:
            return
        vectors = self.embedder.embed([item.embedding_text for item in pending])
        records = [item.record for item in pending]
        if inserts is None:
            self._store().upsert(records, vectors)
        else:
            inserts.submit(records, vectors)
        report.embedded += len(pending)
        pending.clear()

    # --- searching --------------------------------------------------------------------------------

    def search(self, query: str, k: int = 10, category: str | None = None) -> list[SearchHit]:
        store = self._store()
        store.refresh()  # another window may have committed newer work
        vector = self.embedder.embed([query])[0]
        return store.search(vector, k, category)

    def related_tests(self, path: Path, text: str, line: int, character: int, k: int = 10) -> RelatedTests | None:
        """The tests most similar to the function (or class) at a position, for "Find related tests".
        None when no unit is there."""
        relative = self.relative_path(path, must_exist=False)
        language = language_for_path(str(path))
        if relative is None or language is None:
            return None
        document = ParsedDocument.parse(relative, text, language)
        unit = unit_at(extract_units(document), line, character)
        if unit is None:
            return None
        source = document.source.data[unit.start_byte : unit.end_byte].decode("utf-8", errors="replace")
        hits = self.search(f"{unit.qualified_name}\n{source}", k, TESTS_CATEGORY)
        own_key = f"{relative}::{unit.qualified_name}"
        return RelatedTests(unit, [hit for hit in hits if hit.record.key != own_key])

    def similar_failure_patterns(self, description: str, k: int = 3) -> list[str]:
        """Titles of the knowledge base's failure patterns closest to a failure (its message, cause
        and test code), for flaky-test explanations."""
        return [f"{hit.record.symbol} ({hit.record.key.removeprefix('knowledge:')})"
                for hit in self.search(description, k, "aqe/failure-patterns")]  # fmt: skip

    def related_test_files(self, source: Path, k: int = 5, minimum: float = 0.3) -> list[Path]:
        """Test files whose tests resemble the units of `source` (for running "the tests of this file"
        when imports alone do not say: tests that go through a public API or a fixture)."""
        relative = self.relative_path(source)
        store = self._store()
        if relative is None:
            return []
        found: dict[str, float] = {}
        for record in store.records(path=relative, category=SOURCE_CATEGORY):
            vector = store.vector_of(record.key)
            if vector is None:
                continue
            for hit in store.search(vector, k, TESTS_CATEGORY):
                if hit.score >= minimum:
                    found[hit.record.path] = max(found.get(hit.record.path, 0.0), hit.score)
        return [self.root / path for path, _ in sorted(found.items(), key=lambda item: -item[1])]

    def symbols(self, query: str, limit: int = 100) -> list[IndexRecord]:
        store = self._store()
        store.refresh()
        return store.find_symbols(query, limit)

    def stats(self) -> dict[str, object]:
        store = self._store()
        return {
            "root": str(self.root),
            "directory": str(store.directory) if store.directory else None,
            "embedder": self.embedder.identity.to_json(),
            "entries": store.count,
            "categories": store.categories(),
            "generation": store.generation,
            "readOnly": store.read_only,
        }

    # --- helpers ----------------------------------------------------------------------------------

    @property
    def max_file_bytes(self) -> int:
        return int(self.settings.max_file_size_mb * 1_000_000)

    def relative_path(self, path: Path, *, must_exist: bool = True) -> str | None:
        """The workspace-relative POSIX path the index uses, or None outside this folder."""
        real = Path(os.path.realpath(path)) if must_exist or path.exists() else Path(os.path.abspath(path))
        if real != self.root and self.root not in real.parents:
            return None
        return real.relative_to(self.root).as_posix()

    def _is_knowledge_source(self, relative: str) -> bool:
        return any(
            relative == folder.strip("/") or relative.startswith(folder.strip("/") + "/")
            for folder in self.settings.knowledge_paths
        )


@dataclass(frozen=True)
class RelatedTests:
    unit: CodeUnit
    hits: list[SearchHit]


def _stored_hash(store: VectorStore, key: str) -> str | None:
    record = store.get(key)
    return record.content_hash if record is not None else None


def unit_at(units: Sequence[CodeUnit], line: int, character: int) -> CodeUnit | None:
    """The innermost function, method or class whose range holds the position (a test counts too)."""
    here = Position(line, character)
    best: CodeUnit | None = None
    for unit in units:
        inside = unit.kind is not UnitKind.MODULE and unit.span.start <= here <= unit.span.end
        if inside and (best is None or unit.span.start >= best.span.start):
            best = unit
    return best


__all__ = [
    "SOURCE_CATEGORY",
    "TESTS_CATEGORY",
    "RelatedTests",
    "ScanCancelled",
    "ScanReport",
    "WorkspaceIndex",
    "index_directory",
    "make_embedder",
    "unit_at",
]
