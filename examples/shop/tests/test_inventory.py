import time

import pytest

from shop.inventory import Inventory, OutOfStockError, load_stock_levels


def test_a_hold_keeps_stock_from_other_customers(inventory):
    inventory.reserve("KETTLE-02", 2)
    assert inventory.available("KETTLE-02") == 1
    assert inventory.on_hand("KETTLE-02") == 3


def test_hold_expires_after_the_hold_time():
    inventory = Inventory({"KETTLE-02": 3}, hold_seconds=0.05)
    inventory.reserve("KETTLE-02", 3)
    time.sleep(0.1)
    assert inventory.available("KETTLE-02") == 3


def test_hold_expires_on_a_controlled_clock():
    now = [1000]
    inventory = Inventory({"KETTLE-02": 3}, hold_seconds=900, clock=lambda: now[0])
    inventory.reserve("KETTLE-02", 3)
    now[0] += 901
    assert inventory.available("KETTLE-02") == 3


def test_cannot_reserve_more_than_is_available(inventory):
    try:
        inventory.reserve("LAMP-07", 2)
    except OutOfStockError:
        pass
    assert inventory.available("LAMP-07") == 1


def test_out_of_stock_error_says_what_is_left(inventory):
    with pytest.raises(OutOfStockError, match="2 requested, 1 available"):
        inventory.reserve("LAMP-07", 2)


def test_commit_takes_the_stock_off_the_shelf(inventory):
    hold = inventory.reserve("MUG-01", 4)
    inventory.commit(hold)
    assert inventory.on_hand("MUG-01") == 6
    assert inventory.available("MUG-01") == 6


def test_stock_levels_add_up_bins_and_skip_the_header():
    export = ["sku,quantity", "MUG-01,4", "MUG-01,6", "HOSE-25,5"]
    assert load_stock_levels(export) == {"MUG-01": 10, "HOSE-25": 5}
