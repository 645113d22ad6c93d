"""Specifications of the defect-prone-code rules QE201-QE205 (Python)."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from textwrap import dedent

import pytest

from aqe.findings import Finding, FindingTag, Fix, Severity, Span
from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language
from aqe.parsing.source import SourceText
from aqe.review.rules import all_rules
from aqe.review.rules.base import ComplexityCounting, Rule, RuleContext, RuleOptions, walk
from aqe.review.rules.python_code import (
    RULES,
    BroadExceptSwallowed,
    MutableDefaultArgument,
    TodoComment,
    TooComplex,
    UnreachableCode,
    cyclomatic_complexity,
)

# --- helpers --------------------------------------------------------------------------------------


def parse(text: str, path: str = "pkg/module.py") -> ParsedDocument:
    return ParsedDocument.parse(path, text, Language.PYTHON)


def check(rule: type[Rule], text: str, *, max_complexity: int = 10, path: str = "pkg/module.py") -> list[Finding]:
    context = RuleContext(parse(text, path), RuleOptions(max_complexity=max_complexity))
    return list(rule().check(context))


def code(text: str) -> str:
    return dedent(text).lstrip("\n")


def apply_fix(text: str, fix: Fix) -> str:
    """Apply the edits from last to first, as an editor does; they must not overlap."""
    source = SourceText(text)
    ranges = sorted(
        (source.byte_at_position(e.span.start), source.byte_at_position(e.span.end), e.new_text) for e in fix.edits
    )
    for (_, end, _), (next_start, _, _) in itertools.pairwise(ranges):
        assert end <= next_start, f"overlapping edits in {fix.title!r}"
    data = source.data
    for start, end, new_text in reversed(ranges):
        data = data[:start] + new_text.encode("utf-8") + data[end:]
    return data.decode("utf-8")


def fix_round_trip(rule: type[Rule], text: str, finding: Finding) -> str:
    """Apply `finding`'s fix and prove it is a real repair: the result parses, this finding is gone
    and every other finding of the rule is still there (no new ones)."""
    assert finding.fix is not None, finding.message
    before = check(rule, text)
    fixed = apply_fix(text, finding.fix)
    assert not parse(fixed).has_syntax_errors, fixed
    after = check(rule, fixed)
    assert Counter(f.message for f in after) == Counter(f.message for f in before) - Counter([finding.message])
    return fixed


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, [f.message for f in findings]
    return findings[0]


def text_at(text: str, span: Span) -> str:
    source = SourceText(text)
    return source.data[source.byte_at_position(span.start) : source.byte_at_position(span.end)].decode()


# --- the rule set ---------------------------------------------------------------------------------


def test_the_module_registers_its_five_rules_with_fixed_ids_and_names() -> None:
    assert [(r.info.id, r.info.name) for r in RULES] == [
        ("QE201", "broad-except-swallowed"),
        ("QE202", "mutable-default-argument"),
        ("QE203", "too-complex"),
        ("QE204", "unreachable-code"),
        ("QE205", "todo-comment"),
    ]
    registered = {rule.info.id for rule in all_rules()}
    assert {"QE201", "QE202", "QE203", "QE204", "QE205"} <= registered


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.info.id)
def test_every_rule_documents_itself_in_one_line_and_a_paragraph(rule: type[Rule]) -> None:
    assert rule.info.languages == frozenset({Language.PYTHON})
    assert "\n" not in rule.info.summary and rule.info.summary.endswith(".")
    assert len(rule.info.rationale) > 150


def test_only_the_rules_that_attach_fixes_declare_them() -> None:
    assert [r.info.id for r in RULES if r.info.has_fix] == ["QE202", "QE204"]


def test_rules_ignore_documents_in_other_languages() -> None:
    document = ParsedDocument.parse(
        "web/app.js", "// TODO: port\nfunction f(a = []) { return a; }\n", Language.JAVASCRIPT
    )
    for rule in RULES:
        assert list(rule().check(RuleContext(document))) == []


# --- QE201 broad-except-swallowed -----------------------------------------------------------------


def test_qe201_reports_except_exception_whose_body_is_only_pass_on_the_clause_head() -> None:
    text = code(
        """
        def load_cache(path):
            try:
                return read_json(path)
            except Exception:
                pass
        """
    )
    finding = only(check(BroadExceptSwallowed, text))
    assert finding.rule_id == "QE201"
    assert finding.severity is Severity.WARNING
    assert finding.span == Span.of(3, 4, 3, 21)
    assert text_at(text, finding.span) == "except Exception:"
    assert "`except Exception:` swallows every error" in finding.message
    assert finding.fix is None


def test_qe201_bare_except_gets_its_own_message_about_keyboard_interrupt_and_no_fix() -> None:
    text = code(
        """
        def cleanup(workdir):
            try:
                shutil.rmtree(workdir)
            except:
                ...
        """
    )
    finding = only(check(BroadExceptSwallowed, text))
    assert text_at(text, finding.span) == "except:"
    assert "KeyboardInterrupt and SystemExit" in finding.message
    assert finding.fix is None


@pytest.mark.parametrize(
    ("handler", "body"),
    [
        ("except BaseException:", "return"),
        ("except Exception as error:", "return None"),
        ("except (ValueError, Exception) as error:", "pass"),
        ("except (OSError, BaseException):", "'ignored on purpose'"),
        ("except builtins.Exception:", "pass  # best effort"),
        ("except* Exception:", "pass"),
        ("except Exception:", "# nothing to do\n        continue"),
    ],
)
def test_qe201_reports_every_swallowing_form_of_a_catch_all(handler: str, body: str) -> None:
    text = f"for job in jobs:\n    try:\n        job.run()\n    {handler}\n        {body}\n"
    finding = only(check(BroadExceptSwallowed, text))
    assert text_at(text, finding.span) == handler


@pytest.mark.parametrize(
    "handler",
    [
        "except Exception:\n        logger.exception('job failed')",
        "except Exception as error:\n        logger.warning('job failed: %s', error)",
        "except Exception:\n        logger.error('job failed', exc_info=True)",
        "except Exception as error:\n        raise JobError(job) from error",
        "except Exception:\n        failures += 1",
        "except Exception:\n        return default",
        "except Exception as error:\n        f'{error}'",
        "except ValueError:\n        pass",
        "except (KeyError, IndexError):\n        continue",
    ],
)
def test_qe201_accepts_handlers_that_act_or_catch_specific_errors(handler: str) -> None:
    text = f"def run(job, default):\n    try:\n        return job.run()\n    {handler}\n"
    assert check(BroadExceptSwallowed, text) == []


def test_qe201_span_is_right_with_crlf_line_endings() -> None:
    text = "try:\r\n    go()\r\nexcept Exception:\r\n    pass\r\n"
    finding = only(check(BroadExceptSwallowed, text))
    assert finding.span == Span.of(2, 0, 2, 17)


# --- QE202 mutable-default-argument ---------------------------------------------------------------


@pytest.mark.parametrize(
    "default",
    [
        "[]",
        "{}",
        "{'retries': 3}",
        "{1, 2}",
        "[n for n in range(3)]",
        "{k: 0 for k in 'ab'}",
        "{n for n in range(3)}",
        "list()",
        "dict()",
        "set()",
        "bytearray()",
        "deque()",
        "collections.deque(maxlen=3)",
        "defaultdict(list)",
        "collections.defaultdict(int)",
    ],
)
def test_qe202_reports_mutable_defaults_on_the_default_value(default: str) -> None:
    text = f"def collect(value, seen={default}):\n    seen.add(value)\n    return seen\n"
    finding = only(check(MutableDefaultArgument, text))
    assert finding.severity is Severity.WARNING
    assert text_at(text, finding.span) == default
    assert "`seen`" in finding.message


@pytest.mark.parametrize(
    "default", ["None", "()", "(1, 2)", "frozenset()", "'x'", "0", "tuple()", "field(default_factory=list)"]
)
def test_qe202_accepts_immutable_defaults(default: str) -> None:
    assert check(MutableDefaultArgument, f"def collect(value, seen={default}):\n    return seen\n") == []


def test_qe202_fix_uses_none_and_creates_the_value_at_the_start_of_the_body() -> None:
    text = code(
        """
        def collect(value, seen=[]):
            seen.append(value)
            return seen
        """
    )
    fixed = fix_round_trip(MutableDefaultArgument, text, only(check(MutableDefaultArgument, text)))
    assert fixed == code(
        """
        def collect(value, seen=None):
            if seen is None:
                seen = []
            seen.append(value)
            return seen
        """
    )


def test_qe202_fix_goes_after_the_docstring_of_a_method_with_its_indentation() -> None:
    text = code(
        '''
        class Registry:
            def register(self, name, *, tags: list[str] = []):
                """Remember `name` under its tags.

                Tags are normalised.
                """
                for tag in tags:
                    self.by_tag[tag].add(name)
        '''
    )
    fixed = fix_round_trip(MutableDefaultArgument, text, only(check(MutableDefaultArgument, text)))
    assert fixed == code(
        '''
        class Registry:
            def register(self, name, *, tags: list[str] | None = None):
                """Remember `name` under its tags.

                Tags are normalised.
                """
                if tags is None:
                    tags = []
                for tag in tags:
                    self.by_tag[tag].add(name)
        '''
    )


def test_qe202_fix_works_for_async_functions_and_keeps_a_decorator() -> None:
    text = code(
        """
        @retry(times=3)
        async def fetch_all(urls, headers=dict(accept="json")):
            return [await get(url, headers) for url in urls]
        """
    )
    fixed = fix_round_trip(MutableDefaultArgument, text, only(check(MutableDefaultArgument, text)))
    assert fixed == code(
        """
        @retry(times=3)
        async def fetch_all(urls, headers=None):
            if headers is None:
                headers = dict(accept="json")
            return [await get(url, headers) for url in urls]
        """
    )


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        ("dict[str, int]", "dict[str, int] | None"),
        ("Optional[dict[str, int]]", "Optional[dict[str, int]]"),
        ("typing.Optional[dict]", "typing.Optional[dict]"),
        ("Union[dict, None]", "Union[dict, None]"),
        ("dict | None", "dict | None"),
        ("None | dict", "None | dict"),
        ('"dict[str, int]"', '"dict[str, int] | None"'),
        ("list[None]", "list[None] | None"),
    ],
)
def test_qe202_fix_widens_the_annotation_only_when_it_does_not_allow_none(annotation: str, expected: str) -> None:
    text = f"def count(words, counts: {annotation} = {{}}):\n    return counts\n"
    fixed = fix_round_trip(MutableDefaultArgument, text, only(check(MutableDefaultArgument, text)))
    assert fixed.splitlines()[0] == f"def count(words, counts: {expected} = None):"


def test_qe202_fix_reformats_a_one_line_body_into_a_block() -> None:
    text = "def first(items=[]): return items[0] if items else None\n"
    fixed = fix_round_trip(MutableDefaultArgument, text, only(check(MutableDefaultArgument, text)))
    assert fixed == code(
        """
        def first(items=None):
            if items is None:
                items = []
            return items[0] if items else None
        """
    )


def test_qe202_one_line_body_starting_with_a_docstring_is_reported_without_a_fix() -> None:
    finding = only(check(MutableDefaultArgument, 'def first(items=[]): "The first item."; return items[0]\n'))
    assert finding.fix is None


@pytest.mark.parametrize(
    "text",
    [
        'def first(items=[]):\n    """The first item."""; return items[0]\n',
        "def first(items=[]):\n    return items[\n",
    ],
    ids=["statement-on-the-docstring-line", "syntax-error-in-the-body"],
)
def test_qe202_offers_no_fix_where_the_guard_has_no_safe_place(text: str) -> None:
    finding = only(check(MutableDefaultArgument, text))
    assert finding.fix is None


def test_qe202_fix_goes_below_comments_that_open_the_body() -> None:
    text = code(
        """
        def collect(value, seen=set()):
            # seen is shared on purpose?
            seen.add(value)
        """
    )
    fixed = fix_round_trip(MutableDefaultArgument, text, only(check(MutableDefaultArgument, text)))
    assert fixed == code(
        """
        def collect(value, seen=None):
            # seen is shared on purpose?
            if seen is None:
                seen = set()
            seen.add(value)
        """
    )


def test_qe202_reports_lambdas_without_a_fix() -> None:
    finding = only(check(MutableDefaultArgument, "remember = lambda item, seen=[]: seen.append(item) or seen\n"))
    assert "`seen`" in finding.message
    assert finding.fix is None


def test_qe202_each_mutable_default_has_its_own_fix() -> None:
    text = code(
        """
        def merge(a=[], b={}):
            return a, b
        """
    )
    first, second = check(MutableDefaultArgument, text)
    assert "if a is None:\n        a = []\n" in fix_round_trip(MutableDefaultArgument, text, first)
    assert "if b is None:\n        b = {}\n" in fix_round_trip(MutableDefaultArgument, text, second)


def test_qe202_fix_keeps_a_multi_line_default_expression_intact() -> None:
    text = code(
        """
        def connect(host, options=dict(
            timeout=5,
            retries=3,
        )):
            return open_connection(host, **options)
        """
    )
    fixed = fix_round_trip(MutableDefaultArgument, text, only(check(MutableDefaultArgument, text)))
    assert "def connect(host, options=None):\n" in fixed
    assert "    if options is None:\n        options = dict(\n" in fixed


def test_qe202_fix_follows_tab_indentation() -> None:
    text = "class Bag:\n\tdef add(self, item, into=[]):\n\t\tinto.append(item)\n"
    fixed = fix_round_trip(MutableDefaultArgument, text, only(check(MutableDefaultArgument, text)))
    assert fixed == (
        "class Bag:\n\tdef add(self, item, into=None):\n\t\tif into is None:\n\t\t\tinto = []\n\t\tinto.append(item)\n"
    )


def test_qe202_fix_uses_the_files_crlf_line_endings() -> None:
    text = 'def collect(value, seen=[]):\r\n    """Collect."""\r\n    seen.append(value)\r\n    return seen\r\n'
    fixed = fix_round_trip(MutableDefaultArgument, text, only(check(MutableDefaultArgument, text)))
    assert fixed == (
        'def collect(value, seen=None):\r\n    """Collect."""\r\n'
        "    if seen is None:\r\n        seen = []\r\n"
        "    seen.append(value)\r\n    return seen\r\n"
    )
    assert "\n" not in fixed.replace("\r\n", "")


def test_qe202_positions_count_utf16_units_after_emoji_and_accents() -> None:
    text = 'def greet(name="Zoë 😀", seen=[]):\n    return seen\n'
    finding = only(check(MutableDefaultArgument, text))
    assert finding.span == Span.of(0, 30, 0, 32)
    assert text_at(text, finding.span) == "[]"
    fixed = fix_round_trip(MutableDefaultArgument, text, finding)
    assert fixed.startswith('def greet(name="Zoë 😀", seen=None):\n    if seen is None:\n')


# --- QE203 too-complex ----------------------------------------------------------------------------

# Hand-counted; radon 6.0.1 agrees on every one except `search` (radon adds 1 for the loop's `else`,
# this rule does not). mccabe 0.7 ignores boolean operators, comprehensions and match: it says 5 for
# `classify`, 4 for `load_settings` and 1 for `describe`.
COMPLEXITY_SAMPLES = code(
    """
    def straight_line(a, b):
        total = a + b
        return total * 2


    def classify(order, customer):
        if order.total > 1000 and customer.is_vip:
            tier = "gold"
        elif order.total > 500 or customer.years > 5:
            tier = "silver"
        else:
            tier = "bronze"
        for item in order.items:
            while item.quantity > item.stock:
                item.quantity -= 1
        return tier


    def load_settings(path, defaults):
        try:
            raw = read(path)
        except FileNotFoundError:
            return dict(defaults)
        except (ValueError, KeyError) as error:
            raise ConfigError(path) from error
        names = [key.lower() for key in raw if not key.startswith("_")]
        mode = "strict" if raw.get("strict") else "lenient"
        return {name: raw[name] for name in names}, mode


    def describe(shape):
        match shape:
            case {"kind": "circle", "radius": r}:
                return f"circle {r}"
            case {"kind": "square"}:
                return "square"
            case _:
                return "unknown"


    def outer(values):
        def keep(value):
            return value is not None and value > 0

        if values:
            return [v for v in values if keep(v)]
        return []


    def search(items, target):
        for item in items:
            if item == target:
                break
        else:
            return None
        with lock:
            assert item is not None
        return item
    """
)


def _functions(text: str) -> dict[str, object]:
    document = parse(text)
    return {
        node.child_by_field_name("name").text.decode(): node
        for node in walk(document.tree.root_node)
        if node.type == "function_definition"
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("straight_line", 1),
        ("classify", 7),  # if, and, elif, or, for, while
        ("load_settings", 7),  # 2 except, comprehension for + if, conditional, dict comprehension for
        ("describe", 3),  # 2 cases; `case _` is the else
        ("outer", 4),  # if, comprehension for + if; the nested `keep` does not count
        ("keep", 2),  # and
        ("search", 3),  # for, if; no point for the loop's else, with or assert
    ],
)
def test_extended_complexity_matches_hand_counted_examples(name: str, expected: int) -> None:
    counted = cyclomatic_complexity(_functions(COMPLEXITY_SAMPLES)[name], ComplexityCounting.EXTENDED)
    assert counted == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("straight_line", 1),
        ("classify", 5),  # if, elif, for, while; no point for and/or
        ("load_settings", 3),  # 2 except; comprehensions and the conditional add nothing
        ("describe", 3),  # 2 cases; `case _` is the else
        ("outer", 3),  # if, and the nested `keep` (1 + its own 0)
        ("keep", 1),  # `and` adds nothing
        ("search", 3),  # for, if; no point for the loop's else, with or assert
    ],
)
def test_mccabe_complexity_matches_ruff_c901_on_the_same_examples(name: str, expected: int) -> None:
    assert cyclomatic_complexity(_functions(COMPLEXITY_SAMPLES)[name]) == expected


def test_cyclomatic_complexity_counts_a_guarded_or_refutable_case_but_not_a_bare_capture() -> None:
    text = code(
        """
        def route(event):
            match event:
                case Click(x, y) if x > 0:
                    return "click"
                case Key() | Scroll():
                    return "input"
                case other if other.urgent:
                    return "urgent"
                case other:
                    return "ignored"
        """
    )
    assert cyclomatic_complexity(_functions(text)["route"]) == 4


def test_cyclomatic_complexity_accepts_a_decorated_definition_and_rejects_other_nodes() -> None:
    document = parse("@cache\ndef pick(a):\n    return 1 if a else 2\n")
    decorated = document.tree.root_node.named_children[0]
    assert decorated.type == "decorated_definition"
    assert cyclomatic_complexity(decorated) == 1
    assert cyclomatic_complexity(decorated, ComplexityCounting.EXTENDED) == 2
    with pytest.raises(ValueError, match="function_definition"):
        cyclomatic_complexity(document.tree.root_node)


def _branchy(name: str, branches: int, indent: str = "") -> str:
    lines = [f"def {name}(value):"]
    lines += [f"    if value == {n}:\n        return {n}" for n in range(branches)]
    lines.append("    return None")
    return "".join(f"{indent}{line}\n" for chunk in lines for line in chunk.split("\n"))


def test_qe203_reports_a_function_above_the_threshold_on_its_name() -> None:
    text = _branchy("dispatch", 11)
    finding = only(check(TooComplex, text, max_complexity=10))
    assert finding.severity is Severity.WARNING
    assert text_at(text, finding.span) == "dispatch"
    assert finding.message == (
        "`dispatch` has a cyclomatic complexity of 12 (threshold 10): split it or simplify its branching"
    )
    assert finding.fix is None


def test_qe203_accepts_a_function_at_the_threshold() -> None:
    assert check(TooComplex, _branchy("dispatch", 11), max_complexity=12) == []
    assert check(TooComplex, _branchy("dispatch", 9)) == []


def test_qe203_counts_nested_functions_on_their_own_and_in_their_parent_as_mccabe_does() -> None:
    inner = _branchy("inner", 6, indent="    ")
    text = "def outer(value):\n" + inner + "    if value:\n        return inner(value)\n    return None\n"
    findings = check(TooComplex, text, max_complexity=5)
    assert [text_at(text, f.span) for f in findings] == ["outer", "inner"]
    assert "complexity of 9" in findings[0].message  # 1 + if + nested def (1 + its 6 ifs)
    assert "complexity of 7" in findings[1].message


def test_qe203_extended_counting_counts_nested_functions_on_their_own_only() -> None:
    inner = _branchy("inner", 6, indent="    ")
    text = "def outer(value):\n" + inner + "    if value:\n        return inner(value)\n    return None\n"
    options = RuleOptions(max_complexity=5, complexity_counting=ComplexityCounting.EXTENDED)
    findings = list(TooComplex().check(RuleContext(parse(text), options)))
    assert [text_at(text, f.span) for f in findings] == ["inner"]


def test_qe203_rule_and_pure_function_agree_on_every_function() -> None:
    functions = _functions(COMPLEXITY_SAMPLES)
    findings = check(TooComplex, COMPLEXITY_SAMPLES, max_complexity=0)
    reported = {text_at(COMPLEXITY_SAMPLES, f.span): f.message for f in findings}
    assert set(reported) == set(functions)
    for name, node in functions.items():
        assert f"complexity of {cyclomatic_complexity(node)} " in reported[name]


def test_qe203_name_span_counts_utf16_units_for_non_ascii_names() -> None:
    text = _branchy("répartir_𠮷_cas", 11)
    finding = only(check(TooComplex, text))
    assert finding.span == Span.of(0, 4, 0, 19)


# --- QE204 unreachable-code -----------------------------------------------------------------------


def test_qe204_reports_statements_after_return_as_one_faded_finding() -> None:
    text = code(
        """
        def total(prices):
            result = sum(prices)
            return result
            print("total", result)
            audit(result)
        """
    )
    finding = only(check(UnreachableCode, text))
    assert finding.severity is Severity.WARNING
    assert finding.tags == (FindingTag.UNNECESSARY,)
    assert finding.span == Span.of(3, 4, 4, 17)
    assert "follows `return`" in finding.message


def test_qe204_fix_deletes_the_whole_dead_lines_and_keeps_the_code_below_at_a_lower_indent() -> None:
    text = code(
        """
        def total(prices):
            if not prices:
                return 0
                log("empty")

                log("really empty")
            return sum(prices)


        def mean(prices):
            return total(prices) / len(prices)
        """
    )
    finding = only(check(UnreachableCode, text))
    fixed = fix_round_trip(UnreachableCode, text, finding)
    assert fixed == code(
        """
        def total(prices):
            if not prices:
                return 0
            return sum(prices)


        def mean(prices):
            return total(prices) / len(prices)
        """
    )


@pytest.mark.parametrize(
    ("jump", "cause"),
    [
        ("raise ValueError(item)", "`raise`"),
        ("continue", "`continue`"),
        ("break", "`break`"),
    ],
)
def test_qe204_reports_code_after_each_kind_of_jump(jump: str, cause: str) -> None:
    text = f"for item in items:\n    if item.bad:\n        {jump}\n        item.skip()\n    item.use()\n"
    finding = only(check(UnreachableCode, text))
    assert text_at(text, finding.span) == "item.skip()"
    assert f"follows {cause}" in finding.message
    assert fix_round_trip(UnreachableCode, text, finding) == (
        f"for item in items:\n    if item.bad:\n        {jump}\n    item.use()\n"
    )


def test_qe204_reports_code_after_an_if_else_whose_every_branch_jumps() -> None:
    text = code(
        """
        def sign(n):
            if n > 0:
                return 1
            elif n < 0:
                raise ValueError(n)
            else:
                if n == 0:
                    return 0
                else:
                    return None
            return n
        """
    )
    finding = only(check(UnreachableCode, text))
    assert text_at(text, finding.span) == "return n"
    assert "if/else whose every branch jumps" in finding.message
    assert "    return n\n" not in fix_round_trip(UnreachableCode, text, finding)


@pytest.mark.parametrize(
    "body",
    [
        # no else: the condition may be false
        "if n > 0:\n        return 1\n    return 0",
        # one branch falls through
        "if n > 0:\n        return 1\n    elif n < 0:\n        log(n)\n    else:\n        return 0\n    return n",
        # finally may run and fall through after an exception... the rule does not reason about try
        "try:\n        return compute(n)\n    except ValueError:\n        pass\n    return 0",
        "try:\n        return compute(n)\n    finally:\n        cleanup()\n    return 0",
        # a context manager can suppress the exception
        "with suppress(KeyError):\n        raise KeyError(n)\n    return 0",
        # loops: no reasoning about `while True`
        "while True:\n        if step(n):\n            break\n    return n",
        "for item in n:\n        return item\n    return None",
        # sys.exit is only a call
        "sys.exit(1)\n    return n",
        # match is not reasoned about
        "match n:\n        case 0:\n            return 0\n        case _:\n            return 1\n    return n",
    ],
)
def test_qe204_stays_silent_where_the_following_code_can_run(body: str) -> None:
    assert check(UnreachableCode, f"def f(n):\n    {body}\n") == []


def test_qe204_leaves_the_empty_generator_idiom_alone() -> None:
    text = code(
        """
        def no_children(self):
            return
            yield

        def failing():
            raise ConnectionError
            value = yield from retry()
        """
    )
    assert check(UnreachableCode, text) == []


def test_qe204_a_yield_inside_a_dead_nested_function_does_not_protect_the_dead_code() -> None:
    text = code(
        """
        def build():
            return None

            def items():
                yield 1
        """
    )
    finding = only(check(UnreachableCode, text))
    assert fix_round_trip(UnreachableCode, text, finding) == "def build():\n    return None\n"


def test_qe204_fix_takes_the_blank_lines_above_the_dead_code_but_not_a_comment_or_what_follows() -> None:
    text = code(
        """
        def stop(worker):
            worker.stop()
            return True

            # legacy shutdown

            worker.join()

            worker.close()


        def start(worker):
            worker.start()
        """
    )
    finding = only(check(UnreachableCode, text))
    assert fix_round_trip(UnreachableCode, text, finding) == code(
        """
        def stop(worker):
            worker.stop()
            return True

            # legacy shutdown


        def start(worker):
            worker.start()
        """
    )


def test_qe204_fix_on_the_jump_line_removes_only_the_dead_statements() -> None:
    text = "def f(x):\n    return x; print(x)\n"
    finding = only(check(UnreachableCode, text))
    assert fix_round_trip(UnreachableCode, text, finding) == "def f(x):\n    return x\n"


def test_qe204_fix_at_the_end_of_a_file_without_a_final_newline() -> None:
    text = "def f(x):\n    return x\n    if x:\n        print(x)"
    finding = only(check(UnreachableCode, text))
    assert text_at(text, finding.span) == "if x:\n        print(x)"
    assert fix_round_trip(UnreachableCode, text, finding) == "def f(x):\n    return x\n"


def test_qe204_fix_with_crlf_removes_the_lines_and_their_line_breaks() -> None:
    text = "def f(x):\r\n    raise NotImplementedError\r\n    return x\r\n\r\nf(1)\r\n"
    finding = only(check(UnreachableCode, text))
    assert finding.span == Span.of(2, 4, 2, 12)
    assert (
        fix_round_trip(UnreachableCode, text, finding) == "def f(x):\r\n    raise NotImplementedError\r\n\r\nf(1)\r\n"
    )


def test_qe204_positions_count_utf16_units_after_emoji() -> None:
    text = 'def f():\n    return "😀"; cleanup()\n'
    finding = only(check(UnreachableCode, text))
    assert finding.span == Span.of(1, 17, 1, 26)
    assert fix_round_trip(UnreachableCode, text, finding) == 'def f():\n    return "😀"\n'


def test_qe204_reports_each_block_separately() -> None:
    text = code(
        """
        def a():
            return 1
            x = 1

        def b():
            raise RuntimeError
            y = 2
        """
    )
    findings = check(UnreachableCode, text)
    assert [text_at(text, f.span) for f in findings] == ["x = 1", "y = 2"]
    for finding in findings:
        fix_round_trip(UnreachableCode, text, finding)


# --- QE205 todo-comment ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("comment", "marker"),
    [
        ("# TODO(alice): handle retries", "TODO"),
        ("# todo: handle retries", "TODO"),
        ("# fixme later", "FIXME"),
        ("# FIXME: wrong for leap years", "FIXME"),
        ("# XXX this depends on dict order", "XXX"),
        ("# HACK: the API returns strings here", "HACK"),
        ("#TODO", "TODO"),
    ],
)
def test_qe205_reports_marker_comments_as_hints_with_their_text(comment: str, marker: str) -> None:
    text = f"def parse(raw):\n    {comment}\n    return raw\n"
    finding = only(check(TodoComment, text))
    assert finding.severity is Severity.HINT
    assert text_at(text, finding.span) == comment
    assert finding.message == f"{marker} comment: {comment.lstrip('#').strip()}"
    assert finding.fix is None


@pytest.mark.parametrize(
    "line",
    [
        "# todos are tracked in the issue tracker",
        "# a hacky but documented workaround",
        "# the hack below is intentional",
        "# xxx-large sizes are allowed",
        "# see mastodon.social",
        "# pyre-fixme[56]: cannot infer the decorator type",
        "# the plan lives in TODO.md",
        'message = "TODO: this string is data, not a comment"',
        '"""FIXME in a docstring is prose."""',
    ],
)
def test_qe205_ignores_words_that_only_look_like_markers(line: str) -> None:
    assert check(TodoComment, f"{line}\nvalue = 1\n") == []


def test_qe205_trims_a_long_comment_in_the_message() -> None:
    comment = "# TODO: " + "make this configurable " * 10
    finding = only(check(TodoComment, comment + "\n"))
    assert len(finding.message) <= len("TODO comment: ") + 80
    assert finding.message.startswith("TODO comment: TODO: make this configurable")
    assert finding.message.endswith("…")


def test_qe205_span_after_emoji_on_the_same_line_counts_utf16_units() -> None:
    text = 'greeting = "😀 héllo"  # TODO: translate\n'
    finding = only(check(TodoComment, text))
    assert finding.span == Span.of(0, 23, 0, 40)


# --- every rule: broken syntax and speed ---------------------------------------------------------

BROKEN_FILE = code(
    """
    def broken(:
        return (

    def store():
        try:
            work()
        except Exception:
            pass

    def collect(value, seen=[]):
        seen.append(value)
        return seen

    def dead():
        return 1
        print("never")

    def note():
        # TODO: finish
        return None
    """
) + _branchy("dispatch", 11)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (BroadExceptSwallowed, "except Exception:"),
        (MutableDefaultArgument, "[]"),
        (TooComplex, "dispatch"),
        (UnreachableCode, 'print("never")'),
        (TodoComment, "# TODO: finish"),
    ],
    ids=lambda value: value.info.id if isinstance(value, type) else "",
)
def test_a_syntax_error_in_one_function_does_not_hide_findings_in_the_others(rule: type[Rule], expected: str) -> None:
    assert parse(BROKEN_FILE).has_syntax_errors
    findings = check(rule, BROKEN_FILE)
    assert expected in [text_at(BROKEN_FILE, f.span) for f in findings]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.info.id)
@pytest.mark.parametrize(
    "text",
    ["", "def", "def f(x=[]:\n", "try:\nexcept", "if x:\n    return\n  y = (", "\x00\ufeff", "match x:\n    case"],
)
def test_rules_never_raise_on_fragments(rule: type[Rule], text: str) -> None:
    for finding in check(rule, text):
        if finding.fix is not None:
            apply_fix(text, finding.fix)


def _large_module(functions: int) -> str:
    """A realistic worst case: long elif chains, deep nesting, many defaults, comments, handlers."""
    chunks = []
    for n in range(functions):
        chunks.append(
            code(
                f'''
                def handler_{n}(event, seen=[], *, options: dict = {{}}):
                    """Handle one event."""
                    # TODO: split handler_{n}
                    try:
                        if event.kind == 1 and event.ok:
                            return [x for x in event.items if x]
                        elif event.kind == 2 or event.retry:
                            if event.nested:
                                if event.deeper:
                                    return 1
                                else:
                                    return 2
                                log("dead")
                        else:
                            raise ValueError(event)
                            log("dead")
                    except Exception:
                        pass
                    return None if event else seen
                '''
            )
        )
    return "\n\n".join(chunks)


def test_all_rules_on_a_two_thousand_line_module_take_well_under_a_second() -> None:
    text = _large_module(100)
    assert text.count("\n") >= 2000
    context = RuleContext(parse(text), RuleOptions(max_complexity=5))
    started = time.perf_counter()
    counts = {rule.info.id: len(list(rule().check(context))) for rule in RULES}
    elapsed = time.perf_counter() - started
    assert counts == {"QE201": 100, "QE202": 200, "QE203": 100, "QE204": 200, "QE205": 100}
    assert elapsed < 1.0, f"{elapsed:.2f}s"


def test_qe205_reports_a_note_continued_over_several_lines_once() -> None:
    text = code(
        """
        def encode(value):
            # TODO: the fast path below skips the XXX escaping that the slow path does,
            #   so a string with XXX markers in it is encoded twice (see the FIXME in
            #   decode); merge both paths.
            return fast_encode(value)
        """
    )
    [finding] = check(TodoComment, text)
    assert finding.span.start.line == 1


def test_qe205_reports_each_note_of_a_list_of_notes() -> None:
    text = code(
        """
        # TODO: support tz-aware values
        # FIXME: negative durations round the wrong way
        value = 1  # XXX: a trailing note is its own note
        # HACK: a note after code
        """
    )
    assert [f.span.start.line for f in check(TodoComment, text)] == [0, 1, 2, 3]
