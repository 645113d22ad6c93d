"""Specification of the JavaScript/TypeScript test-quality rules QE301-QE303."""

from __future__ import annotations

import pytest
from rule_helpers import covered_text, fixed, js_doc, run

from aqe.findings import Severity
from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language
from aqe.review.rules import all_rules
from aqe.review.rules.js_tests import RULES, FocusedTest, JsTestWithoutExpect, TimerInTest

# --- metadata ----------------------------------------------------------------------------------------


def test_rules_have_their_fixed_ids_names_and_severities() -> None:
    assert [(r.info.id, r.info.name, r.info.default_severity) for r in RULES] == [
        ("QE301", "js-test-without-expect", Severity.WARNING),
        ("QE302", "focused-test", Severity.ERROR),
        ("QE303", "timer-in-test", Severity.WARNING),
    ]


def test_rules_are_registered_and_documented() -> None:
    registered = {r.info.id for r in all_rules()}
    for rule in RULES:
        assert rule.info.id in registered
        assert Language.PYTHON not in rule.info.languages
        assert rule.info.summary and "\n" not in rule.info.summary
        assert len(rule.info.rationale) > 100


# --- QE301 js-test-without-expect --------------------------------------------------------------------


def test_qe301_reports_a_test_without_expect_on_its_callee() -> None:
    doc = js_doc(
        """
        import { Cart } from "./cart";

        describe("Cart", () => {
          it("adds an item", () => {
            const cart = new Cart();
            cart.add({ sku: "book", price: 12 });
          });
        });
        """
    )
    [finding] = run(JsTestWithoutExpect, doc)
    assert finding.rule_id == "QE301"
    assert covered_text(doc, finding.span) == "it"
    assert "'adds an item'" in finding.message
    assert finding.fix is None


@pytest.mark.parametrize(
    "body",
    [
        "expect(cart.total()).toBe(12);",
        "expect.assertions(1); return cart.load().then((c) => expect(c.size).toBe(1));",
        "await expect(cart.checkout()).rejects.toThrow('empty');",
        "assert.strictEqual(cart.total(), 12);",
        "assert(cart.isEmpty());",
        "cart.total().should.equal(12);",
        "sinon.assert.calledOnce(save);",
        "expectCartToContain(cart, 'book');",
        "verifySnapshot(cart);",
        "cy.get('[data-test=cart]').should('contain', 'book');",
    ],
)
def test_qe301_accepts_common_assertion_styles(body: str) -> None:
    doc = js_doc(f'it("totals the cart", async () => {{ {body} }});\n')
    assert run(JsTestWithoutExpect, doc) == []


def test_qe301_accepts_supertest_expectations_in_an_expression_body() -> None:
    doc = js_doc(
        """
        const request = require("supertest");

        test("GET /health answers 200", () => request(app).get("/health").expect(200));
        """,
        path="test/health.test.js",
        language=Language.JAVASCRIPT,
    )
    assert run(JsTestWithoutExpect, doc) == []


def test_qe301_accepts_ava_assertions_on_the_context_argument() -> None:
    doc = js_doc(
        """
        import test from "ava";

        test("parses prices", (t) => {
          t.is(parsePrice("12.00"), 1200);
        });
        """,
        path="test/price.test.js",
        language=Language.JAVASCRIPT,
    )
    assert run(JsTestWithoutExpect, doc) == []


def test_qe301_does_not_count_lookalike_helper_names() -> None:
    doc = js_doc(
        """
        test("accepts the terms", async ({ page }) => {
          await page.locator("#terms").check();
          await page.getByRole("button", { name: "Order" }).click();
          const cart = expectedCart();
        });
        """
    )
    assert [f.rule_id for f in run(JsTestWithoutExpect, doc)] == ["QE301"]


def test_qe301_ignores_todo_and_skipped_tests() -> None:
    doc = js_doc(
        """
        describe("refunds", () => {
          it.todo("refunds a partial order");
          it.skip("refunds shipping", () => {
            refund(order, { shipping: true });
          });
        });
        """
    )
    assert run(JsTestWithoutExpect, doc) == []


def test_qe301_reports_a_curried_each_test_on_its_declaration() -> None:
    doc = js_doc(
        """
        test.each([
          [1, 1, 2],
          [2, 2, 4],
        ])("add(%i, %i)", (a, b, sum) => {
          add(a, b);
        });
        """
    )
    [finding] = run(JsTestWithoutExpect, doc)
    assert covered_text(doc, finding.span) == "test.each"


def test_qe301_ignores_hooks_and_helpers() -> None:
    doc = js_doc(
        """
        beforeEach(() => {
          resetDatabase();
        });

        function seedCart(cart) {
          cart.add({ sku: "book" });
        }
        """
    )
    assert run(JsTestWithoutExpect, doc) == []


# --- QE302 focused-test ------------------------------------------------------------------------------


def test_qe302_reports_it_only_as_an_error_on_only() -> None:
    doc = js_doc(
        """
        describe("Cart", () => {
          it.only("adds an item", () => {
            expect(new Cart().add(book).size).toBe(1);
          });
        });
        """
    )
    [finding] = run(FocusedTest, doc)
    assert finding.rule_id == "QE302"
    assert finding.severity is Severity.ERROR
    assert covered_text(doc, finding.span) == "only"
    assert "`it.only`" in finding.message


def test_qe302_fix_removes_only() -> None:
    doc = js_doc(
        """
        describe.only("Cart", () => {
          test.only.each([[1], [2]])("holds %i items", (n) => {
            expect(cartWith(n).size).toBe(n);
          });
        });
        """
    )
    on_describe, on_test = run(FocusedTest, doc)
    assert on_describe.fix is not None and on_describe.fix.title == "Remove `.only`"

    text, remaining = fixed(FocusedTest, doc, on_describe)
    assert text.startswith('\ndescribe("Cart", () => {\n')
    assert [f.message for f in remaining] == [on_test.message]

    text, remaining = fixed(FocusedTest, doc, on_test)
    assert "\n  test.each([[1], [2]])(" in text
    assert [f.message for f in remaining] == [on_describe.message]


def test_qe302_fix_renames_fit_and_fdescribe() -> None:
    doc = js_doc(
        """
        fdescribe("Cart", () => {
          fit("adds an item", () => {
            expect(new Cart().add(book).size).toBe(1);
          });
        });
        """,
        path="spec/cart.spec.js",
        language=Language.JAVASCRIPT,
    )
    findings = run(FocusedTest, doc)
    assert [f.fix.title for f in findings if f.fix] == ["Rename `fdescribe` to `describe`", "Rename `fit` to `it`"]
    for finding in findings:
        _, remaining = fixed(FocusedTest, doc, finding)
        assert len(remaining) == 1


def test_qe302_ignores_unfocused_tests_and_other_only_properties() -> None:
    doc = js_doc(
        """
        const visible = filters.only(items);
        const fit = (width) => layout.fit(width);

        describe("Cart", () => {
          it("adds an item", () => {
            expect(fit(100)).toBe(true);
          });
        });
        """
    )
    assert run(FocusedTest, doc) == []


# --- QE303 timer-in-test -----------------------------------------------------------------------------


def test_qe303_reports_a_promise_sleep_in_a_test() -> None:
    doc = js_doc(
        """
        it("saves the draft after typing stops", async () => {
          editor.type("hello");
          await new Promise((resolve) => setTimeout(resolve, 500));
          expect(storage.draft).toBe("hello");
        });
        """
    )
    [finding] = run(TimerInTest, doc)
    assert finding.rule_id == "QE303"
    assert covered_text(doc, finding.span) == "setTimeout(resolve, 500)"
    assert "fake timers" in finding.message
    assert finding.fix is None


def test_qe303_reports_set_interval_and_timers_promises() -> None:
    doc = js_doc(
        """
        import { setTimeout as delay } from "node:timers/promises";
        import { setTimeout } from "node:timers/promises";

        test("polls the job", async () => {
          const handle = setInterval(() => job.tick(), 100);
          await setTimeout(1000);
          clearInterval(handle);
          expect(job.done).toBe(true);
        });
        """
    )
    assert [covered_text(doc, f.span) for f in run(TimerInTest, doc)] == [
        "setInterval(() => job.tick(), 100)",
        "setTimeout(1000)",
    ]


def test_qe303_ignores_files_with_fake_timers() -> None:
    doc = js_doc(
        """
        beforeEach(() => {
          vi.useFakeTimers();
        });

        it("debounces saves", () => {
          setTimeout(save, 500);
          vi.advanceTimersByTime(500);
          expect(save).toHaveBeenCalledOnce();
        });
        """
    )
    assert run(TimerInTest, doc) == []


def test_qe303_ignores_zero_delays_and_timers_outside_tests() -> None:
    doc = js_doc(
        """
        const flushMacrotasks = () => new Promise((resolve) => setTimeout(resolve, 500));

        it("renders after the next tick", async () => {
          await new Promise((resolve) => setTimeout(resolve, 0));
          await new Promise((resolve) => setTimeout(resolve));
          expect(screen.getByText("ready")).toBeTruthy();
        });
        """
    )
    assert run(TimerInTest, doc) == []


# --- robustness --------------------------------------------------------------------------------------


def test_rules_still_report_the_parts_of_a_broken_file_that_parse() -> None:
    doc = js_doc(
        """
        it.only("adds an item", () => {
          expect(cart.add(book).size).toBe(1);
        });

        it("is being written", () => {
          const total = cart.
        });
        """
    )
    assert doc.has_syntax_errors
    for rule in RULES:
        run(rule, doc)
    assert [covered_text(doc, f.span) for f in run(FocusedTest, doc)] == ["only"]


def test_positions_count_utf16_units_after_emoji_in_tsx_with_crlf() -> None:
    text = (
        'import { render } from "@testing-library/react";\r\n'
        "\r\n"
        'describe("🎉 party", () => { it.only("shows 🎉", () => { expect(render(<Party />)).toBeTruthy(); }); });\r\n'
    )
    doc = ParsedDocument.parse("src/Party.test.tsx", text, Language.TSX)
    [finding] = run(FocusedTest, doc)
    line = text.split("\r\n")[2]
    assert finding.span.start.line == 2
    assert finding.span.start.character == len(line[: line.index("only")].encode("utf-16-le")) // 2
    assert covered_text(doc, finding.span) == "only"
    fixed_text, remaining = fixed(FocusedTest, doc, finding)
    assert remaining == []
    assert 'it("shows 🎉", () =>' in fixed_text
    assert fixed_text.count("\r\n") == 3


_SAMPLE = """\
import { Cart } from "./cart";

describe.only("Cart", () => {
  beforeEach(() => { jest.resetModules(); });

  it("adds", async () => {
    const cart = new Cart();
    await new Promise((r) => setTimeout(r, 50));
  });

  fit("totals", () => {
    expect(new Cart().total()).toBe(0);
  });
});
"""


def test_rules_never_raise_on_any_truncation_of_a_test_file() -> None:
    complete = js_doc(_SAMPLE)
    assert sorted(f.rule_id for rule in RULES for f in run(rule, complete)) == [
        "QE301",
        "QE302",
        "QE302",
        "QE303",
    ]
    for end in range(0, len(_SAMPLE), 5):
        doc = ParsedDocument.parse("src/cart.test.ts", _SAMPLE[:end], Language.TYPESCRIPT)
        for rule in RULES:
            run(rule, doc)


def test_qe301_accepts_tape_subtests_bracket_access_and_custom_context_assertions() -> None:
    doc = js_doc(
        """
        var test = require('tape');

        test('stringify()', function (t) {
            t.test('stringifies a querystring object', function (st) {
                st.equal(qs.stringify({ a: 'b' }), 'a=b');
                st.end();
            });
            t.end();
        });

        test('quoteStyle option', function (t) {
            t['throws'](function () { inspect(null, { quoteStyle: false }); }, 'false is not valid');
            t.end();
        });

        test('Date and RegExp', function (t) {
            t.deepEqualTest(new Date(0), /abc/, 'Date and RegExp', false, false);
            t.end();
        });

        test('errors', function (t) {
            t.end();
        });
        """,
        path="test/cmp.js",
        language=Language.JAVASCRIPT,
    )
    assert [f.span.start.line for f in run(JsTestWithoutExpect, doc)] == [21]
