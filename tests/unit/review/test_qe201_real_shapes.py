"""QE201 and its neighbours on real shapes: the team's own suppressions, documented swallowers,
constant fallbacks under a bare `except:`, and one finding per defect."""

from __future__ import annotations

import textwrap

import pytest
from rule_helpers import covered_text, python_doc, run

from aqe.config import Settings
from aqe.engine import Engine
from aqe.review.rules.python_code import BroadExceptSwallowed
from aqe.review.suppression import EQUIVALENT_SUPPRESSIONS


def _engine_rule_ids(text: str, path: str) -> list[tuple[str, int]]:
    analysis = Engine(Settings()).analyze_text(path, textwrap.dedent(text))
    return [(f.rule_id, f.span.start.line) for f in analysis.findings]


@pytest.mark.parametrize(
    "marker",
    [
        "# noqa: BLE001",
        "# noqa: S110",
        "# noqa: E722, S110",
        "# noqa:S112",
        "# noqa",
        "# pylint: disable=broad-except",
        "# pylint: disable=unused-argument, broad-exception-caught",
        "# pylint: disable=bare-except",
    ],
)
def test_qe201_honours_the_teams_suppressions_in_other_tools(marker: str) -> None:
    text = f"""
    def close_quietly_later(handle):
        try:
            handle.flush()
        except Exception:  {marker}
            pass
    """
    assert _engine_rule_ids(text.replace("close_quietly_later", "flush_handle"), "pkg/io.py") == []


def test_qe201_is_still_reported_under_an_unrelated_noqa_code() -> None:
    text = """
    def flush_handle(handle):
        try:
            handle.flush()
        except Exception:  # noqa: F841
            pass
    """
    assert _engine_rule_ids(text, "pkg/io.py") == [("QE201", 4)]


def test_every_rule_with_equivalents_is_a_known_rule() -> None:
    known = {info.id for info in Engine.rule_infos()}
    assert set(EQUIVALENT_SUPPRESSIONS) <= known
    assert "BLE001" in EQUIVALENT_SUPPRESSIONS["QE201"].noqa


def test_equivalents_apply_to_other_rules_too() -> None:
    text = """
    def collect(value, seen=[]):  # noqa: B006
        seen.append(value)
        return seen
    """
    assert _engine_rule_ids(text, "pkg/collect.py") == []


def test_qe201_leaves_documented_swallowers_and_del_alone() -> None:
    doc = python_doc(
        '''
        def _ignore_errors(func):
            try:
                func()
            except Exception:
                pass


        def remove_file(path):
            """Remove `path`; errors are ignored (the file may already be gone)."""
            try:
                os.remove(path)
            except BaseException:
                pass


        class Connection:
            def __del__(self):
                try:
                    self.close()
                except Exception:
                    pass


        def refresh(cache):
            try:
                cache.reload()
            except Exception:
                pass
        ''',
        path="pkg/util.py",
    )
    assert [f.span.start.line for f in run(BroadExceptSwallowed, doc)] == [27]


def test_qe201_reports_a_bare_except_that_returns_or_assigns_a_constant() -> None:
    doc = python_doc(
        """
        def terminal_width():
            try:
                return int(os.environ["COLUMNS"])
            except:
                return 0


        def load_version(path):
            try:
                version = path.read_text().strip()
            except:
                version = None
            return version


        def parse_port(text):
            try:
                return int(text)
            except Exception:
                return 8080
        """,
        path="pkg/env.py",
    )
    assert [covered_text(doc, f.span) for f in run(BroadExceptSwallowed, doc)] == ["except:", "except:"]


def test_one_finding_per_handler_in_a_test_qe103_wins_over_qe201() -> None:
    text = """
    def test_parse_garbage():
        try:
            parse("garbage")
        except Exception:
            pass
        assert parser_state() == "idle"
    """
    assert _engine_rule_ids(text, "tests/test_parse.py") == [("QE103", 4)]


def test_one_finding_per_test_qe103_wins_over_qe101() -> None:
    text = """
    def test_parse_garbage():
        try:
            parse("garbage")
        except ValueError:
            pass


    def test_parse_empty():
        parse("")
    """
    assert _engine_rule_ids(text, "tests/test_parse.py") == [("QE103", 4), ("QE101", 8)]


def test_eslint_disable_comments_count_for_the_js_rules() -> None:
    text = """
    import { it } from "vitest";

    // eslint-disable-next-line vitest/expect-expect
    it("renders without crashing", () => {
      render(<Cart />);
    });

    it("renders the total", () => {
      render(<Cart />);
    });
    """
    assert _engine_rule_ids(text, "web/cart.test.tsx") == [("QE301", 8)]
