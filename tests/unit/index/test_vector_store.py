"""The vector store: round trips, label re-use, filtered search, persistence and damaged files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from aqe.index.embedders import EmbedderIdentity
from aqe.index.store import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    QUARANTINE_DIR,
    HnswParams,
    IndexRecord,
    LoadOutcome,
    VectorStore,
    category_matches,
)

DIM = 32
IDENTITY = EmbedderIdentity("hashing", DIM, "1")


def unit_vectors(count: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def record(key: str, category: str = "code/source", content_hash: str = "h1", **extra: object) -> IndexRecord:
    return IndexRecord(
        key=key, path=f"src/{key}.py", kind="function", symbol=key, category=category,
        content_hash=content_hash, **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def filled_store(
    directory: Path | None, count: int = 20, categories: tuple[str, ...] = ("code/source",)
) -> VectorStore:
    store = VectorStore.open(directory, IDENTITY)
    records = [record(f"unit{i}", categories[i % len(categories)]) for i in range(count)]
    store.upsert(records, unit_vectors(count))
    return store


# --- in memory --------------------------------------------------------------------------------------


def test_an_upserted_vector_is_its_own_nearest_neighbour() -> None:
    store = filled_store(None)
    vectors = unit_vectors(20)

    hits = store.search(vectors[7], k=3)

    assert hits[0].record.key == "unit7"
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_metadata_round_trips_with_every_field() -> None:
    store = VectorStore.open(None, IDENTITY)
    original = IndexRecord(
        key="src/cart.py::Cart.total", path="src/cart.py", kind="method", symbol="Cart.total",
        category="code/source", content_hash="abc", language="python", start_line=4, start_character=4,
        end_line=9, end_character=20, text="def total(self):\n    ...",
    )  # fmt: skip
    store.upsert([original], unit_vectors(1))

    assert store.get(original.key) == original
    assert store.search(unit_vectors(1)[0], k=1)[0].record == original


def test_updating_a_key_replaces_its_vector_and_metadata_without_adding_an_entry() -> None:
    store = filled_store(None)
    replacement = unit_vectors(1, seed=99)

    store.upsert([record("unit3", content_hash="h2")], replacement)

    assert store.count == 20
    assert store.get("unit3").content_hash == "h2"  # type: ignore[union-attr]
    assert store.search(replacement[0], k=1)[0].record.key == "unit3"
    assert store.search(unit_vectors(20)[3], k=1)[0].record.key != "unit3"


def test_deleted_entries_are_never_found_and_their_labels_are_reused() -> None:
    store = filled_store(None)
    vectors = unit_vectors(20)

    assert store.delete(["unit5", "unit6", "missing"]) == 2
    found = {hit.record.key for hit in store.search(vectors[5], k=18)}
    store.upsert([record("new1"), record("new2")], unit_vectors(2, seed=5))

    assert "unit5" not in found and "unit6" not in found
    assert store.count == 20
    assert store._state.graph.element_count == 20  # the two freed labels were taken again
    assert store.get("unit5") is None


def test_the_graph_grows_past_its_initial_capacity() -> None:
    store = VectorStore.open(None, IDENTITY)
    count = 2500
    vectors = np.concatenate([unit_vectors(500, seed=s) for s in range(5)])

    store.upsert([record(f"k{i}") for i in range(count)], vectors)

    assert store.count == count
    assert store._state.capacity >= count
    assert store.search(vectors[2222], k=1)[0].record.key == "k2222"


def test_a_category_search_returns_k_hits_of_that_category_even_when_it_is_rare() -> None:
    store = VectorStore.open(None, IDENTITY)
    many = 400
    categories = ["code/source"] * many + ["aqe/failure-patterns/timing"] * 12
    vectors = unit_vectors(len(categories), seed=3)
    store.upsert([record(f"k{i}", c) for i, c in enumerate(categories)], vectors)

    hits = store.search(vectors[0], k=10, category="aqe/failure-patterns")

    assert len(hits) == 10
    assert {hit.record.category for hit in hits} == {"aqe/failure-patterns/timing"}


def test_a_category_with_fewer_entries_than_k_returns_all_of_them() -> None:
    store = filled_store(None, count=30, categories=("code/source", "code/source", "code/tests"))

    hits = store.search(unit_vectors(1, seed=8)[0], k=25, category="code/tests")

    assert len(hits) == 10
    assert all(hit.record.category == "code/tests" for hit in hits)


def test_an_unknown_category_or_an_empty_store_returns_nothing() -> None:
    assert filled_store(None).search(unit_vectors(1)[0], k=5, category="aqe/best-practices") == []
    assert VectorStore.open(None, IDENTITY).search(unit_vectors(1)[0], k=5) == []


def test_a_query_of_the_wrong_dimension_is_refused() -> None:
    with pytest.raises(ValueError, match="dimension"):
        filled_store(None).search(np.ones(DIM + 1, dtype=np.float32), k=1)


@pytest.mark.parametrize(
    ("pattern", "category", "expected"),
    [
        ("aqe/test-patterns", "aqe/test-patterns/fixtures", True),
        ("aqe/test-patterns/*", "aqe/test-patterns/fixtures", True),
        ("aqe/test-patterns/", "aqe/test-patterns", True),
        ("aqe/test", "aqe/test-patterns/fixtures", False),
        ("code", "code/tests", True),
        ("code/tests", "code/source", False),
        ("aqe/*-patterns", "aqe/failure-patterns/timing", True),
    ],
)
def test_category_patterns(pattern: str, category: str, expected: bool) -> None:
    assert category_matches(pattern, category) is expected


# --- on disk ----------------------------------------------------------------------------------------


def test_a_saved_store_loads_in_a_new_instance_with_the_same_answers(tmp_path: Path) -> None:
    store = filled_store(tmp_path, categories=("code/source", "code/tests"))
    store.delete(["unit0"])
    generation = store.save()
    query = unit_vectors(20)[4]
    before = [(h.record, round(h.score, 5)) for h in store.search(query, k=5, category="code/tests")]

    reopened = VectorStore.open(tmp_path, IDENTITY)

    assert generation == 1
    assert reopened.load_report.outcome is LoadOutcome.LOADED
    assert reopened.count == 19 and reopened.get("unit0") is None
    assert [(h.record, round(h.score, 5)) for h in reopened.search(query, k=5, category="code/tests")] == before


def test_each_save_is_a_new_generation_and_old_generation_files_are_removed(tmp_path: Path) -> None:
    store = filled_store(tmp_path)
    store.save()
    store.upsert([record("extra")], unit_vectors(1, seed=4))
    store.save()

    names = sorted(path.name for path in tmp_path.iterdir())
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())

    assert names == ["index.lock", "manifest.json", "metadata-2.sqlite", "vectors-2.hnsw"]
    assert manifest["generation"] == 2 and manifest["count"] == 21 and manifest["version"] == FORMAT_VERSION
    assert manifest["embedder"] == {"name": "hashing", "dim": DIM, "version": "1"}


def test_saving_without_changes_writes_nothing(tmp_path: Path) -> None:
    store = filled_store(tmp_path)
    store.save()
    stamp = (tmp_path / MANIFEST_NAME).stat().st_mtime_ns

    assert store.save() == 1
    assert (tmp_path / MANIFEST_NAME).stat().st_mtime_ns == stamp


def test_labels_freed_before_a_save_are_reused_after_loading(tmp_path: Path) -> None:
    store = filled_store(tmp_path)
    store.delete(["unit1", "unit2"])
    store.save()

    reopened = VectorStore.open(tmp_path, IDENTITY)
    reopened.upsert([record("again")], unit_vectors(1, seed=6))

    assert reopened._state.graph.element_count == 20
    assert reopened.search(unit_vectors(1, seed=6)[0], k=1)[0].record.key == "again"


def damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    elif how == "bitflip":
        data[len(data) // 3] ^= 0x10
        path.write_bytes(bytes(data))
    elif how == "garbage":
        path.write_bytes(os.urandom(len(data)))
    elif how == "header":
        data[8:16] = b"\xff" * 8  # hnswlib's header fields: the kind of damage that segfaults it
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncate", "bitflip", "garbage", "header"])
@pytest.mark.parametrize("role", ["vectors", "metadata"])
def test_damaged_files_are_quarantined_before_hnswlib_sees_them_and_the_store_starts_empty(
    tmp_path: Path, role: str, how: str
) -> None:
    directory = tmp_path / "index"
    filled_store(directory).save()
    damage(directory / f"{role}-1.{'hnsw' if role == 'vectors' else 'sqlite'}", how)

    reopened = VectorStore.open(directory, IDENTITY)

    assert reopened.load_report.outcome is LoadOutcome.QUARANTINED
    assert "damaged" in (reopened.load_report.message or "")
    assert reopened.count == 0
    quarantined = reopened.load_report.quarantined_to
    assert quarantined is not None and quarantined.parent == tmp_path / QUARANTINE_DIR
    moved = {path.name for path in quarantined.iterdir()}
    assert {"manifest.json", "vectors-1.hnsw", "metadata-1.sqlite", "REASON.txt"} <= moved
    assert not (directory / MANIFEST_NAME).exists()


@pytest.mark.parametrize(
    "manifest",
    [b"", b"{not json", b"\x00\x01\x02", json.dumps({"format": "aqe-index", "version": 1}).encode()],
    ids=["empty", "invalid-json", "binary", "incomplete"],
)
def test_an_unreadable_manifest_is_quarantined(tmp_path: Path, manifest: bytes) -> None:
    filled_store(tmp_path / "index").save()
    (tmp_path / "index" / MANIFEST_NAME).write_bytes(manifest)

    reopened = VectorStore.open(tmp_path / "index", IDENTITY)

    assert reopened.load_report.outcome is LoadOutcome.QUARANTINED
    assert reopened.count == 0


def test_a_manifest_naming_a_file_outside_the_folder_is_refused(tmp_path: Path) -> None:
    filled_store(tmp_path / "index").save()
    path = tmp_path / "index" / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    manifest["files"]["vectors"]["name"] = "../../etc/passwd"
    path.write_text(json.dumps(manifest))

    reopened = VectorStore.open(tmp_path / "index", IDENTITY)

    assert reopened.load_report.outcome is LoadOutcome.QUARANTINED


def test_an_index_built_by_another_embedder_is_set_aside_and_rebuilt(tmp_path: Path) -> None:
    filled_store(tmp_path / "index").save()

    reopened = VectorStore.open(tmp_path / "index", EmbedderIdentity("hashing", DIM, "2"))

    assert reopened.load_report.outcome is LoadOutcome.QUARANTINED
    assert "embedder hashing/32d (version 1)" in (reopened.load_report.message or "")
    assert reopened.count == 0


def test_an_index_from_a_newer_aqe_is_neither_loaded_nor_overwritten(tmp_path: Path) -> None:
    directory = tmp_path / "index"
    filled_store(directory).save()
    path = directory / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    manifest["version"] = FORMAT_VERSION + 1
    path.write_text(json.dumps(manifest))
    before = {p.name: p.read_bytes() for p in directory.iterdir()}

    reopened = VectorStore.open(directory, IDENTITY)
    reopened.upsert([record("mine")], unit_vectors(1))
    reopened.save()

    assert reopened.load_report.outcome is LoadOutcome.READ_ONLY
    assert "newer aqe" in (reopened.load_report.message or "")
    assert reopened.get("mine") is not None  # it still works, in memory
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before


def test_temp_files_left_by_an_interrupted_save_are_cleaned_up_at_the_next_save(tmp_path: Path) -> None:
    store = filled_store(tmp_path)
    store.save()
    (tmp_path / ".vectors-2.hnsw.12345.tmp").write_bytes(b"half written")
    store.upsert([record("x")], unit_vectors(1))

    store.save()

    assert not list(tmp_path.glob(".*.tmp"))
    assert VectorStore.open(tmp_path, IDENTITY).count == 21


def test_hnsw_parameters_are_recorded(tmp_path: Path) -> None:
    store = VectorStore.open(tmp_path, IDENTITY, HnswParams(m=8, ef_construction=64, ef_search=32))
    store.upsert([record("a")], unit_vectors(1))
    store.save()

    assert json.loads((tmp_path / MANIFEST_NAME).read_text())["hnsw"] == {"m": 8, "efConstruction": 64}


def test_metadata_columns_follow_the_record_fields() -> None:
    # Rows become records positionally: a field added to one and not the other must fail here.
    import dataclasses

    from aqe.index.store import _COLUMNS

    assert tuple(field.name for field in dataclasses.fields(IndexRecord)) == _COLUMNS
