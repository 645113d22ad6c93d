import os

PLUGINS: list[str] = []
CURRENCY = {"code": "EUR"}
_CACHE: dict[str, int] = {}


def register_plugin(name: str) -> None:
    PLUGINS.append(name)


def enabled_plugins() -> list[str]:
    return list(PLUGINS)


def set_currency(code: str) -> None:
    CURRENCY["code"] = code


def format_price(amount: float) -> str:
    return f"{amount:.2f} {CURRENCY['code']}"


def remember(key: str, value: int) -> None:
    _CACHE[key] = value


def lookup(key: str, default: int = 0) -> int:
    return _CACHE.get(key, default)


def region() -> str:
    return os.environ.get("SHOP_REGION", "eu")


class Counter:
    instances = 0

    def __init__(self) -> None:
        Counter.instances += 1
