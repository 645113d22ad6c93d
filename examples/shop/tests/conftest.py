from __future__ import annotations

from datetime import date

import pytest

from shop import Cart, Catalog, Customer, Inventory, Product


@pytest.fixture
def catalog() -> Catalog:
    return Catalog(
        [
            Product("MUG-01", "Enamel mug", 1200, "kitchen", weight_grams=350),
            Product("KETTLE-02", "Stovetop kettle", 4500, "kitchen", weight_grams=1400),
            Product("SEED-10", "Wildflower seeds", 350, "garden", weight_grams=40),
            Product("HOSE-25", "Garden hose 25 m", 3900, "garden", weight_grams=2600),
            Product("LAMP-07", "Desk lamp (display model)", 2500, "clearance", weight_grams=1800),
            Product("GIFT-50", "Gift card 50 EUR", 5000, "gift"),
        ]
    )


@pytest.fixture
def inventory() -> Inventory:
    return Inventory({"MUG-01": 10, "KETTLE-02": 3, "SEED-10": 200, "HOSE-25": 5, "LAMP-07": 1, "GIFT-50": 1000})


@pytest.fixture
def customer() -> Customer:
    return Customer("c-1001")


@pytest.fixture
def cart(customer: Customer) -> Cart:
    return Cart(customer.id)


@pytest.fixture
def today() -> date:
    """A day without seasonal sales, so tests see only the discounts they set up."""
    return date(2024, 3, 12)
