"""The root-cause classifier: causes from rerun, failure and code evidence, never from names or words.

The code facts come from real files (aqe.flaky.evidence); the failures are pytest's report text."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from aqe.flaky.classify import RootCause, classify
from aqe.flaky.evidence import static_facts
from aqe.flaky.failures import read_failure
from aqe.flaky.history import HistoryRow
from aqe.flaky.junit import Outcome
from aqe.flaky.scoring import OrderEvidence, OrderKind, score_tests


def _score(message: str, pattern: str = "PFPFFPPF", kinds: str | None = None, durations=None):
    rows = []
    for index, outcome in enumerate(pattern):
        failed = outcome == "F"
        kind = {"s": "suite", "h": "shuffled", "i": "isolated"}[kinds[index]] if kinds else "suite"
        rows.append(
            HistoryRow("tests/test_x.py::test_x", "tests/test_x.py", "test_x", None, "v", "h", float(index),
                       Outcome.FAILED if failed else Outcome.PASSED, durations[index] if durations else 0.01,
                       message if failed else "", kind, index, 0)
        )  # fmt: skip
    return score_tests(rows)[0]


def _facts(tmp_path: Path, test_source: str, helpers: str = ""):
    (tmp_path / "tests").mkdir(exist_ok=True)
    (tmp_path / "tests" / "helpers.py").write_text(textwrap.dedent(helpers))
    (tmp_path / "tests" / "test_x.py").write_text(textwrap.dedent(test_source))
    return static_facts(tmp_path, "tests/test_x.py", "test_x")


def _failure(body: str, location: str = "tests/test_x.py:5: AssertionError") -> str:
    lines = textwrap.dedent(body).strip().splitlines()
    return "\n".join([lines[0], "def test_x():", *lines, "", location])


def test_a_test_named_after_a_lock_that_reads_the_clock_is_about_time(tmp_path):
    facts = _facts(
        tmp_path,
        """
        from helpers import even_tick

        def test_x():
            assert even_tick()
        """,
        "import time\n\ndef even_tick():\n    return time.time_ns() % 2 == 0\n",
    )
    failure = read_failure(_failure("assert False\nE   assert False\nE    +  where False = even_tick()"))
    result = classify(_score("assert False"), None, facts, [failure])
    assert result.cause is RootCause.TIME_DATE
    assert result.evidence[0] == "even_tick() reads the clock with `time.time_ns` at tests/helpers.py:4"
    assert result.decided_by == "evidence"


def test_a_random_sleep_against_a_fixed_budget_is_timing_not_randomness(tmp_path):
    facts = _facts(
        tmp_path,
        """
        import random, time

        def test_x():
            started = time.monotonic()
            time.sleep(random.uniform(0.0, 0.2))
            assert time.monotonic() - started < 0.1
        """,
    )
    result = classify(_score("assert 0.15 < 0.1"), None, facts, [read_failure("assert 0.15 < 0.1")])
    assert result.cause is RootCause.TIMING
    assert RootCause.RANDOMNESS not in result.scores


def test_a_network_exception_through_the_socket_module_decides_over_code_that_also_starts_threads(tmp_path):
    facts = _facts(
        tmp_path,
        """
        import threading
        from helpers import fetch

        def test_x():
            threading.Thread(target=print).start()
            assert fetch() == 200
        """,
        "import urllib.request\n\ndef fetch():\n    return urllib.request.urlopen('http://x', timeout=0.1).status\n",
    )
    text = _failure(
        "TimeoutError: timed out\n>   assert fetch() == 200\n\ntests/test_x.py:6: \n_ _ _ _\n"
        "tests/helpers.py:4: in fetch\n    return ...\n/usr/lib/python3.11/socket.py:706: in readinto\n"
        "    return self._sock.recv_into(b)\nE   TimeoutError: timed out",
        "/usr/lib/python3.11/socket.py:706: TimeoutError",
    )
    result = classify(_score("TimeoutError"), None, facts, [read_failure(text)])
    assert result.cause is RootCause.NETWORK
    assert "through socket.py" in result.evidence[0]


@pytest.mark.parametrize(
    ("compared", "cause"),
    [
        ("0.9999999999999999 == 1.0", RootCause.FLOATING_POINT),
        ("['b', 'a'] == ['a', 'b']", RootCause.UNORDERED_COLLECTION),
    ],
)
def test_the_values_a_failure_compared_point_at_the_cause(tmp_path, compared, cause):
    facts = _facts(
        tmp_path,
        """
        from helpers import totals

        def test_x():
            assert totals() == 1.0
        """,
        "def totals():\n    return sum({'a': 0.1, 'b': 0.9}[k] for k in set('ab'))\n",
    )
    failure = read_failure(_failure(f"assert {compared}\nE   assert {compared}"))
    assert classify(_score(f"assert {compared}"), None, facts, [failure]).cause is cause


def test_errno_24_is_a_leak_and_a_missing_file_is_io():
    leak = read_failure(
        _failure("OSError: [Errno 24] Too many open files\nE   OSError: [Errno 24] Too many open files")
    )
    assert classify(_score("x"), None, [], [leak]).cause is RootCause.RESOURCE_LEAK
    through_socket = read_failure(
        _failure("OSError: [Errno 24] Too many\nE   OSError: [Errno 24] Too many", "/usr/lib/socket.py:608: OSError")
    )
    assert classify(_score("x"), None, [], [through_socket]).cause is RootCause.RESOURCE_LEAK
    missing = read_failure(_failure("FileNotFoundError: [Errno 2] nope\nE   FileNotFoundError: [Errno 2] nope"))
    assert classify(_score("x"), None, [], [missing]).cause is RootCause.IO


def test_a_named_polluter_outweighs_what_the_code_suggests_and_the_state_it_reads_is_shown(tmp_path):
    facts = _facts(
        tmp_path,
        """
        import time
        from helpers import level

        def test_x():
            time.sleep(0.01)
            assert level() == "INFO"
        """,
        "SETTINGS = {'debug': False}\n\ndef level():\n    return 'DEBUG' if SETTINGS['debug'] else 'INFO'\n",
    )
    polluted = OrderEvidence(
        OrderKind.POLLUTED, "tests/test_y.py::test_debug", "fails right after test_debug", confirmed=True
    )
    result = classify(_score("assert 'DEBUG' == 'INFO'"), polluted, facts, [])
    assert result.cause is RootCause.SHARED_STATE
    assert result.evidence[0] == "fails right after test_debug"
    assert any("SETTINGS" in line and "test_debug" in line for line in result.evidence)


@pytest.mark.parametrize(("confirmed", "cause"), [(False, RootCause.TIME_DATE), (True, RootCause.SHARED_STATE)])
def test_order_read_from_suite_runs_alone_does_not_outweigh_a_clock_the_failure_came_through(
    tmp_path, confirmed, cause
):
    facts = _facts(
        tmp_path,
        """
        from helpers import even_tick

        def test_x():
            assert even_tick()
        """,
        "import time\n\ndef even_tick():\n    return time.time_ns() % 2 == 0\n",
    )
    failure = read_failure(_failure("assert False\nE   assert False\nE    +  where False = even_tick()"))
    before = OrderEvidence(OrderKind.POLLUTED, "tests/test_y.py::test_y", "failed after test_y", confirmed=confirmed)
    assert classify(_score("assert False"), before, facts, [failure]).cause is cause


def test_failing_alone_and_in_every_order_rules_order_out():
    score = _score("assert 1 == 2", "FPFPFPFP", kinds="sshhhhii")
    claimed = OrderEvidence(OrderKind.PASSES_ALONE, None, "passes alone")
    result = classify(score, claimed, [], [])
    assert result.cause is RootCause.UNKNOWN
    assert result.evidence[0].startswith("fails at a steady rate whatever the order: 1/2 alone")


def test_failing_only_when_slow_points_at_timing():
    score = _score("assert False", "PFPF", durations=(0.01, 2.0, 0.01, 2.1))
    result = classify(score, None, [], [])
    assert result.cause is RootCause.TIMING and "fails only when slow" in result.evidence[0]


def test_the_model_breaks_a_tie_only_and_is_labelled(tmp_path):
    facts = _facts(
        tmp_path,
        """
        import random, threading

        def test_x():
            threading.Thread(target=print).start()
            assert random.random() < 0.5
        """,
    )
    asked: list[tuple] = []

    def model(tied, summary):
        asked.append((tuple(tied), summary))
        return RootCause.RANDOMNESS

    result = classify(_score("assert 0.7 < 0.5"), None, facts, [], tie_breaker=model)
    assert asked and set(asked[0][0]) == {RootCause.RANDOMNESS, RootCause.CONCURRENCY}
    assert result.cause is RootCause.RANDOMNESS and result.decided_by == "model (tie-breaker)"
    assert result.evidence[-1].endswith("(tie-breaker, not evidence)")
    clear = classify(_score("assert 0.7 < 0.5"), None, facts[1:], [], tie_breaker=model)
    assert len(asked) == 1 and clear.decided_by == "evidence"


def test_without_any_evidence_the_cause_is_unknown():
    result = classify(_score("AssertionError: assert 1 == 2"), None, [], [read_failure("assert 1 == 2")])
    assert result.cause is RootCause.UNKNOWN and result.explanation() == "cause unclear"
