import asyncio
import queue
import random
import threading
import time


class Worker:
    """Processes orders on a background thread; each takes 2 to 14 ms on a busy machine."""

    def __init__(self) -> None:
        self.inbox: queue.Queue[str] = queue.Queue()
        self.processed: list[str] = []
        self.idle = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, order: str) -> None:
        self.idle.clear()
        self.inbox.put(order)

    def _loop(self) -> None:
        while True:
            order = self.inbox.get()
            time.sleep(random.uniform(0.002, 0.014))
            self.processed.append(order)
            self.idle.set()


async def send_receipt(outbox: list[str], order: str) -> None:
    await asyncio.sleep(random.uniform(0.002, 0.014))
    outbox.append(f"receipt for {order}")


def warm_cache(cache: dict[str, str], done: threading.Event) -> None:
    def fill() -> None:
        time.sleep(random.uniform(0.002, 0.014))
        cache["prices"] = "loaded"
        done.set()

    threading.Thread(target=fill, daemon=True).start()
