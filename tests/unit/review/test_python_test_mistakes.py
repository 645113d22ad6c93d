"""Specification of QE105-QE108: assertions that look like checks but cannot fail."""

from __future__ import annotations

from rule_helpers import covered_text, fixed, python_doc, run

from aqe.findings import Severity
from aqe.review.rules import all_rules
from aqe.review.rules.python_test_mistakes import (
    RULES,
    AssertOnTuple,
    AssertTrueWithExpectedValue,
    MisspeltMockAssertion,
    SelfComparison,
    intended_mock_assertion,
)


def test_rules_have_their_fixed_ids_names_and_severities() -> None:
    assert [(r.info.id, r.info.name, r.info.default_severity) for r in RULES] == [
        ("QE105", "misspelt-mock-assertion", Severity.WARNING),
        ("QE106", "assert-true-with-expected", Severity.WARNING),
        ("QE107", "assert-on-tuple", Severity.ERROR),
        ("QE108", "self-comparison-in-test", Severity.WARNING),
    ]
    registered = {r.info.id for r in all_rules()}
    assert {r.info.id for r in RULES} <= registered


# --- QE105 misspelt-mock-assertion -------------------------------------------------------------------


def test_qe105_knows_which_spellings_mock_lets_pass_silently() -> None:
    assert intended_mock_assertion("called_once_with") == "assert_called_once_with"
    assert intended_mock_assertion("not_called") == "assert_not_called"
    assert intended_mock_assertion("asert_called_once") == "assert_called_once"
    assert intended_mock_assertion("assrt_has_calls") == "assert_has_calls"
    # Mock raises AttributeError on these, so the test already fails loudly.
    assert intended_mock_assertion("assert_called_once_wiht") is None
    assert intended_mock_assertion("assret_called_with") is None
    # real names, and real attributes of a Mock
    assert intended_mock_assertion("assert_called_once_with") is None
    assert intended_mock_assertion("called") is None
    assert intended_mock_assertion("call_count") is None
    assert intended_mock_assertion("insert_called_once") is None


def test_qe105_reports_a_mock_assertion_without_its_prefix_and_renames_it() -> None:
    doc = python_doc(
        """
        from unittest import mock

        from shop import mailer, orders


        @mock.patch.object(mailer, "send")
        def test_order_confirmation_is_mailed(send):
            orders.place("book")
            send.called_once_with("book")
        """
    )
    [finding] = run(MisspeltMockAssertion, doc)
    assert finding.rule_id == "QE105"
    assert covered_text(doc, finding.span) == "called_once_with"
    assert "assert_called_once_with" in finding.message
    text, after = fixed(MisspeltMockAssertion, doc, finding)
    assert 'send.assert_called_once_with("book")' in text
    assert after == []


def test_qe105_reports_a_misspelt_prefix_inside_an_assert_statement() -> None:
    doc = python_doc(
        """
        def test_refund_notifies_the_bank(mocker):
            bank = mocker.Mock()
            refund(bank, 10)
            assert bank.asert_called_once()
        """
    )
    [finding] = run(MisspeltMockAssertion, doc)
    assert covered_text(doc, finding.span) == "asert_called_once"
    text, _ = fixed(MisspeltMockAssertion, doc, finding)
    assert "bank.assert_called_once()" in text


def test_qe105_reports_an_assertion_named_but_not_called_and_adds_the_parentheses() -> None:
    doc = python_doc(
        """
        def test_cache_is_cleared(mocker):
            clear = mocker.patch("app.cache.clear")
            logout()
            clear.assert_called_once
        """
    )
    [finding] = run(MisspeltMockAssertion, doc)
    assert covered_text(doc, finding.span) == "clear.assert_called_once"
    text, after = fixed(MisspeltMockAssertion, doc, finding)
    assert "clear.assert_called_once()" in text
    assert after == []


def test_qe105_leaves_real_assertions_self_methods_and_hand_written_spies_alone() -> None:
    doc = python_doc(
        """
        class Spy:
            def called_with(self, *args):
                return args in self.calls


        def test_real_assertions(mocker):
            send = mocker.Mock()
            send.assert_called_once_with("x")
            send.assert_not_called()
            assert send.called
            assert send.call_count == 1


        def test_spy():
            spy = Spy()
            assert spy.called_with("x")


        def test_result_is_used(mocker):
            checker = make_checker()
            ok = checker.called_once_with("x")
            assert ok
        """
    )
    assert run(MisspeltMockAssertion, doc) == []


# --- QE106 assert-true-with-expected -----------------------------------------------------------------


def test_qe106_reports_assert_true_with_a_literal_expected_value() -> None:
    doc = python_doc(
        """
        from unittest import TestCase

        import more_itertools as mi


        class IequalsTests(TestCase):
            def test_not_identical_but_equal(self):
                self.assertTrue([1, True], [1.0, complex(1, 0)])

            def test_count(self):
                self.assertTrue(len(mi.take(3, range(10))), 3)
        """
    )
    first, second = run(AssertTrueWithExpectedValue, doc)
    assert "failure message" in first.message
    assert first.fix is None  # two literals: the call under test is what is missing
    text, after = fixed(AssertTrueWithExpectedValue, doc, second)
    assert "self.assertEqual(len(mi.take(3, range(10))), 3)" in text
    assert len(after) == 1  # the first one is left for a person


def test_qe106_reports_assert_false_with_an_expected_name_but_offers_no_fix() -> None:
    doc = python_doc(
        """
        import unittest


        class ParserTests(unittest.TestCase):
            def test_rejects(self):
                expected = False
                self.assertFalse(parse("x"), expected)
        """
    )
    [finding] = run(AssertTrueWithExpectedValue, doc)
    assert "falsy" in finding.message
    assert finding.fix is None


def test_qe106_takes_strings_and_other_expressions_as_the_message_they_are() -> None:
    doc = python_doc(
        """
        import unittest


        class ParserTests(unittest.TestCase):
            def test_messages(self):
                self.assertTrue(ok, "parser rejected valid input")
                self.assertTrue(ok, f"got {value!r}")
                self.assertTrue(ok, msg)
                self.assertTrue(ok, "%s failed" % name)
                self.assertTrue(ok, msg=3)
                self.assertTrue(ok)
                other.assertTrue(ok, 3)
        """
    )
    assert run(AssertTrueWithExpectedValue, doc) == []


# --- QE107 assert-on-tuple ---------------------------------------------------------------------------


def test_qe107_reports_a_parenthesised_assertion_and_drops_the_parentheses() -> None:
    doc = python_doc(
        """
        def test_total(cart):
            assert (cart.total() == 30, "total is wrong")
        """
    )
    [finding] = run(AssertOnTuple, doc)
    assert finding.severity is Severity.ERROR
    text, after = fixed(AssertOnTuple, doc, finding)
    assert 'assert cart.total() == 30, "total is wrong"' in text
    assert after == []


def test_qe107_reports_in_library_code_too_but_fixes_only_a_condition_and_message() -> None:
    doc = python_doc(
        """
        def normalise(a, b):
            assert (a, b)
            assert (a > 0, b > 0, "both positive")
            return a / b
        """,
        path="src/lib/maths.py",
    )
    findings = run(AssertOnTuple, doc)
    assert len(findings) == 2
    assert all(f.fix is None for f in findings)


def test_qe107_leaves_ordinary_and_parenthesised_conditions_alone() -> None:
    doc = python_doc(
        """
        def test_shapes(result):
            assert (result == 3)
            assert result, ("a message", "in a tuple")
            assert (
                result.first == 1
                and result.second == 2
            ), "pair is wrong"
            assert result == (1, 2)
        """
    )
    assert run(AssertOnTuple, doc) == []


# --- QE108 self-comparison-in-test -------------------------------------------------------------------


def test_qe108_reports_a_value_compared_with_itself_in_pytest_and_unittest() -> None:
    doc = python_doc(
        """
        import unittest


        def test_parse_date():
            result = parse("2024-01-02")
            expected = date(2024, 1, 2)
            assert result == result


        class TotalsTests(unittest.TestCase):
            def test_total(self):
                self.assertEqual(self.cart.total, self.cart.total)
        """
    )
    first, second = run(SelfComparison, doc)
    assert covered_text(doc, first.span) == "result == result"
    assert "with itself" in first.message
    assert covered_text(doc, second.span) == "self.assertEqual(self.cart.total, self.cart.total)"


def test_qe108_leaves_calls_nan_checks_and_deliberate_reflexivity_alone() -> None:
    doc = python_doc(
        """
        def test_roundtrip():
            assert dumps(load()) == dumps(load())
            assert value != value
            assert result == expected


        def test_eq_is_reflexive():
            money = Money(3)
            assert money == money


        def test_property_is_cached(client):
            assert client.session is client.session


        def helper(result):
            assert result == result
        """
    )
    assert run(SelfComparison, doc) == []
