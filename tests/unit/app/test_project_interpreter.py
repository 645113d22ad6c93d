"""Which Python runs a project's tests: one order for test generation, coverage and flaky reruns
(projectPython > the editor's interpreter > the project's .venv > $VIRTUAL_ENV > aqe's own), and a
failed import that names the interpreter, the missing module and how to choose another."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aqe.app.project import (
    ORIGIN_ACTIVE_VENV,
    ORIGIN_AQE,
    ORIGIN_EDITOR,
    ORIGIN_PROJECT_VENV,
    ORIGIN_SETTING,
    Project,
    resolve_interpreter,
)
from aqe.cli import main
from aqe.config import Settings


def _fake_python(path: Path) -> Path:
    """An executable file where a venv keeps its interpreter (resolution only checks it can be run)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def candidates(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "project"
    return {
        "root": root,
        "setting": _fake_python(root / "envs" / "chosen" / "bin" / "python"),
        "editor": _fake_python(tmp_path / "editor-env" / "bin" / "python"),
        "venv": _fake_python(root / ".venv" / "bin" / "python"),
        "active": _fake_python(tmp_path / "active-env" / "bin" / "python"),
    }


def test_the_setting_wins_over_every_other_choice(candidates):
    settings = Settings(project_python="envs/chosen/bin/python", editor_python=str(candidates["editor"]))
    chosen = resolve_interpreter(candidates["root"], settings, {"VIRTUAL_ENV": str(candidates["active"].parents[1])})
    assert (chosen.path, chosen.origin) == (str(candidates["setting"]), ORIGIN_SETTING)


def test_the_editors_interpreter_comes_before_the_projects_venv(candidates):
    chosen = resolve_interpreter(candidates["root"], Settings(editor_python=str(candidates["editor"])), {})
    assert (chosen.path, chosen.origin) == (str(candidates["editor"]), ORIGIN_EDITOR)


def test_the_projects_venv_comes_before_an_activated_one(candidates):
    environ = {"VIRTUAL_ENV": str(candidates["active"].parents[1])}
    chosen = resolve_interpreter(candidates["root"], Settings(), environ)
    assert (chosen.path, chosen.origin) == (str(candidates["venv"]), ORIGIN_PROJECT_VENV)


def test_an_activated_venv_comes_before_aqes_own_interpreter(candidates, tmp_path):
    environ = {"VIRTUAL_ENV": str(candidates["active"].parents[1])}
    bare = tmp_path / "bare"
    bare.mkdir()
    assert resolve_interpreter(bare, Settings(), environ).origin == ORIGIN_ACTIVE_VENV
    fallback = resolve_interpreter(bare, Settings(), {})
    assert (fallback.path, fallback.origin) == (sys.executable, ORIGIN_AQE)


def test_a_setting_naming_a_missing_interpreter_is_passed_over_and_said(candidates):
    chosen = resolve_interpreter(candidates["root"], Settings(project_python="nope/bin/python"), {})
    assert chosen.origin == ORIGIN_PROJECT_VENV
    assert "the projectPython setting nope/bin/python is not an executable file" in chosen.describe()


def test_coverage_and_flaky_runs_use_the_same_interpreter(candidates):
    project = Project.load(candidates["root"], client_options={"editorPython": str(candidates["editor"])})
    assert project.test_python() == str(candidates["editor"])


# --- end to end: `aqe generate` on a project whose dependency lives only in its own environment ---------------

MISSING = "parcelrates"


@pytest.fixture
def project_with_a_dependency(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A project importing a module that aqe's interpreter lacks, and a venv (outside the project) that has
    it, with pytest and coverage reachable through a .pth file (as an installed venv would have them)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    root = tmp_path / "shipping"
    (root / "src").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "shipping"\nversion = "0"\n')
    (root / "src" / "rates.py").write_text(
        textwrap.dedent(
            f"""\
            import {MISSING}


            def parcel_cents(kilos: int) -> int:
                if kilos <= 0:
                    return 0
                return {MISSING}.BASE + {MISSING}.PER_KILO * kilos
            """
        )
    )
    (root / "tests" / "test_rates.py").write_text("from rates import parcel_cents\n\n\ndef test_nothing():\n    pass\n")
    venv = tmp_path / "deps-env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    [packages] = [Path(p) for p in venv.glob("lib/python3*/site-packages")]
    (packages / "aqe-test-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    (packages / f"{MISSING}.py").write_text("BASE = 495\nPER_KILO = 120\n")
    return root, venv / "bin" / "python"


def _generate(root: Path, capsys, *extra: str) -> dict:
    main(["generate", "src/rates.py::parcel_cents", "--no-model", "--format", "json", "--root", str(root), *extra])
    [result] = json.loads(capsys.readouterr().out)
    return result


def test_a_failed_import_names_the_interpreter_the_module_and_the_way_out(project_with_a_dependency, capsys):
    root, _ = project_with_a_dependency
    result = _generate(root, capsys)
    assert not result["proven"]
    assert result["python"] == sys.executable
    reason = result["reason"]
    assert f"No module named '{MISSING}'" in reason
    assert f"The tests ran with {sys.executable} ({ORIGIN_AQE}) and it has no module '{MISSING}'" in reason
    assert "set projectPython (`aqe generate --python PATH`" in reason


def test_the_python_option_runs_the_tests_in_the_projects_environment(project_with_a_dependency, capsys):
    root, python = project_with_a_dependency
    result = _generate(root, capsys, "--python", str(python))
    assert result["proven"], result["reason"]
    assert result["python"] == str(python)
    assert os.path.basename(result["test"]["file"]).startswith("test_")
