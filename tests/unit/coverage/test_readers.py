"""Every coverage format aqe reads, from files the real coverage.py wrote, and what damage does to them."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from aqe.coverage import readers
from aqe.coverage.model import BranchCount, CoverageFormatError
from aqe.coverage.paths import PathResolver
from aqe.coverage.readers import read_all, read_cobertura, read_coverage, read_lcov

# calc.classify(5) ran: lines 6, 8, 10 ran; 7 and 9 did not; unused() never ran (14, 15).
EXECUTED = {1, 2, 5, 6, 8, 10, 13}
MISSING = {7, 9, 14, 15}


def _only_file(result):
    assert len(result.files) == 1, result
    return result.files[0]


@pytest.mark.parametrize("report", ["data_file", "json_report", "xml_report", "lcov_report"])
def test_every_format_reads_the_same_lines(measured, report):
    result = read_coverage(getattr(measured, report), PathResolver([measured.root]))
    calc = _only_file(result)
    assert calc.path == str(measured.source)
    assert calc.executed == EXECUTED
    assert calc.missing == MISSING
    assert result.problems == ()


@pytest.mark.parametrize("report", ["data_file", "json_report", "xml_report", "lcov_report"])
def test_every_format_reads_the_partly_taken_branches(measured, report):
    calc = _only_file(read_coverage(getattr(measured, report), PathResolver([measured.root])))
    assert calc.partial_branches() == {6: BranchCount(1, 2), 8: BranchCount(1, 2)}


def test_data_measured_in_another_checkout_is_placed_on_this_one(measured, tmp_path):
    xml = measured.xml_report.read_text().replace(str(measured.root), "/ci/runner/build/checkout")
    (tmp_path / "src").mkdir()
    shutil.copy(measured.source, tmp_path / "src" / "calc.py")
    report = tmp_path / "coverage.xml"
    report.write_text(xml)
    calc = _only_file(read_cobertura(report, PathResolver([tmp_path])))
    assert calc.path == str((tmp_path / "src" / "calc.py").resolve())
    assert calc.missing == MISSING


def test_the_data_file_of_another_checkout_is_renamed_through_coverage_py(measured, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(measured.root, copy)
    calc = _only_file(read_coverage(copy / ".coverage", PathResolver([copy])))
    assert calc.path == str((copy / "src" / "calc.py").resolve())
    assert calc.missing == MISSING


def test_coverage_of_files_that_no_longer_exist_is_ignored(measured, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(measured.root, copy)
    (copy / "src" / "calc.py").unlink()
    for name in ("coverage.json", "coverage.xml", "lcov.info", ".coverage"):
        result = read_coverage(copy / name, PathResolver([copy]))
        assert result.files == (), name
        assert result.ignored_missing == 1, name
        assert result.problems == (), name


def test_truncated_cobertura_keeps_what_came_before_the_damage(measured, tmp_path):
    text = measured.xml_report.read_text()
    cut = text.index('<line number="14"')
    damaged = tmp_path / "coverage.xml"
    damaged.write_text(text[:cut] + '<line number="14" hits=')
    (tmp_path / "src").mkdir()
    shutil.copy(measured.source, tmp_path / "src" / "calc.py")
    result = read_cobertura(damaged, PathResolver([tmp_path]))
    assert any("malformed XML" in problem for problem in result.problems)
    calc = _only_file(result)
    assert calc.executed == EXECUTED
    assert calc.missing == {7, 9}  # line 14 on was lost with the damage


def test_entity_expansion_is_refused_without_hanging(tmp_path):
    bomb = tmp_path / "coverage.xml"
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    bomb.write_text(f'<?xml version="1.0"?><!DOCTYPE coverage [{"".join(entities)}]><coverage>&lol9;</coverage>')
    started = time.monotonic()
    results, problems = read_all([bomb], PathResolver([tmp_path]))
    assert time.monotonic() - started < 5
    assert results == [] or results[0].files == ()
    assert problems and "coverage.xml" in problems[0]


def test_a_file_over_the_size_limit_is_refused_with_a_message_and_others_still_read(measured, monkeypatch):
    monkeypatch.setattr(readers, "MAX_COVERAGE_FILE_BYTES", measured.json_report.stat().st_size - 1)
    results, problems = read_all([measured.json_report, measured.lcov_report], PathResolver([measured.root]))
    assert len(problems) == 1 and "coverage.json" in problems[0] and "limit" in problems[0]
    assert [Path(r.source).name for r in results] == ["lcov.info"]


def test_malformed_lcov_records_are_skipped_and_named(measured, tmp_path):
    text = measured.lcov_report.read_text().replace("DA:14,0", "DA:fourteen,zero")
    damaged = tmp_path / "lcov.info"
    damaged.write_text("DA:3,1\n" + text)  # a record before any SF: line
    result = read_lcov(damaged, PathResolver([measured.root]))
    assert len(result.problems) == 2
    assert "malformed DA" in result.problems[1] and "outside a record" in result.problems[0]
    assert _only_file(result).missing == {7, 9, 15}


def test_json_with_a_broken_entry_keeps_the_others(measured, tmp_path):
    import json

    document = json.loads(measured.json_report.read_text())
    document["files"]["other.py"] = {"executed_lines": ["x"]}
    broken = tmp_path / "coverage.json"
    broken.write_text(json.dumps(document))
    result = read_coverage(broken, PathResolver([measured.root]))
    assert _only_file(result).missing == MISSING
    assert "other.py" in result.problems[0]


def test_a_file_that_is_not_coverage_is_a_clear_error(tmp_path):
    junk = tmp_path / "coverage.xml"
    junk.write_text("<testsuites><testsuite/></testsuites>")
    with pytest.raises(CoverageFormatError, match="not Cobertura"):
        read_coverage(junk, PathResolver([tmp_path]))
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(CoverageFormatError, match="not a coverage file"):
        read_coverage(text, PathResolver([tmp_path]))


def test_the_measured_text_is_known_when_the_source_has_not_changed_since(measured):
    calc = _only_file(read_coverage(measured.json_report, PathResolver([measured.root])))
    assert calc.line_hashes is not None and len(calc.line_hashes) == 15
