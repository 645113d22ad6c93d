"""Conventions on shapes from real projects: names chosen on purpose, benchmark folders, lazy imports."""

from __future__ import annotations

import textwrap

from aqe.review.conventions import deviations, mine

PASCAL_MODULE = """
class Parser{n}:
    pass


class Token{n}Kind:
    pass
"""


def _mined(files: dict[str, str]):
    return mine([(path, textwrap.dedent(text)) for path, text in files.items()])


def _findings(files: dict[str, str], path: str, convention: str):
    profile, observed = _mined(files)
    found = deviations(profile, path, observed[path], min_share=0.8, min_samples=5)
    return [f for f in found if f.rule_id == f"convention/{convention}"]


def test_deliberate_class_names_are_not_naming_deviations() -> None:
    files = {f"pkg/mod{n}.py": PASCAL_MODULE.format(n=n) for n in range(6)}
    files["pkg/compat.py"] = """
    import ctypes


    class cached_property:
        '''Mirrors functools.cached_property for Python 3.7.'''


    class timeval(ctypes.Structure):
        _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


    class Bad_Name:
        pass
    """
    files["tests/test_parse.py"] = """
    class Test_parse_date:
        def test_iso(self):
            assert parse_date("2024-01-01")
    """
    names = [f.message.split("`")[1] for f in _findings(files, "pkg/compat.py", "naming.classes")]
    assert names == ["Bad_Name"]
    assert _findings(files, "tests/test_parse.py", "naming.classes") == []


TEST_FILE = """
def test_case_{n}():
    assert run({n})
"""


def test_benchmark_folders_say_nothing_about_where_tests_live() -> None:
    files = {f"tests/test_part{n}.py": TEST_FILE.format(n=n) for n in range(6)}
    files["bench/test_bench_parse.py"] = TEST_FILE.format(n=99)
    files["pkg/test_beside.py"] = TEST_FILE.format(n=100)
    assert _findings(files, "bench/test_bench_parse.py", "tests.location") == []
    assert len(_findings(files, "pkg/test_beside.py", "tests.location")) == 1


RELATIVE_MODULE = """
from . import models
from .utils import slugify


def render(value):
    from shop.templates import engine  # lazy: the templates import this module

    return engine.render(value)
"""


def test_a_lazy_import_inside_a_function_is_not_an_import_style_deviation() -> None:
    files = {f"shop/mod{n}.py": RELATIVE_MODULE for n in range(4)}
    files["shop/late.py"] = RELATIVE_MODULE
    files["shop/odd.py"] = "from shop.models import Order\n"
    assert _findings(files, "shop/late.py", "imports.package-style") == []
    assert len(_findings(files, "shop/odd.py", "imports.package-style")) == 1


def test_a_file_level_deviation_is_reported_once_per_file() -> None:
    files = {f"shop/mod{n}.py": "from . import models\nfrom .utils import slugify\n" for n in range(4)}
    files["shop/testing.py"] = "from shop.main import Shop\nfrom shop.main import make_app\n"
    assert len(_findings(files, "shop/testing.py", "imports.package-style")) == 1
