"""Stock levels, and short holds on stock while a customer pays."""

from __future__ import annotations

import csv
import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

DEFAULT_HOLD_SECONDS = 15 * 60


class OutOfStockError(Exception):
    def __init__(self, sku: str, requested: int, available: int) -> None:
        super().__init__(f"{sku}: {requested} requested, {available} available")
        self.sku = sku
        self.requested = requested
        self.available = available


@dataclass(frozen=True)
class Reservation:
    id: int
    sku: str
    quantity: int
    expires_at: float


class Inventory:
    def __init__(
        self,
        levels: dict[str, int] | None = None,
        *,
        hold_seconds: float = DEFAULT_HOLD_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._on_hand = dict(levels or {})
        self._holds: dict[int, Reservation] = {}
        self._ids = itertools.count(1)
        self._hold_seconds = hold_seconds
        self._clock = clock

    def on_hand(self, sku: str) -> int:
        return self._on_hand.get(sku, 0)

    def available(self, sku: str) -> int:
        self.expire_holds()
        held = sum(hold.quantity for hold in self._holds.values() if hold.sku == sku)
        return self.on_hand(sku) - held

    def reserve(self, sku: str, quantity: int) -> Reservation:
        available = self.available(sku)
        if quantity > available:
            raise OutOfStockError(sku, quantity, available)
        reservation = Reservation(next(self._ids), sku, quantity, self._clock() + self._hold_seconds)
        self._holds[reservation.id] = reservation
        return reservation

    def release(self, reservation: Reservation) -> None:
        self._holds.pop(reservation.id, None)

    def commit(self, reservation: Reservation) -> None:
        """Turn a hold into a sale. A hold that expired meanwhile is checked against stock again."""
        still_held = self._holds.pop(reservation.id, None) is not None
        if not still_held and reservation.quantity > self.available(reservation.sku):
            raise OutOfStockError(reservation.sku, reservation.quantity, self.available(reservation.sku))
        self._on_hand[reservation.sku] = self.on_hand(reservation.sku) - reservation.quantity

    def restock(self, sku: str, quantity: int) -> None:
        if quantity <= 0:
            raise ValueError("restock quantity must be positive")
        self._on_hand[sku] = self.on_hand(sku) + quantity

    def expire_holds(self) -> None:
        now = self._clock()
        for hold_id in [hold.id for hold in self._holds.values() if hold.expires_at <= now]:
            del self._holds[hold_id]


def load_stock_levels(lines: Iterable[str]) -> dict[str, int]:
    """Read the warehouse's nightly `sku,quantity` export: one row per bin, so a SKU can repeat."""
    levels: dict[str, int] = {}
    for row in csv.reader(lines):
        try:
            sku, quantity = row[0].strip(), int(row[1])
            levels[sku] = levels.get(sku, 0) + quantity
        except Exception:
            pass
    return levels
