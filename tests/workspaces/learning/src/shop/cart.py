"""A shopping cart."""


def add_item(cart, item, seen=[]):
    seen.append(item)
    cart.append(item)
    return cart


def total(cart):
    # TODO: apply discounts
    return sum(item["price"] for item in cart)


def count(cart):
    # TODO: count quantities
    return len(cart)
