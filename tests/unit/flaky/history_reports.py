"""JUnit reports of a small project whose tests pass and fail by a seeded coin, for the history tests:
one stable test, two flaky ones at different rates, one that always fails, one polluted by another."""

from __future__ import annotations

import random
import textwrap
from datetime import datetime, timezone
from pathlib import Path

from aqe.flaky.analysis import TestVerdict, analyze
from aqe.flaky.history import HistoryStore

TEST_FILE = textwrap.dedent(
    """\
    import random
    import time

    CACHE = {}


    def test_total():
        assert 1 + 1 == 2


    def test_coin():
        assert random.random() < 0.7


    def test_deadline():
        started = time.monotonic()
        time.sleep(random.random() / 100)
        assert time.monotonic() - started < 0.008


    def test_broken():
        assert False


    def test_writes_cache():
        CACHE["user"] = "x"


    def test_reads_cache():
        assert "user" not in CACHE
    """
)
_START = datetime(2026, 11, 1, tzinfo=timezone.utc).timestamp()


def make_project(root: Path) -> Path:
    (root / "tests").mkdir(parents=True, exist_ok=True)
    (root / "tests" / "test_app.py").write_text(TEST_FILE)
    return root.resolve()


def report_xml(seed: int) -> str:
    """One run of the suite in a shuffled order, stamped `seed` seconds after a fixed start."""
    coin = random.Random(seed)
    order = ["test_total", "test_coin", "test_deadline", "test_broken", "test_writes_cache", "test_reads_cache"]
    coin.shuffle(order)
    polluted = order.index("test_writes_cache") < order.index("test_reads_cache")
    failing = {
        "test_coin": coin.random() >= 0.7,
        "test_deadline": coin.random() >= 0.8,
        "test_broken": True,
        "test_reads_cache": polluted,
        "test_total": False,
        "test_writes_cache": False,
    }
    stamp = datetime.fromtimestamp(_START + seed, tz=timezone.utc).isoformat()
    cases = "".join(
        f'<testcase classname="tests.test_app" name="{name}" time="{coin.random() / 50:.4f}">'
        + (f'<failure message="AssertionError in {name}">assert False</failure>' if failing[name] else "")
        + "</testcase>"
        for name in order
    )
    return f'<testsuite name="pytest" timestamp="{stamp}">{cases}</testsuite>'


def write_reports(folder: Path, seeds: range) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in seeds:
        path = folder / f"run-{seed:06d}.xml"
        path.write_text(report_xml(seed))
        paths.append(path)
    return paths


def verdict_table(verdicts: list[TestVerdict]) -> list[tuple[object, ...]]:
    """Everything a user is shown about each test, in a comparable form."""
    return sorted(
        (v.test_id, v.verdict.value, v.score.runs, v.score.failures, v.score.flips, v.cause, v.message(),
         v.order.culprit if v.order else None)
        for v in verdicts
    )  # fmt: skip


def verdicts_of(store: HistoryStore, project: Path) -> list[tuple[object, ...]]:
    return verdict_table(analyze(store.rows(), project))
