"""The learned state and its file: export/import round trips, merging two teams' states, redaction of
examples, import of an own origin, resets of imported counts, and files that must be refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aqe.learning.events import FeedbackEvent, FeedbackLog
from aqe.learning.state import LearningStore, StateFile, StateFileError, export_json, merge_states

SECRET = "sk-ant-api03-" + "A1b2C3d4E5f6G7h8I9j0" * 4 + "-AAAAAAAA"


def _workspace(tmp_path: Path, name: str) -> LearningStore:
    root = tmp_path / name
    root.mkdir()
    return LearningStore(root, ".aqe")


def _record(store: LearningStore, kind: str, subject: str, **details: object) -> None:
    store.log.record(FeedbackEvent(kind, subject, {"area": "code", **details}))


def _export(store: LearningStore, **options: object) -> dict:
    text = export_json(store.compute(), prior_strength=4.0, threshold=0.7, exported_at=1_800_000_000, **options)
    return json.loads(text)


def _teach(store: LearningStore, accepted: int, rejected: int, subject: str = "QE205") -> None:
    for _ in range(accepted):
        _record(store, "accept", subject)
    for _ in range(rejected):
        _record(store, "reject", subject)


def test_an_export_says_what_was_learned_per_subject(tmp_path):
    store = _workspace(tmp_path, "team-a")
    _teach(store, accepted=1, rejected=5)
    _teach(store, accepted=3, rejected=0, subject="QE101")
    exported = _export(store)
    assert (exported["format"], exported["version"]) == ("aqe-learning-state", 1)
    rows = {row["subject"]: row for row in exported["subjects"]}
    assert (rows["QE205"]["accepted"], rows["QE205"]["rejected"], rows["QE205"]["shown"]) == (1, 5, False)
    assert rows["QE101"]["shown"] is True
    assert exported["origins"][0]["name"] == "team-a"


def test_export_then_import_into_another_workspace_exports_the_same_state(tmp_path):
    source = _workspace(tmp_path, "team-a")
    _teach(source, accepted=4, rejected=2)
    _record(source, "accept", "QE101", message="assert something", fix={"before": "x()", "after": "assert x()"})
    exported = _export(source)
    target = _workspace(tmp_path, "team-b")
    target.import_file(StateFile.from_json(exported))
    assert _export(target) == exported


def test_importing_an_own_export_counts_nothing_twice(tmp_path):
    store = _workspace(tmp_path, "team-a")
    _teach(store, accepted=2, rejected=3)
    exported = _export(store)
    store.import_file(StateFile.from_json(exported))
    assert _export(store)["subjects"] == exported["subjects"]


def test_a_merge_adds_the_counts_of_both_teams(tmp_path):
    first, second = _workspace(tmp_path, "team-a"), _workspace(tmp_path, "team-b")
    _teach(first, accepted=3, rejected=1)
    _teach(second, accepted=2, rejected=4)
    merged = merge_states(StateFile.from_json(_export(first)), StateFile.from_json(_export(second)))
    record = merged.records()["QE205"]
    assert (record.total.accepted, record.total.rejected) == (5, 5)
    assert sorted(origin.name for origin in merged.origins) == ["team-a", "team-b"]


def test_a_merge_reports_a_subject_one_team_wants_and_the_other_rejects(tmp_path):
    first, second = _workspace(tmp_path, "team-a"), _workspace(tmp_path, "team-b")
    _teach(first, accepted=8, rejected=0)
    _teach(second, accepted=0, rejected=6)
    merged = merge_states(StateFile.from_json(_export(first)), StateFile.from_json(_export(second)))
    assert [conflict.subject for conflict in merged.conflicts] == ["QE205"]
    assert "team-a: 8 accepted, 0 rejected" in merged.conflicts[0].detail
    assert "team-b: 0 accepted, 6 rejected" in merged.conflicts[0].detail


def test_a_merged_state_imported_back_by_a_team_counts_its_own_part_once(tmp_path):
    first, second = _workspace(tmp_path, "team-a"), _workspace(tmp_path, "team-b")
    _teach(first, accepted=3, rejected=1)
    _teach(second, accepted=2, rejected=4)
    merged = merge_states(StateFile.from_json(_export(first)), StateFile.from_json(_export(second)))
    first.import_file(merged)
    record = first.compute().records()["QE205"]
    assert (record.total.accepted, record.total.rejected) == (5, 5)


def test_examples_are_union_ed_by_a_merge_or_left_out(tmp_path):
    first, second = _workspace(tmp_path, "team-a"), _workspace(tmp_path, "team-b")
    fix = {"before": "except Exception: pass", "after": "except ValueError: log()"}
    _record(first, "accept", "QE201", fix=fix)
    _record(second, "accept", "QE201", fix=fix)
    _record(second, "accept", "QE202", fix={"before": "def f(x=[])", "after": "def f(x=None)"})
    a, b = StateFile.from_json(_export(first)), StateFile.from_json(_export(second))
    assert len(merge_states(a, b).examples) == 2
    assert merge_states(a, b, examples=False).examples == []


def test_secrets_in_examples_are_redacted_on_export(tmp_path):
    store = _workspace(tmp_path, "team-a")
    _record(store, "accept", "QE201", fix={"before": f'key = "{SECRET}"\ntry: call(key)', "after": "call(key)"})
    text = export_json(store.compute(), prior_strength=4.0, threshold=0.7)
    assert SECRET not in text
    assert "[REDACTED:" in text


def test_an_export_without_examples_holds_no_code(tmp_path):
    store = _workspace(tmp_path, "team-a")
    _record(store, "accept", "QE201", fix={"before": "secret_code()", "after": "other_code()"})
    _record(store, "reject", "model/bug", source="model", message="m", snippet="hidden_code()")
    text = export_json(store.compute(), prior_strength=4.0, threshold=0.7, examples=False)
    assert "secret_code" not in text and "hidden_code" not in text


def test_a_reset_forgets_imported_counts_of_that_subject(tmp_path):
    first, second = _workspace(tmp_path, "team-a"), _workspace(tmp_path, "team-b")
    _teach(first, accepted=0, rejected=6)
    second.import_file(StateFile.from_json(_export(first)), now=1.0)
    assert "QE205" in second.compute().records()
    _record(second, "reset", "QE205")
    assert "QE205" not in second.compute().records()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"format": "other", "version": 1}, "not an aqe learning state"),
        ({"format": "aqe-learning-state", "version": 99}, "newer than this aqe reads"),
        (
            {
                "format": "aqe-learning-state",
                "version": 1,
                "origins": [{"id": "x", "subjects": {"Q": {"rejected": -1}}}],
            },
            "non-negative",
        ),
        (
            {
                "format": "aqe-learning-state",
                "version": 1,
                "origins": [{"id": "x", "subjects": {"Q": {"rejected": float("inf")}}}],
            },
            "non-negative finite",
        ),
        ({"format": "aqe-learning-state", "version": 1, "origins": [{"id": "x"}, {"id": "x"}]}, "appears twice"),
        ({"format": "aqe-learning-state", "version": 1, "examples": "nope"}, "must be a list"),
    ],
)
def test_a_bad_state_file_is_refused_with_the_reason(document, message):
    with pytest.raises(StateFileError, match=message):
        StateFile.from_json(document)


def test_a_file_that_is_not_json_is_refused_by_name(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("{ not json")
    with pytest.raises(StateFileError, match=r"state\.json: not readable JSON"):
        StateFile.read(path)


def test_infinity_in_a_state_file_is_refused_as_not_json(tmp_path):
    path = tmp_path / "state.json"
    origin = '{"id": "x", "subjects": {"Q": {"rejected": Infinity}}}'
    path.write_text('{"format": "aqe-learning-state", "version": 1, "origins": [' + origin + "]}")
    with pytest.raises(StateFileError, match="Infinity is not a JSON number"):
        StateFile.read(path)


def test_an_import_is_written_durably_and_read_back(tmp_path):
    first, second = _workspace(tmp_path, "team-a"), _workspace(tmp_path, "team-b")
    _teach(first, accepted=2, rejected=0)
    second.import_file(StateFile.from_json(_export(first)))
    assert second.imported_path.is_file()
    assert not list(second.folder.glob(".*.tmp"))
    reopened = LearningStore(second.root, ".aqe")
    assert reopened.compute().records()["QE205"].total.accepted == 2


def test_the_origin_id_is_made_once_and_kept(tmp_path):
    store = _workspace(tmp_path, "team-a")
    assert store.origin_id() == LearningStore(store.root, ".aqe").origin_id()


def test_the_state_is_recomputed_from_the_log_alone(tmp_path):
    store = _workspace(tmp_path, "team-a")
    _teach(store, accepted=1, rejected=1)
    log = FeedbackLog.for_workspace(store.root, ".aqe")
    log.record(FeedbackEvent("reject", "QE205", {"area": "code"}))
    record = store.compute().records()["QE205"]
    assert (record.total.accepted, record.total.rejected) == (1, 2)
