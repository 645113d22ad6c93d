import threading

import pytest
from shop.worker import Worker


@pytest.fixture
def worker():
    started = Worker()
    started.start()
    return started


@pytest.fixture
def cache_ready():
    return threading.Event()


def settle():
    """Give background work a moment."""
    import time

    time.sleep(0.008)
