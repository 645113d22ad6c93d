"""The labelled precision corpus: pinned source distributions of real projects, with their tests.

    python tests/bench/precision_corpus.py            # download what is missing, print the folders

Each project is downloaded once from PyPI (`pip download --no-binary :all:`) into a cache folder
outside the repository (`$AQE_CORPUS_CACHE`, default `~/.cache/aqe/corpus`) and unpacked there: inside
this repository the trees would fall under its .gitignore, which aqe honours like git does. None of
them was written here; the projects kept for an independent check of this work are deliberately
absent. `precision_labels.tsv` beside this file
holds the hand labels of the findings aqe reports on these trees.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

CACHE = Path(os.environ.get("AQE_CORPUS_CACHE") or Path.home() / ".cache" / "aqe" / "corpus")

CORPUS: tuple[str, ...] = (
    "marshmallow==3.22.0",  # serialisation library
    "more-itertools==10.5.0",  # iterator utilities
    "humanize==4.11.0",  # formatting library (i18n)
    "python-dateutil==2.9.0.post0",  # date parsing, unittest-style suite
    "pluggy==1.5.0",  # plugin framework
    "itsdangerous==2.2.0",  # signing library
    "tomlkit==0.13.2",  # parser with a large data-driven suite
    "flask==3.0.3",  # web framework
    "toolz==1.0.0",  # functional / data-processing utilities
    "typer==0.12.5",  # CLI framework
)

TEST_RULE_CORPUS: tuple[str, ...] = (
    # Suites full of mocks and coroutine tests, where QE105-QE111 have the most to get wrong: only the
    # findings of those rules are counted here (the other rules' findings on these trees are unlabelled).
    "asgiref==3.8.1",  # sync/async adapters, pytest-asyncio marks
    "tenacity==9.0.0",  # retrying, async tests run by its own decorator
    "pytest-mock==3.14.0",  # the mocker fixture, mock assertions everywhere
    "anyio==4.6.0",  # anyio's own pytest plugin, pytestmark and anyio_backend
    "structlog==24.4.0",  # logging, asyncio tests
    "responses==0.25.3",  # HTTP mocking, call assertions
    "freezegun==1.5.1",  # time mocking, unittest and pytest
    "pytest-asyncio==0.24.0",  # the asyncio plugin itself: every mode and mark
    "aiosqlite==0.20.0",  # IsolatedAsyncioTestCase suite
)


NPM_CORPUS: tuple[str, ...] = (
    # Most npm tarballs leave their tests out; these five ship them (all tape suites).
    "qs@6.13.0",
    "minimist@1.2.8",
    "object-inspect@1.13.2",
    "deep-equal@2.2.3",
    "side-channel@1.0.6",
)


def fetch_npm(spec: str) -> Path:
    """The unpacked tarball of one pinned npm package (`npm pack`, downloaded on first use)."""
    name, _, version = spec.rpartition("@")
    target = CACHE / f"npm-{name}-{version}"
    if not (target / "package").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as download:
            subprocess.run(["npm", "pack", "--silent", "--pack-destination", download, spec], check=True,
                           capture_output=True)  # fmt: skip
            (archive,) = Path(download).glob("*.tgz")
            with tarfile.open(archive) as tar:
                tar.extractall(target, filter="data")
    return target / "package"


def project_name(requirement: str) -> str:
    return requirement.partition("==")[0]


def fetch(requirement: str) -> Path:
    """The unpacked source tree of one pinned sdist (downloaded on first use)."""
    name, _, version = requirement.partition("==")
    target = CACHE / f"{name}-{version}"
    if target.is_dir() and any(target.iterdir()):
        return next(p for p in target.iterdir() if p.is_dir())
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as download:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
             "-d", download, requirement],
            check=True,
        )  # fmt: skip
        (archive,) = [p for p in Path(download).iterdir() if p.name.endswith((".tar.gz", ".zip"))]
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zipped:
                zipped.extractall(target)
        else:
            with tarfile.open(archive) as tar:
                tar.extractall(target, filter="data")
    return next(p for p in target.iterdir() if p.is_dir())


def corpus_trees() -> dict[str, Path]:
    trees = {project_name(r): fetch(r) for r in CORPUS}
    trees.update({f"npm-{spec.rpartition('@')[0]}": fetch_npm(spec) for spec in NPM_CORPUS})
    return trees


def test_rule_trees() -> dict[str, Path]:
    """The extra trees on which only QE105-QE111 are measured."""
    return {project_name(r): fetch(r) for r in TEST_RULE_CORPUS}


if __name__ == "__main__":
    for name, tree in {**corpus_trees(), **test_rule_trees()}.items():
        tests = sum(1 for p in tree.rglob("*") if p.suffix in (".py", ".js", ".ts") and "test" in p.name)
        print(f"{name:22} {tree}  ({tests} test files)")
