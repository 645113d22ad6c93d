"""Catalogue, carts, pricing and stock for the storefront."""

from shop.cart import Cart, LineItem
from shop.catalog import Catalog, Product, UnknownProductError
from shop.checkout import Order, Quote, place_order, quote_cart
from shop.inventory import Inventory, OutOfStockError
from shop.pricing import Customer

__all__ = [
    "Cart",
    "Catalog",
    "Customer",
    "Inventory",
    "LineItem",
    "Order",
    "OutOfStockError",
    "Product",
    "Quote",
    "UnknownProductError",
    "place_order",
    "quote_cart",
]
