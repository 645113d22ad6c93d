"""The install is real: the default model assembles offline and the llama.cpp build decodes on this CPU."""

from __future__ import annotations

import json
import os

import pytest

from aqe.cli import main
from aqe.llm.default_model import default_model
from aqe.llm.smoke import smoke_decode

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


def test_the_default_model_assembles_once_and_matches_its_checksum(model_cache):
    first = default_model(model_cache)
    assert first.path.exists() and first.size > 200_000_000
    mtime = first.path.stat().st_mtime_ns
    again = default_model(model_cache)
    assert again == first
    assert again.path.stat().st_mtime_ns == mtime  # verified from its stamp, not rewritten
    assert not list(model_cache.glob("*.partial"))


def test_a_damaged_model_file_is_set_aside_and_assembled_again(model_cache):
    good = default_model(model_cache)
    with good.path.open("r+b") as handle:
        handle.seek(1_000_000)
        handle.write(b"\xff" * 16)
    os.utime(good.path)  # an edit changes the mtime, so the stamp no longer vouches for it
    repaired = default_model(model_cache)
    assert repaired.sha256 == good.sha256
    assert (model_cache / (good.path.name + ".corrupt")).exists()


def test_the_llama_cpp_build_decodes_a_token_on_this_cpu(model_cache):
    result = smoke_decode(default_model(model_cache).path)
    assert result.ok, result.detail
    assert result.load_seconds > 0


def test_a_truncated_gguf_is_reported_not_crashed_on(model_cache, tmp_path):
    truncated = tmp_path / "truncated.gguf"
    with default_model(model_cache).path.open("rb") as handle:
        truncated.write_bytes(handle.read(4_000_000))
    result = smoke_decode(truncated)
    assert not result.ok
    assert result.detail


def test_model_info_reports_the_build_and_the_model(capsys, monkeypatch, model_cache):
    monkeypatch.setenv("XDG_CACHE_HOME", str(model_cache.parent / "xdg"))
    assert main(["model", "info", "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model"] == "gemma-3-270m-q4_k_m.gguf"
    assert "AVX2 = 1" in info["buildFlags"]
    assert "AMX" not in info["buildFlags"]  # AMX tile code faults on virtual machines: never built in
    assert info["smokeDecode"] == "ok"


def test_model_info_checks_the_configured_model_and_reports_a_broken_one(capsys, monkeypatch, model_cache, tmp_path):
    broken = tmp_path / "broken.gguf"
    with default_model(model_cache).path.open("rb") as handle:
        broken.write_bytes(handle.read(2_000_000))
    monkeypatch.setenv("AQE_MODEL_PATH", str(broken))
    monkeypatch.chdir(tmp_path)
    assert main(["model", "info", "--format", "json"]) == 1
    info = json.loads(capsys.readouterr().out)
    assert info["path"] == str(broken)
    assert info["smokeDecode"] != "ok"
