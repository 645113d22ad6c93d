"""Workspace trust comes from the editor's initializationOptions only; a repository cannot restore it."""

from pathlib import Path

from aqe.config import load_settings
from aqe.lsp.server import _merge_client_settings, editor_trust


def test_trust_is_read_at_the_top_level_or_under_the_aqe_namespace():
    assert editor_trust({}) is True
    assert editor_trust({"trusted": True}) is True
    assert editor_trust({"trusted": False}) is False
    assert editor_trust({"aqe": {"trusted": False}}) is False
    assert editor_trust({"trusted": True, "aqe": {"trusted": False}}) is False
    assert editor_trust({"trusted": "yes"}) is False  # anything but an explicit true


def test_a_configuration_answer_cannot_turn_trust_back_on(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text("[tool.aqe]\nmaxComplexity = 3\n")
    init = {"aqe": {"trusted": False}}
    answer = {"trusted": True, "aqe": {"trusted": True, "maxComplexity": 20}}
    merged = _merge_client_settings(init, answer)
    loaded = load_settings(tmp_path, client_options=merged, env={}, user_config_path=tmp_path / "none.toml")
    assert loaded.trusted is False
    assert loaded.settings.max_complexity == 20  # the client's own value, not the repository's 3
