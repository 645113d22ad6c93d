import os
from dataclasses import replace
from pathlib import Path

import pytest

from aqe.config import Settings
from aqe.engine import Engine
from aqe.findings import Severity, Span
from aqe.parsing.document import ContentChange
from aqe.workspace import SkipReason, find_project_root

CODE = '''def collect(item, bucket=[]):
    bucket.append(item)
    return bucket
    print("never")  # TODO: remove
'''


def _engine(tmp_path: Path, **settings) -> Engine:
    return Engine(replace(Settings(), **settings), [tmp_path])


def _ids(findings) -> list[str]:
    return [f.rule_id for f in findings]


def test_findings_come_back_sorted_with_default_severities(tmp_path):
    analysis = _engine(tmp_path).analyze_text(str(tmp_path / "m.py"), CODE)
    assert _ids(analysis.findings) == ["QE202", "QE204", "QE205"]
    assert [f.severity for f in analysis.findings] == [Severity.WARNING, Severity.WARNING, Severity.HINT]


def test_rule_severity_can_be_overridden_by_id_or_name_and_turned_off(tmp_path):
    engine = _engine(tmp_path, rules={"QE202": "error", "todo-comment": "off"})
    findings = engine.analyze_text(str(tmp_path / "m.py"), CODE).findings
    assert _ids(findings) == ["QE202", "QE204"]
    assert findings[0].severity is Severity.ERROR


def test_unknown_rule_keys_are_reported_not_fatal(tmp_path):
    engine = _engine(tmp_path, rules={"QE999": "off"})
    assert engine.unknown_rule_keys == ("QE999",)
    assert _ids(engine.analyze_text("m.py", CODE).findings) == ["QE202", "QE204", "QE205"]


def test_inline_marker_silences_the_named_rule_on_its_line_only(tmp_path):
    code = CODE.replace("bucket=[]):", "bucket=[]):  # aqe: ignore[mutable-default-argument]")
    findings = _engine(tmp_path).analyze_text("m.py", code).findings
    assert _ids(findings) == ["QE204", "QE205"]
    bare = CODE.replace('print("never")  # TODO: remove', 'print("never")  # TODO: remove  # aqe: ignore')
    assert _ids(_engine(tmp_path).analyze_text("m.py", bare).findings) == ["QE202"]


def test_a_syntax_error_still_yields_the_findings_of_the_parts_that_parse(tmp_path):
    code = CODE + "\ndef broken(:\n    pass\n\ndef other(x={}):\n    return x\n"
    analysis = _engine(tmp_path).analyze_text("m.py", code)
    assert analysis.has_syntax_errors
    assert _ids(analysis.findings).count("QE202") == 2


def test_text_over_the_size_cap_is_skipped_with_a_reason(tmp_path):
    engine = _engine(tmp_path, max_file_size_mb=0.001)
    analysis = engine.analyze_text("big.py", "x = 1\n" * 500)
    assert analysis.findings == ()
    assert analysis.skipped is not None and analysis.skipped.reason is SkipReason.TOO_LARGE
    assert "size limit" in analysis.skipped.describe()


def test_text_with_nul_bytes_is_skipped_as_binary(tmp_path):
    analysis = _engine(tmp_path).analyze_text("m.py", "x = 1\x00\n")
    assert analysis.skipped is not None and analysis.skipped.reason is SkipReason.BINARY


def test_files_outside_the_workspace_are_never_read(tmp_path):
    inside = tmp_path / "ws"
    inside.mkdir()
    secret = tmp_path / "secret.py"
    secret.write_text(CODE)
    (inside / "link.py").symlink_to(secret)
    engine = Engine(Settings(), [inside])
    for path in (secret, inside / "link.py", inside / ".." / "secret.py", Path("/etc/hostname")):
        analysis = engine.analyze_file(path)
        assert analysis.skipped is not None and analysis.skipped.reason is SkipReason.OUTSIDE_WORKSPACE, path


def test_invalid_utf8_files_are_skipped(tmp_path):
    bad = tmp_path / "latin1.py"
    bad.write_bytes("name = 'café'\n".encode("latin-1"))
    analysis = _engine(tmp_path).analyze_file(bad)
    assert analysis.skipped is not None and analysis.skipped.reason is SkipReason.NOT_UTF8


def test_a_named_pipe_called_x_py_is_skipped_not_waited_on(tmp_path):
    (tmp_path / "real.py").write_text("x = 1\n")
    pipe = tmp_path / "pipe.py"
    os.mkfifo(pipe)  # no writer: an ordinary open() of it would block forever
    engine = _engine(tmp_path)

    assert [p.name for p in engine.workspace.iter_source_files()] == ["real.py"]
    named = list(engine.analyze_paths([pipe]))
    assert len(named) == 1 and named[0].skipped is not None
    assert named[0].skipped.reason is SkipReason.NOT_A_FILE


def test_a_file_named_twice_or_inside_a_named_folder_is_analysed_once(tmp_path):
    (tmp_path / "a.py").write_text(CODE)
    engine = _engine(tmp_path)
    paths = [tmp_path, tmp_path / "a.py", tmp_path / "." / "a.py"]
    assert [p.name for p in engine.workspace.iter_source_files(paths)] == ["a.py"]


def test_the_project_of_a_path_is_the_nearest_folder_with_pyproject_toml_not_above_the_repository(tmp_path):
    project = tmp_path / "repo" / "services" / "api"
    (project / "src" / "pkg").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'api'\n")
    (project / "src" / "pkg" / "core.py").write_text("x = 1\n")
    (tmp_path / "repo" / ".git").mkdir()
    (tmp_path / "repo" / "docs").mkdir()
    (tmp_path / "pyproject.toml").write_text("")  # above the repository: never this project's

    assert find_project_root(project / "src" / "pkg" / "core.py") == project.resolve()
    assert find_project_root(project / "src") == project.resolve()
    assert find_project_root(tmp_path / "repo" / "docs") == (tmp_path / "repo").resolve()
    outside_the_repository = tmp_path / "loose" / "folder"
    outside_the_repository.mkdir(parents=True)
    assert find_project_root(outside_the_repository) == tmp_path.resolve()


def test_walking_the_workspace_honours_gitignore_exclude_and_vendored_folders(tmp_path):
    for relative in ("src/app.py", "src/gen/out.py", "build/x.py", "node_modules/m/i.js", "web/a.ts", "docs/n.md"):
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n")
    (tmp_path / ".gitignore").write_text("build/\n")
    (tmp_path / "src" / ".gitignore").write_text("gen/\n")
    engine = _engine(tmp_path, exclude=("web/",))
    found = sorted(p.relative_to(tmp_path).as_posix() for p in engine.workspace.iter_source_files())
    assert found == ["src/app.py"]


def test_a_gitignore_above_the_repository_is_not_the_projects(tmp_path):
    # A project unpacked into a folder that another repository ignores (or under a home folder with
    # its own .gitignore) is still walked.
    (tmp_path / ".gitignore").write_text("unpacked/\n")
    project = tmp_path / "unpacked" / "lib"
    (project / "pkg").mkdir(parents=True)
    (project / "pkg" / "core.py").write_text("x = 1\n")
    found = [p.relative_to(project).as_posix() for p in _engine(project).workspace.iter_source_files()]
    assert found == ["pkg/core.py"]


def test_inside_a_repository_the_gitignore_files_above_the_folder_apply_up_to_its_top(tmp_path):
    (tmp_path / ".gitignore").write_text("generated/\n")
    repository = tmp_path / "repo"
    (repository / ".git").mkdir(parents=True)
    (repository / ".gitignore").write_text("*_pb2.py\n")
    folder = repository / "services" / "api"
    for relative in ("handlers.py", "proto_pb2.py", "generated/models.py"):
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text("x = 1\n")
    found = sorted(p.relative_to(folder).as_posix() for p in _engine(folder).workspace.iter_source_files())
    assert found == ["generated/models.py", "handlers.py"]


def test_open_documents_follow_incremental_changes(tmp_path):
    engine = _engine(tmp_path)
    uri = (tmp_path / "m.py").as_uri()
    engine.open_document(uri, str(tmp_path / "m.py"), CODE, 1, "python")
    opened = engine.analyze_open_document(uri)
    assert opened.version == 1
    assert _ids(opened.findings) == ["QE202", "QE204", "QE205"]
    engine.change_document(uri, [ContentChange(Span.of(0, 18, 0, 27), "bucket=None")], 2)
    analysis = engine.analyze_open_document(uri)
    assert analysis.version == 2
    assert _ids(analysis.findings) == ["QE204", "QE205"]
    assert engine.get_document(uri).text.startswith("def collect(item, bucket=None):")


def test_an_open_document_that_grows_past_the_cap_is_skipped_then_recovers(tmp_path):
    engine = _engine(tmp_path, max_file_size_mb=0.0005)
    uri = "file:///w/m.py"
    engine.open_document(uri, "/w/m.py", CODE, 1, "python")
    engine.change_document(uri, [ContentChange(Span.of(0, 0, 0, 0), "# " + "x" * 600 + "\n")], 2)
    assert engine.analyze_open_document(uri).skipped is not None
    engine.change_document(uri, [ContentChange(None, CODE)], 3)
    assert _ids(engine.analyze_open_document(uri).findings) == ["QE202", "QE204", "QE205"]


def test_a_rule_that_crashes_is_left_out_and_the_others_still_run(tmp_path, monkeypatch, caplog):
    from aqe.review.rules import python_code

    crashing = next(cls for cls in python_code.RULES if cls.info.id == "QE205")
    monkeypatch.setattr(crashing, "check", lambda self, ctx: (_ for _ in ()).throw(RuntimeError("boom")))
    findings = _engine(tmp_path).analyze_text("m.py", CODE).findings
    assert _ids(findings) == ["QE202", "QE204"]
    assert "QE205 failed" in caplog.text


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_workspace_root_given_through_a_symlink_still_contains_its_files(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "m.py").write_text(CODE)
    (tmp_path / "alias").symlink_to(real)
    engine = Engine(Settings(), [tmp_path / "alias"])
    assert _ids(engine.analyze_file(tmp_path / "alias" / "m.py").findings) == ["QE202", "QE204", "QE205"]


def test_a_document_too_large_to_receive_waits_for_its_whole_text_again(tmp_path):
    engine = _engine(tmp_path)
    uri = "file:///w/m.py"
    engine.mark_oversized(uri, "/w/m.py", "sent in a message too large to receive")
    assert engine.analyze_open_document(uri).skipped.reason is SkipReason.TOO_LARGE
    engine.change_document(uri, [ContentChange(Span.of(0, 0, 0, 0), "x")], 2)
    assert engine.analyze_open_document(uri).skipped is not None  # an edit to text we never had
    engine.change_document(uri, [ContentChange(None, CODE), ContentChange(Span.of(0, 0, 0, 0), "# hi\n")], 3)
    analysis = engine.analyze_open_document(uri)
    assert analysis.skipped is None and analysis.version == 3
    assert engine.get_document(uri).text.startswith("# hi\ndef collect")
