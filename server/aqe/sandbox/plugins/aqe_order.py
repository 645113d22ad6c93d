"""A pytest plugin (loaded with `-p aqe_order`) that runs the collected tests in a seeded shuffled or
reversed order, to expose tests that depend on the order they run in.

It is put on PYTHONPATH of sandboxed runs by its folder alone, so it imports nothing of aqe and works
in the project's own interpreter, whatever else is installed there.

    pytest -p aqe_order --aqe-order=shuffle:1234
"""

from __future__ import annotations

import random


def pytest_addoption(parser):
    parser.addoption("--aqe-order", default="", help="aqe: 'shuffle:SEED' or 'reverse' to reorder the tests")


def pytest_collection_modifyitems(session, config, items):
    order = config.getoption("--aqe-order")
    if not order:
        return
    if order == "reverse":
        items.reverse()
    elif order.startswith("shuffle:"):
        random.Random(order.split(":", 1)[1]).shuffle(items)


def pytest_report_header(config):
    order = config.getoption("--aqe-order")
    return f"aqe order: {order}" if order else None
