import random

import pytest
from shop.catalog import COLOURS, coupon, featured, first_supplier, labels, new_sku, shipping_codes, tags_for


def test_featured_colours_are_bright():
    assert "black" not in featured(2)


def test_sku_starts_with_a_letter():
    assert new_sku()[0].isalpha()


def test_coupon_has_a_digit():
    assert any(ch.isdigit() for ch in coupon())


def test_shuffled_catalogue_keeps_red_first():
    colours = list(COLOURS)
    random.shuffle(colours)
    assert colours.index("red") < 3


def test_featured_with_a_seed():
    rng = random.Random(11)
    assert rng.sample(COLOURS, 3) == random.Random(11).sample(COLOURS, 3)


def test_sku_length():
    assert len(new_sku()) == 8


def test_tags_for_a_product():
    assert tags_for("lamp") == ["lamp-new", "lamp-sale"]


def test_labels():
    assert labels("Lamp") == "LAMP, lamp"


def test_first_supplier():
    assert first_supplier(["acme", "globex"]) == "acme"


def test_shipping_codes():
    assert list(shipping_codes()) == ["eu", "us"]


def test_tags_for_a_product_in_any_order():
    assert sorted(tags_for("desk")) == ["desk-new", "desk-sale"]


def test_labels_as_a_set():
    assert set(labels("Desk").split(", ")) == {"DESK", "desk"}


@pytest.mark.parametrize("name", ["acme", "globex"])
def test_first_supplier_is_known(name):
    assert first_supplier([name]) == name
