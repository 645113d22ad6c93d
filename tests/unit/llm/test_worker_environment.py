"""The model worker process never holds the user's API keys."""

from pathlib import Path

from aqe.llm.local import LlamaCppProvider


def test_api_keys_are_kept_out_of_the_worker_environment(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-not-for-the-worker")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_not_for_the_worker")
    provider = LlamaCppProvider(context_size=512, threads=1)
    try:
        provider.start()
        environ = Path(f"/proc/{provider.worker_pid}/environ").read_bytes().split(b"\0")
    finally:
        provider.close()
    names = {entry.split(b"=", 1)[0] for entry in environ if entry}
    assert b"ANTHROPIC_API_KEY" not in names and b"GITHUB_TOKEN" not in names
    assert b"PATH" in names
