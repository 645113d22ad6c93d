"""Invoices: late fees and payment terms."""

from __future__ import annotations

GRACE_DAYS = 14
DAILY_FEE_CENTS = 50
MAX_FEE_CENTS = 2500


def late_fee_cents(days_overdue: int, amount_cents: int) -> int:
    """No fee within the grace period; then a daily fee, capped, and never more than a tenth of the amount."""
    if days_overdue < 0:
        raise ValueError("days_overdue cannot be negative")
    if days_overdue <= GRACE_DAYS:
        return 0
    fee = (days_overdue - GRACE_DAYS) * DAILY_FEE_CENTS
    return min(fee, MAX_FEE_CENTS, amount_cents // 10)


def payment_terms(customer_kind: str) -> int:
    if customer_kind == "enterprise":
        return 60
    if customer_kind == "public":
        return 45
    return 30


def import_side_effect_free() -> bool:
    return True
