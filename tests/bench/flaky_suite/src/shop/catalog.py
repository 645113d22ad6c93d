import random
import uuid

COLOURS = ["red", "green", "blue", "black", "white", "grey"]


def featured(count: int) -> list[str]:
    return random.sample(COLOURS, count)


def new_sku() -> str:
    return uuid.uuid4().hex[:8]


def tags_for(product: str) -> list[str]:
    """Tags without duplicates."""
    return list({f"{product}-new", f"{product}-sale"})


def labels(product: str) -> str:
    return ", ".join({product.upper(), product.lower()})


def first_supplier(names: list[str]) -> str:
    return next(iter(set(names)))


def shipping_codes() -> dict[str, int]:
    codes = {}
    for index, region in enumerate({"eu", "us"}):
        codes[region] = index
    return codes


def coupon() -> str:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(random.choice(letters) for _ in range(5))
