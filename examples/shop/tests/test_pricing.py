from datetime import date
from decimal import Decimal

import pytest

from shop.pricing import Customer, gross_price, line_discount_percent, vat_cents


@pytest.mark.parametrize(("quantity", "percent"), [(1, 0), (10, 5), (50, 10), (100, 15)])
def test_bulk_discount_tiers(catalog, customer, today, quantity, percent):
    mug = catalog.get("MUG-01")
    assert line_discount_percent(mug, customer, quantity, today) == Decimal(percent)


def test_gold_members_get_at_least_eight_percent(catalog, today):
    gold = Customer("c-2002", loyalty_tier="gold")
    assert line_discount_percent(catalog.get("MUG-01"), gold, 1, today) == Decimal(8)


def test_garden_sale_applies_in_may_only(catalog, customer):
    hose = catalog.get("HOSE-25")
    assert line_discount_percent(hose, customer, 1, date(2024, 5, 20)) == Decimal(12)
    assert line_discount_percent(hose, customer, 1, date(2024, 6, 1)) == Decimal(0)


def test_clearance_stacks_for_loyalty_members(catalog, today):
    lamp = catalog.get("LAMP-07")
    silver = Customer("c-3003", loyalty_tier="silver")
    assert line_discount_percent(lamp, silver, 1, today) == Decimal(25)


def test_new_customers_are_capped(catalog, today):
    newcomer = Customer("c-4004", is_new=True)
    assert line_discount_percent(catalog.get("LAMP-07"), newcomer, 1, today) == Decimal(15)


def test_staff_discount_beats_everything_else(catalog, today):
    staff = Customer("e-17", loyalty_tier="gold", is_staff=True)
    assert line_discount_percent(catalog.get("LAMP-07"), staff, 100, today) == Decimal(30)


def test_vat_is_rounded_to_the_cent():
    assert vat_cents(1999) == 380


def test_feed_price_includes_vat():
    assert gross_price(19.99) == 23.79


def test_feed_price_with_reduced_rate():
    assert gross_price(4.2, vat_rate=0.07) == pytest.approx(4.49)
