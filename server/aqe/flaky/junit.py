"""JUnit XML, as pytest (`--junitxml`), jest-junit, Maven Surefire and most CI tools write it.

    <testsuites><testsuite name timestamp file?>
      <testcase classname name time file?>
        <failure message>traceback</failure> | <error .../> | <skipped/>
        <flakyFailure/> <rerunFailure/> ...   (earlier failed attempts of a rerun test)

Read tolerantly and in document order (which is the order the tests ran): a damaged element is
skipped and named, damaged or truncated XML keeps the cases before the damage, and anything that is
not JUnit is a clear error. A report whose XML ends before its root element closes is marked
`truncated`: it may be a report still being written, which the history does not take in (see
`aqe.flaky.runs.ingest_reports`). Parsing goes through defusedxml: reports are CI artifacts from
anywhere.
"""

from __future__ import annotations

import enum
import hashlib
import io
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from xml.etree.ElementTree import ParseError
from xml.parsers.expat import errors as expat_errors

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

log = logging.getLogger(__name__)

MAX_REPORT_BYTES = 256 * 1024 * 1024
MAX_MESSAGE_CHARS = 4000
_MAX_PROBLEMS = 20
TRUNCATED = "the XML ends early (still being written, or its run was cut short)"

_RERUN_FAILURES = frozenset({"flakyFailure", "flakyError", "rerunFailure", "rerunError"})
_ENDED_EARLY = frozenset(
    expat_errors.codes[message]
    for message in (
        expat_errors.XML_ERROR_NO_ELEMENTS,  # the input ended inside an element
        expat_errors.XML_ERROR_UNCLOSED_TOKEN,  # ... inside a tag or an attribute
        expat_errors.XML_ERROR_PARTIAL_CHAR,  # ... inside a multi-byte character
        expat_errors.XML_ERROR_UNCLOSED_CDATA_SECTION,  # ... inside a CDATA section
    )
)
"""expat's errors for input that stops before the document does, as a file still being written does."""


class Outcome(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"

    @property
    def is_failure(self) -> bool:
        return self in (Outcome.FAILED, Outcome.ERROR)


@dataclass(frozen=True)
class TestCaseResult:
    __test__ = False  # a name pytest would otherwise try to collect

    name: str
    classname: str
    file: str | None
    """The test's file as the report names it (the testcase's or its suite's `file` attribute)."""
    outcome: Outcome
    duration_s: float | None
    message: str
    suite_timestamp: float | None
    attempt: int = 0
    """0 for the final outcome; 1, 2, ... for earlier failed attempts a rerun plugin recorded."""

    @property
    def is_collection_error(self) -> bool:
        """pytest's stand-in for a module it could not import: an error named after the module, with
        no classname. It is no test's outcome (the module's tests did not run)."""
        return self.outcome is Outcome.ERROR and not self.classname and self.message.startswith("collection failure")


@dataclass(frozen=True)
class JUnitReport:
    source: str
    digest: str
    """sha256 of the file's bytes: the same report ingested twice is recognised."""
    cases: tuple[TestCaseResult, ...]
    problems: tuple[str, ...]
    truncated: bool = False
    """The XML ends before the report does: still being written, or its run was cut short."""


class JUnitFormatError(ValueError):
    """Not a JUnit report (or not readable at all)."""


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.replace(",", ""))
    except ValueError:
        return None


def _timestamp(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _message(element) -> str:  # type: ignore[no-untyped-def]
    head = element.get("message") or element.get("type") or ""
    body = (element.text or "").strip()
    text = head if not body else (f"{head}\n{body}" if head and head not in body else body)
    return text[:MAX_MESSAGE_CHARS]


def read_junit(path: Path) -> JUnitReport:
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise JUnitFormatError(f"{path.name}: a folder, not a JUnit report")
        if size > MAX_REPORT_BYTES:
            raise JUnitFormatError(
                f"{path.name}: {size / 1e6:.0f} MB is over the {MAX_REPORT_BYTES / 1e6:.0f} MB limit"
            )
        # Read once: the digest and the cases must describe the same bytes while the file may be rewritten.
        data = path.read_bytes()
    except OSError as error:
        raise JUnitFormatError(f"{path.name}: cannot be read ({error.strerror or error})") from error
    if not data.strip():
        raise JUnitFormatError(f"{path.name}: empty file")
    digest = hashlib.sha256(data).hexdigest()
    cases: list[TestCaseResult] = []
    problems: list[str] = []
    problem_count = 0

    def problem(message: str) -> None:
        nonlocal problem_count
        problem_count += 1
        if len(problems) < _MAX_PROBLEMS:
            problems.append(f"{path.name}: {message}")

    suites: list[tuple[str | None, float | None]] = []
    seen_root = False
    case_attrs: dict[str, str] | None = None
    case_children: list[tuple[str, str]] = []
    truncated = False
    try:
        for event, element in iterparse(io.BytesIO(data), events=("start", "end"), forbid_dtd=True):
            tag = element.tag.rsplit("}", 1)[-1]
            if event == "start":
                if not seen_root:
                    seen_root = True
                    if tag not in ("testsuites", "testsuite"):
                        raise JUnitFormatError(f"{path.name}: XML, but not a JUnit report (<{tag}>)")
                if tag == "testsuite":
                    parent_file = suites[-1][0] if suites else None
                    suites.append((element.get("file") or parent_file, _timestamp(element.get("timestamp"))))
                elif tag == "testcase":
                    case_attrs = dict(element.attrib)
                    case_children = []
                continue
            if tag == "testsuite":
                if suites:
                    suites.pop()
                element.clear()
            elif tag == "testcase" and case_attrs is not None:
                _finish_case(case_attrs, case_children, suites, cases, problem)
                case_attrs = None
                element.clear()
            elif case_attrs is not None and tag in ("failure", "error", "skipped", *_RERUN_FAILURES):
                case_children.append((tag, _message(element)))
    except ParseError as error:
        if getattr(error, "code", None) in _ENDED_EARLY:
            truncated = True
            problem(TRUNCATED)
        else:
            line, column = getattr(error, "position", (0, 0))
            problem(f"malformed XML at line {line}, column {column}; kept the {len(cases)} test results before it")
    except DefusedXmlException as error:
        problem(f"refused unsafe XML ({type(error).__name__}); kept the {len(cases)} test results before it")
    if not seen_root:
        raise JUnitFormatError(problems[0] if problems else f"{path.name}: not XML")
    if problem_count > len(problems):
        problems.append(f"{path.name}: {problem_count - len(problems)} more problems")
    return JUnitReport(str(path), digest, tuple(cases), tuple(problems), truncated)


def _finish_case(
    attrs: dict[str, str],
    children: list[tuple[str, str]],
    suites: list[tuple[str | None, float | None]],
    cases: list[TestCaseResult],
    problem,  # type: ignore[no-untyped-def]
) -> None:
    name = attrs.get("name", "").strip()
    if not name:
        problem("a <testcase> without a name; skipped")
        return
    classname = attrs.get("classname", "").strip()
    file = attrs.get("file") or (suites[-1][0] if suites else None)
    stamp = suites[-1][1] if suites else None
    duration = _float(attrs.get("time"))
    earlier = [message for tag, message in children if tag in _RERUN_FAILURES]
    for attempt, message in enumerate(earlier, start=1):
        cases.append(TestCaseResult(name, classname, file, Outcome.FAILED, None, message, stamp, attempt))
    final = [(tag, message) for tag, message in children if tag not in _RERUN_FAILURES]
    outcome, message = Outcome.PASSED, ""
    for tag, text in final:
        if tag == "error":
            outcome, message = Outcome.ERROR, text
            break
        if tag == "failure":
            outcome, message = Outcome.FAILED, text
        elif tag == "skipped" and outcome is Outcome.PASSED:
            outcome, message = Outcome.SKIPPED, text
    cases.append(TestCaseResult(name, classname, file, outcome, duration, message, stamp))
