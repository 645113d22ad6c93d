"""Flaky tests end to end: `aqe serve` reads the workspace's JUnit reports and marks the flaky test's
definition, with Explain, Quarantine and Show history."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_lsp
from lsp_session import (
    SERVER_CONFIG,
    apply_text_edits,
    copy_workspace,
    diagnostics_for,
    edits_of,
    open_file,
    start_session,
)
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.e2e

COIN = [True, False, True, False, False, True, True, False, True, True]


def _write_reports(root: Path, outcomes: list[dict[str, bool]], first: int = 0) -> None:
    reports = root / "reports"
    reports.mkdir(exist_ok=True)
    for index, run in enumerate(outcomes, start=first):
        cases = "".join(
            f'<testcase classname="tests.test_game" name="{name}" time="0.01">'
            + ("" if passed else '<failure message="assert 0.73 &lt; 0.5">random.random()</failure>')
            + "</testcase>"
            for name, passed in run.items()
        )
        stamp = f"2026-11-20T10:{index // 60:02d}:{index % 60:02d}"
        (reports / f"run-{index:03d}.xml").write_text(f'<testsuite timestamp="{stamp}">{cases}</testsuite>')


def _flaky(diagnostics: list[types.Diagnostic]) -> list[types.Diagnostic]:
    return [d for d in diagnostics if d.source == "flaky"]


@pytest_lsp.fixture(config=SERVER_CONFIG, params=["push", "pull"])
async def client(lsp_client: LanguageClient, request):
    root = copy_workspace("flaky", request.getfixturevalue("tmp_path"))
    _write_reports(root, [{"test_stable": True, "test_coin": coin} for coin in COIN])
    lsp_client.mode = request.param  # type: ignore[attr-defined]
    lsp_client.root = root  # type: ignore[attr-defined]
    await start_session(lsp_client, root, request.param)
    yield
    await lsp_client.shutdown_session()


async def test_the_flaky_test_is_marked_on_its_definition(client):
    uri = open_file(client, client.root / "tests" / "test_game.py")
    diagnostics = await diagnostics_for(client, uri, client.mode, until=lambda d: len(_flaky(d)) == 1)
    (flaky,) = _flaky(diagnostics)
    assert flaky.code == "flaky-test" and flaky.severity == types.DiagnosticSeverity.Warning
    assert flaky.range.start == types.Position(line=7, character=4)
    assert flaky.message.startswith("flaky: 6 flips in 10 runs (fails 40%, 95% CI 17-69%), likely random")


async def _actions(client, uri: str, diagnostic: types.Diagnostic):
    return await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=diagnostic.range,
            context=types.CodeActionContext(diagnostics=[diagnostic]),
        )
    )


async def test_quarantine_is_a_real_edit_with_the_teams_marker(client):
    path = client.root / "tests" / "test_game.py"
    uri = open_file(client, path)
    diagnostics = await diagnostics_for(client, uri, client.mode, until=lambda d: len(_flaky(d)) == 1)
    actions = await _actions(client, uri, _flaky(diagnostics)[0])
    assert [a.title for a in actions] == [
        "Explain why `test_coin` is flaky",
        "Quarantine `test_coin` with @pytest.mark.xfail(strict=False)",
        "Show the run history of `test_coin`",
    ]
    quarantined = apply_text_edits(path.read_text(), edits_of(actions[1], uri))
    assert quarantined.startswith("import pytest\nimport random\n")
    assert '@pytest.mark.xfail(strict=False, reason="flaky: 6 flips in 10 runs' in quarantined
    compile(quarantined, "test_game.py", "exec")


async def test_show_history_lists_every_run(client):
    uri = open_file(client, client.root / "tests" / "test_game.py")
    await diagnostics_for(client, uri, client.mode, until=lambda d: len(_flaky(d)) == 1)
    history = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="aqe.flaky.history", arguments=[{"testId": "tests/test_game.py::test_coin"}])
    )
    assert [run["outcome"] for run in history["runs"]] == ["passed" if coin else "failed" for coin in COIN]
    assert history["summary"].startswith("tests/test_game.py::test_coin: ✓✗✓✗✗✓✓✗✓✓ (ingested: 4/10 failed)")


async def test_explain_gives_the_evidence_and_asks_the_model(client):
    if client.mode == "pull":
        pytest.skip("the model is exercised once; the command does not depend on the diagnostics mode")
    uri = open_file(client, client.root / "tests" / "test_game.py")
    await diagnostics_for(client, uri, client.mode, until=lambda d: len(_flaky(d)) == 1)
    answer = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="aqe.flaky.explain", arguments=[{"testId": "tests/test_game.py::test_coin"}])
    )
    assert answer["explanation"].startswith("tests/test_game.py::test_coin: flaky: 6 flips in 10 runs")
    assert "Suggested fix: seed the generator" in answer["explanation"]
    assert answer["model"] is not None or answer["modelError"]
    for _ in range(100):
        if any("Suggested fix" in m.message for m in client.messages):
            break
        await asyncio.sleep(0.05)
    assert any("Suggested fix" in m.message for m in client.messages)


async def test_an_unknown_test_id_is_a_clear_error(client):
    with pytest.raises(Exception, match="no history for the test"):
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="aqe.flaky.history", arguments=[{"testId": "tests/nope.py::test_x"}])
        )


async def test_new_reports_in_the_workspace_update_the_verdicts(client):
    uri = open_file(client, client.root / "tests" / "test_game.py")
    await diagnostics_for(client, uri, client.mode, until=lambda d: len(_flaky(d)) == 1)
    _write_reports(client.root, [{"test_stable": i % 2 == 0, "test_coin": True} for i in range(10)], first=10)
    after = await diagnostics_for(
        client, uri, client.mode, until=lambda d: sorted(x.range.start.line for x in _flaky(d)) == [3, 7], timeout=30
    )
    stable = next(d for d in _flaky(after) if d.range.start.line == 3)
    assert stable.message.startswith("flaky: 9 flips in 20 runs")


@pytest_lsp.fixture(config=SERVER_CONFIG)
async def team_client(lsp_client: LanguageClient, request):
    """A workspace with no reports of its own, whose user settings point at a team's PostgreSQL history
    that CI jobs filled."""
    from aqe.flaky.postgres import PostgresHistory
    from aqe.flaky.runs import ingest_reports

    url = request.getfixturevalue("postgres_url")
    root = copy_workspace("flaky", request.getfixturevalue("tmp_path"))
    ci_job = request.getfixturevalue("tmp_path_factory").mktemp("ci-job")
    _write_reports(ci_job, [{"test_stable": True, "test_coin": coin} for coin in COIN])
    with PostgresHistory(url) as history:
        ingest_reports(history, root, sorted((ci_job / "reports").glob("*.xml")), "v1")
    lsp_client.root = root  # type: ignore[attr-defined]
    await start_session(lsp_client, root, "push", initialization_options={"flakyHistoryUrl": url})
    yield
    await lsp_client.shutdown_session()


async def test_the_editor_reads_the_verdicts_from_the_teams_postgresql_history(team_client):
    assert not (team_client.root / "reports").exists()
    uri = open_file(team_client, team_client.root / "tests" / "test_game.py")
    diagnostics = await diagnostics_for(team_client, uri, "push", until=lambda d: len(_flaky(d)) == 1)
    (flaky,) = _flaky(diagnostics)
    assert flaky.range.start == types.Position(line=7, character=4)
    assert flaky.message.startswith("flaky: 6 flips in 10 runs (fails 40%, 95% CI 17-69%), likely random")
