"""Parcel rates from the carrier contract."""

from __future__ import annotations

from collections.abc import Iterable

FREE_SHIPPING_FROM_CENTS = 5000
BASE_RATE_CENTS = 495
PER_EXTRA_KILO_CENTS = 120
EXPRESS_SURCHARGE_CENTS = 900
PACKAGING_GRAMS = 150


def parcel_weight_grams(item_weights: Iterable[int]) -> int:
    contents = sum(item_weights)
    return contents + PACKAGING_GRAMS if contents else 0


def shipping_cents(weight_grams: int, subtotal_cents: int, *, express: bool = False) -> int:
    """Nothing to ship (gift cards) costs nothing; standard parcels are free from 50 euros."""
    if weight_grams <= 0:
        return 0
    # TODO: the carrier adds an island surcharge from January; we need postcodes here for that.
    if subtotal_cents >= FREE_SHIPPING_FROM_CENTS and not express:
        return 0
    kilos = -(-weight_grams // 1000)
    cost = BASE_RATE_CENTS + PER_EXTRA_KILO_CENTS * (kilos - 1)
    return cost + EXPRESS_SURCHARGE_CENTS if express else cost
