"""Discounts and VAT. Amounts are integer cents (see money.py); percentages are Decimals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from shop.catalog import Product
from shop.money import percent_of

VAT_PERCENT = Decimal(19)
STAFF_DISCOUNT = Decimal(30)
CLEARANCE_MINIMUM = Decimal(20)
NEW_CUSTOMER_CAP = Decimal(15)
MAX_DISCOUNT = Decimal(40)


@dataclass(frozen=True)
class Customer:
    id: str
    loyalty_tier: str | None = None
    is_staff: bool = False
    is_new: bool = False


@dataclass(frozen=True)
class Sale:
    category: str
    percent: Decimal
    starts: date
    ends: date


# FIXME: sales are hard-coded until the promotions service has an API we can call.
ACTIVE_SALES = (
    Sale("garden", Decimal(12), date(2024, 5, 1), date(2024, 5, 31)),
    Sale("kitchen", Decimal(10), date(2024, 11, 25), date(2024, 12, 2)),
)


def line_discount_percent(product: Product, customer: Customer, quantity: int, today: date) -> Decimal:
    """Bulk, loyalty and seasonal discounts do not stack: the best one wins.

    Clearance items have a floor and stack an extra 5% for loyalty members; new customers are
    capped until their first order has shipped (fraud team's request).
    """
    if customer.is_staff:
        return STAFF_DISCOUNT
    percent = Decimal(0)
    if quantity >= 100:
        percent = Decimal(15)
    elif quantity >= 50:
        percent = Decimal(10)
    elif quantity >= 10:
        percent = Decimal(5)
    if customer.loyalty_tier == "gold":
        percent = max(percent, Decimal(8))
    elif customer.loyalty_tier == "silver":
        percent = max(percent, Decimal(4))
    for sale in ACTIVE_SALES:
        if sale.category != product.category:
            continue
        if sale.starts <= today <= sale.ends:
            percent = max(percent, sale.percent)
    if product.category == "clearance":
        percent = max(percent, CLEARANCE_MINIMUM)
        if customer.loyalty_tier:
            percent += Decimal(5)
    if customer.is_new and percent > NEW_CUSTOMER_CAP:
        percent = NEW_CUSTOMER_CAP
    return min(percent, MAX_DISCOUNT)


def discounted_unit_price(unit_price_cents: int, percent: Decimal) -> int:
    return unit_price_cents - percent_of(unit_price_cents, percent)


def vat_cents(net_cents: int, rate_percent: Decimal = VAT_PERCENT) -> int:
    return percent_of(net_cents, rate_percent)


def gross_price(net_price: float, vat_rate: float = 0.19) -> float:
    """Gross price for the comparison-site feed, which wants a plain number with two decimals."""
    return round(net_price * (1 + vat_rate), 2)
