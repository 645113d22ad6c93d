import random
import time


class Stock:
    """Counts items; `take` checks, then decrements, with no lock."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.sold = 0

    def take(self) -> bool:
        if self.count > 0:
            if random.random() < 0.003:
                time.sleep(0.001)  # a context switch between the check and the update
            self.count -= 1
            self.sold += 1
            return True
        return False


class Tally:
    def __init__(self) -> None:
        self.total = 0

    def add(self, amount: int) -> None:
        current = self.total
        if random.random() < 0.0004:
            time.sleep(0.0005)
        self.total = current + amount


_registry: dict[str, object] = {}


def session_for(user: str) -> object:
    """One session object per user, created on first use (check-then-act, no lock)."""
    if user not in _registry:
        session = object()
        if random.random() < 0.3:
            time.sleep(0.002)  # the first request is slow to set up
        _registry[user] = session
        return session
    return _registry[user]
