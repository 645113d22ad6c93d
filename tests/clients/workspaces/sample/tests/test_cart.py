from shop.cart import add_item, total


def test_total():
    cart = add_item({}, {"price": 0.1})
    add_item(cart, {"price": 0.2})
    assert total(cart) == 0.3
