"""Orders 📦 and their totals."""


def add_line(order, line, history=[]):
    history.append(line)
    order.setdefault("lines", []).append(line)
    return order


def total(order):
    # TODO: apply discounts
    return sum(line["price"] * line["qty"] for line in order.get("lines", []))
