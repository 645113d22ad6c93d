from shop.cart import count


def test_count_of_an_empty_cart_3():
    assert count([]) == 0
