"""The vector store: an hnswlib graph for similarity, SQLite for what each vector stands for.

In memory, the graph and an in-memory SQLite database are the working state; every change is also
remembered as pending until `save()` commits a new *generation* to disk:

    <dir>/vectors-<g>.hnsw      hnswlib's own file
    <dir>/metadata-<g>.sqlite   one row per label: key, path, range, kind, language, symbol,
                                category, content hash, text
    <dir>/manifest.json         the commit point: format and version, generation, embedder,
                                HNSW parameters, and the size and sha256 of both files

Files are written temp + fsync + rename (aqe.durable), the manifest last, so a kill at any instant
leaves the previous generation loadable. Both files are checked against the manifest BEFORE hnswlib
sees them: hnswlib segfaults on some damaged files and silently answers from others. A damaged or
foreign index is moved to `quarantine/` beside the directory and rebuilt; an index written by a newer
aqe is never overwritten (the store then works in memory only).

Two processes (two editor windows on one workspace) share the directory through a file lock held
across read-manifest -> write -> commit. A writer that finds a newer generation than the one it
loaded reloads it and re-applies its own pending changes before committing, so neither loses the
other's writes. Inside one process a single lock serialises every hnswlib call: concurrent insert and
search can crash hnswlib.
"""

from __future__ import annotations

import contextlib
import enum
import fnmatch
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hnswlib
import numpy as np
from filelock import FileLock, Timeout

from aqe import __version__
from aqe.durable import atomic_write_bytes, atomic_write_with, fsync_directory, remove_stale_temp_files, sha256_of_file
from aqe.index.embedders import EmbedderIdentity

log = logging.getLogger(__name__)

FORMAT = "aqe-index"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
LOCK_NAME = "index.lock"
QUARANTINE_DIR = "quarantine"
_MIN_CAPACITY = 1024
_PARALLEL_INSERT = 256
_LOCK_TIMEOUT_S = 30.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS units (
    label INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    language TEXT,
    symbol TEXT NOT NULL,
    category TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    start_line INTEGER NOT NULL,
    start_character INTEGER NOT NULL,
    end_line INTEGER NOT NULL,
    end_character INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS units_by_path ON units(path);
CREATE INDEX IF NOT EXISTS units_by_symbol ON units(symbol);
"""
_COLUMNS = (
    "key", "path", "kind", "symbol", "category", "content_hash", "language",
    "start_line", "start_character", "end_line", "end_character", "text",
)  # fmt: skip
"""In IndexRecord's field order, so a row builds a record positionally (no dict per hit)."""

_INSERT = f"INSERT OR REPLACE INTO units (label, {', '.join(_COLUMNS)}) VALUES ({', '.join('?' * (len(_COLUMNS) + 1))})"


@dataclass(frozen=True)
class HnswParams:
    m: int = 16
    ef_construction: int = 100
    ef_search: int = 300


@dataclass(frozen=True)
class IndexRecord:
    """What one vector stands for: a code unit or a knowledge entry."""

    key: str
    """Stable identity, e.g. `src/shop/cart.py::Cart.total::method`; upserts replace by key."""
    path: str
    """Workspace-relative POSIX path of the file, or `builtin:<name>` for shipped knowledge."""
    kind: str
    symbol: str
    category: str
    content_hash: str
    language: str | None = None
    start_line: int = 0
    start_character: int = 0
    end_line: int = 0
    end_character: int = 0
    text: str = ""
    """A preview for code units; the whole entry for knowledge."""


@dataclass(frozen=True)
class SearchHit:
    record: IndexRecord
    score: float
    """Cosine similarity in [-1, 1]; higher is closer."""


class LoadOutcome(str, enum.Enum):
    CREATED = "created"
    LOADED = "loaded"
    QUARANTINED = "quarantined"
    """Damaged or foreign files were moved aside; the store starts empty and must be rebuilt."""
    READ_ONLY = "read-only"
    """Written by a newer aqe: loaded nothing, will write nothing; works in memory."""


@dataclass(frozen=True)
class LoadReport:
    outcome: LoadOutcome
    message: str | None = None
    generation: int = 0
    quarantined_to: Path | None = None


class IndexStoreError(Exception):
    """Base of the store's own errors."""


class IndexDamaged(IndexStoreError):
    """Files that do not match their manifest, or a manifest that cannot be read."""


class IndexForeign(IndexStoreError):
    """A readable index built by another embedder, other parameters or another program."""


class IndexFromNewerVersion(IndexStoreError):
    pass


class IndexLocked(IndexStoreError):
    """Another process held the index lock for longer than we wait."""


@dataclass(frozen=True)
class _Manifest:
    generation: int
    embedder: dict[str, Any]
    space: str
    m: int
    ef_construction: int
    count: int
    files: dict[str, dict[str, Any]]

    @classmethod
    def read(cls, path: Path) -> _Manifest | None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise IndexDamaged(f"the manifest cannot be read: {error}") from error
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise IndexDamaged(f"the manifest is not valid JSON ({error})") from error
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise IndexForeign("the manifest is not an aqe index manifest")
        version = data.get("version")
        if not isinstance(version, int):
            raise IndexDamaged("the manifest has no format version")
        if version > FORMAT_VERSION:
            raise IndexFromNewerVersion(
                f"the index was written by a newer aqe (format {version}; this aqe reads {FORMAT_VERSION})"
            )
        try:
            files = data["files"]
            manifest = cls(
                generation=int(data["generation"]),
                embedder=dict(data["embedder"]),
                space=str(data["space"]),
                m=int(data["hnsw"]["m"]),
                ef_construction=int(data["hnsw"]["efConstruction"]),
                count=int(data["count"]),
                files={name: {"name": str(f["name"]), "sha256": str(f["sha256"]), "bytes": int(f["bytes"])}
                       for name, f in files.items()},
            )  # fmt: skip
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise IndexDamaged(f"the manifest is incomplete ({type(error).__name__}: {error})") from error
        for role in ("vectors", "metadata"):
            name = manifest.files.get(role, {}).get("name", "")
            if not name or "/" in name or "\\" in name or name.startswith("."):
                raise IndexDamaged(f"the manifest names no valid {role} file")
        return manifest

    def to_json(self) -> bytes:
        data = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "generation": self.generation,
            "embedder": self.embedder,
            "space": self.space,
            "hnsw": {"m": self.m, "efConstruction": self.ef_construction},
            "count": self.count,
            "files": self.files,
            "writtenBy": f"aqe {__version__}",
            "writtenAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")


@dataclass
class _State:
    """The working state of one generation: graph, metadata, label bookkeeping."""

    graph: hnswlib.Index
    db: sqlite3.Connection
    label_of: dict[str, int] = field(default_factory=dict)
    category_of: list[str | None] = field(default_factory=list)
    """Indexed by label; None for a free (deleted) label. Read by the search filter."""
    free_labels: list[int] = field(default_factory=list)
    categories: Counter[str] = field(default_factory=Counter)

    @property
    def capacity(self) -> int:
        return int(self.graph.get_max_elements())

    @property
    def count(self) -> int:
        return len(self.label_of)


class VectorStore:
    """See the module docstring. `directory=None` keeps everything in memory (tests, previews)."""

    def __init__(
        self,
        directory: Path | None,
        identity: EmbedderIdentity,
        params: HnswParams = HnswParams(),
        *,
        lock_timeout_s: float = _LOCK_TIMEOUT_S,
    ) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.identity = identity
        self.params = params
        self._lock = threading.RLock()
        self._file_lock = (
            FileLock(str(self.directory / LOCK_NAME), timeout=lock_timeout_s) if self.directory is not None else None
        )
        self._state = self._empty_state()
        self._pending: dict[str, bool] = {}
        """Keys changed since the generation we hold: True = upserted, False = deleted."""
        self._generation = 0
        self._read_only = self.directory is None
        self._manifest_stamp: tuple[int, int] | None = None
        self.load_report = LoadReport(LoadOutcome.CREATED)

    # --- opening ----------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, directory: Path | None, identity: EmbedderIdentity, params: HnswParams = HnswParams(), **kwargs: Any
    ) -> VectorStore:
        """Load the committed generation, or start empty: quarantining what cannot be trusted."""
        store = cls(directory, identity, params, **kwargs)
        if store.directory is not None:
            store.load_report = store._load_or_quarantine()
        return store

    def _load_or_quarantine(self) -> LoadReport:
        assert self.directory is not None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            self._read_only = True
            return LoadReport(LoadOutcome.READ_ONLY, f"the index folder cannot be created ({error}); in memory only")
        try:
            with self._locked_files():
                manifest = _Manifest.read(self.directory / MANIFEST_NAME)
                if manifest is None:
                    return LoadReport(LoadOutcome.CREATED)
                self._check_compatible(manifest)
                state = self._load_state(manifest)
                with self._lock:
                    self._state, self._generation = state, manifest.generation
                    self._manifest_stamp = self._stamp()
                return LoadReport(LoadOutcome.LOADED, generation=manifest.generation)
        except IndexFromNewerVersion as error:
            self._read_only = True
            return LoadReport(LoadOutcome.READ_ONLY, f"{error}; aqe will not overwrite it and works in memory")
        except (IndexDamaged, IndexForeign) as error:
            target = self._quarantine(str(error))
            where = f" (moved to {target})" if target else ""
            kind = "damaged" if isinstance(error, IndexDamaged) else "not usable here"
            return LoadReport(
                LoadOutcome.QUARANTINED, f"the index was {kind}: {error}; rebuilding it{where}", quarantined_to=target
            )
        except IndexLocked as error:
            self._read_only = True
            return LoadReport(LoadOutcome.READ_ONLY, f"{error}; working in memory")

    def _check_compatible(self, manifest: _Manifest) -> None:
        ours = self.identity.to_json()
        if manifest.embedder != ours:
            raise IndexForeign(
                f"it was built by embedder {_describe(manifest.embedder)}, and this workspace now uses "
                f"{_describe(ours)}"
            )
        if manifest.space != "ip":
            raise IndexForeign(f"it uses the {manifest.space!r} space")

    def _load_state(self, manifest: _Manifest) -> _State:
        """Verify both files against the manifest, then (only then) hand them to hnswlib and SQLite."""
        assert self.directory is not None
        paths = {}
        for role in ("vectors", "metadata"):
            entry = manifest.files[role]
            path = self.directory / entry["name"]
            try:
                size = path.stat().st_size
            except OSError as error:
                raise IndexDamaged(f"the {role} file {entry['name']} is missing ({error.strerror})") from error
            if size != entry["bytes"]:
                raise IndexDamaged(f"the {role} file has {size} bytes, the manifest says {entry['bytes']}")
            if sha256_of_file(path) != entry["sha256"]:
                raise IndexDamaged(f"the {role} file does not match its checksum")
            paths[role] = path
        db = sqlite3.connect(":memory:", check_same_thread=False)
        try:
            source = sqlite3.connect(f"file:{paths['metadata']}?mode=ro", uri=True)
            try:
                source.backup(db)
            finally:
                source.close()
            rows = db.execute("SELECT label, key, category FROM units").fetchall()
        except sqlite3.DatabaseError as error:
            db.close()
            raise IndexDamaged(f"the metadata cannot be read ({error})") from error
        if len(rows) != manifest.count:
            db.close()
            raise IndexDamaged(f"the metadata has {len(rows)} entries, the manifest says {manifest.count}")
        dim = int(manifest.embedder["dim"])
        graph = hnswlib.Index(space="ip", dim=dim)
        try:
            graph.load_index(str(paths["vectors"]), max_elements=0)
        except (RuntimeError, MemoryError, ValueError) as error:
            db.close()
            raise IndexDamaged(f"hnswlib could not load the vectors ({error})") from error
        graph.set_ef(self.params.ef_search)
        graph.set_num_threads(1)
        labels_in_graph = set(graph.get_ids_list())
        state = _State(graph=graph, db=db)
        top = max(labels_in_graph, default=-1)
        state.category_of = [None] * (top + 1)
        for label, key, category in rows:
            if label not in labels_in_graph:
                db.close()
                raise IndexDamaged(f"the metadata names label {label}, which the vectors file lacks")
            state.label_of[key] = label
            state.category_of[label] = category
            state.categories[category] += 1
        state.free_labels = sorted(labels_in_graph - set(state.label_of.values()), reverse=True)
        return state

    def _quarantine(self, reason: str) -> Path | None:
        """Move every index file aside (never delete: a person may want to look)."""
        assert self.directory is not None
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        target = self.directory.parent / QUARANTINE_DIR / f"index-{stamp}-{os.getpid()}"
        moved = 0
        try:
            for path in self.directory.iterdir():
                if path.name == LOCK_NAME or not path.is_file():
                    continue
                target.mkdir(parents=True, exist_ok=True)
                shutil.move(str(path), target / path.name)
                moved += 1
        except OSError as error:
            log.error("could not quarantine the damaged index in %s: %s", self.directory, error)
            return None
        if moved:
            (target / "REASON.txt").write_text(reason + "\n", encoding="utf-8")
            fsync_directory(self.directory)
        log.info("quarantined the index in %s: %s", self.directory, reason)  # the caller reports it to the user
        return target if moved else None

    def _empty_state(self, capacity: int = _MIN_CAPACITY) -> _State:
        graph = hnswlib.Index(space="ip", dim=self.identity.dim)
        graph.init_index(max_elements=capacity, ef_construction=self.params.ef_construction, M=self.params.m)
        graph.set_ef(self.params.ef_search)
        graph.set_num_threads(1)
        db = sqlite3.connect(":memory:", check_same_thread=False)
        db.executescript(_SCHEMA)
        return _State(graph=graph, db=db)

    # --- reading ----------------------------------------------------------------------------------

    @property
    def count(self) -> int:
        with self._lock:
            return self._state.count

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def has_pending_changes(self) -> bool:
        return bool(self._pending)

    def categories(self) -> dict[str, int]:
        with self._lock:
            return {category: n for category, n in self._state.categories.items() if n}

    def get(self, key: str) -> IndexRecord | None:
        with self._lock:
            row = self._state.db.execute(f"SELECT {', '.join(_COLUMNS)} FROM units WHERE key = ?", (key,)).fetchone()
        return _record(row) if row else None

    def records(self, *, path: str | None = None, category: str | None = None) -> list[IndexRecord]:
        query = f"SELECT {', '.join(_COLUMNS)} FROM units"
        clauses, args = [], []
        if path is not None:
            clauses.append("path = ?")
            args.append(path)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        with self._lock:
            rows = self._state.db.execute(query + " ORDER BY path, start_line", args).fetchall()
        records = [_record(row) for row in rows]
        if category is not None:
            records = [r for r in records if category_matches(category, r.category)]
        return records

    def content_hashes(self, path: str) -> dict[str, str]:
        with self._lock:
            rows = self._state.db.execute("SELECT key, content_hash FROM units WHERE path = ?", (path,)).fetchall()
        return dict(rows)

    def paths(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._state.db.execute("SELECT DISTINCT path FROM units")}

    def find_symbols(self, fragment: str, limit: int = 100) -> list[IndexRecord]:
        """Units whose symbol contains `fragment` (case-insensitive), shortest names first."""
        pattern = "%" + fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self._lock:
            rows = self._state.db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM units WHERE symbol LIKE ? ESCAPE '\\' "
                "AND category LIKE 'code/%' ORDER BY length(symbol), symbol LIMIT ?",
                (pattern, limit),
            ).fetchall()
        return [_record(row) for row in rows]

    def vector_of(self, key: str) -> np.ndarray | None:
        with self._lock:
            label = self._state.label_of.get(key)
            if label is None:
                return None
            return np.asarray(self._state.graph.get_items([label]), dtype=np.float32)[0]

    def search(self, vector: np.ndarray, k: int = 10, category: str | None = None) -> list[SearchHit]:
        """The k nearest entries, filtered to `category` INSIDE the graph search (hnswlib's filter),
        so k hits of that category come back whenever the category has k entries."""
        if k <= 0:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        if query.shape[1] != self.identity.dim:
            raise ValueError(f"query has dimension {query.shape[1]}, the index {self.identity.dim}")
        with self._lock:
            state = self._state
            if category is None:
                allowed_count = state.count
                keep = None
            else:
                allowed = {c for c, n in state.categories.items() if n and category_matches(category, c)}
                allowed_count = sum(state.categories[c] for c in allowed)
                category_of = state.category_of

                def keep(label: int) -> bool:
                    return category_of[label] in allowed

            wanted = min(k, allowed_count)
            if wanted == 0:
                return []
            labels, distances = self._knn(state, query, wanted, keep)
            found = [(int(label), 1.0 - float(distance)) for label, distance in zip(labels, distances, strict=True)]
            records = self._records_by_label(state, [label for label, _ in found])
        return [SearchHit(records[label], score) for label, score in found if label in records]

    def _knn(self, state: _State, query: np.ndarray, k: int, keep: Any) -> tuple[Sequence[int], Sequence[float]]:
        """hnswlib raises when the filtered search finds fewer than k: widen ef, then fall back to an
        exact scan of the allowed entries (small categories, or very selective filters)."""
        ef = max(self.params.ef_search, k)
        for attempt_ef in (ef, max(ef * 4, 256)):
            widened = attempt_ef != self.params.ef_search
            if widened:
                state.graph.set_ef(attempt_ef)
            try:
                labels, distances = state.graph.knn_query(query, k=k, filter=keep)
                return labels[0], distances[0]
            except RuntimeError:
                continue
            finally:
                if widened:
                    state.graph.set_ef(self.params.ef_search)
        candidates = [label for label in state.label_of.values() if keep is None or keep(label)]
        vectors = np.asarray(state.graph.get_items(candidates), dtype=np.float32)
        scores = vectors @ query[0]
        order = np.argsort(-scores)[:k]
        return [candidates[i] for i in order], [1.0 - float(scores[i]) for i in order]

    @staticmethod
    def _records_by_label(state: _State, labels: list[int]) -> dict[int, IndexRecord]:
        if not labels:
            return {}
        marks = ",".join("?" * len(labels))
        rows = state.db.execute(f"SELECT label, {', '.join(_COLUMNS)} FROM units WHERE label IN ({marks})", labels)
        return {row[0]: _record(row[1:]) for row in rows}

    # --- writing ----------------------------------------------------------------------------------

    def upsert(self, records: Sequence[IndexRecord], vectors: np.ndarray) -> None:
        """Add new keys, replace existing ones (vector and metadata). Labels of deleted entries are
        re-used before new ones are taken; the graph grows by doubling."""
        if len(records) != len(vectors):
            raise ValueError(f"{len(records)} records but {len(vectors)} vectors")
        if not records:
            return
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != self.identity.dim:
            raise ValueError(f"vectors must have shape (n, {self.identity.dim}), not {matrix.shape}")
        with self._lock:
            self._upsert_into(self._state, records, matrix)
            for record in records:
                self._pending[record.key] = True

    def _upsert_into(self, state: _State, records: Sequence[IndexRecord], matrix: np.ndarray) -> None:
        labels: list[int] = []
        rows: list[tuple[Any, ...]] = []
        seen: dict[str, int] = {}
        for record in records:
            label = seen.get(record.key)
            if label is None:
                label = state.label_of.get(record.key)
            if label is None:
                label = state.free_labels.pop() if state.free_labels else len(state.category_of)
                if label == len(state.category_of):
                    state.category_of.append(None)
            seen[record.key] = label
            previous = state.category_of[label]
            if previous is not None:
                state.categories[previous] -= 1
            state.category_of[label] = record.category
            state.categories[record.category] += 1
            state.label_of[record.key] = label
            labels.append(label)
            rows.append((label, *_values(record)))
        needed = len(state.category_of)
        if needed > state.capacity:
            state.graph.resize_index(max(needed, state.capacity * 2))
        # Re-adding a deleted label un-deletes it and updates its vector and links in place.
        # Bulk inserts (a first scan) use every core; hnswlib parallelises inside one call safely.
        state.graph.add_items(matrix, labels, num_threads=-1 if len(labels) >= _PARALLEL_INSERT else 1)
        state.db.executemany(_INSERT, rows)

    def update_metadata(self, records: Sequence[IndexRecord]) -> None:
        """New metadata (a unit that moved) for keys already stored, keeping their vectors."""
        with self._lock:
            state = self._state
            rows = [(*_values(r), state.label_of[r.key]) for r in records if r.key in state.label_of]
            for record in records:
                label = state.label_of.get(record.key)
                if label is not None and state.category_of[label] != record.category:
                    state.categories[state.category_of[label]] -= 1  # type: ignore[index]
                    state.categories[record.category] += 1
                    state.category_of[label] = record.category
            if rows:
                assignments = ", ".join(f"{column} = ?" for column in _COLUMNS)
                state.db.executemany(f"UPDATE units SET {assignments} WHERE label = ?", rows)
                for record in records:
                    if record.key in state.label_of:
                        self._pending[record.key] = True

    def delete(self, keys: Iterable[str]) -> int:
        """Remove entries by key (mark_deleted in the graph; the label is re-used later)."""
        removed = 0
        with self._lock:
            for key in keys:
                if self._delete_from(self._state, key):
                    self._pending[key] = False
                    removed += 1
        return removed

    @staticmethod
    def _delete_from(state: _State, key: str) -> bool:
        label = state.label_of.pop(key, None)
        if label is None:
            return False
        state.graph.mark_deleted(label)
        category = state.category_of[label]
        if category is not None:
            state.categories[category] -= 1
        state.category_of[label] = None
        state.free_labels.append(label)
        state.db.execute("DELETE FROM units WHERE label = ?", (label,))
        return True

    def delete_path(self, path: str) -> int:
        return self.delete(self.content_hashes(path))

    def clear(self) -> None:
        with self._lock:
            keys = list(self._state.label_of)
        self.delete(keys)

    # --- persistence ------------------------------------------------------------------------------

    def save(self) -> int:
        """Commit a new generation with our pending changes (merged onto whatever another process
        committed meanwhile). Returns the generation now on disk; a no-op without changes."""
        if self._read_only or self.directory is None:
            return self._generation
        with self._lock, self._locked_files():
            disk = self._read_disk_manifest()
            disk_generation = disk.generation if disk is not None else 0
            if disk is not None and disk_generation != self._generation:
                self._merge_from(disk)
            if not self._pending and disk is not None:
                self._manifest_stamp = self._stamp()
                return self._generation  # nothing of ours to add to what is on disk
            generation = disk_generation + 1
            self._write_generation(generation)
            self._generation = generation
            self._pending.clear()
            self._manifest_stamp = self._stamp()
            return generation

    def refresh(self) -> bool:
        """Take up another process' newer generation (keeping our pending changes on top).
        Cheap when nothing changed: one stat of the manifest. True when something was reloaded."""
        if self.directory is None or self._read_only or self._stamp() == self._manifest_stamp:
            return False
        with self._lock, self._locked_files():
            disk = self._read_disk_manifest()
            self._manifest_stamp = self._stamp()
            if disk is None or disk.generation == self._generation:
                return False
            self._merge_from(disk)
            return True

    def _read_disk_manifest(self) -> _Manifest | None:
        assert self.directory is not None
        try:
            manifest = _Manifest.read(self.directory / MANIFEST_NAME)
            if manifest is not None:
                self._check_compatible(manifest)
            return manifest
        except (IndexDamaged, IndexForeign) as error:
            # Damaged since we loaded it: ours becomes the committed state (nothing of value is lost
            # that we do not hold ourselves; the damaged files are kept aside for a look).
            self._quarantine(str(error))
            return None

    def _merge_from(self, disk: _Manifest) -> None:
        """Load the newer generation and re-apply our pending changes on top of it."""
        try:
            fresh = self._load_state(disk)
        except IndexDamaged as error:
            self._quarantine(str(error))
            return
        ours = self._state
        upserts = [key for key, upserted in self._pending.items() if upserted and key in ours.label_of]
        deletes = [key for key, upserted in self._pending.items() if not upserted]
        if upserts:
            labels = [ours.label_of[key] for key in upserts]
            vectors = np.asarray(ours.graph.get_items(labels), dtype=np.float32)
            records = list(self._records_by_label(ours, labels).values())
            by_key = {record.key: record for record in records}
            ordered = [by_key[key] for key in upserts]
            self._upsert_into(fresh, ordered, vectors)
        for key in deletes:
            self._delete_from(fresh, key)
        ours.db.close()
        self._state = fresh
        self._generation = disk.generation
        log.info("took up generation %d of the index from another process", disk.generation)

    def _write_generation(self, generation: int) -> None:
        assert self.directory is not None
        state = self._state
        for stale in remove_stale_temp_files(self.directory):
            log.info("removed %s, left by an interrupted save", stale.name)
        vectors_name, metadata_name = f"vectors-{generation}.hnsw", f"metadata-{generation}.sqlite"
        vectors_path, metadata_path = self.directory / vectors_name, self.directory / metadata_name
        atomic_write_with(vectors_path, lambda path: state.graph.save_index(str(path)))
        atomic_write_with(metadata_path, lambda path: _backup_to(state.db, path))
        manifest = _Manifest(
            generation=generation,
            embedder=self.identity.to_json(),
            space="ip",
            m=self.params.m,
            ef_construction=self.params.ef_construction,
            count=state.count,
            files={
                "vectors": _file_entry(vectors_path),
                "metadata": _file_entry(metadata_path),
            },
        )
        atomic_write_bytes(self.directory / MANIFEST_NAME, manifest.to_json())
        keep = {MANIFEST_NAME, LOCK_NAME, vectors_name, metadata_name}
        for path in self.directory.iterdir():
            if path.name not in keep and (path.name.startswith(("vectors-", "metadata-"))):
                with contextlib.suppress(OSError):
                    path.unlink()

    @contextlib.contextmanager
    def _locked_files(self) -> Iterator[None]:
        if self._file_lock is None:
            yield
            return
        try:
            with self._file_lock:
                yield
        except Timeout as error:
            held = f"another aqe process has held {error.lock_file} for over {self._file_lock.timeout} s"
            raise IndexLocked(held) from error

    def _stamp(self) -> tuple[int, int] | None:
        assert self.directory is not None
        try:
            stat = (self.directory / MANIFEST_NAME).stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_ino

    def close(self) -> None:
        with self._lock:
            self._state.db.close()


def category_matches(pattern: str, category: str) -> bool:
    """`aqe/test-patterns`, `aqe/test-patterns/` and `aqe/test-patterns/*` all match
    `aqe/test-patterns/fixtures`; other globs (`aqe/*-patterns/*`) are fnmatch patterns."""
    pattern = pattern.strip()
    if pattern.endswith("/*") and "*" not in pattern[:-2]:
        pattern = pattern[:-2]
    pattern = pattern.rstrip("/")
    if "*" in pattern or "?" in pattern or "[" in pattern:
        return fnmatch.fnmatchcase(category, pattern) or fnmatch.fnmatchcase(category, pattern + "/*")
    return category == pattern or category.startswith(pattern + "/")


def _record(row: Sequence[Any]) -> IndexRecord:
    return IndexRecord(*row)


def _values(record: IndexRecord) -> tuple[Any, ...]:
    return tuple(getattr(record, column) for column in _COLUMNS)  # asdict() deep-copies: 10% of a scan


def _backup_to(db: sqlite3.Connection, path: Path) -> None:
    # An open write transaction on the source makes sqlite3's backup retry forever.
    db.commit()
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    target = sqlite3.connect(path)
    try:
        db.backup(target)
    finally:
        target.close()


def _file_entry(path: Path) -> dict[str, Any]:
    return {"name": path.name, "sha256": sha256_of_file(path), "bytes": path.stat().st_size}


def _describe(embedder: dict[str, Any]) -> str:
    return f"{embedder.get('name')!s}/{embedder.get('dim')!s}d (version {embedder.get('version')!s})"
