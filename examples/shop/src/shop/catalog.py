"""The product catalogue, loaded once at start-up from the merchandising export."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


class UnknownProductError(KeyError):
    pass


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price_cents: int
    category: str
    weight_grams: int = 0


class Catalog:
    def __init__(self, products: Iterable[Product] = ()) -> None:
        self._by_sku: dict[str, Product] = {}
        for product in products:
            self.add(product)

    def add(self, product: Product) -> None:
        if product.sku in self._by_sku:
            raise ValueError(f"duplicate SKU {product.sku}")
        if product.price_cents < 0:
            raise ValueError(f"{product.sku} has a negative price")
        self._by_sku[product.sku] = product

    def get(self, sku: str) -> Product:
        try:
            return self._by_sku[sku]
        except KeyError:
            raise UnknownProductError(sku) from None

    def search(self, text: str) -> list[Product]:
        needle = text.casefold().strip()
        matches = [p for p in self._by_sku.values() if needle in p.name.casefold()]
        return sorted(matches, key=lambda p: p.name)

    def in_category(self, category: str) -> list[Product]:
        return sorted((p for p in self._by_sku.values() if p.category == category), key=lambda p: p.sku)

    def __contains__(self, sku: object) -> bool:
        return sku in self._by_sku

    def __iter__(self) -> Iterator[Product]:
        return iter(self._by_sku.values())

    def __len__(self) -> int:
        return len(self._by_sku)
