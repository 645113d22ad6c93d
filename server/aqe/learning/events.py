"""The feedback log: every suggestion a person accepts, rejects, applies, undoes or edits, as one
JSON line in `<indexDir>/feedback.jsonl`. Append-only; team standards are derived from it.

Each event is one `write` on a file opened with O_APPEND and is fsynced before `record` returns, so
a kill -9 loses at most the event being written; concurrent writers (two editor windows) take an
advisory lock for each append, so lines never interleave. A torn last line (power loss mid-write)
is skipped when reading, and the next write starts on a fresh line.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aqe.durable import append_line, make_state_folder

log = logging.getLogger(__name__)

LOG_NAME = "feedback.jsonl"
FORMAT_VERSION = 1
"""Bumped only for a change old readers would misread; a reader skips lines of a newer version
(and says so) instead of guessing, so an older aqe sharing the folder never corrupts the counts."""
_MAX_LINE_BYTES = 64 * 1024

# Kinds of event. Learning counts ACCEPT and APPLY as acceptances and REJECT as a rejection; UNDO turns
# an earlier acceptance of the same subject into a rejection; SUPPRESS ("Ignore here") silences one
# place only and says nothing about the standard; RESET forgets a subject's history before it;
# RETRACT withdraws one earlier event (its id in `details["event"]`): the user's "Undo".
ACCEPT = "accept"
APPLY = "apply"
REJECT = "reject"
SUPPRESS = "suppress"
UNDO = "undo"
EDIT = "edit"
RESET = "reset"
RETRACT = "retract"


@dataclass(frozen=True)
class FeedbackEvent:
    kind: str
    """accept, reject, suppress, apply, undo, edit, generated, ..."""
    subject: str
    """What it is about: a rule id (QE101), a convention, `testgen`, a model-finding cluster."""
    details: Mapping[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])

    def to_json(self) -> str:
        return json.dumps(
            {"v": FORMAT_VERSION, "id": self.id, "at": round(self.at, 3), "kind": self.kind, "subject": self.subject,
             "details": dict(self.details)},
            sort_keys=True,
            default=str,
        )  # fmt: skip


class FeedbackLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def for_workspace(cls, root: Path, index_dir: str) -> FeedbackLog:
        return cls(root / index_dir / LOG_NAME)

    def record(self, event: FeedbackEvent) -> None:
        line = event.to_json().encode("utf-8") + b"\n"
        if len(line) > _MAX_LINE_BYTES:
            raise ValueError(f"a feedback event of {len(line)} bytes is over the {_MAX_LINE_BYTES} limit")
        with self._lock:
            make_state_folder(self.path.parent)
            append_line(self.path, line)

    def events(self) -> Iterator[FeedbackEvent]:
        """Every readable event, oldest first; torn or foreign lines are skipped (and counted)."""
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return
        skipped = newer = 0
        with handle:
            for raw in handle:
                try:
                    data = json.loads(raw)
                    if int(data.get("v", FORMAT_VERSION)) > FORMAT_VERSION:
                        newer += 1
                        continue
                    yield FeedbackEvent(
                        kind=str(data["kind"]),
                        subject=str(data["subject"]),
                        details=dict(data.get("details") or {}),
                        at=float(data["at"]),
                        id=str(data["id"]),
                    )
                except (ValueError, KeyError, TypeError, AttributeError):
                    skipped += 1
        if skipped:
            log.info("skipped %d unreadable lines of %s", skipped, self.path)
        if newer:
            log.warning("skipped %d events of %s from a newer aqe (format > %d)", newer, self.path, FORMAT_VERSION)


def without_retracted(events: Iterable[FeedbackEvent]) -> list[FeedbackEvent]:
    """The events that still count: a retracted event and the retraction itself are left out."""
    kept = list(events)
    retracted = {str(event.details.get("event")) for event in kept if event.kind == RETRACT}
    return [event for event in kept if event.kind != RETRACT and event.id not in retracted]
