"""Money is kept in integer cents; Decimal only at the edges where percentages are applied."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CURRENCY_SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$"}


def to_cents(amount: Decimal | str | int) -> int:
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def percent_of(cents: int, percent: Decimal) -> int:
    """Rounded half up, the way our payment provider rounds, so receipts match statements."""
    return int((Decimal(cents) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_price(cents: int, currency: str = "EUR") -> str:
    sign = "-" if cents < 0 else ""
    whole, fraction = divmod(abs(cents), 100)
    symbol = CURRENCY_SYMBOLS.get(currency, f"{currency} ")
    return f"{sign}{symbol}{whole:,}.{fraction:02d}"


def split_evenly(cents: int, parts: int) -> list[int]:
    """Split an amount into `parts` that add up exactly; the first shares absorb the remainder."""
    if parts <= 0:
        raise ValueError("parts must be positive")
    share, remainder = divmod(cents, parts)
    return [share + 1 if index < remainder else share for index in range(parts)]
