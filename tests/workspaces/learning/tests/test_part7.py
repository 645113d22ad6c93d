from shop.cart import count


def test_count_of_an_empty_cart_7():
    assert count([]) == 0
