import random
import time


class Account:
    """Not thread-safe: `deposit` reads, then writes, the balance."""

    def __init__(self) -> None:
        self.balance = 0

    def deposit(self, amount: int) -> None:
        balance = self.balance
        if random.random() < 0.0007:
            time.sleep(0)  # the interpreter switches threads here now and then
        self.balance = balance + amount

    def deposit_many(self, count: int) -> None:
        for _ in range(count):
            self.deposit(1)
