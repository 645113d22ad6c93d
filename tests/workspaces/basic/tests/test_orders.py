import time

from app.orders import add_line, total


def test_add_line():
    order = add_line({}, {"price": 2, "qty": 1})
    total(order)


def test_total_with_tax():
    time.sleep(0.01)
    assert total({"lines": [{"price": 0.1, "qty": 3}]}) == 0.3
