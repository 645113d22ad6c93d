"""Indexing a workspace: what gets in, what is re-embedded, and what the searches find."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from aqe.config import Settings
from aqe.index.embedders import HashingCodeEmbedder
from aqe.index.service import ScanCancelled, WorkspaceIndex, index_directory

SOURCE = '''"""Prices."""


def apply_discount(price: float, percent: float) -> float:
    """Price after a percentage discount."""
    return round(price * (1 - percent / 100), 2)


class Cart:
    def __init__(self):
        self.lines = []

    def add(self, sku, quantity):
        self.lines.append((sku, quantity))

    def total_quantity(self):
        return sum(quantity for _, quantity in self.lines)
'''

TESTS = '''from shop.prices import Cart, apply_discount


def test_apply_discount_takes_the_percentage_off():
    assert apply_discount(200.0, 10) == 180.0


def test_cart_total_quantity_adds_the_lines():
    cart = Cart()
    cart.add("pen", 2)
    cart.add("ink", 3)
    assert cart.total_quantity() == 5
'''


class CountingEmbedder(HashingCodeEmbedder):
    """The real default embedder, counting what it is asked to embed."""

    def __init__(self, dim: int = 384) -> None:
        super().__init__(dim)
        self.embedded: list[str] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded += list(texts)
        return super().embed(texts)


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    write(root / "src/shop/prices.py", SOURCE)
    write(root / "tests/test_prices.py", TESTS)
    return root


def open_index(root: Path, embedder: CountingEmbedder | None = None, **settings: object) -> WorkspaceIndex:
    index = WorkspaceIndex(root, Settings(**settings), embedder or CountingEmbedder())  # type: ignore[arg-type]
    index.open()
    return index


def keys(index: WorkspaceIndex, category: str = "code") -> set[str]:
    assert index.store is not None
    return {record.key for record in index.store.records(category=category)}


def test_a_scan_indexes_modules_classes_functions_methods_and_tests(workspace: Path) -> None:
    index = open_index(workspace)

    report = index.scan()

    assert keys(index) == {
        "src/shop/prices.py::",
        "src/shop/prices.py::apply_discount",
        "src/shop/prices.py::Cart",
        "src/shop/prices.py::Cart.__init__",
        "src/shop/prices.py::Cart.add",
        "src/shop/prices.py::Cart.total_quantity",
        "tests/test_prices.py::",
        "tests/test_prices.py::test_apply_discount_takes_the_percentage_off",
        "tests/test_prices.py::test_cart_total_quantity_adds_the_lines",
    }
    assert keys(index, "code/tests") == {
        "tests/test_prices.py::test_apply_discount_takes_the_percentage_off",
        "tests/test_prices.py::test_cart_total_quantity_adds_the_lines",
    }
    assert report.files_seen == 2 and report.units == 9
    assert report.knowledge_entries >= 40
    record = index.store.get("src/shop/prices.py::apply_discount")  # type: ignore[union-attr]
    assert record is not None
    assert (record.start_line, record.end_line, record.kind, record.language) == (3, 5, "function", "python")


def test_a_second_scan_of_unchanged_files_embeds_nothing(workspace: Path) -> None:
    embedder = CountingEmbedder()
    index = open_index(workspace, embedder)
    index.scan()
    embedder.embedded.clear()

    report = index.scan()

    assert embedder.embedded == []
    assert report.embedded == 0 and report.moved == 0
    assert not index.store.has_pending_changes or index.save() is not None  # type: ignore[union-attr]


def test_only_the_changed_unit_is_embedded_again_and_moved_units_keep_their_vectors(workspace: Path) -> None:
    embedder = CountingEmbedder()
    index = open_index(workspace, embedder)
    index.scan()
    embedder.embedded.clear()
    path = workspace / "src/shop/prices.py"
    edited = SOURCE.replace('"""Prices."""', '"""Prices.\n\nAll in euros."""').replace(
        "return round(price * (1 - percent / 100), 2)", "return round(price - price * percent / 100, 2)"
    )
    path.write_text(edited, encoding="utf-8")

    report = index.scan()

    assert [text.splitlines()[0] for text in embedder.embedded] == ["prices", "apply_discount"]
    assert report.moved == 4  # Cart and its three methods moved down two lines
    cart = index.store.get("src/shop/prices.py::Cart")  # type: ignore[union-attr]
    assert cart is not None and cart.start_line == 10


def test_deleted_units_and_files_leave_the_index(workspace: Path) -> None:
    index = open_index(workspace)
    index.scan()
    (workspace / "tests/test_prices.py").unlink()
    write(workspace / "src/shop/prices.py", SOURCE.split("class Cart")[0])

    report = index.scan()

    assert keys(index) == {"src/shop/prices.py::", "src/shop/prices.py::apply_discount"}
    assert report.files_removed == 1


def test_gitignored_excluded_binary_oversized_and_unsupported_files_are_not_indexed(workspace: Path) -> None:
    write(workspace / ".gitignore", "generated/\n")
    write(workspace / "generated/models.py", "def generated(): pass\n")
    write(workspace / "vendor/lib.py", "def vendored(): pass\n")
    write(workspace / "src/shop/blob.py", b"def x():\x00 pass\n")
    write(workspace / "src/shop/huge.py", "def huge():\n    return 1\n" + "# padding\n" * 120_000)
    write(workspace / "README.md", "# not code\n")
    index = open_index(workspace, exclude=("vendor/**",), max_file_size_mb=1.0)

    report = index.scan()

    assert {key.split("::")[0] for key in keys(index)} == {"src/shop/prices.py", "tests/test_prices.py"}
    assert report.skipped == {"binary": 1, "too-large": 1}


def test_the_index_persists_and_a_reopened_index_needs_no_embedding(workspace: Path) -> None:
    first = open_index(workspace)
    first.scan()
    assert first.save() == 1
    embedder = CountingEmbedder()

    second = open_index(workspace, embedder)
    report = second.scan()

    assert (index_directory(workspace, Settings()) / "manifest.json").is_file()
    assert second.store.count == first.store.count  # type: ignore[union-attr]
    assert embedder.embedded == [] and report.embedded == 0


def test_find_related_tests_for_a_function_puts_its_own_test_first(workspace: Path) -> None:
    index = open_index(workspace)
    index.scan()
    text = (workspace / "src/shop/prices.py").read_text()

    related = index.related_tests(workspace / "src/shop/prices.py", text, line=5, character=8)

    assert related is not None
    assert related.unit.qualified_name == "apply_discount"
    assert related.hits[0].record.key == "tests/test_prices.py::test_apply_discount_takes_the_percentage_off"
    assert all(hit.record.category == "code/tests" for hit in related.hits)


def test_find_related_tests_for_a_method_finds_the_test_that_calls_it(workspace: Path) -> None:
    index = open_index(workspace)
    index.scan()
    text = (workspace / "src/shop/prices.py").read_text()

    related = index.related_tests(workspace / "src/shop/prices.py", text, line=16, character=10)

    assert related is not None and related.unit.qualified_name == "Cart.total_quantity"
    assert related.hits[0].record.symbol == "test_cart_total_quantity_adds_the_lines"


def test_related_tests_outside_any_unit_or_outside_the_workspace_is_none(workspace: Path, tmp_path: Path) -> None:
    index = open_index(workspace)
    index.scan()

    assert index.related_tests(workspace / "src/shop/prices.py", SOURCE, line=1, character=0) is None
    assert index.related_tests(tmp_path / "elsewhere.py", SOURCE, line=5, character=8) is None


def test_editor_text_updates_the_index_without_touching_disk(workspace: Path) -> None:
    index = open_index(workspace)
    index.scan()
    path = workspace / "src/shop/prices.py"
    unsaved = SOURCE + "\n\ndef shipping_cost(weight_kg):\n    return 4.99 + weight_kg\n"

    update = index.update_text(path, unsaved)

    assert update is not None and update.embedded == 2  # the new function, and the module whose text it is in
    assert "src/shop/prices.py::shipping_cost" in keys(index)
    assert path.read_text() == SOURCE


def test_text_of_files_it_must_not_index_is_ignored(workspace: Path, tmp_path: Path) -> None:
    index = open_index(workspace, exclude=("vendor/**",))
    index.scan()

    assert index.update_text(tmp_path / "outside.py", SOURCE) is None
    assert index.update_text(workspace / "vendor/x.py", SOURCE) is None
    assert index.update_text(workspace / "notes.txt", SOURCE) is None
    assert index.update_text(workspace / "src/shop/nul.py", "def x():\x00\n") is None


def test_removed_paths_and_folders_are_forgotten(workspace: Path) -> None:
    index = open_index(workspace)
    index.scan()

    removed = index.remove_paths([workspace / "tests"])

    assert removed == 3
    assert all(not key.startswith("tests/") for key in keys(index))


def test_search_by_words_finds_knowledge_of_the_asked_category(workspace: Path) -> None:
    index = open_index(workspace)
    index.scan()

    hits = index.search("the test passes alone but fails when the suite runs in another order", 3,
                        "aqe/failure-patterns")  # fmt: skip

    assert len(hits) == 3
    assert hits[0].record.key == "knowledge:failure-patterns/order-dependency"
    assert all(hit.record.category.startswith("aqe/failure-patterns/") for hit in hits)


def test_team_knowledge_is_indexed_and_a_change_to_it_is_picked_up(workspace: Path) -> None:
    entry = workspace / ".aqe/knowledge/team.toml"
    write(entry, '[[entry]]\nid = "team/db"\ncategory = "aqe/best-practices/team"\ntitle = "Use the db fixture"\n'
                 'body = "Never connect to the staging database from tests."\n')  # fmt: skip
    index = open_index(workspace)
    index.scan()
    first = index.search("staging database", 1, "aqe/best-practices")[0]
    write(entry, '[[entry]]\nid = "team/db2"\ncategory = "aqe/best-practices/team"\ntitle = "Use the db fixture"\n'
                 'body = "Never connect to the staging database from tests."\n')  # fmt: skip

    index.scan()

    assert first.record.key == "knowledge:team/db"
    assert index.store.get("knowledge:team/db") is None  # type: ignore[union-attr]
    assert index.store.get("knowledge:team/db2") is not None  # type: ignore[union-attr]


def test_workspace_symbols_match_a_fragment_of_the_name(workspace: Path) -> None:
    index = open_index(workspace)
    index.scan()

    names = [record.symbol for record in index.symbols("total")]

    assert names == ["Cart.total_quantity", "test_cart_total_quantity_adds_the_lines"]
    assert index.symbols("%") == []


def test_a_cancelled_scan_stops_and_keeps_what_it_embedded(workspace: Path) -> None:
    for number in range(30):
        write(workspace / f"src/shop/mod{number}.py", f"def function_{number}():\n    return {number}\n")
    cancel = threading.Event()
    index = open_index(workspace)
    seen: list[int] = []

    def progress(done: int, total: int, path: str) -> None:
        seen.append(done)
        cancel.set()

    with pytest.raises(ScanCancelled, match="cancelled after"):
        index.scan(progress=progress, cancel=cancel)

    assert seen and 0 < index.store.count < 32 * 2  # type: ignore[union-attr]


def test_two_windows_on_one_workspace_see_each_others_work(workspace: Path) -> None:
    left, right = open_index(workspace), open_index(workspace)
    left.scan()
    left.save()
    write(workspace / "src/shop/tax.py", "def vat_rate(country):\n    return 0.2\n")
    right.scan()
    right.save()

    hits = left.search("vat_rate country", 1, "code/source")

    assert hits[0].record.key == "src/shop/tax.py::vat_rate"


def test_a_folder_with_more_files_than_the_cap_is_indexed_up_to_the_cap(workspace: Path) -> None:
    for number in range(5):
        write(workspace / f"src/shop/extra{number}.py", f"def extra_{number}():\n    return {number}\n")
    index = open_index(workspace, index_max_files=3)

    report = index.scan()

    assert report.truncated
    assert report.files_seen == 3
    assert len({key.split("::")[0] for key in keys(index)}) == 3
