"""The pre-commit hook, run by the real pre-commit (`try-repo`) on a team's repository with staged files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pipeline_support import REPO_ROOT, git, tool

pytestmark = pytest.mark.skipif(
    subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True).returncode != 0,
    reason="pre-commit installs hooks from a git repository, and this checkout of aqe is not one",
)

# An exact comparison of a computed float: a warning out of the box. (A test that asserts nothing is
# a hint since the precision round: too many real "does not raise" tests look the same.)
BAD_TEST = """\
from shop.cart import Cart


def test_add_to_cart():
    cart = Cart()
    cart.add("sku-1", 2)
    assert cart.total() * 1.1 == 0.33
"""

CLEAN_TEST = """\
from shop.cart import Cart


def test_add_to_cart():
    cart = Cart()
    cart.add("sku-1", 2)
    assert cart.count("sku-1") == 2
"""


def _team_repository(tmp_path: Path, env: dict[str, str], test_source: str) -> Path:
    repo = tmp_path / "team"
    (repo / "tests").mkdir(parents=True)
    git(repo, "init", "--quiet", env=env)
    (repo / "README.md").write_text("# team\n", encoding="utf-8")
    git(repo, "add", "README.md", env=env)
    git(repo, "commit", "--quiet", "-m", "start", env=env)
    (repo / "tests" / "test_cart.py").write_text(test_source, encoding="utf-8")
    git(repo, "add", "tests/test_cart.py", env=env)
    return repo


def _try_repo(repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """What `git commit` runs once the hook is installed: the hook on the staged files, from this repository."""
    return subprocess.run(
        [tool("pre-commit"), "try-repo", str(REPO_ROOT), "aqe"],
        cwd=repo,
        env={**env, "PRE_COMMIT_HOME": str(repo.parent / "pre-commit-home")},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_staged_test_with_an_exact_float_comparison_refuses_the_commit_and_names_the_finding(tmp_path, aqe_on_path):
    repo = _team_repository(tmp_path, aqe_on_path, BAD_TEST)
    result = _try_repo(repo, aqe_on_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Failed" in output
    assert "tests/test_cart.py:7:12: warning QE104" in output
    assert "compare with pytest.approx" in output


def test_a_clean_staged_test_passes(tmp_path, aqe_on_path):
    repo = _team_repository(tmp_path, aqe_on_path, CLEAN_TEST)
    result = _try_repo(repo, aqe_on_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Passed" in output
    assert "QE1" not in output
