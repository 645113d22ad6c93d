import random
import time
from datetime import datetime

TAX_SHARES = {"state": 0.1, "county": 0.2, "city": 0.7}
DISCOUNTS = {"spring": 0.3, "loyal": 0.6, "coupon": 0.1}


def tax_parts() -> list[float]:
    """The shares of each authority, in the order the authorities are looked up (a set of names)."""
    return [TAX_SHARES[name] for name in set(TAX_SHARES)]


def discount_total() -> float:
    total = 0.0
    for name in {name for name in DISCOUNTS}:
        total += DISCOUNTS[name]
    return total


def average_rating(ratings: list[float]) -> float:
    shuffled = random.sample(ratings, len(ratings))  # ratings arrive from replicas in any order
    return sum(shuffled) / len(shuffled)


def price_steps(count: int) -> float:
    price = 0.0
    for _ in range(count):
        price += 0.1
    return price


def parity_tick() -> bool:
    return time.time_ns() % 2 == 0


def in_first_half_of_second() -> bool:
    return datetime.now().microsecond < 500_000


def order_reference() -> str:
    return f"ORD-{int(time.time() * 1000) % 1000:03d}"
