import os

from shop import state
from shop.state import Counter, enabled_plugins, format_price, lookup, region, register_plugin, remember


def test_install_audit_plugin():
    register_plugin("audit")
    assert "audit" in enabled_plugins()


def test_us_region():
    os.environ["SHOP_REGION"] = "us"
    assert region() == "us"


def test_counter_created():
    assert Counter() is not None


def test_remember_last_order():
    remember("last", 42)
    assert lookup("last") == 42


def test_no_plugins_by_default():
    assert enabled_plugins() == []


def test_default_region():
    assert region() == "eu"


def test_first_counter():
    Counter()
    assert Counter.instances == 1


def test_last_order_is_known():
    assert lookup("last") == 42


def test_region_from_monkeypatched_environment(monkeypatch):
    monkeypatch.setenv("SHOP_REGION", "apac")
    assert region() == "apac"


def test_price_in_another_currency_restored():
    state.set_currency("GBP")
    try:
        assert format_price(2) == "2.00 GBP"
    finally:
        state.set_currency("EUR")


def test_unknown_key_has_default():
    assert lookup("missing", 7) == 7
