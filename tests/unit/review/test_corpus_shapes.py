"""Shapes the labelled corpus showed to be false findings, and the confidence findings carry."""

from __future__ import annotations

import textwrap

from rule_helpers import python_doc, run

from aqe.config import Settings
from aqe.engine import Engine
from aqe.findings import Severity
from aqe.review.confidence import LOW_CONFIDENCE, RULE_PRECISION, MeasuredPrecision, confidence, prior
from aqe.review.rules.python_code import BroadExceptSwallowed, MutableDefaultArgument, UnreachableCode
from aqe.review.rules.python_tests import FloatEqualityAssertion, SleepInTest, SwallowedExceptionInTest


def test_qe102_ignores_a_sleep_in_a_generator_the_test_builds() -> None:
    doc = python_doc(
        """
        from time import sleep


        def test_time_limited():
            def generator():
                yield 1
                sleep(0.2)
                yield 2

            assert list(time_limited(0.1, generator())) == [1]
        """
    )
    assert run(SleepInTest, doc) == []


def test_qe103_ignores_deliberate_handlers() -> None:
    doc = python_doc(
        """
        def test_teardown_sees_the_exception(app):
            try:
                raise Exception("dummy")
            except Exception:
                pass
            with app.app_context():
                pass


        def test_bad_imports_fail():
            try:
                import tlz.curry
                1/0
            except ImportError:
                pass


        def test_optional_backend():
            try:
                import cytoolz
                assert cytoolz.curried.__package__ == "cytoolz.curried"
            except ImportError:
                pass


        def test_curried(ops):
            for op in ops:
                try:
                    op("x")
                except TypeError:
                    pass
                else:
                    continue
                raise AssertionError(f"{op} is not curried")


        def test_callbacks(app):
            @app.teardown_request
            def teardown(exc):
                try:
                    cleanup()
                except RuntimeError:
                    pass
        """
    )
    assert run(SwallowedExceptionInTest, doc) == []


def test_qe104_reports_computed_values_only() -> None:
    doc = python_doc(
        """
        def test_from_env(app):
            assert app.config["FLOAT"] == 1.2


        def test_parsed(doc):
            value = doc["float"]
            assert value == 34.12


        def test_division_of_dates():
            assert datetime(2000, 1, 1) + relativedelta(days=28) / 28 == datetime(2000, 1, 2)


        def test_price():
            assert gross_price(19.99) == 23.79
        """
    )
    assert [f.span.start.line for f in run(FloatEqualityAssertion, doc)] == [15]


def test_qe202_ignores_read_only_and_framework_annotated_defaults() -> None:
    doc = python_doc(
        """
        def get_group(params: Sequence[Parameter] = []):
            return Group(params)


        def main(name: Annotated[List[str], typer.Option(help="Who")] = ["World"]):
            print(name)


        def collect(seen: list[str] = []):
            seen.append("x")
        """,
        path="pkg/cli.py",
    )
    assert [f.span.start.line for f in run(MutableDefaultArgument, doc)] == [9]


def test_qe204_ignores_a_module_that_raises_on_import() -> None:
    doc = python_doc('raise ImportError("broken on purpose")\napp = Flask("app")\n', path="tests/apps/broken.py")
    assert run(UnreachableCode, doc) == []


def test_qe201_ignores_a_try_that_raises_its_own_exception() -> None:
    doc = python_doc(
        """
        def fake_teardown():
            try:
                raise TypeError()
            except Exception:
                pass
        """,
        path="pkg/teardown.py",
    )
    assert run(BroadExceptSwallowed, doc) == []


def test_priors_come_from_measured_precision_and_unjudged_rules_are_unknown() -> None:
    assert MeasuredPrecision(true=8, false=0, debatable=3).prior == 0.95
    assert MeasuredPrecision(true=0, false=0, debatable=3).prior == prior("QE999")
    assert set(RULE_PRECISION) <= {info.id for info in Engine.rule_infos()}
    assert confidence("QE203", evidence=2.0) > confidence("QE203") > confidence("QE203", evidence=-1.0)


def _analysed(text: str, path: str, **settings: object):
    engine = Engine(Settings(**settings))  # type: ignore[arg-type]
    return engine.analyze_text(path, textwrap.dedent(text)).findings


def test_a_finding_below_the_confidence_bar_is_shown_as_a_hint_unless_the_user_chose() -> None:
    text = """
    def test_render_page(page):
        render(page)


    def test_helpers(tmp_path):
        try:
            flask.Flask("importerror")
        except NotImplementedError:
            AssertionError("Flask(import_name) is importing import_name.")
    """
    weak, strong = _analysed(text, "tests/test_render.py")
    assert weak.confidence < LOW_CONFIDENCE <= strong.confidence
    assert (weak.severity, strong.severity) == (Severity.HINT, Severity.WARNING)
    chosen = _analysed(text, "tests/test_render.py", rules={"QE101": "warning"})
    assert {f.severity for f in chosen} == {Severity.WARNING}
