"""Coverage hints per function, on the text the user has now."""

from __future__ import annotations

import os
import textwrap

from aqe.coverage.hints import RULE_ID, STALE_RULE_ID, coverage_findings, function_coverage, line_ranges, map_lines
from aqe.coverage.model import BranchCount, FileCoverage, hash_lines
from aqe.coverage.paths import PathResolver
from aqe.coverage.readers import read_coverage
from aqe.findings import FindingSource
from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language


def _parse(path, text: str, language: Language = Language.PYTHON) -> ParsedDocument:
    return ParsedDocument.parse(str(path), text, language)


def _calc_coverage(measured) -> FileCoverage:
    return read_coverage(measured.json_report, PathResolver([measured.root])).files[0]


def test_one_finding_per_function_with_a_gap(measured):
    document = _parse(measured.source, measured.source.read_text())
    findings = coverage_findings(function_coverage(document, _calc_coverage(measured)))
    assert [f.message.split(":")[0] for f in findings] == ["`classify`", "`unused`"]
    assert all(f.rule_id == RULE_ID and f.source is FindingSource.COVERAGE for f in findings)
    classify, unused = findings
    assert classify.span.start.line == 4 and classify.span.start.character == 4  # the name, 0-based
    assert classify.message == (
        "`classify`: 2 of 5 statements never ran (lines 7, 9); 2 branches only partly taken "
        "(line 6: 1 of 2, line 8: 1 of 2); 56% covered"  # (3 + 2) / (5 + 4), as coverage.py counts
    )
    assert unused.message == "`unused`: 2 of 2 statements never ran (lines 14-15); 0% covered"


def test_a_fully_covered_function_is_measured_but_not_reported(measured):
    document = _parse(measured.source, measured.source.read_text())
    hints = function_coverage(document, _calc_coverage(measured))
    add = next(f for f in hints.functions if f.name == "add")
    assert (add.statements, add.covered, add.percent, add.has_gap) == (1, 1, 100.0, False)


def test_the_def_line_belongs_to_the_module_not_the_function(measured):
    document = _parse(measured.source, measured.source.read_text())
    unused = next(f for f in function_coverage(document, _calc_coverage(measured)).functions if f.name == "unused")
    assert unused.statements == 2  # `y = ...` and `return y`; `def unused` ran at import


def test_lines_follow_an_edit_above_them_and_the_hint_says_it_is_stale(measured):
    edited = "import math\n\n\n" + measured.source.read_text()
    document = _parse(measured.source, edited)
    hints = function_coverage(document, _calc_coverage(measured))
    classify = next(f for f in hints.functions if f.name == "classify")
    assert [line + 1 for line in classify.missing_lines] == [10, 12]
    assert hints.stale
    assert "stale" in coverage_findings(hints)[0].message


def test_a_changed_line_has_no_coverage_any_more(measured):
    edited = measured.source.read_text().replace('        return "zero"', '        return "nothing"')
    hints = function_coverage(_parse(measured.source, edited), _calc_coverage(measured))
    classify = next(f for f in hints.functions if f.name == "classify")
    assert [line + 1 for line in classify.missing_lines] == [7]


def test_without_the_measured_text_a_changed_file_gets_one_notice_and_no_lines(measured, tmp_path):
    source = tmp_path / "calc.py"
    source.write_text("def add(a, b):\n    return a + b\n")
    coverage = FileCoverage(str(source), frozenset({1}), frozenset({2}), measured_at=1.0)
    os.utime(source, (100.0, 100.0))  # modified after the measurement at t=1
    findings = coverage_findings(function_coverage(_parse(source, source.read_text()), coverage))
    assert [f.rule_id for f in findings] == [STALE_RULE_ID]
    assert findings[0].span.start.line == 0


def test_test_files_get_no_coverage_hints(tmp_path):
    test_file = tmp_path / "tests" / "test_calc.py"
    text = "def make_one():\n    return 1\n\ndef test_it():\n    assert make_one() == 1\n"
    coverage = FileCoverage(str(test_file), frozenset({1, 4, 5}), frozenset({2}), line_hashes=hash_lines(text))
    assert coverage_findings(function_coverage(_parse(test_file, text), coverage)) == []


def test_a_nested_function_is_counted_on_its_own(tmp_path):
    text = textwrap.dedent(
        """\
        def outer(items):
            def key(item):
                return item.name
            return sorted(items)
        """
    )
    coverage = FileCoverage(str(tmp_path / "m.py"), frozenset({1, 2, 4}), frozenset({3}), line_hashes=hash_lines(text))
    functions = {f.name: f for f in function_coverage(_parse(tmp_path / "m.py", text), coverage).functions}
    assert (functions["outer"].statements, functions["outer"].covered) == (2, 2)
    assert [line + 1 for line in functions["key"].missing_lines] == [3]


def test_javascript_functions_from_lcov_lines(tmp_path):
    text = "export function total(items) {\n  if (!items) {\n    return 0;\n  }\n  return items.length;\n}\n"
    coverage = FileCoverage(
        str(tmp_path / "cart.ts"),
        frozenset({2, 5}),
        frozenset({3}),
        branches={2: BranchCount(1, 2)},
        line_hashes=hash_lines(text),
    )
    findings = coverage_findings(function_coverage(_parse(tmp_path / "cart.ts", text, Language.TYPESCRIPT), coverage))
    assert len(findings) == 1
    assert findings[0].message.startswith("`total`: 1 of 3 statements never ran (line 3); 1 branch only partly taken")


def test_map_lines_is_exact_for_the_same_text_and_unknown_without_a_record():
    assert map_lines(hash_lines("a\nb\n"), "a\nb\n").exact
    assert map_lines(hash_lines("a\nb\n"), "a\r\nb  \n").exact  # line endings and trailing blanks do not count
    unknown = map_lines(None, "a\n")
    assert not unknown.known and unknown.forward == {}


def test_line_ranges_are_one_based_and_collapsed():
    assert line_ranges([0, 1, 2, 5, 7, 8]) == "1-3, 6, 8-9"
    assert line_ranges([]) == ""
