"""The audit log: durable, append-only, readable after a crash, and never holding a secret."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

from aqe.privacy.audit import (
    AuditLog,
    BlockedConnection,
    RoutingDecision,
    entry_json,
    read_audit,
    short_error,
    totals,
)
from aqe.privacy.guard import BlockedAttempt


def _decision(request_id: str = "r1", **changes: object) -> RoutingDecision:
    values: dict = {
        "time": "2026-11-25T10:00:00.000+00:00",
        "request_id": request_id,
        "route": "cloud-fallback:low-confidence",
        "reason": "confidence 0.31 < threshold 0.50",
        "provider": "anthropic",
        "model": "claude-test",
        "privacy_mode": "balanced",
        "bytes_sent": 1234,
        "redactions": {"aws-access-key-id": 1, "secret-assignment": 2},
        "invisible_removed": 3,
        "prompt_chars": 1200,
        "confidence": 0.9,
        "latency_s": 0.42,
        "attempts": ("llama.cpp:low-confidence", "anthropic:ok"),
    }
    values.update(changes)
    return RoutingDecision(**values)


def test_a_decision_reads_back_exactly_as_it_was_written(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / ".aqe" / "audit.jsonl")
    decision = _decision()

    log.record_decision(decision)

    assert read_audit(log.path).entries == (decision,)


def test_a_blocked_attempt_reads_back_with_address_port_and_stack(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    attempt = BlockedAttempt("socket.connect", "10.255.255.1", 9, ("plugin.py:12 in phone_home",))

    log.record_blocked(attempt, mode="strict")

    (entry,) = read_audit(log.path).entries
    assert isinstance(entry, BlockedConnection)
    assert (entry.event, entry.host, entry.port, entry.stack) == attempt_fields(attempt)
    assert entry.privacy_mode == "strict"
    assert entry.pid == os.getpid()


def attempt_fields(attempt: BlockedAttempt) -> tuple:
    return (attempt.event, attempt.host, attempt.port, attempt.stack)


def test_each_entry_is_one_json_line_with_a_format_version(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.record_decision(_decision("a"))
    log.record_decision(_decision("b"))

    lines = log.path.read_text(encoding="utf-8").splitlines()

    assert [json.loads(line)["requestId"] for line in lines] == ["a", "b"]
    assert all(json.loads(line)["v"] == 1 for line in lines)
    assert json.loads(lines[0]) == entry_json(_decision("a"))


def test_the_log_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")

    log.record_decision(_decision())

    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600


def test_a_torn_last_line_is_skipped_on_read(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.record_decision(_decision("a"))
    log.record_decision(_decision("b"))
    with log.path.open("ab") as handle:
        handle.write(json.dumps(entry_json(_decision("c"))).encode()[:40])

    read = read_audit(log.path)

    assert [entry.request_id for entry in read.entries] == ["a", "b"]
    assert read.damaged_lines == 1


def test_the_next_entry_after_a_torn_line_starts_on_a_line_of_its_own(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.record_decision(_decision("a"))
    with log.path.open("ab") as handle:
        handle.write(b'{"v":1,"kind":"decision","time":"2026-11-')

    log.record_decision(_decision("d"))

    read = read_audit(log.path)
    assert [entry.request_id for entry in read.entries] == ["a", "d"]
    assert read.damaged_lines == 1


def test_a_missing_log_reads_as_empty(tmp_path: Path) -> None:
    read = read_audit(tmp_path / "never-written.jsonl")

    assert (read.entries, read.damaged_lines) == ((), 0)


def test_two_processes_appending_at_once_lose_and_tear_nothing(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    writer = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from aqe.privacy.audit import AuditLog, RoutingDecision
        log = AuditLog(Path({str(path)!r}))
        for number in range(200):
            log.record_decision(RoutingDecision(
                time="t", request_id=f"{{sys.argv[1]}}-{{number}}", route="local", reason="r" * 500,
                provider="llama.cpp", model="m", privacy_mode="strict", bytes_sent=0))
        """
    )
    processes = [subprocess.Popen([sys.executable, "-c", writer, name]) for name in ("left", "right")]
    assert [process.wait(timeout=120) for process in processes] == [0, 0]

    read = read_audit(path)

    assert read.damaged_lines == 0
    assert sorted(entry.request_id for entry in read.entries) == sorted(
        f"{name}-{number}" for name in ("left", "right") for number in range(200)
    )


def test_an_error_in_the_log_is_redacted_and_cut_short() -> None:
    error = RuntimeError("upstream said: bad key sk-ant-api03-wafr7-u42Fjahs5LdTGjjGu5PDHHIUrQdMftd " + "x" * 1000)

    text = short_error(error)

    assert text.startswith("RuntimeError: upstream said: bad key [REDACTED:anthropic-api-key]")
    assert "u42Fjahs5LdTGjjGu5PDHHIUrQdMftd" not in text
    assert len(text) < 400


def test_totals_count_requests_bytes_redactions_and_blocked_attempts(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.record_decision(_decision("a"))
    log.record_decision(_decision("b", route="local", bytes_sent=0, redactions={}, provider="llama.cpp"))
    log.record_decision(_decision("c", outcome="ProviderUnavailable", bytes_sent=0, redactions={}))
    log.record_blocked(BlockedAttempt("socket.getaddrinfo", "example.org", 443, ()), mode="strict")

    summary = totals(read_audit(log.path).entries)

    assert (summary.decisions, summary.sent_off_machine, summary.bytes_sent) == (3, 1, 1234)
    assert (summary.redactions, summary.blocked, summary.failed) == (3, 1, 1)
