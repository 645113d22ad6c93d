"""The feedback log survives what editors and laptops do to it: kill -9 in the middle of writing, a
torn last line, two windows writing at once, lines from a newer aqe."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from aqe.learning.events import FORMAT_VERSION, FeedbackEvent, FeedbackLog

WRITER = """
import sys
from pathlib import Path
from aqe.learning.events import FeedbackEvent, FeedbackLog

log = FeedbackLog(Path(sys.argv[1]))
name, count = sys.argv[2], int(sys.argv[3])
for number in range(count):
    log.record(FeedbackEvent("reject", "QE205", {"writer": name, "n": number, "pad": "x" * 2000}))
    print(number, flush=True)
"""


def _writer(path: Path, name: str, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), name, str(count)], stdout=subprocess.PIPE, text=True
    )


def test_events_are_read_back_in_order_with_their_details(tmp_path):
    log = FeedbackLog(tmp_path / "feedback.jsonl")
    log.record(FeedbackEvent("accept", "QE101", {"area": "tests"}))
    log.record(FeedbackEvent("reject", "QE205", {"area": "code"}))
    assert [(e.kind, e.subject, e.details["area"]) for e in log.events()] == [
        ("accept", "QE101", "tests"), ("reject", "QE205", "code"),
    ]  # fmt: skip


def test_a_torn_last_line_is_skipped_and_the_next_event_starts_a_fresh_line(tmp_path):
    path = tmp_path / "feedback.jsonl"
    log = FeedbackLog(path)
    log.record(FeedbackEvent("accept", "QE101"))
    with path.open("ab") as handle:
        handle.write(b'{"v": 1, "id": "torn", "kind": "rej')
    log.record(FeedbackEvent("reject", "QE205"))
    assert [e.subject for e in log.events()] == ["QE101", "QE205"]
    assert path.read_bytes().endswith(b"\n")


def test_lines_of_a_newer_format_are_skipped_not_misread(tmp_path):
    path = tmp_path / "feedback.jsonl"
    newer = {"v": FORMAT_VERSION + 1, "id": "n", "at": 1.0, "kind": "reject", "subject": "QE205", "details": {}}
    path.write_text(json.dumps(newer) + "\n" + "[1, 2]\n" + "garbage\n")
    FeedbackLog(path).record(FeedbackEvent("accept", "QE101"))
    assert [e.subject for e in FeedbackLog(path).events()] == ["QE101"]


def test_kill_9_mid_write_loses_no_event_whose_record_returned(tmp_path):
    path = tmp_path / "feedback.jsonl"
    rng = random.Random(7)
    acknowledged = 0
    for _ in range(4):
        writer = _writer(path, f"w{acknowledged}", 100_000)
        assert writer.stdout is not None
        lines = [writer.stdout.readline() for _ in range(rng.randint(5, 60))]
        time.sleep(rng.random() / 50)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        acknowledged += len(lines)
        events = list(FeedbackLog(path).events())
        assert len(events) >= acknowledged
        acknowledged = len(events)
    assert len({e.id for e in FeedbackLog(path).events()}) == acknowledged


def test_two_processes_writing_at_once_interleave_only_whole_lines(tmp_path):
    path = tmp_path / "feedback.jsonl"
    writers = [_writer(path, name, 150) for name in ("left", "right")]
    for writer in writers:
        writer.communicate(timeout=120)
    events = list(FeedbackLog(path).events())
    assert len(events) == 300
    for name in ("left", "right"):
        assert [e.details["n"] for e in events if e.details["writer"] == name] == list(range(150))
    assert all(json.loads(line) for line in path.read_text().splitlines())
