"""Data out through a generated test: a secret the code returns is never written into the project."""

from __future__ import annotations

from pathlib import Path

from aqe.config import Settings
from aqe.testgen.generate import TestGenerator
from aqe.testgen.target import find_target_by_name

VAULT = '''"""Reads credentials."""

from pathlib import Path

HOST_SECRET = {host_secret!r}


def project_token() -> str:
    """The deploy token kept in the project (a secret that the copy in the sandbox holds too)."""
    return (Path(__file__).parent / "token.txt").read_text().strip()


def host_secret() -> str:
    """A file outside the project: unreadable inside the sandbox."""
    return Path(HOST_SECRET).read_text().strip()
'''
TOKEN = "ghp_" + "Zq8Xw3Lm9Vt2Rb7Nc4Kd6Hs1Jf5Gp0Ya3Ue8"


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "vaultproj"
    (root / "src" / "vault").mkdir(parents=True)
    (root / "tests").mkdir()
    secret = tmp_path / "host-secret.txt"
    secret.write_text(f"AKIA{'Q' * 16}")
    (root / "src" / "vault" / "__init__.py").write_text("")
    (root / "src" / "vault" / "core.py").write_text(VAULT.format(host_secret=str(secret)))
    (root / "src" / "vault" / "token.txt").write_text(TOKEN + "\n")
    (root / "pyproject.toml").write_text('[project]\nname = "vault"\nversion = "0"\n[tool.pytest.ini_options]\n'
                                         'pythonpath = ["src"]\n')  # fmt: skip
    (root / "tests" / "test_nothing.py").write_text("def test_nothing():\n    assert 1 + 1 == 2\n")
    return root


def _generate(root: Path, name: str, runner):  # type: ignore[no-untyped-def]
    path = "src/vault/core.py"
    text = (root / path).read_text()
    target = find_target_by_name(root, path, text, name)
    settings = Settings(test_generation_candidates=0, sandbox_timeout_s=60.0)
    return TestGenerator(root, settings, runner).generate(target, text)


def test_a_secret_the_function_returns_is_never_asserted_in_the_generated_test(runner, tmp_path: Path):
    root = _project(tmp_path)
    result = _generate(root, "project_token", runner)
    written = [candidate.code for candidate in result.candidates]
    if result.proven is not None:
        written.append(result.proven.edit.new_text)
    assert all(TOKEN not in text for text in written), written


def test_a_host_secret_cannot_be_read_so_it_cannot_reach_a_test(runner, tmp_path: Path):
    root = _project(tmp_path)
    result = _generate(root, "host_secret", runner)
    written = [candidate.code for candidate in result.candidates]
    if result.proven is not None:
        written.append(result.proven.edit.new_text)
    assert all("AKIA" not in text for text in written), written
    assert runner.results and all(run.contained for run in runner.results)


def test_an_observed_value_that_redaction_would_hide_is_not_assertable():
    from aqe.testgen.probe import Observation

    secret = Observation(1, value_repr=repr(TOKEN), value_type="str", value_module="builtins", roundtrip=True)
    plain = Observation(2, value_repr=repr("dash-er-ize"), value_type="str", value_module="builtins", roundtrip=True)
    assert not secret.assertable and plain.assertable
