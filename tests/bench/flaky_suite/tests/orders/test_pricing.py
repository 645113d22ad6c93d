import math
from datetime import datetime

import pytest
from shop import pricing
from shop.pricing import average_rating, discount_total, price_steps, tax_parts


def test_tax_parts_cover_the_whole_price():
    assert sum(tax_parts()) == 1.0


def test_discounts_combine():
    assert discount_total() == 1.0


def test_average_of_ratings():
    assert average_rating([0.1, 0.2, 0.7]) == 1.0 / 3


def test_tax_parts_cover_the_whole_price_approximately():
    assert sum(tax_parts()) == pytest.approx(1.0)


def test_discounts_combine_within_tolerance():
    assert math.isclose(discount_total(), 1.0)


@pytest.mark.parametrize(("count", "expected"), [(2, 0.2), (5, 0.5)])
def test_price_steps(count, expected):
    assert price_steps(count) == expected


def test_reference_format():
    assert pricing.order_reference().startswith("ORD-")


class TestClock:
    def test_clock_parity(self):
        assert pricing.parity_tick()

    def test_first_half(self):
        assert pricing.in_first_half_of_second()

    def test_reference_is_not_a_round_thousand(self):
        assert int(pricing.order_reference()[-1]) % 2 == 0

    def test_timestamp_is_recent(self):
        assert datetime.now().year >= 2024
