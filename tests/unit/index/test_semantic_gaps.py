"""Semantic gaps, related test files and similar failure patterns: what the index tells the coverage
and flaky-test features."""

from __future__ import annotations

from pathlib import Path

from aqe.config import Settings
from aqe.coverage.gaps import GAP_RULE_ID, gap_findings, semantic_gaps
from aqe.findings import FindingSource, Severity
from aqe.index.embedders import HashingCodeEmbedder
from aqe.index.service import WorkspaceIndex

SOURCE = """def apply_discount(price, percent):
    return round(price * (1 - percent / 100), 2)


def parse_shipping_label(text):
    parts = text.split("|")
    if len(parts) != 3:
        raise ValueError("a label has three parts")
    return {"name": parts[0], "street": parts[1], "city": parts[2]}


def _internal_helper(value):
    return value
"""

TESTS = """from shop.prices import apply_discount


def test_apply_discount_takes_the_percentage_off():
    assert apply_discount(200.0, 10) == 180.0
"""


def workspace(tmp_path: Path) -> WorkspaceIndex:
    root = tmp_path / "shop"
    (root / "src/shop").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "src/shop/prices.py").write_text(SOURCE)
    (root / "tests/test_prices.py").write_text(TESTS)
    index = WorkspaceIndex(root, Settings(), HashingCodeEmbedder(384))
    index.open()
    index.scan()
    return index


def test_functions_no_test_resembles_are_gaps_ranked_by_priority(tmp_path: Path) -> None:
    index = workspace(tmp_path)

    gaps = semantic_gaps(index, threshold=0.3)

    assert [gap.qualified_name for gap in gaps] == ["parse_shipping_label", "_internal_helper"]
    label = gaps[0]
    assert label.complexity == 2 and label.public
    assert label.closest_test == "tests/test_prices.py::test_apply_discount_takes_the_percentage_off"
    assert label.best_similarity < 0.3
    assert label.priority > gaps[1].priority


def test_gaps_become_hints_on_the_function_name(tmp_path: Path) -> None:
    index = workspace(tmp_path)

    (finding, _) = gap_findings(semantic_gaps(index, 0.3), index.root)

    assert finding.rule_id == GAP_RULE_ID and finding.source is FindingSource.COVERAGE
    assert finding.severity is Severity.HINT
    assert (finding.span.start.line, finding.span.start.character) == (4, 4)
    assert finding.message.startswith("no test appears to exercise `parse_shipping_label`")


def test_a_threshold_of_zero_reports_nothing_and_the_editors_text_moves_the_hint(tmp_path: Path) -> None:
    index = workspace(tmp_path)
    edited = "\n\n" + SOURCE

    assert semantic_gaps(index, threshold=0.0) == []
    index.update_text(index.root / "src/shop/prices.py", edited)
    (gap, _) = semantic_gaps(index, 0.3, ["src/shop/prices.py"], {"src/shop/prices.py": edited})
    assert gap.name_span.start.line == 6


def test_test_files_related_by_meaning_are_found_for_a_source_file(tmp_path: Path) -> None:
    index = workspace(tmp_path)

    assert index.related_test_files(index.root / "src/shop/prices.py") == [index.root / "tests/test_prices.py"]


def test_a_failure_finds_the_failure_patterns_like_it(tmp_path: Path) -> None:
    index = workspace(tmp_path)

    # What the flaky-test feature sends: the cause it classified, the failure message, the test's code.
    similar = index.similar_failure_patterns(
        "timing AssertionError: assert job.done\n"
        "def test_export_finishes():\n    job = start_export()\n    time.sleep(0.2)\n    assert job.done\n",
        2,
    )

    assert similar[0] == "A fixed sleep races the code it waits for (failure-patterns/fixed-sleep)"
    assert len(similar) == 2
