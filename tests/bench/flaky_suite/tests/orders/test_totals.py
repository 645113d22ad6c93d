from shop import state
from shop.state import format_price


def test_price_label():
    assert format_price(3) == "3.00 EUR"


def test_audit_plugin_is_listed():
    assert "audit" in state.enabled_plugins()


def test_price_label_for_zero():
    assert format_price(0).startswith("0.00")


def test_prices_in_dollars():
    state.set_currency("USD")
    assert format_price(1) == "1.00 USD"
