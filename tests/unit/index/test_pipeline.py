"""Background inserts during a scan: order kept, errors not lost, everything in before the scan ends."""

from __future__ import annotations

import numpy as np
import pytest

from aqe.index.embedders import EmbedderIdentity
from aqe.index.pipeline import BackgroundInserts
from aqe.index.store import IndexRecord, VectorStore

DIM = 16
IDENTITY = EmbedderIdentity("hashing", DIM, "1")


def record(key: str, content_hash: str) -> IndexRecord:
    return IndexRecord(
        key=key, path=f"src/{key}.py", kind="function", symbol=key, category="code/source", content_hash=content_hash
    )


def vectors(count: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(count, DIM)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_every_batch_is_stored_and_a_later_batch_wins_for_the_same_key() -> None:
    store = VectorStore.open(None, IDENTITY)
    with BackgroundInserts(store) as inserts:
        for batch in range(6):
            inserts.submit([record(f"unit{i}", f"v{batch}") for i in range(50)], vectors(50, seed=batch))
        inserts.wait()
        stored = {r.key: r.content_hash for r in store.records()}

    assert len(stored) == 50
    assert set(stored.values()) == {"v5"}  # submission order: the last batch is what the store holds
    last = vectors(50, seed=5)
    assert store.search(last[7], k=1)[0].record.key == "unit7"


def test_a_failed_insert_is_raised_to_the_scan_not_swallowed() -> None:
    store = VectorStore.open(None, IDENTITY)
    inserts = BackgroundInserts(store)
    inserts.submit([record("good", "h")], vectors(1, seed=0))
    inserts.submit([record("bad", "h")], np.zeros((1, DIM + 1), dtype=np.float32))  # wrong dimension

    with pytest.raises(ValueError, match="vectors must have shape"):
        inserts.close()
    assert [r.key for r in store.records()] == ["good"]
