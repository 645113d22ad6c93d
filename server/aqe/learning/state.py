"""The learned state: counts per subject and origin, review examples, rejected model findings; and the
versioned JSON file it exports to, imports from and merges (federated learning without code).

The workspace's own feedback log is the source of truth for its own origin: the state is recomputed
from it (`forceLearn` does exactly that), never stored beside it, so the two cannot disagree. What
other teams contributed arrives by import and is kept per origin in `<indexDir>/learning-imported.json`;
importing a file that contains this workspace's own origin skips that part (the log already has it),
so a merged file can be imported back by every team that took part without counting anyone twice.

Examples and rejected findings hold code. On export they are redacted (secrets become
`[REDACTED:kind]`) and `--no-examples` leaves them out, which leaves only counts: names of rules and
conventions, never code.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aqe.durable import atomic_write_bytes, make_state_folder
from aqe.learning.events import ACCEPT, APPLY, REJECT, RESET, FeedbackEvent, FeedbackLog, without_retracted
from aqe.learning.standards import AREAS, PRIOR_MEAN, Counts, Standards, SubjectRecord, fold_events, merge_records
from aqe.privacy.redaction import redact

STATE_FORMAT = "aqe-learning-state"
STATE_VERSION = 1
IMPORTED_NAME = "learning-imported.json"
ORIGIN_NAME = "learning-origin"
MAX_EXAMPLES = 500
MAX_REJECTED = 2000
MAX_SNIPPET_CHARS = 2000


class StateFileError(ValueError):
    """A state file that cannot be read: not JSON, another format, a newer version, bad fields."""


@dataclass(frozen=True)
class ReviewExample:
    """An accepted fix: the code before and after, retrieved as an example for later review prompts."""

    subject: str
    message: str
    before: str
    after: str
    at: float = 0.0

    @property
    def key(self) -> str:
        return hashlib.sha1("\x1f".join((self.subject, self.before, self.after)).encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "message": self.message, "before": self.before, "after": self.after,
                "at": round(self.at, 3)}  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReviewExample:
        return cls(
            _text(data, "subject"), _text(data, "message"), _text(data, "before"), _text(data, "after"),
            float(data.get("at") or 0),
        )  # fmt: skip


@dataclass(frozen=True)
class RejectedFinding:
    """A model finding someone rejected: new ones too similar to it are not shown."""

    subject: str
    text: str
    at: float = 0.0

    @property
    def key(self) -> str:
        return hashlib.sha1(f"{self.subject}\x1f{self.text}".encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "text": self.text, "at": round(self.at, 3)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RejectedFinding:
        return cls(_text(data, "subject"), _text(data, "text"), float(data.get("at") or 0))


@dataclass
class Origin:
    """One team's (workspace's) contribution: its counts per subject."""

    id: str
    name: str
    events: int = 0
    last_event_at: float | None = None
    imported_at: float | None = None
    records: dict[str, SubjectRecord] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "events": self.events,
            "lastEventAt": round(self.last_event_at, 3) if self.last_event_at is not None else None,
            "subjects": {subject: _record_json(record) for subject, record in sorted(self.records.items())},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Origin:
        if not isinstance(data, Mapping):
            raise StateFileError("each origin must be an object")
        origin_id = _text(data, "id")
        if not origin_id:
            raise StateFileError("an origin without an id")
        subjects = data.get("subjects") or {}
        if not isinstance(subjects, Mapping):
            raise StateFileError(f"origin {origin_id}: 'subjects' must be an object")
        records = {}
        for subject, value in subjects.items():
            if not isinstance(value, Mapping):
                raise StateFileError(f"origin {origin_id}: subject {subject!r} must be an object")
            try:
                record = SubjectRecord(str(subject), str(value.get("source") or "rule"), Counts.from_json(value))
                for area, counts in (value.get("areas") or {}).items():
                    if area in AREAS:
                        record.areas[area] = Counts.from_json(counts)
            except (ValueError, AttributeError) as error:
                raise StateFileError(f"origin {origin_id}, subject {subject!r}: {error}") from None
            records[str(subject)] = record
        last = data.get("lastEventAt")
        imported = data.get("importedAt")
        return cls(
            origin_id,
            _text(data, "name"),
            int(data.get("events") or 0),
            float(last) if isinstance(last, (int, float)) else None,
            float(imported) if isinstance(imported, (int, float)) else None,
            records,
        )


@dataclass(frozen=True)
class Conflict:
    """Two origins disagree on a subject: one team's record shows it, the other's hides it."""

    subject: str
    shown_by: tuple[str, ...]
    hidden_by: tuple[str, ...]
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "shownBy": list(self.shown_by), "hiddenBy": list(self.hidden_by),
                "detail": self.detail}  # fmt: skip


@dataclass
class StateFile:
    """The exported form: origins with their counts, examples, rejected findings."""

    origins: list[Origin] = field(default_factory=list)
    examples: list[ReviewExample] = field(default_factory=list)
    rejected: list[RejectedFinding] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)

    def records(self) -> dict[str, SubjectRecord]:
        return merge_records(*(origin.records for origin in self.origins))

    def to_json(self, *, prior_strength: float, threshold: float, exported_at: float | None = None) -> dict[str, Any]:
        standards = Standards(self.records(), prior_strength=prior_strength, threshold=threshold)
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "exportedAt": _iso(exported_at if exported_at is not None else time.time()),
            "settings": {"ewcLambda": prior_strength, "qualityThreshold": threshold, "priorMean": PRIOR_MEAN},
            "subjects": summary(standards),
            "origins": [origin.to_json() for origin in sorted(self.origins, key=lambda o: o.id)],
            "examples": [example.to_json() for example in self.examples],
            "rejectedModelFindings": [item.to_json() for item in self.rejected],
            "conflicts": [conflict.to_json() for conflict in self.conflicts],
        }

    @classmethod
    def from_json(cls, data: Any) -> StateFile:
        if not isinstance(data, Mapping) or data.get("format") != STATE_FORMAT:
            raise StateFileError(f'not an aqe learning state (expected "format": "{STATE_FORMAT}")')
        version = data.get("version")
        if not isinstance(version, int) or version < 1:
            raise StateFileError(f"unknown state version {version!r}")
        if version > STATE_VERSION:
            raise StateFileError(f"the state is version {version}, newer than this aqe reads ({STATE_VERSION})")
        try:
            origins = [Origin.from_json(item) for item in _list(data, "origins")]
            examples = [ReviewExample.from_json(item) for item in _list(data, "examples")]
            rejected = [RejectedFinding.from_json(item) for item in _list(data, "rejectedModelFindings")]
        except (TypeError, AttributeError, ValueError) as error:
            if isinstance(error, StateFileError):
                raise
            raise StateFileError(f"a malformed entry: {error}") from None
        seen: set[str] = set()
        for origin in origins:
            if origin.id in seen:
                raise StateFileError(f"origin {origin.id} appears twice")
            seen.add(origin.id)
        return cls(origins, examples, rejected)

    @classmethod
    def read(cls, path: Path) -> StateFile:
        try:
            data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_json_constants)
        except FileNotFoundError:
            raise StateFileError(f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError, ValueError) as error:  # JSONDecodeError is a ValueError
            raise StateFileError(f"{path}: not readable JSON ({error})") from None
        try:
            return cls.from_json(data)
        except StateFileError as error:
            raise StateFileError(f"{path}: {error}") from None


def summary(standards: Standards) -> list[dict[str, Any]]:
    """What a person reads first: every subject with its counts, estimated acceptance and verdict."""
    rows = []
    for subject, record in sorted(standards.records.items()):
        estimate = standards.estimate(subject)
        areas = {}
        for area, counts in sorted(record.areas.items()):
            area_estimate = standards.estimate(subject, area)
            areas[area] = {**counts.to_json(), "estimatedAcceptance": round(area_estimate.acceptance, 4),
                           "shown": area_estimate.shown}  # fmt: skip
        rows.append(
            {
                "subject": subject,
                "source": record.source,
                **record.total.to_json(),
                "estimatedAcceptance": round(estimate.acceptance, 4),
                "shown": estimate.shown,
                "areas": areas,
            }
        )
    return rows


def merge_states(first: StateFile, second: StateFile, *, examples: bool = True) -> StateFile:
    """Counts add (per origin; an origin in both files is kept once, the record with more events),
    examples and rejected findings are union-ed (or dropped), and disagreements are reported."""
    conflicts: list[Conflict] = []
    by_id: dict[str, Origin] = {origin.id: origin for origin in first.origins}
    for origin in second.origins:
        known = by_id.get(origin.id)
        if known is None:
            by_id[origin.id] = origin
            continue
        if _origin_json(known) != _origin_json(origin):
            kept = origin if origin.events > known.events else known
            by_id[origin.id] = kept
            detail = (
                f"origin {origin.id} ({origin.name}) is in both files with different counts; "
                f"kept the record with more events ({kept.events})"
            )
            conflicts.append(Conflict("", (), (), detail))
    merged = StateFile(
        origins=list(by_id.values()),
        examples=_union([*first.examples, *second.examples], MAX_EXAMPLES) if examples else [],
        rejected=_union([*first.rejected, *second.rejected], MAX_REJECTED) if examples else [],
    )
    merged.conflicts = conflicts + disagreements(merged.origins)
    return merged


def disagreements(origins: Sequence[Origin], *, prior_strength: float = 4.0, threshold: float = 0.7,
                  min_observations: float = 3) -> list[Conflict]:  # fmt: skip
    """Subjects that some origins' own records would show and others' would hide."""
    conflicts = []
    subjects = sorted({subject for origin in origins for subject in origin.records})
    for subject in subjects:
        shown, hidden = [], []
        for origin in origins:
            record = origin.records.get(subject)
            if record is None or record.total.observations < min_observations:
                continue
            standards = Standards({subject: record}, prior_strength=prior_strength, threshold=threshold)
            (shown if standards.shown(subject) else hidden).append(origin)
        if shown and hidden:
            detail = ", ".join(
                f"{origin.name or origin.id}: {_n(origin.records[subject].total.accepted)} accepted, "
                f"{_n(origin.records[subject].total.rejected)} rejected"
                for origin in (*shown, *hidden)
            )
            conflicts.append(Conflict(subject, tuple(o.id for o in shown), tuple(o.id for o in hidden), detail))
    return conflicts


class LearningStore:
    """One workspace's learned state: its own log folded, plus what was imported. Recomputed on demand;
    cheap enough to redo from the whole log (tens of thousands of events fold in well under a second)."""

    def __init__(self, root: Path, index_dir: str) -> None:
        self.root = root
        self.folder = root / index_dir
        self.log = FeedbackLog.for_workspace(root, index_dir)

    @property
    def imported_path(self) -> Path:
        return self.folder / IMPORTED_NAME

    def origin_id(self, *, create: bool = True) -> str:
        """This workspace's id in exported states: random, made once, stored beside the log (only once
        there is something to attribute to it: reading a state writes nothing)."""
        path = self.folder / ORIGIN_NAME
        try:
            value = path.read_text(encoding="utf-8").strip()
            if value:
                return value
        except (OSError, UnicodeDecodeError):
            pass
        value = uuid.uuid4().hex
        if not create:
            return value
        make_state_folder(self.folder)
        atomic_write_bytes(path, (value + "\n").encode())
        return value

    def imported(self) -> StateFile:
        if not self.imported_path.exists():
            return StateFile()
        return StateFile.read(self.imported_path)

    def compute(self, *, existing_origin: str | None = None) -> StateFile:
        """The whole state: own origin from the log, imported origins (minus subjects reset since)."""
        events = without_retracted(self.log.events())
        own_id = existing_origin or self.origin_id(create=bool(events))
        resets = {event.subject: event.at for event in events if event.kind == RESET}
        own = Origin(own_id, self.root.name, len(events), events[-1].at if events else None,
                     records=fold_events(events))  # fmt: skip
        imported = self.imported()
        origins = [own] if events else []
        for origin in imported.origins:
            if origin.id == own_id:
                continue
            kept = {s: r for s, r in origin.records.items() if resets.get(s, -1.0) < (origin.imported_at or 0.0)}
            origins.append(
                Origin(origin.id, origin.name, origin.events, origin.last_event_at, origin.imported_at, kept)
            )
        examples = [e for e in imported.examples if e.subject not in resets] + examples_from(events)
        rejected = [r for r in imported.rejected if r.subject not in resets] + rejected_from(events)
        return StateFile(origins, _union(examples, MAX_EXAMPLES), _union(rejected, MAX_REJECTED))

    def import_file(self, incoming: StateFile, *, now: float | None = None) -> StateFile:
        """Add another team's state to what was imported before (an origin imported again is replaced)."""
        own_id = self.origin_id()
        now = time.time() if now is None else now
        current = self.imported()
        by_id = {origin.id: origin for origin in current.origins}
        for origin in incoming.origins:
            if origin.id != own_id:
                by_id[origin.id] = Origin(origin.id, origin.name, origin.events, origin.last_event_at, now,
                                          origin.records)  # fmt: skip
        updated = StateFile(
            list(by_id.values()),
            _union([*current.examples, *incoming.examples], MAX_EXAMPLES),
            _union([*current.rejected, *incoming.rejected], MAX_REJECTED),
        )
        make_state_folder(self.folder)
        payload = updated.to_json(prior_strength=4.0, threshold=0.7, exported_at=now)
        for origin_json, origin in zip(payload["origins"], sorted(updated.origins, key=lambda o: o.id), strict=True):
            origin_json["importedAt"] = origin.imported_at
        text = json.dumps(payload, indent=2, sort_keys=False, allow_nan=False) + "\n"
        atomic_write_bytes(self.imported_path, text.encode())
        return updated


def export_json(state: StateFile, *, prior_strength: float, threshold: float, examples: bool = True,
                exported_at: float | None = None) -> str:  # fmt: skip
    """The state as a person-readable JSON document with every code snippet redacted."""
    redacted = StateFile(
        state.origins,
        [ReviewExample(e.subject, redact(e.message).text, redact(e.before).text, redact(e.after).text, e.at)
         for e in state.examples] if examples else [],
        [RejectedFinding(r.subject, redact(r.text).text, r.at) for r in state.rejected] if examples else [],
        state.conflicts,
    )  # fmt: skip
    document = redacted.to_json(prior_strength=prior_strength, threshold=threshold, exported_at=exported_at)
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def examples_from(events: Iterable[FeedbackEvent]) -> list[ReviewExample]:
    """Accepted fixes with their code, in order; a reset forgets a subject's earlier examples."""
    found: list[ReviewExample] = []
    for event in events:
        if event.kind == RESET:
            found = [example for example in found if example.subject != event.subject]
            continue
        fix = event.details.get("fix")
        if event.kind in (ACCEPT, APPLY) and isinstance(fix, Mapping):
            before, after = str(fix.get("before") or ""), str(fix.get("after") or "")
            if before or after:
                found.append(ReviewExample(event.subject, str(event.details.get("message") or ""), before, after,
                                           event.at))  # fmt: skip
    return found


def rejected_from(events: Iterable[FeedbackEvent]) -> list[RejectedFinding]:
    found: list[RejectedFinding] = []
    for event in events:
        if event.kind == RESET:
            found = [item for item in found if item.subject != event.subject]
        elif event.kind == REJECT and event.details.get("source") == "model":
            text = "\n".join(str(event.details.get(key) or "") for key in ("message", "snippet")).strip()
            if text:
                found.append(RejectedFinding(event.subject, text, event.at))
    return found


def _union(items: Iterable[Any], limit: int) -> list[Any]:
    """Distinct by key, oldest first, keeping the newest `limit`."""
    by_key: dict[str, Any] = {}
    for item in items:
        by_key.setdefault(item.key, item)
    ordered = sorted(by_key.values(), key=lambda item: item.at)
    return ordered[-limit:]


def _record_json(record: SubjectRecord) -> dict[str, Any]:
    data: dict[str, Any] = {"source": record.source, **record.total.to_json()}
    if record.areas:
        data["areas"] = {area: counts.to_json() for area, counts in sorted(record.areas.items())}
    return data


def _origin_json(origin: Origin) -> dict[str, Any]:
    return origin.to_json()


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise StateFileError(f"{key!r} must be a string, not {type(value).__name__}")
    return value


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise StateFileError(f"{key!r} must be a list")
    return value


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, tz=timezone.utc).isoformat(timespec="seconds")


def _n(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _no_json_constants(name: str) -> float:
    """NaN and Infinity are not JSON (Python's json accepts them): a count of Infinity would hide a
    rule for good, and other tools could not read the file it ends up in."""
    raise ValueError(f"{name} is not a JSON number")
