import pytest

from shop.catalog import Product, UnknownProductError


def test_search_ignores_case(catalog):
    assert [product.sku for product in catalog.search("GARDEN")] == ["HOSE-25"]


def test_category_listing_is_sorted_by_sku(catalog):
    assert [product.sku for product in catalog.in_category("kitchen")] == ["KETTLE-02", "MUG-01"]


def test_unknown_sku_is_an_error(catalog):
    with pytest.raises(UnknownProductError):
        catalog.get("NOPE-00")


def test_duplicate_sku_is_rejected(catalog):
    with pytest.raises(ValueError, match="duplicate SKU MUG-01"):
        catalog.add(Product("MUG-01", "Another mug", 900, "kitchen"))
