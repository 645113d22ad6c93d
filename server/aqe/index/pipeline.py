"""Overlap the two halves of a scan: reading, parsing and embedding (Python, holding the GIL) on the
scanning thread, and inserting into the HNSW graph (C++, GIL released) on one worker thread.

On a first scan graph construction is most of the time (about 70% on the standard library), and
without this the other core sat idle while Python parsed the next files. One worker keeps inserts
in submission order, so a later batch never overtakes an earlier one for the same key.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from aqe.index.store import IndexRecord, VectorStore

_IN_FLIGHT = 2
"""Batches queued behind the one being inserted: enough to keep the worker busy, few enough that
the vectors waiting in memory stay small (a batch is a few hundred rows)."""


class BackgroundInserts:
    """Upserts into a store on one worker thread, in order; errors surface on the next call."""

    def __init__(self, store: VectorStore) -> None:
        self._store = store
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aqe-index-insert")
        self._queued: deque[Future[None]] = deque()

    def submit(self, records: Sequence[IndexRecord], vectors: np.ndarray) -> None:
        while len(self._queued) >= _IN_FLIGHT:
            self._queued.popleft().result()  # back-pressure, and re-raises a failed insert
        self._queued.append(self._worker.submit(self._store.upsert, list(records), vectors))

    def wait(self) -> None:
        """Every submitted batch is in the store (or its error is raised)."""
        try:
            while self._queued:
                self._queued.popleft().result()
        finally:
            self._queued.clear()

    def close(self) -> None:
        """Wait for what was submitted, then stop the worker; safe to call twice."""
        try:
            self.wait()
        finally:
            self._worker.shutdown(wait=True)

    def __enter__(self) -> BackgroundInserts:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
