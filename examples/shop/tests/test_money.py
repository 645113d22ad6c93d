from decimal import Decimal

import pytest

from shop.money import format_price, percent_of, split_evenly, to_cents


@pytest.mark.parametrize(("amount", "cents"), [("12.34", 1234), (Decimal("0.005"), 1), (7, 700)])
def test_to_cents_rounds_half_up(amount, cents):
    assert to_cents(amount) == cents


def test_percent_of_rounds_half_up():
    assert percent_of(250, Decimal(19)) == 48


def test_format_price_groups_thousands():
    assert format_price(123456) == "€1,234.56"


def test_refunds_are_formatted_with_a_minus_sign():
    assert format_price(-250, "GBP") == "-£2.50"


def test_split_evenly_adds_up_to_the_amount():
    parts = split_evenly(1000, 3)
    assert parts == [334, 333, 333]
    assert sum(parts) == 1000


def test_split_evenly_needs_at_least_one_part():
    with pytest.raises(ValueError):
        split_evenly(100, 0)
