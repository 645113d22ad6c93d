from shop.catalog import tags_for
from shop.pricing import price_steps
from shop.state import format_price


def test_price_label_rounds_half_up():
    assert format_price(2.675) == "2.68 EUR"


def test_three_steps_make_point_three():
    assert price_steps(3) == 0.3


def test_tags_include_the_clearance_tag():
    assert "lamp-clearance" in tags_for("lamp")
