"""Specification of the Python test-quality rules QE101-QE104."""

from __future__ import annotations

from rule_helpers import covered_text, fixed, python_doc, run

from aqe.findings import Severity
from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language
from aqe.review.rules import all_rules
from aqe.review.rules.python_tests import (
    RULES,
    FloatEqualityAssertion,
    NoAssertionInTest,
    SleepInTest,
    SwallowedExceptionInTest,
)

# --- metadata ----------------------------------------------------------------------------------------


def test_rules_have_their_fixed_ids_names_and_severities() -> None:
    assert [(r.info.id, r.info.name, r.info.default_severity) for r in RULES] == [
        ("QE101", "test-without-assertion", Severity.WARNING),
        ("QE102", "sleep-in-test", Severity.WARNING),
        ("QE103", "test-swallows-exception", Severity.WARNING),
        ("QE104", "float-equality-assertion", Severity.WARNING),
    ]


def test_rules_are_registered_and_documented() -> None:
    registered = {r.info.id for r in all_rules()}
    for rule in RULES:
        assert rule.info.id in registered
        assert rule.info.languages == frozenset({Language.PYTHON})
        assert rule.info.summary and "\n" not in rule.info.summary
        assert len(rule.info.rationale) > 100


# --- QE101 test-without-assertion --------------------------------------------------------------------


def test_qe101_reports_a_test_that_only_calls_the_code_on_its_name() -> None:
    doc = python_doc(
        """
        from shop.orders import place_order


        def test_place_order_for_new_customer(customer):
            order = place_order(customer, items=["book"])
            order.confirm()
        """
    )
    [finding] = run(NoAssertionInTest, doc)
    assert finding.rule_id == "QE101"
    assert covered_text(doc, finding.span) == "test_place_order_for_new_customer"
    assert "test_place_order_for_new_customer" in finding.message
    assert finding.fix is None


def test_qe101_accepts_an_assert_statement() -> None:
    doc = python_doc(
        """
        def test_total():
            order = Order(items=[Item(price=3), Item(price=4)])
            assert order.total() == 7
        """
    )
    assert run(NoAssertionInTest, doc) == []


def test_qe101_accepts_pytest_raises_and_warns() -> None:
    doc = python_doc(
        """
        import pytest


        def test_rejects_negative_quantity():
            with pytest.raises(ValueError, match="quantity"):
                Item(price=3, quantity=-1)


        def test_warns_on_legacy_format():
            with pytest.warns(DeprecationWarning):
                load_orders("orders.v1.csv")
        """
    )
    assert run(NoAssertionInTest, doc) == []


def test_qe101_accepts_raises_imported_from_pytest() -> None:
    doc = python_doc(
        """
        from pytest import raises


        def test_rejects_empty_cart():
            with raises(EmptyCartError):
                checkout(Cart())
        """
    )
    assert run(NoAssertionInTest, doc) == []


def test_qe101_accepts_mock_assertions() -> None:
    doc = python_doc(
        """
        from unittest import mock


        def test_sends_confirmation_email():
            mailer = mock.Mock()
            place_order(customer, mailer=mailer)
            mailer.send.assert_called_once_with(customer.email, mock.ANY)


        async def test_awaits_payment(gateway):
            await pay(order, gateway)
            gateway.charge.assert_awaited()
        """
    )
    assert run(NoAssertionInTest, doc) == []


def test_qe101_accepts_unittest_assertions_and_fail() -> None:
    doc = python_doc(
        """
        import unittest


        class TestInvoice(unittest.TestCase):
            def test_number_is_sequential(self):
                self.assertEqual(next_invoice_number(), 2)

            def test_never_reached(self):
                if not invoices_enabled():
                    self.fail("invoices should be enabled in tests")
        """
    )
    assert run(NoAssertionInTest, doc) == []


def test_qe101_accepts_calls_to_assertion_helpers() -> None:
    doc = python_doc(
        """
        def test_api_returns_order(client):
            response = client.get("/orders/1")
            check_status(response, 200)


        def test_schema(client):
            assert_valid_schema(client.get("/orders").json())


        def test_page_title(page):
            expect(page).to_have_title("Orders")


        def test_status_by_hand(client):
            response = client.get("/orders")
            if response.status_code != 200:
                raise AssertionError(response.text)
        """
    )
    assert run(NoAssertionInTest, doc) == []


def test_qe101_does_not_mistake_lookalike_names_for_assertions() -> None:
    doc = python_doc(
        """
        def test_checkout_flow(cart):
            checkout(cart)
            expected_total(cart)


        def test_accept_terms(page):
            page.check("#terms")
            page.click("text=Order")
        """
    )
    assert [covered_text(doc, f.span) for f in run(NoAssertionInTest, doc)] == [
        "test_checkout_flow",
        "test_accept_terms",
    ]


def test_qe101_ignores_fixtures_named_like_tests() -> None:
    doc = python_doc(
        """
        import pytest


        @pytest.fixture
        def test_user(db):
            return db.create_user("ada")


        @pytest.fixture(scope="module")
        def test_database():
            yield make_database()
        """
    )
    assert run(NoAssertionInTest, doc) == []


def test_qe101_ignores_skipped_tests() -> None:
    doc = python_doc(
        """
        import pytest


        @pytest.mark.skip(reason="refunds are not implemented yet")
        def test_refund():
            refund(order)
        """
    )
    assert run(NoAssertionInTest, doc) == []


def test_qe101_ignores_test_named_functions_outside_test_files() -> None:
    doc = python_doc(
        """
        def test_connection(url):
            connect(url).close()
        """,
        path="src/shop/health.py",
    )
    assert run(NoAssertionInTest, doc) == []


def test_qe101_ignores_helpers_in_test_files() -> None:
    doc = python_doc(
        """
        def make_order(customer):
            return place_order(customer, items=["book"])
        """
    )
    assert run(NoAssertionInTest, doc) == []


# --- QE102 sleep-in-test -----------------------------------------------------------------------------


def test_qe102_reports_time_sleep_in_a_test() -> None:
    doc = python_doc(
        """
        import time


        def test_cache_expires(cache):
            cache.set("k", "v", ttl=1)
            time.sleep(1.5)
            assert cache.get("k") is None
        """
    )
    [finding] = run(SleepInTest, doc)
    assert finding.rule_id == "QE102"
    assert covered_text(doc, finding.span) == "time.sleep(1.5)"
    assert "poll" in finding.message and "fake clock" in finding.message


def test_qe102_follows_import_aliases() -> None:
    doc = python_doc(
        """
        import time as clock
        from time import sleep


        def test_worker_picks_up_job(queue):
            queue.put("job")
            sleep(2)
            clock.sleep(2)
            assert queue.empty()
        """
    )
    assert [covered_text(doc, f.span) for f in run(SleepInTest, doc)] == ["sleep(2)", "clock.sleep(2)"]


def test_qe102_reports_asyncio_sleep_with_a_delay_but_not_a_yield() -> None:
    doc = python_doc(
        """
        import asyncio


        async def test_subscriber_receives_event(bus):
            await bus.publish("created")
            await asyncio.sleep(0)
            await asyncio.sleep(0.2)
            assert bus.delivered == 1
        """
    )
    assert [covered_text(doc, f.span) for f in run(SleepInTest, doc)] == ["asyncio.sleep(0.2)"]


def test_qe102_ignores_sleep_inside_a_polling_loop() -> None:
    doc = python_doc(
        """
        import time


        def test_server_comes_up(server):
            server.start()
            deadline = time.monotonic() + 5
            while not server.ready():
                assert time.monotonic() < deadline
                time.sleep(0.05)
            for _ in range(50):
                if server.healthy():
                    break
                time.sleep(0.1)
        """
    )
    assert run(SleepInTest, doc) == []


def test_qe102_ignores_sleep_outside_tests_and_unrelated_sleep_functions() -> None:
    doc = python_doc(
        """
        import time

        import pytest


        def wait_a_bit():
            time.sleep(1)


        @pytest.fixture
        def test_server():
            time.sleep(1)
            yield Server()


        def test_baby_monitor(baby):
            baby.sleep(8)
            assert baby.rested
        """
    )
    assert run(SleepInTest, doc) == []


# --- QE103 test-swallows-exception -------------------------------------------------------------------


def test_qe103_reports_except_pass_on_the_except_clause() -> None:
    doc = python_doc(
        """
        import pytest


        def test_parse_rejects_garbage():
            try:
                parse_order("garbage")
            except ValueError:
                pass
        """
    )
    [finding] = run(SwallowedExceptionInTest, doc)
    assert finding.rule_id == "QE103"
    assert covered_text(doc, finding.span) == "except ValueError:"
    assert "pytest.raises" in finding.message


def test_qe103_reports_bare_except_that_only_logs() -> None:
    doc = python_doc(
        """
        import logging

        logger = logging.getLogger(__name__)


        def test_sync_orders(client):
            try:
                result = client.sync()
                assert result.count == 3
            except:
                logger.exception("sync failed")
        """
    )
    [finding] = run(SwallowedExceptionInTest, doc)
    assert covered_text(doc, finding.span) == "except:"
    assert "every exception" in finding.message
    assert finding.fix is None


def test_qe103_reports_continue_and_print_in_a_loop() -> None:
    doc = python_doc(
        """
        def test_all_fixtures_load(paths):
            for path in paths:
                try:
                    assert load(path).valid
                except Exception as error:
                    print(error)
                    continue
        """
    )
    [finding] = run(SwallowedExceptionInTest, doc)
    assert covered_text(doc, finding.span) == "except Exception as error:"


def test_qe103_accepts_handlers_that_assert_or_reraise() -> None:
    doc = python_doc(
        """
        def test_error_message(client):
            try:
                client.get("/missing")
            except HTTPError as error:
                assert error.status == 404


        def test_cleanup_on_failure(tmp_path):
            try:
                export(tmp_path)
            except OSError:
                cleanup(tmp_path)
                raise
        """
    )
    assert run(SwallowedExceptionInTest, doc) == []


def test_qe103_accepts_the_try_fail_except_idiom() -> None:
    doc = python_doc(
        """
        import pytest


        def test_rejects_unknown_currency():
            try:
                convert(10, "XXX")
                pytest.fail("convert accepted an unknown currency")
            except UnknownCurrency:
                pass


        def test_rejects_unknown_country():
            try:
                shipping_cost("Atlantis")
            except UnknownCountry:
                pass
            else:
                pytest.fail("shipping_cost accepted an unknown country")
        """
    )
    assert run(SwallowedExceptionInTest, doc) == []


def test_qe103_reports_the_idiom_when_the_handler_also_catches_the_failure() -> None:
    doc = python_doc(
        """
        import unittest


        class TestConvert(unittest.TestCase):
            def test_rejects_unknown_currency(self):
                try:
                    convert(10, "XXX")
                    self.fail("convert accepted an unknown currency")
                except Exception:
                    pass
        """
    )
    assert [covered_text(doc, f.span) for f in run(SwallowedExceptionInTest, doc)] == ["except Exception:"]


def test_qe103_ignores_try_except_outside_tests() -> None:
    doc = python_doc(
        """
        def remove_if_present(path):
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        """
    )
    assert run(SwallowedExceptionInTest, doc) == []


def test_qe103_fix_rewrites_to_pytest_raises() -> None:
    doc = python_doc(
        """
        import pytest


        def test_parse_rejects_garbage():
            try:
                parse_order("garbage")  # no digits at all
            except ValueError:
                pass
            assert True
        """
    )
    [finding] = run(SwallowedExceptionInTest, doc)
    assert finding.fix is not None
    assert finding.fix.title == "Assert the exception: use `with pytest.raises(ValueError):`"
    text, remaining = fixed(SwallowedExceptionInTest, doc, finding)
    assert remaining == []
    assert text == (
        "\nimport pytest\n\n\ndef test_parse_rejects_garbage():\n"
        "    with pytest.raises(ValueError):\n"
        '        parse_order("garbage")  # no digits at all\n'
        "    assert True\n"
    )


def test_qe103_fix_imports_pytest_after_future_imports() -> None:
    doc = python_doc(
        """\
        \"\"\"Order parsing.\"\"\"
        from __future__ import annotations

        import json


        def test_rejects_truncated_json():
            try:
                parse_order(json.dumps({"id": 1})[:-1])
            except json.JSONDecodeError:
                pass
        """
    )
    [finding] = run(SwallowedExceptionInTest, doc)
    text, remaining = fixed(SwallowedExceptionInTest, doc, finding)
    assert remaining == []
    assert text.startswith('"""Order parsing."""\nfrom __future__ import annotations\n\nimport pytest\nimport json\n')
    assert "    with pytest.raises(json.JSONDecodeError):\n        parse_order(" in text


def test_qe103_fix_uses_assert_raises_in_a_unittest_case() -> None:
    doc = python_doc(
        """
        import unittest


        class TestParse(unittest.TestCase):
            def test_rejects_garbage(self):
                try:
                    parse_order("garbage")
                except ValueError:
                    pass
        """
    )
    [finding] = run(SwallowedExceptionInTest, doc)
    text, remaining = fixed(SwallowedExceptionInTest, doc, finding)
    assert remaining == []
    assert "with self.assertRaises(ValueError):\n            parse_order(" in text
    assert "import pytest" not in text


def test_qe103_offers_no_fix_when_the_rewrite_would_guess() -> None:
    doc = python_doc(
        """
        def test_broad(client):
            try:
                client.sync()
            except Exception:
                pass


        def test_two_statements(client):
            try:
                client.login()
                client.sync()
            except TimeoutError:
                pass
        """
    )
    findings = run(SwallowedExceptionInTest, doc)
    assert len(findings) == 2
    assert all(f.fix is None for f in findings)


# --- QE104 float-equality-assertion ------------------------------------------------------------------


def test_qe104_reports_equality_with_a_float_literal() -> None:
    doc = python_doc(
        """
        import pytest


        def test_vat_is_added(cart):
            assert cart.total_with_vat() == 12.1
        """
    )
    [finding] = run(FloatEqualityAssertion, doc)
    assert finding.rule_id == "QE104"
    assert covered_text(doc, finding.span) == "cart.total_with_vat() == 12.1"
    assert "pytest.approx" in finding.message


def test_qe104_fix_wraps_the_expected_value_in_approx() -> None:
    doc = python_doc(
        """
        import pytest


        def test_vat_is_added(cart):
            assert 12.1 == cart.total_with_vat()
        """
    )
    [finding] = run(FloatEqualityAssertion, doc)
    text, remaining = fixed(FloatEqualityAssertion, doc, finding)
    assert remaining == []
    assert "    assert pytest.approx(12.1) == cart.total_with_vat()\n" in text


def test_qe104_fix_imports_pytest_when_missing() -> None:
    doc = python_doc(
        """
        from shop.stats import average


        def test_average_of_prices():
            assert average([1.0, 2.0, 4.0]) != 2.3
        """
    )
    [finding] = run(FloatEqualityAssertion, doc)
    text, remaining = fixed(FloatEqualityAssertion, doc, finding)
    assert remaining == []
    assert text.startswith("\nimport pytest\nfrom shop.stats import average\n")
    assert "assert average([1.0, 2.0, 4.0]) != pytest.approx(2.3)" in text


def test_qe104_reports_arithmetic_and_true_division() -> None:
    doc = python_doc(
        """
        def test_conversion_rate(stats):
            assert stats.rate() == stats.hits / stats.visits
            assert stats.discount() == stats.price * 0.15
            assert stats.balance() == 0.0
        """
    )
    assert [covered_text(doc, f.span) for f in run(FloatEqualityAssertion, doc)] == [
        "stats.rate() == stats.hits / stats.visits",
        "stats.discount() == stats.price * 0.15",
        "stats.balance() == 0.0",
    ]


def test_qe104_ignores_integers_literals_and_approx() -> None:
    doc = python_doc(
        """
        import pytest


        def test_counts_and_tolerances(cart):
            assert cart.count() == 3
            assert cart.count() == 6 // 2
            assert 0.1 + 0.2 != 0.3
            assert cart.total() == pytest.approx(12.1)
            assert cart.total() < 12.5
        """
    )
    assert run(FloatEqualityAssertion, doc) == []


def test_qe104_ignores_comparisons_that_are_not_assertions() -> None:
    doc = python_doc(
        """
        def test_rounding_mode(cart):
            mode = "half-up" if cart.total() == 0.5 else "bankers"
            assert mode in MODES
        """
    )
    assert run(FloatEqualityAssertion, doc) == []


def test_qe104_fix_uses_assert_almost_equal_in_unittest() -> None:
    doc = python_doc(
        """
        import unittest


        class TestStats(unittest.TestCase):
            def test_mean(self):
                self.assertEqual(mean([1, 2]), 1.5, "mean of two")
        """
    )
    [finding] = run(FloatEqualityAssertion, doc)
    assert covered_text(doc, finding.span) == 'self.assertEqual(mean([1, 2]), 1.5, "mean of two")'
    text, remaining = fixed(FloatEqualityAssertion, doc, finding)
    assert remaining == []
    assert 'self.assertAlmostEqual(mean([1, 2]), 1.5, msg="mean of two")' in text


# --- robustness --------------------------------------------------------------------------------------


def test_rules_still_report_the_parts_of_a_broken_file_that_parse() -> None:
    doc = python_doc(
        """
        import time


        def test_half_written(customer):
            order = place_order(customer)
            assert order.


        def test_waits(queue):
            time.sleep(3)
            assert queue.empty()
        """
    )
    assert doc.has_syntax_errors
    for rule in RULES:
        run(rule, doc)
    assert [covered_text(doc, f.span) for f in run(SleepInTest, doc)] == ["time.sleep(3)"]


def test_positions_count_utf16_units_after_emoji_and_crlf() -> None:
    text = (
        "import pytest\r\n"
        "\r\n"
        "\r\n"
        "def test_party_price(shop):\r\n"
        '    assert shop.label("🎉 café") == "🎉" and shop.price("🎉") == 9.99\r\n'
    )
    doc = ParsedDocument.parse("tests/test_party.py", text, Language.PYTHON)
    [finding] = run(FloatEqualityAssertion, doc)
    line = '    assert shop.label("🎉 café") == "🎉" and shop.price("🎉") == 9.99'
    prefix = line[: line.index('shop.price("🎉")')]
    assert finding.span.start.line == 4
    assert finding.span.start.character == len(prefix.encode("utf-16-le")) // 2
    assert covered_text(doc, finding.span) == 'shop.price("🎉") == 9.99'
    fixed_text, remaining = fixed(FloatEqualityAssertion, doc, finding)
    assert remaining == []
    assert fixed_text.endswith('shop.price("🎉") == pytest.approx(9.99)\r\n')


def test_import_added_by_a_fix_keeps_crlf_line_endings() -> None:
    text = "import json\r\n\r\n\r\ndef test_ratio():\r\n    assert json.loads('0.5') == 1 / 2\r\n"
    doc = ParsedDocument.parse("tests/test_ratio.py", text, Language.PYTHON)
    [finding] = run(FloatEqualityAssertion, doc)
    fixed_text, _ = fixed(FloatEqualityAssertion, doc, finding)
    assert fixed_text.startswith("import pytest\r\nimport json\r\n")
    assert "\n" not in fixed_text.replace("\r\n", "")


_SAMPLE = """\
import time
import unittest

import pytest


@pytest.fixture
def test_cart():
    return Cart()


def test_checkout(cart):
    try:
        checkout(cart)
    except PaymentError:
        pass
    time.sleep(0.5)
    assert cart.total() == 0.3


class TestRefund(unittest.TestCase):
    def test_refund(self):
        self.assertEqual(refund(order), 1 / 3)
"""


def test_rules_never_raise_on_any_truncation_of_a_test_file() -> None:
    complete = ParsedDocument.parse("tests/test_cart.py", _SAMPLE, Language.PYTHON)
    assert sorted(f.rule_id for rule in RULES for f in run(rule, complete)) == [
        "QE102",
        "QE103",
        "QE104",
        "QE104",
    ]
    for end in range(0, len(_SAMPLE), 7):
        doc = ParsedDocument.parse("tests/test_cart.py", _SAMPLE[:end], Language.PYTHON)
        for rule in RULES:
            run(rule, doc)
