"""The shopping cart, as the storefront session keeps it between requests."""

from __future__ import annotations

from dataclasses import dataclass, field

from shop.catalog import Product

MAX_QUANTITY_PER_LINE = 99


@dataclass
class LineItem:
    sku: str
    quantity: int
    unit_price_cents: int

    @property
    def subtotal_cents(self) -> int:
        return self.quantity * self.unit_price_cents


@dataclass
class Cart:
    customer_id: str
    lines: list[LineItem] = field(default_factory=list)
    coupon_codes: list[str] = field(default_factory=list)

    # TODO: merge the guest cart into the customer's cart on login (needs the new session store).

    def add(self, product: Product, quantity: int = 1) -> LineItem:
        if quantity <= 0:
            raise ValueError("quantity must be positive")
        line = self.line_for(product.sku)
        if line is None:
            line = LineItem(product.sku, 0, product.price_cents)
            self.lines.append(line)
        line.quantity = min(line.quantity + quantity, MAX_QUANTITY_PER_LINE)
        return line

    def line_for(self, sku: str) -> LineItem | None:
        return next((line for line in self.lines if line.sku == sku), None)

    def set_quantity(self, sku: str, quantity: int) -> None:
        if quantity <= 0:
            self.remove(sku)
            return
        line = self.line_for(sku)
        if line is None:
            raise KeyError(sku)
        line.quantity = min(quantity, MAX_QUANTITY_PER_LINE)

    def remove(self, sku: str) -> None:
        self.lines = [line for line in self.lines if line.sku != sku]

    def apply_coupon(self, code: str) -> None:
        normalized = code.strip().upper()
        if normalized and normalized not in self.coupon_codes:
            self.coupon_codes.append(normalized)

    @property
    def subtotal_cents(self) -> int:
        return sum(line.subtotal_cents for line in self.lines)

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def is_empty(self) -> bool:
        return not self.lines
