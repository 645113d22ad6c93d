"""The privacy audit log: an append-only JSON-lines file of where every model request went.

One line per event: a routing decision (route, reason, provider, model, bytes sent off the
machine, redactions by kind, privacy mode) or a blocked connection attempt (address, port, a short
stack). Prompt text never goes in, nor does anything a redaction removed: the log is meant to be
read by people and attached to bug reports. Each line is written with one `write` on an O_APPEND
descriptor and fsynced, so concurrent writers do not interleave and a crash loses at most the line
being written; a torn last line is skipped on read and fenced off by the next writer.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aqe.durable import append_line, make_state_folder

if TYPE_CHECKING:
    from aqe.privacy.guard import BlockedAttempt

FORMAT_VERSION = 1
AUDIT_FILE_NAME = "audit.jsonl"
_MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class RoutingDecision:
    time: str
    request_id: str
    route: str
    reason: str
    provider: str
    model: str
    privacy_mode: str
    bytes_sent: int
    """UTF-8 bytes of prompt that left the machine (0 when the answer came from a local provider)."""
    redactions: Mapping[str, int] = field(default_factory=dict)
    invisible_removed: int = 0
    prompt_chars: int = 0
    outcome: str = "ok"
    """"ok", or the error class when every route failed."""
    error: str = ""
    confidence: float | None = None
    latency_s: float | None = None
    attempts: tuple[str, ...] = ()
    """Providers tried, in order, with how each ended: ("llama.cpp:low-confidence", "anthropic:ok")."""

    kind = "decision"


@dataclass(frozen=True)
class BlockedConnection:
    time: str
    event: str
    host: str
    port: int | None
    privacy_mode: str
    pid: int
    stack: tuple[str, ...] = ()

    kind = "blocked"


AuditEntry = RoutingDecision | BlockedConnection


@dataclass(frozen=True)
class AuditRead:
    entries: tuple[AuditEntry, ...]
    damaged_lines: int
    """Lines that could not be parsed (a torn last line after a crash, or a hand edit)."""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class AuditLog:
    """Appends entries durably; safe to share between threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def record_decision(self, decision: RoutingDecision) -> None:
        self._append(_decision_json(decision))

    def record_blocked(self, attempt: BlockedAttempt, mode: str) -> None:
        entry = BlockedConnection(
            time=now_iso(),
            event=attempt.event,
            host=attempt.host,
            port=attempt.port,
            privacy_mode=mode,
            pid=os.getpid(),
            stack=attempt.stack,
        )
        self._append(_blocked_json(entry))

    def read(self) -> AuditRead:
        return read_audit(self.path)

    def _append(self, payload: dict[str, Any]) -> None:
        line = (json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        with self._lock:
            make_state_folder(self.path.parent)
            append_line(self.path, line, mode=0o600)


def read_audit(path: Path) -> AuditRead:
    """Every entry that parses, oldest first; an absent file is an empty log."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return AuditRead((), 0)
    entries: list[AuditEntry] = []
    damaged = 0
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            entries.append(_entry_from_json(json.loads(line.decode("utf-8"))))
        except (ValueError, KeyError, TypeError):
            damaged += 1
    return AuditRead(tuple(entries), damaged)


@dataclass(frozen=True)
class AuditTotals:
    decisions: int
    sent_off_machine: int
    """Requests that sent any bytes to a provider that is not local."""
    bytes_sent: int
    redactions: int
    blocked: int
    failed: int


def decisions_of(entries: tuple[AuditEntry, ...]) -> list[RoutingDecision]:
    return [entry for entry in entries if isinstance(entry, RoutingDecision)]


def blocked_of(entries: tuple[AuditEntry, ...]) -> list[BlockedConnection]:
    return [entry for entry in entries if isinstance(entry, BlockedConnection)]


def totals(entries: tuple[AuditEntry, ...]) -> AuditTotals:
    decisions = decisions_of(entries)
    return AuditTotals(
        decisions=len(decisions),
        sent_off_machine=sum(1 for entry in decisions if entry.bytes_sent > 0),
        bytes_sent=sum(entry.bytes_sent for entry in decisions),
        redactions=sum(sum(entry.redactions.values()) for entry in decisions),
        blocked=len(blocked_of(entries)),
        failed=sum(1 for entry in decisions if entry.outcome != "ok"),
    )


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    """The entry as it is stored (camelCase keys, format version included)."""
    return _decision_json(entry) if isinstance(entry, RoutingDecision) else _blocked_json(entry)


def short_error(error: BaseException) -> str:
    """An error for the log: its class and a redacted, truncated message (it may quote a prompt)."""
    from aqe.privacy.redaction import redact

    message = redact(str(error)).text
    if len(message) > _MAX_ERROR_CHARS:
        message = message[: _MAX_ERROR_CHARS - 1] + "…"
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _decision_json(decision: RoutingDecision) -> dict[str, Any]:
    return {
        "v": FORMAT_VERSION,
        "kind": RoutingDecision.kind,
        "time": decision.time,
        "requestId": decision.request_id,
        "route": decision.route,
        "reason": decision.reason,
        "provider": decision.provider,
        "model": decision.model,
        "privacyMode": decision.privacy_mode,
        "bytesSent": decision.bytes_sent,
        "redactions": dict(decision.redactions),
        "invisibleRemoved": decision.invisible_removed,
        "promptChars": decision.prompt_chars,
        "outcome": decision.outcome,
        "error": decision.error,
        "confidence": decision.confidence,
        "latencyS": decision.latency_s,
        "attempts": list(decision.attempts),
    }


def _blocked_json(entry: BlockedConnection) -> dict[str, Any]:
    return {
        "v": FORMAT_VERSION,
        "kind": BlockedConnection.kind,
        "time": entry.time,
        "event": entry.event,
        "host": entry.host,
        "port": entry.port,
        "privacyMode": entry.privacy_mode,
        "pid": entry.pid,
        "stack": list(entry.stack),
    }


def _entry_from_json(data: dict[str, Any]) -> AuditEntry:
    if data["kind"] == RoutingDecision.kind:
        return RoutingDecision(
            time=data["time"],
            request_id=data["requestId"],
            route=data["route"],
            reason=data["reason"],
            provider=data["provider"],
            model=data["model"],
            privacy_mode=data["privacyMode"],
            bytes_sent=int(data["bytesSent"]),
            redactions={str(kind): int(count) for kind, count in data.get("redactions", {}).items()},
            invisible_removed=int(data.get("invisibleRemoved", 0)),
            prompt_chars=int(data.get("promptChars", 0)),
            outcome=data.get("outcome", "ok"),
            error=data.get("error", ""),
            confidence=data.get("confidence"),
            latency_s=data.get("latencyS"),
            attempts=tuple(data.get("attempts", ())),
        )
    if data["kind"] == BlockedConnection.kind:
        return BlockedConnection(
            time=data["time"],
            event=data["event"],
            host=data["host"],
            port=data.get("port"),
            privacy_mode=data["privacyMode"],
            pid=int(data.get("pid", 0)),
            stack=tuple(data.get("stack", ())),
        )
    raise ValueError(f"unknown audit entry kind {data['kind']!r}")
