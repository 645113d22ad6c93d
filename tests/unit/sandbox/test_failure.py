"""The error that stopped a sandboxed pytest, not the warning printed after it."""

from __future__ import annotations

import sys
from pathlib import Path

from aqe.sandbox.failure import stopping_error
from aqe.sandbox.runner import SandboxRunner, SandboxSpec

CONFTEST = '''
import atexit, sys

def pytest_sessionstart(session):
    raise OSError(30, "Read-only file system", "/dev/null")

atexit.register(lambda: print("plugin.py:306: PytestDeprecationWarning: an option is unset.", file=sys.stderr))
'''


def test_an_internal_error_of_a_real_pytest_run_is_named_over_the_warning_after_it(tmp_path: Path):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_a.py").write_text("def test_a():\n    assert True\n")
    result = SandboxRunner(trusted=True).run(
        SandboxSpec(command=(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"), copy_from=tmp_path)
    )
    assert result.exit_code == 3
    assert result.stderr_tail.strip().splitlines()[-1].endswith("an option is unset.")
    assert stopping_error(result.stdout_tail, result.stderr_tail) == (
        "OSError: [Errno 30] Read-only file system: '/dev/null'"
    )


def test_a_traceback_names_its_last_exception():
    stderr = (
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in <module>\n'
        "    import pytz\n"
        "ModuleNotFoundError: No module named 'pytz'\n"
        "/usr/lib/python3/warnings.py:1: DeprecationWarning: old\n"
        "  warnings.warn(\n"
    )
    assert stopping_error("", stderr) == "ModuleNotFoundError: No module named 'pytz'"


def test_without_an_exception_the_last_line_that_is_not_a_warning():
    assert stopping_error("", "something broke\nx.py:3: UserWarning: noise\n") == "something broke"
    assert stopping_error("", "") is None
