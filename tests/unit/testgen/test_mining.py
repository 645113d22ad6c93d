"""Inputs mined from the code under test: each one reaches a piece of the function's own logic."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language
from aqe.testgen.mining import NON_ASCII, MinedInputs, merge_sources, mine_inputs
from aqe.testgen.regex_samples import regex_samples
from aqe.testgen.target import find_target_by_name
from aqe.testgen.values import candidate_calls, value_context


def mined(source: str, function: str) -> MinedInputs:
    document = ParsedDocument.parse("words.py", source, Language.PYTHON)
    for child in document.tree.root_node.named_children:
        if child.type == "function_definition" and child.child_by_field_name("name").text.decode() == function:
            return mine_inputs(document, child.child_by_field_name("body"))
    raise AssertionError(f"no function {function}")


def strings(inputs: MinedInputs) -> list[str]:
    return [ast.literal_eval(source) for source in inputs.strings]


# --- regular expressions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    [r"([A-Z]+)([A-Z][a-z])", r"(?i)(octop|vir)us$", r"^\d{3}-\d{4}$", r"[^a-z]+", r"(\w+)_id$", r"(.)\1"],
)
def test_every_sample_of_a_pattern_is_matched_by_it(pattern: str) -> None:
    samples = regex_samples(pattern)

    assert samples
    assert all(re.search(pattern, sample) for sample in samples)


def test_each_alternative_of_a_pattern_gets_its_own_sample() -> None:
    assert regex_samples(r"(octop|vir)us$") == ["octopus", "virus"]


def test_a_pattern_that_does_not_compile_gives_no_sample() -> None:
    assert regex_samples(r"\1_\2") == []


def test_the_pattern_a_function_substitutes_gives_text_it_matches() -> None:
    source = 'import re\n\ndef underscore(word):\n    return re.sub(r"([A-Z]+)([A-Z][a-z])", r"\\1_\\2", word)\n'

    assert "AAa" in strings(mined(source, "underscore"))


# --- string operations ------------------------------------------------------------------------------


def test_the_separator_a_function_replaces_appears_inside_a_value() -> None:
    source = 'def dasherize(word):\n    return word.replace("_", "-")\n'

    assert "ab_cd" in strings(mined(source, "dasherize"))


def test_suffixes_and_prefixes_the_function_checks_are_attached_to_a_word() -> None:
    source = (
        "def humanize(word):\n"
        '    if word.endswith(("_id", "_pk")):\n'
        "        word = word[:-3]\n"
        '    if word.startswith("_"):\n'
        "        word = word[1:]\n"
        "    return word\n"
    )

    found = strings(mined(source, "humanize"))

    assert {"word_id", "word_pk", "_word"} <= set(found)


def test_a_substring_tested_with_in_appears_inside_a_value() -> None:
    source = 'def has_scheme(url):\n    return "://" in url\n'

    assert "ab://cd" in strings(mined(source, "has_scheme"))


def test_a_length_limit_gives_strings_on_both_sides_of_it() -> None:
    source = "def short(text):\n    return len(text) <= 3\n"

    assert {"aa", "aaa", "aaaa"} <= set(strings(mined(source, "short")))


def test_non_ascii_text_is_always_offered() -> None:
    assert set(NON_ASCII) <= set(strings(mined("def f(text):\n    return text\n", "f")))


def test_a_docstring_is_not_an_input() -> None:
    source = 'def f(text):\n    """Return the text unchanged."""\n    return text\n'

    assert "Return the text unchanged." not in strings(mined(source, "f"))


# --- tables and callees -----------------------------------------------------------------------------

RULES = """
import re

UNCOUNTABLE = {"rice", "fish"}
EXTRA = ("sheep",)
ALL_UNCOUNTABLE = UNCOUNTABLE | set(EXTRA)
PLURALS = [(r"(octop|vir)us$", r"\\1i"), (r"(ax|test)is$", r"\\1es")]
SUFFIXES = {1: "st", 2: "nd", 3: "rd"}


def _rule(word):
    for pattern, replacement in PLURALS:
        if re.search(pattern, word):
            return re.sub(pattern, replacement, word)
    return word + "s"


def pluralize(word):
    if word in ALL_UNCOUNTABLE:
        return word
    return _rule(word)


def ordinal(n):
    if n % 100 in (11, 12, 13):
        return f"{n}th"
    return f"{n}{SUFFIXES.get(n % 10, 'th')}"
"""


def test_a_table_built_from_other_tables_gives_all_their_words() -> None:
    assert {"rice", "fish", "sheep"} <= set(strings(mined(RULES, "pluralize")))


def test_the_patterns_of_a_callees_rule_table_give_words_each_rule_matches() -> None:
    found = strings(mined(RULES, "pluralize"))

    assert {"octopus", "virus", "axis", "testis"} <= set(found)


def test_the_keys_of_a_lookup_table_and_the_compared_numbers_are_numbers_to_try() -> None:
    numbers = mined(RULES, "ordinal").numbers

    assert {"1", "2", "3", "10", "11", "12", "13", "100"} <= set(numbers)


def test_literals_in_two_spellings_are_offered_once() -> None:
    assert merge_sources(['"a"', "'b'"], ["'a'", '"c"', "5", "5"], 10) == ('"a"', "'b'", '"c"', "5")


def test_the_model_free_calls_use_the_mined_values(tmp_path: Path) -> None:
    (tmp_path / "words.py").write_text(RULES)
    target = find_target_by_name(tmp_path, "words.py", RULES, "pluralize")

    calls = [call.expression(target) for call in candidate_calls(value_context(tmp_path, target, RULES, []))]

    assert 'pluralize("octopus")' in calls
    assert 'pluralize("rice")' in calls
    assert 'pluralize("Crème Brûlée")' in calls
