"""A shopping cart."""


def add_item(cart, item, seen=[]):
    seen.append(item)
    cart.setdefault("items", []).append(item)
    return cart


def discounted(price, percent):
    if percent < 0:
        raise ValueError("percent must not be negative")
    if percent > 100:
        raise ValueError("percent must be at most 100")
    return round(price * (100 - percent) / 100, 2)


def total(cart):
    # TODO: taxes
    return sum(item["price"] for item in cart.get("items", []))
