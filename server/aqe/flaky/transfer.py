"""`aqe flaky export` / `aqe flaky import`: a history as JSON Lines, to move it between backends.

The first line says what the file is and which format version wrote it; every other line is one
report with its results, so a person can read it, `grep` it and concatenate two of them. Reports keep
their digest: importing is idempotent (a report already there is skipped, as when ingesting), and a
JUnit file ingested after the move is still recognised. A file from a newer format is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from aqe.flaky.history import RUN_KINDS, HistoryStore, StoredReport, StoredResult
from aqe.flaky.junit import Outcome

FORMAT = "aqe-flaky-history"
FORMAT_VERSION = 1


class TransferError(ValueError):
    """The file is not an aqe history export this version can read (the message names the line)."""


@dataclass(frozen=True)
class ImportSummary:
    added: int
    already_known: int
    results: int
    """Results of the reports added."""


def export_lines(store: HistoryStore) -> Iterator[str]:
    """The header, then one line per report, oldest first (each ends with a newline)."""
    yield json.dumps({"format": FORMAT, "version": FORMAT_VERSION}) + "\n"
    for report in store.reports():
        yield json.dumps(_report_document(report), ensure_ascii=False) + "\n"


def export_history(store: HistoryStore, output: IO[str]) -> int:
    """Write the whole history; returns how many reports were written."""
    lines = export_lines(store)
    output.write(next(lines))
    count = 0
    for line in lines:
        output.write(line)
        count += 1
    return count


def read_export(lines: Iterable[str]) -> Iterator[StoredReport]:
    """The reports of an export, checked line by line (TransferError names the first bad one)."""
    numbered = iter(enumerate(lines, start=1))
    header = next(((n, line) for n, line in numbered if line.strip()), None)
    if header is None:
        raise TransferError("empty file: not an aqe flaky history export")
    header_document = _json(header[1], header[0])
    if not isinstance(header_document, dict) or header_document.get("format") != FORMAT:
        raise TransferError(f"line {header[0]}: not an aqe flaky history export (no {FORMAT!r} header)")
    version = header_document.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise TransferError(
            f"line {header[0]}: export format {version!r} is newer than this aqe reads ({FORMAT_VERSION}); upgrade aqe"
        )
    for number, line in numbered:
        if line.strip():
            yield _stored_report(_json(line, number), number)


def import_history(store: HistoryStore, lines: Iterable[str]) -> ImportSummary:
    """Add every report of an export that the store does not have yet. The whole file is checked
    before anything is added; each report is then its own transaction, so an interrupted import can
    simply be run again."""
    reports = list(read_export(lines))
    added = known = results = 0
    for report in reports:
        if store.add(report):
            added += 1
            results += len(report.results)
        else:
            known += 1
    return ImportSummary(added, known, results)


def _report_document(report: StoredReport) -> dict[str, Any]:
    return {
        "digest": report.digest,
        "source": report.source,
        "ingestedAt": report.ingested_at,
        "runKind": report.run_kind,
        "codeVersion": report.code_version,
        "results": [
            {
                "ordinal": r.ordinal,
                "testId": r.test_id,
                "file": r.file,
                "name": r.name,
                "className": r.class_name,
                "codeVersion": r.code_version,
                "testHash": r.test_hash,
                "runAt": r.run_at,
                "outcome": r.outcome.value,
                "durationS": r.duration_s,
                "message": r.message,
                "runKind": r.run_kind,
            }
            for r in report.results
        ],
    }


def _json(line: str, number: int) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as error:
        raise TransferError(f"line {number}: not JSON ({error.msg})") from None


def _stored_report(document: Any, number: int) -> StoredReport:
    try:
        results = tuple(_stored_result(item) for item in document["results"])
        report = StoredReport(
            digest=_text(document["digest"]),
            source=_text(document["source"]),
            ingested_at=float(document["ingestedAt"]),
            run_kind=_run_kind(document["runKind"]),
            code_version=_optional_text(document["codeVersion"]),
            results=results,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise TransferError(f"line {number}: not a report of an aqe flaky history export ({error!r})") from None
    if not report.digest:
        raise TransferError(f"line {number}: a report without a digest")
    return report


def _stored_result(item: dict[str, Any]) -> StoredResult:
    duration = item["durationS"]
    return StoredResult(
        ordinal=int(item["ordinal"]),
        test_id=_text(item["testId"]),
        file=_optional_text(item["file"]),
        name=_text(item["name"]),
        class_name=_optional_text(item["className"]),
        code_version=_optional_text(item["codeVersion"]),
        test_hash=_optional_text(item["testHash"]),
        run_at=float(item["runAt"]),
        outcome=Outcome(item["outcome"]),
        duration_s=None if duration is None else float(duration),
        message=_text(item["message"]),
        run_kind=_run_kind(item["runKind"]),
    )


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _run_kind(value: Any) -> str:
    if value not in RUN_KINDS:
        raise ValueError(f"unknown run kind {value!r}")
    return str(value)
