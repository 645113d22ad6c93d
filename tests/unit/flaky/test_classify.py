"""The root-cause classifier: one case per class, from real-looking test code and failure messages."""

from __future__ import annotations

import textwrap

import pytest

from aqe.flaky.classify import RootCause, classify, code_features
from aqe.flaky.history import HistoryRow
from aqe.flaky.junit import Outcome
from aqe.flaky.scoring import OrderEvidence, OrderKind, score_tests
from aqe.parsing.languages import Language


def _score(message: str, pattern: str = "PFPFFPPF", durations: tuple[float, ...] | None = None):
    rows = []
    for index, outcome in enumerate(pattern):
        failed = outcome == "F"
        duration = durations[index] if durations else 0.01
        rows.append(
            HistoryRow(
                "t::x",
                "tests/test_x.py",
                "x",
                None,
                "v",
                "h",
                float(index),
                Outcome.FAILED if failed else Outcome.PASSED,
                duration,
                message if failed else "",
                "suite",
                index,
                0,
            )
        )
    return score_tests(rows)[0]


CASES = [
    (
        RootCause.TIMING,
        """
        def test_job_finishes():
            job = start_job()
            time.sleep(0.01)
            assert job.done
        """,
        "AssertionError: assert False\n +  where False = <Job>.done",
    ),
    (
        RootCause.RANDOMNESS,
        """
        def test_winner_is_not_the_house():
            players = ["ann", "bob", "house"]
            assert random.choice(players) != "house"
        """,
        "AssertionError: assert 'house' != 'house'",
    ),
    (
        RootCause.NETWORK,
        """
        def test_status_page_answers():
            with urllib.request.urlopen(STATUS_URL, timeout=0.05) as response:
                assert response.status == 200
        """,
        "urllib.error.URLError: <urlopen error timed out>",
    ),
    (
        RootCause.TIME_DATE,
        """
        def test_header_is_stamped_with_this_second():
            started = datetime.now()
            header = render_header()
            assert header.endswith(f"{started:%S}")
        """,
        "AssertionError: assert False\n +  where False = 'Report 12:00:07'.endswith('06')",
    ),
    (
        RootCause.CONCURRENCY,
        """
        def test_parallel_deposits():
            account = Account()
            workers = [threading.Thread(target=account.deposit_many) for _ in range(4)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            assert account.balance == 4000
        """,
        "AssertionError: assert 3874 == 4000",
    ),
    (
        RootCause.RESOURCE_LEAK,
        """
        def test_reads_every_log():
            handles = [open(path) for path in log_paths()]
            assert all(handle.readable() for handle in handles)
        """,
        "OSError: [Errno 24] Too many open files: '/tmp/logs/app-31.log'",
    ),
    (
        RootCause.FLOATING_POINT,
        """
        def test_weights_sum_to_one():
            assert sum(weights().values()) == 1.0
        """,
        "AssertionError: assert 0.9999999999999999 == 1.0",
    ),
    (
        RootCause.SHARED_STATE,
        """
        def test_enable_debug():
            SETTINGS["debug"] = True
            assert log_level() == "DEBUG"
        """,
        "AssertionError: assert 'INFO' == 'DEBUG'",
    ),
]


@pytest.mark.parametrize(("cause", "source", "message"), CASES, ids=[c[0].value for c in CASES])
def test_each_class_is_recognised_from_code_and_failures(cause, source, message):
    result = classify(_score(message), None, textwrap.dedent(source), Language.PYTHON)
    assert result.cause is cause, result.scores
    assert result.evidence and result.confidence > 0


def test_order_evidence_outweighs_what_the_code_suggests():
    source = "def test_lookup():\n    time.sleep(0.01)\n    assert USERS['ann']\n"
    needs = OrderEvidence(OrderKind.NEEDS_EARLIER, "t::create", "fails when run without t::create before it")
    result = classify(_score("KeyError: 'ann'"), needs, source, Language.PYTHON)
    assert result.cause is RootCause.ORDER_DEPENDENCY
    assert result.explanation() == "likely order-dependent: fails when run without t::create before it"
    polluted = OrderEvidence(OrderKind.POLLUTED, "t::debug", "passes alone, fails after t::debug")
    assert (
        classify(_score("assert 'DEBUG' == 'INFO'"), polluted, source, Language.PYTHON).cause is RootCause.SHARED_STATE
    )


def test_a_seeded_generator_is_not_blamed():
    source = "def test_sample():\n    rng = random.Random(42)\n    assert rng.choice([1, 2]) == 1\n"
    assert classify(_score("assert 2 == 1"), None, source, Language.PYTHON).cause is not RootCause.RANDOMNESS


def test_javascript_tests_are_read_too():
    source = "it('shows the clock', () => {\n  const now = new Date();\n  expect(render(now)).toBe(label());\n});\n"
    assert (
        classify(_score("expected '10:01' to be '10:00'"), None, source, Language.JAVASCRIPT).cause
        is RootCause.TIME_DATE
    )


def test_failing_runs_that_wait_much_longer_point_at_timing():
    score = _score("AssertionError", "PFPF", durations=(0.01, 2.0, 0.01, 2.1))
    assert classify(score, None, None, None).cause is RootCause.TIMING


def test_without_any_evidence_the_cause_is_unknown():
    result = classify(
        _score("AssertionError: assert 1 == 2"), None, "def test_x():\n    assert f() == 2\n", Language.PYTHON
    )
    assert result.cause is RootCause.UNKNOWN and result.explanation() == "cause unclear"


def test_code_features_tell_with_blocks_from_bare_opens_and_locals_from_globals():
    features = code_features(
        textwrap.dedent(
            """
            def test_files(tmp_path):
                local = []
                local.append(1)
                CACHE.append(2)
                with open(tmp_path / "a") as handle:
                    handle.read()
                leaked = open(tmp_path / "b")
                assert 0.1 + 0.2 == 0.3
            """
        ),
        Language.PYTHON,
    )
    assert features.bare_opens == 1
    assert features.global_writes == ("CACHE",)
    assert features.float_equalities == 1


def test_a_timeout_inside_the_http_client_is_a_network_problem_not_a_timing_one():
    source = (
        "def test_status():\n"
        "    with urllib.request.urlopen(URL, timeout=0.04) as response:\n"
        "        assert response.status == 200\n"
    )
    message = 'TimeoutError: timed out\n/usr/lib/python3.11/socket.py:706: TimeoutError\n  File "urllib/request.py"'
    assert classify(_score(message), None, source, Language.PYTHON).cause is RootCause.NETWORK
