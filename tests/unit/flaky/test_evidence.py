"""Static evidence: what a test and the project code it calls do, read from real files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from aqe.flaky.evidence import Category, static_facts


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def _categories(root: Path, file: str, test: str, class_name: str | None = None) -> dict[Category, list[int]]:
    found: dict[Category, list[int]] = {}
    for fact in static_facts(root, file, test, class_name):
        found.setdefault(fact.category, []).append(fact.depth)
    return found


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return _write(
        tmp_path,
        {
            "src/shop/__init__.py": "",
            "src/shop/clock.py": """
                import time

                def tick_is_even():
                    return time.time_ns() % 2 == 0
            """,
            "src/shop/cart.py": """
                import random
                import threading

                PRICES = {"apple": 3}

                def set_price(name, value):
                    PRICES[name] = value

                def price(name):
                    return PRICES[name]

                class Basket:
                    def __init__(self):
                        self.items = []

                    def fill(self):
                        threading.Thread(target=self._add).start()

                    def _add(self):
                        self.items.append(random.choice(["a", "b"]))
            """,
            "tests/conftest.py": """
                import tempfile
                import pytest

                @pytest.fixture
                def spool():
                    folder = tempfile.mkdtemp()
                    yield folder
            """,
            "tests/test_shop.py": """
                import random
                import time
                from shop.clock import tick_is_even
                from shop.cart import Basket, price, set_price

                def test_clock_parity():
                    assert tick_is_even()

                def test_within_budget():
                    started = time.monotonic()
                    time.sleep(random.uniform(0.0, 0.2))
                    assert time.monotonic() - started < 0.1

                def test_seeded_draw():
                    random.seed(3)
                    assert random.random() < 1

                def test_uses_spool(spool):
                    assert spool

                def test_price_after_change():
                    set_price("apple", 4)
                    assert price("apple") == 4

                class TestBasket:
                    def test_fill(self):
                        basket = Basket()
                        basket.fill()
                        assert basket.items

                def test_leaks_a_handle(tmp_path):
                    handle = open(tmp_path / "x", "w")
                    kept = open(tmp_path / "y", "w")
                    kept.close()
                    with open(tmp_path / "z", "w") as closed:
                        closed.write("x")
                    assert {"a", "b"} and 0.1 + 0.2 == 0.3
            """,
        },
    )


def test_a_clock_read_in_an_imported_function_is_found_and_its_name_does_not_suggest_a_lock(project):
    facts = static_facts(project, "tests/test_shop.py", "test_clock_parity")
    assert [(f.category, f.code, f.file, f.line, f.depth) for f in facts] == [
        (Category.CLOCK, "time.time_ns", "src/shop/clock.py", 5, 1)
    ]
    assert facts[0].describe() == "tick_is_even() reads the clock with `time.time_ns` at src/shop/clock.py:5"


def test_a_function_of_an_imported_submodule_is_followed(project):
    (project / "tests" / "test_more.py").write_text(
        "from shop import clock\n\n\ndef test_tick():\n    assert clock.tick_is_even()\n"
    )
    facts = static_facts(project, "tests/test_more.py", "test_tick")
    assert [(f.category, f.file) for f in facts] == [(Category.CLOCK, "src/shop/clock.py")]


def test_a_random_duration_given_to_sleep_is_a_wait_not_randomness(project):
    found = _categories(project, "tests/test_shop.py", "test_within_budget")
    assert set(found) == {Category.CLOCK, Category.SLEEP}


def test_a_seeded_generator_is_not_reported(project):
    assert Category.RANDOM not in _categories(project, "tests/test_shop.py", "test_seeded_draw")


def test_fixtures_are_read_from_the_conftest(project):
    facts = static_facts(project, "tests/test_shop.py", "test_uses_spool")
    assert [(f.category, f.function, f.file) for f in facts] == [(Category.FILES, "spool", "tests/conftest.py")]


def test_writes_and_reads_of_module_level_state_in_called_functions(project):
    found = _categories(project, "tests/test_shop.py", "test_price_after_change")
    assert found[Category.SHARED_WRITE] == [1] and found[Category.SHARED_READ] == [1, 1]


def test_a_method_test_follows_the_class_it_builds_and_that_class_s_helpers(project):
    found = _categories(project, "tests/test_shop.py", "test_fill", "TestBasket")
    assert found[Category.THREADS] == [1]
    assert found[Category.RANDOM] == [1]


def test_only_the_open_that_is_never_closed_is_unclosed_and_float_and_set_literals_are_seen(project):
    facts = static_facts(project, "tests/test_shop.py", "test_leaks_a_handle")
    unclosed = [f for f in facts if f.category is Category.UNCLOSED]
    assert [f.code for f in unclosed] == ['open(tmp_path / "x", "w")']
    assert {Category.FLOAT, Category.UNORDERED} <= {f.category for f in facts}


def test_an_unknown_test_gives_no_facts(project):
    assert static_facts(project, "tests/test_shop.py", "test_missing") == []
    assert static_facts(project, "tests/test_nothing.py", "test_x") == []
