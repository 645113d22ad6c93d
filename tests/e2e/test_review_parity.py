"""The editor and `aqe analyze` review a file through the same application service: with the same
settings and the same learned state they report the same findings, conventions and learned
rejections included."""

from __future__ import annotations

import json
import subprocess
import sys

import lsp_session as session
import pytest
import pytest_lsp
from pytest_lsp import LanguageClient

from aqe.learning.events import FeedbackEvent, FeedbackLog

pytestmark = pytest.mark.e2e

CONVENTION = "convention/tests.assertion-style"
MORE_TESTS = """

    def test_count_of_a_default_cart(self, seen=[]):
        # TODO: cover carts with quantities
        self.assertEqual(count(seen), 0)
"""


@pytest_lsp.fixture(config=session.SERVER_CONFIG, params=["push", "pull"])
async def client(lsp_client: LanguageClient, request):
    root = session.copy_workspace("learning", request.getfixturevalue("tmp_path"))
    legacy = root / "tests" / "test_legacy.py"
    legacy.write_text(legacy.read_text() + MORE_TESTS)
    log = FeedbackLog(root / ".aqe" / "feedback.jsonl")
    for _ in range(3):  # the team rejected its TODO findings in tests
        log.record(FeedbackEvent("reject", "QE205", {"area": "tests", "source": "rule", "path": "tests/test_x.py"}))
    lsp_client.mode = request.param  # type: ignore[attr-defined]
    lsp_client.root = root  # type: ignore[attr-defined]
    await session.start_session(lsp_client, root, request.param)
    yield
    await lsp_client.shutdown_session()


def _analyze(root, path) -> list[tuple[str, int, int, str]]:
    command = [sys.executable, "-m", "aqe", "analyze", "--conventions", "--format", "json", "--fail-on", "never"]
    done = subprocess.run(
        [*command, str(path)], cwd=root, env=session.server_environment(), capture_output=True, text=True, check=True
    )
    findings = json.loads(done.stdout)["findings"]
    return sorted(
        (f["ruleId"], f["range"]["start"]["line"], f["range"]["start"]["character"], f["message"]) for f in findings
    )


async def test_the_editor_and_aqe_analyze_report_the_same_findings_for_a_file(client):
    path = client.root / "tests" / "test_legacy.py"
    uri = session.open_file(client, path)
    diagnostics = await session.diagnostics_for(
        client, uri, client.mode, until=lambda d: CONVENTION in session.codes(d), timeout=30
    )
    in_editor = sorted((str(d.code), d.range.start.line, d.range.start.character, d.message) for d in diagnostics)
    assert {"QE202", CONVENTION} <= {row[0] for row in in_editor}
    assert "QE205" not in {row[0] for row in in_editor}  # hidden by what the team rejected
    assert _analyze(client.root, path) == in_editor
