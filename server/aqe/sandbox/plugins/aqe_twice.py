"""A pytest plugin (loaded with `-p aqe_twice`) that runs chosen test functions twice in one session,
so a generated test is proven to pass again without paying for a second pytest start-up.

Like aqe_order, it imports nothing of aqe: it runs in the project's own interpreter.

    pytest -p aqe_twice --aqe-twice=test_total,test_total_with_tax
"""

from __future__ import annotations

_PASS_FIXTURE = "aqe_pass"


def pytest_addoption(parser):
    parser.addoption("--aqe-twice", default="", help="aqe: comma-separated test function names to run twice")


def pytest_generate_tests(metafunc):
    wanted = {name for name in metafunc.config.getoption("--aqe-twice").split(",") if name}
    if metafunc.function.__name__ in wanted:
        metafunc.fixturenames.append(_PASS_FIXTURE)
        metafunc.parametrize(_PASS_FIXTURE, ["first", "again"], ids=["aqe-first", "aqe-again"])
