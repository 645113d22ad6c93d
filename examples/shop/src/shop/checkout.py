"""Quoting a cart, and turning it into an order once the stock is secured."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date

from shop.cart import Cart, LineItem
from shop.catalog import Catalog
from shop.inventory import Inventory, OutOfStockError, Reservation
from shop.pricing import Customer, discounted_unit_price, line_discount_percent, vat_cents
from shop.shipping import parcel_weight_grams, shipping_cents

logger = logging.getLogger(__name__)

COUPON_VALUES_CENTS = {"WELCOME5": 500, "SPRING10": 1000}


class EmptyCartError(ValueError):
    pass


@dataclass(frozen=True)
class Quote:
    subtotal_cents: int
    discount_cents: int
    coupon_cents: int
    shipping_cents: int
    vat_cents: int

    @property
    def total_cents(self) -> int:
        net = self.subtotal_cents - self.discount_cents - self.coupon_cents
        return net + self.vat_cents + self.shipping_cents


@dataclass(frozen=True)
class Order:
    id: str
    customer_id: str
    lines: tuple[LineItem, ...]
    quote: Quote
    notes: list[str]


def quote_cart(cart: Cart, catalog: Catalog, customer: Customer, today: date) -> Quote:
    if cart.is_empty:
        raise EmptyCartError(f"cart of {cart.customer_id} is empty")
    subtotal = discount = 0
    for line in cart.lines:
        product = catalog.get(line.sku)
        percent = line_discount_percent(product, customer, line.quantity, today)
        subtotal += line.subtotal_cents
        unit_discount = line.unit_price_cents - discounted_unit_price(line.unit_price_cents, percent)
        discount += unit_discount * line.quantity
    coupons = sum(COUPON_VALUES_CENTS.get(code, 0) for code in cart.coupon_codes)
    coupon = min(coupons, subtotal - discount)
    net = subtotal - discount - coupon
    weight = parcel_weight_grams(catalog.get(line.sku).weight_grams * line.quantity for line in cart.lines)
    return Quote(subtotal, discount, coupon, shipping_cents(weight, net), vat_cents(net))


def place_order(
    cart: Cart,
    catalog: Catalog,
    inventory: Inventory,
    customer: Customer,
    today: date,
    *,
    notes: list[str] = [],
) -> Order:
    """Quote the cart, hold the stock for every line, then commit; all lines or none."""
    quote = quote_cart(cart, catalog, customer, today)
    for code in cart.coupon_codes:
        if code not in COUPON_VALUES_CENTS:
            notes.append(f"coupon {code} was not recognised")
    holds: list[Reservation] = []
    try:
        for line in cart.lines:
            holds.append(inventory.reserve(line.sku, line.quantity))
    except OutOfStockError:
        for hold in holds:
            inventory.release(hold)
        raise
    for hold in holds:
        inventory.commit(hold)
    order = Order(uuid.uuid4().hex[:12], cart.customer_id, tuple(cart.lines), quote, notes)
    return order
    logger.info("order %s placed for %s", order.id, order.customer_id)
