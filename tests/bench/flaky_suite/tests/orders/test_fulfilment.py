import asyncio
import threading
import time

import pytest
from shop.worker import Worker, send_receipt, warm_cache

from .conftest import settle


class TestOrderProcessing:
    def test_submitted_order_is_processed(self, worker):
        worker.submit("A-1")
        time.sleep(0.008)
        assert worker.processed == ["A-1"]

    def test_worker_goes_idle(self, worker):
        worker.submit("A-2")
        assert worker.idle.wait(timeout=0.008)

    def test_worker_starts_empty(self, worker):
        assert worker.processed == []

    def test_processed_after_waiting_for_idle(self, worker):
        worker.submit("A-3")
        assert worker.idle.wait(timeout=5)
        assert worker.processed == ["A-3"]


def test_receipt_is_sent():
    outbox: list[str] = []

    async def checkout():
        task = asyncio.create_task(send_receipt(outbox, "B-7"))
        await asyncio.sleep(0.008)
        return task

    asyncio.run(checkout())
    assert outbox == ["receipt for B-7"]


def test_receipt_is_sent_when_awaited():
    outbox: list[str] = []

    async def checkout():
        await send_receipt(outbox, "B-8")

    asyncio.run(checkout())
    assert outbox == ["receipt for B-8"]


def test_prices_are_cached(cache_ready):
    cache: dict[str, str] = {}
    warm_cache(cache, cache_ready)
    settle()
    assert cache.get("prices") == "loaded"


def test_prices_are_cached_once_ready(cache_ready):
    cache: dict[str, str] = {}
    warm_cache(cache, cache_ready)
    cache_ready.wait(timeout=5)
    assert cache.get("prices") == "loaded"


@pytest.mark.parametrize("order", ["C-1", "C-2"])
def test_orders_by_name(order):
    worker = Worker()
    worker.start()
    worker.submit(order)
    deadline = time.monotonic() + 5
    while not worker.processed and time.monotonic() < deadline:
        threading.Event().wait(0.001)
    assert worker.processed == [order]
