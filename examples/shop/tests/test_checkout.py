import pytest

from shop.checkout import EmptyCartError, Quote, place_order, quote_cart
from shop.inventory import OutOfStockError


def test_quote_for_a_small_order(cart, catalog, customer, today):
    cart.add(catalog.get("MUG-01"), quantity=2)
    quote = quote_cart(cart, catalog, customer, today)
    assert quote == Quote(subtotal_cents=2400, discount_cents=0, coupon_cents=0, shipping_cents=495, vat_cents=456)
    assert quote.total_cents == 3351


def test_shipping_is_free_from_fifty_euros(cart, catalog, customer, today):
    cart.add(catalog.get("KETTLE-02"))
    cart.add(catalog.get("MUG-01"))
    assert quote_cart(cart, catalog, customer, today).shipping_cents == 0


def test_coupons_never_make_the_total_negative(cart, catalog, customer, today):
    cart.add(catalog.get("SEED-10"))
    cart.apply_coupon("SPRING10")
    quote = quote_cart(cart, catalog, customer, today)
    assert quote.coupon_cents == 350
    assert quote.total_cents == quote.shipping_cents


def test_empty_cart_cannot_be_quoted(cart, catalog, customer, today):
    with pytest.raises(EmptyCartError):
        quote_cart(cart, catalog, customer, today)


def test_place_order(cart, catalog, inventory, customer, today):
    cart.add(catalog.get("KETTLE-02"))
    cart.add(catalog.get("SEED-10"), quantity=3)
    place_order(cart, catalog, inventory, customer, today)


def test_unrecognised_coupon_is_noted_on_the_order(cart, catalog, inventory, customer, today):
    cart.add(catalog.get("MUG-01"))
    cart.apply_coupon("BLACKFRIDAY")
    order = place_order(cart, catalog, inventory, customer, today)
    assert order.notes == ["coupon BLACKFRIDAY was not recognised"]


def test_failed_order_releases_every_hold(cart, catalog, inventory, customer, today):
    cart.add(catalog.get("KETTLE-02"), quantity=2)
    cart.add(catalog.get("LAMP-07"), quantity=2)
    with pytest.raises(OutOfStockError):
        place_order(cart, catalog, inventory, customer, today)
    assert inventory.available("KETTLE-02") == 3
