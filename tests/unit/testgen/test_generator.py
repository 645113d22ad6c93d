"""The whole generator on real projects, with real sandboxed pytest runs: proven tests, repair, and
hostile candidates that are contained."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aqe.config import Settings
from aqe.llm.types import CancelToken, Completion, CompletionOptions, Prompt
from aqe.sandbox.runner import SandboxRefused, SandboxRunner
from aqe.testgen.generate import TestGenerator
from aqe.testgen.target import find_target_by_name

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def billing(tmp_path: Path) -> Path:
    root = tmp_path / "billing"
    shutil.copytree(REPO / "tests" / "workspaces" / "testgen", root)
    return root.resolve()


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    shutil.copytree(REPO / "examples" / "shop", root)
    return root.resolve()


class ScriptedModel:
    """Stands in for a model whose output a test needs to control exactly: hostile or wrong code.
    (The real model's behaviour is exercised in tests/e2e/test_lsp_testgen.py.)"""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.prompts: list[Prompt] = []

    def __call__(self, prompt: Prompt, options: CompletionOptions, cancel: CancelToken) -> Completion:
        self.prompts.append(prompt)
        text = self.answers.pop(0) if self.answers else ""
        return Completion(text, 0.5, "scripted", "scripted", 0.0, 0, 0, "r")


def generate(root: Path, path: str, name: str, *, model: ScriptedModel | None = None, **settings: object):
    text = (root / path).read_text()
    target = find_target_by_name(root, path, text, name)
    candidates = len(model.answers) if model is not None else 0
    configured = Settings(test_generation_candidates=candidates, sandbox_timeout_s=20.0, **settings)  # type: ignore[arg-type]
    generator = TestGenerator(root, configured, SandboxRunner(trusted=True), complete=model)
    return generator.generate(target, text)


def write_and_run(root: Path, result) -> subprocess.CompletedProcess[str]:
    path = root / result.proven.edit.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(result.proven.edit.new_text)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=root, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def test_a_function_without_tests_gets_a_proven_test_that_reaches_every_branch(shop: Path) -> None:
    result = generate(shop, "src/shop/shipping.py", "shipping_cents")

    assert result.reason is None and result.proven is not None
    proven = result.proven
    assert proven.arcs_before == 0 and proven.arcs_after == proven.arcs_in_function
    assert set(proven.lines_gained) == {21, 22, 24, 25, 26, 27, 28}
    assert proven.edit.path == "tests/test_shipping.py" and proven.edit.create
    # The shop's tests use parametrize, so the cases of one shape are one parametrised test.
    assert "        (1, 5000, 0),\n" in proven.candidate.body
    assert "assert shipping_cents(weight_grams, subtotal_cents) == expected" in proven.candidate.body
    assert write_and_run(shop, result).returncode == 0


def test_a_function_the_suite_already_covers_gets_no_redundant_test(shop: Path) -> None:
    result = generate(shop, "src/shop/pricing.py", "line_discount_percent")

    assert result.proven is None
    assert "already reach every line and branch" in (result.reason or "")


def test_a_method_gets_a_test_that_builds_its_object(shop: Path) -> None:
    result = generate(shop, "src/shop/cart.py", "Cart.set_quantity")

    assert result.proven is not None
    assert 'Cart("abc").set_quantity(' in result.proven.candidate.body
    assert result.proven.edit.path == "tests/test_cart.py" and not result.proven.edit.create
    assert write_and_run(shop, result).returncode == 0


def test_a_model_candidate_with_a_wrong_expected_value_is_repaired_and_labelled(billing: Path) -> None:
    model = ScriptedModel("45, 1000) == 12345\n")

    result = generate(billing, "src/billing/invoice.py", "late_fee_cents", model=model)

    repaired = [c for c in result.candidates if c.repaired]
    assert len(repaired) == 1 and repaired[0].passed_runs == 2
    assert "assert late_fee_cents(45, 1000) == 100" in repaired[0].code
    assert "observed from the current code" in repaired[0].code
    assert model.prompts[0].text.endswith(
        "def test_late_fee_cents_returns_the_expected_value():\n    assert late_fee_cents("
    )


def test_a_script_that_exits_at_import_is_reported_and_nothing_is_written(billing: Path) -> None:
    before = {p: p.read_bytes() for p in billing.rglob("*") if p.is_file()}

    result = generate(billing, "src/billing/script.py", "summarise")

    assert result.proven is None
    assert "cannot be imported" in (result.reason or "") and "SystemExit" in (result.reason or "")
    assert {p: p.read_bytes() for p in billing.rglob("*") if p.is_file()} == before


HOSTILE = {
    "deletes the workspace": "1, 1) == 0\n    import shutil, os\n    shutil.rmtree(os.getcwd())\n",
    "writes outside": "1, 1) == 0\n    open({marker!r}, 'w').write('x')\n",
    "opens a socket": "1, 1) == 0\n    import socket\n    socket.create_connection(('1.1.1.1', 80), timeout=3)\n",
    "forks and loops": "1, 1) == 0\n    import os\n    if os.fork() == 0:\n        while True:\n            pass\n"
    "    while True:\n        pass\n",
}


class RecordingRunner(SandboxRunner):
    """Keeps each run's result, so the test can check what the sandbox found after every run."""

    def __init__(self) -> None:
        super().__init__(trusted=True)
        self.results: list = []

    def run(self, spec, cancel=None):  # type: ignore[no-untyped-def]
        result = super().run(spec, cancel)
        self.results.append(result)
        return result


@pytest.mark.parametrize("behaviour", list(HOSTILE))
def test_hostile_model_code_is_contained_and_the_good_candidate_still_wins(
    billing: Path, tmp_path: Path, behaviour: str
) -> None:
    marker = tmp_path / "hostile-marker"  # a host path the box must not be able to write
    before = {p: p.read_bytes() for p in billing.rglob("*") if p.is_file()}
    started = time.monotonic()
    text = (billing / "src/billing/invoice.py").read_text()
    target = find_target_by_name(billing, "src/billing/invoice.py", text, "late_fee_cents")
    runner = RecordingRunner()
    model = ScriptedModel(HOSTILE[behaviour].format(marker=str(marker)))
    configured = Settings(test_generation_candidates=1, sandbox_timeout_s=20.0)
    result = TestGenerator(billing, configured, runner, complete=model).generate(target, text)

    assert time.monotonic() - started < 120
    assert {p: p.read_bytes() for p in billing.rglob("*") if p.is_file()} == before
    assert result.proven is not None and result.proven.candidate.generator == "values"
    hostile = [c for c in result.candidates if c.generator.startswith("model")]
    assert hostile and (hostile[0].passed_runs < 2 or behaviour == "writes outside")
    assert not marker.exists()  # the file system outside the sandbox is out of reach
    # Nothing any run started outlived it: the sandbox's own check after each run.
    assert runner.results and all(run.survivors == 0 and run.contained for run in runner.results)


def test_an_untrusted_workspace_runs_nothing(billing: Path) -> None:
    text = (billing / "src/billing/invoice.py").read_text()
    target = find_target_by_name(billing, "src/billing/invoice.py", text, "late_fee_cents")
    generator = TestGenerator(billing, Settings(test_generation_candidates=0), SandboxRunner(trusted=False))

    result = generator.generate(target, text)

    assert result.proven is None and "not trusted" in (result.reason or "")
    with pytest.raises(SandboxRefused):
        SandboxRunner(trusted=False).run(None)  # type: ignore[arg-type]
