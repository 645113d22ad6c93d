"""Retrieval evaluation: does searching with a function find the tests that call it?

    python tests/bench/bench_retrieval.py [--packages toolz==1.2.0 more-itertools==11.2.1 ...]
                                          [--embedders hashing hashing-384 model] [--json OUT.json]

On real code we did not write: source distributions from PyPI that ship their tests (downloaded once
with pip into ~/.cache/aqe/bench-sdists). For every function or method of the library whose name is unique
in the library and that at least one test calls (by name: `name(...)` or `obj.name(...)`), the
function's unit (its name and source, as "Find related tests" sends it) searches the test units of
the index, k=5. A hit is any test that calls it among the first 5; MRR uses the rank of the first.
Every embedder indexes the same files through the same `WorkspaceIndex`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench_support import machine, markdown_table
from tree_sitter import Node

from aqe.config import Settings
from aqe.index.embedders import Embedder, HashingCodeEmbedder, ModelEmbedder
from aqe.index.records import TESTS_CATEGORY
from aqe.index.service import WorkspaceIndex
from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language
from aqe.parsing.units import UnitKind, is_test_file, iter_units

# Outside the repository: its .gitignore ignores .cache/, and the index honours .gitignore as git does.
CACHE = Path.home() / ".cache" / "aqe" / "bench-sdists"
DEFAULT_PACKAGES = ("toolz==1.2.0", "more-itertools==11.2.1", "boltons==26.2.0")
K = 5
GOAL_RECALL_AT_5 = 0.8


def fetch_sdist(requirement: str) -> Path:
    """The unpacked source distribution (downloaded once)."""
    name, _, version = requirement.partition("==")
    target = CACHE / f"{name}-{version}"
    if target.is_dir():
        return next(p for p in target.iterdir() if p.is_dir())
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as download:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:", "-d", download,
             requirement],
            check=True,
        )  # fmt: skip
        (archive,) = Path(download).glob("*.tar.gz")
        target.mkdir()
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")
    return next(p for p in target.iterdir() if p.is_dir())


def called_names(node: Node) -> set[str]:
    names: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type == "call":
            function = current.child_by_field_name("function")
            if function is not None and function.type == "identifier":
                names.add(function.text.decode())
            elif function is not None and function.type == "attribute":
                attribute = function.child_by_field_name("attribute")
                if attribute is not None:
                    names.add(attribute.text.decode())
        stack.extend(current.children)
    return names


def ground_truth(root: Path) -> tuple[dict[str, set[str]], int]:
    """Library function key -> keys of the test units that call it; and how many functions there are."""
    definitions: dict[str, list[str]] = defaultdict(list)
    calls_by_test: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if any(part.startswith(".") or part in ("docs", "doc", "build") for part in path.relative_to(root).parts):
            continue
        try:
            document = ParsedDocument.parse(relative, path.read_text(encoding="utf-8"), Language.PYTHON)
        except (OSError, UnicodeDecodeError):
            continue
        test_file = is_test_file(relative)
        for unit, node in iter_units(document):
            if unit.kind is UnitKind.TEST_FUNCTION:
                calls_by_test[f"{relative}::{unit.qualified_name}"] = called_names(node)
            elif not test_file and unit.kind in (UnitKind.FUNCTION, UnitKind.METHOD):
                definitions[unit.name].append(f"{relative}::{unit.qualified_name}")
    truth: dict[str, set[str]] = {}
    for name, keys in definitions.items():
        if len(keys) != 1 or name.startswith("__") or len(name) < 3:
            continue  # a name defined twice cannot say which one a test calls
        callers = {test for test, names in calls_by_test.items() if name in names}
        if callers:
            truth[keys[0]] = callers
    return truth, sum(len(keys) for keys in definitions.values())


def evaluate(root: Path, embedder: Embedder, truth: dict[str, set[str]]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="aqe-retrieval-") as index_dir:
        index = WorkspaceIndex(root, Settings(index_dir=index_dir, knowledge_paths=()), embedder)
        index.open(persistent=False)
        started = time.perf_counter()
        index.scan()
        index_seconds = time.perf_counter() - started
        store = index.store
        assert store is not None
        hits_at_k = 0
        reciprocal_ranks = []
        started = time.perf_counter()
        for key, tests in truth.items():
            vector = store.vector_of(key)
            assert vector is not None, key
            ranked = [hit.record.key for hit in store.search(vector, K, TESTS_CATEGORY)]
            rank = next((i for i, test in enumerate(ranked, start=1) if test in tests), None)
            hits_at_k += rank is not None
            reciprocal_ranks.append(1 / rank if rank else 0.0)
        query_seconds = time.perf_counter() - started
        tests_indexed = store.categories().get(TESTS_CATEGORY, 0)
        index.close()
    return {
        "functions": len(truth),
        "tests_indexed": tests_indexed,
        "recall_at_5": round(hits_at_k / len(truth), 4),
        "mrr": round(sum(reciprocal_ranks) / len(truth), 4),
        "index_s": round(index_seconds, 2),
        "query_ms": round(1000 * query_seconds / len(truth), 2),
    }


def make_embedder(name: str) -> Embedder:
    if name == "hashing":
        return HashingCodeEmbedder(768)
    if name == "hashing-384":
        return HashingCodeEmbedder(384)
    if name == "model":
        from aqe.llm.local import LlamaCppProvider

        return ModelEmbedder(LlamaCppProvider(context_size=2048), "default:gemma-3-270m-q4_k_m")
    raise ValueError(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", nargs="+", default=list(DEFAULT_PACKAGES))
    parser.add_argument("--embedders", nargs="+", default=["hashing", "hashing-384", "model"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": machine("hnswlib", "llama-cpp-python"), "k": K, "packages": {}}
    for requirement in args.packages:
        root = fetch_sdist(requirement)
        truth, defined = ground_truth(root)
        per_embedder = {}
        for name in args.embedders:
            embedder = make_embedder(name)
            per_embedder[name] = evaluate(root, embedder, truth)
            close = getattr(embedder, "close", None)
            if close is not None:
                close()
            print(f"{requirement} {name}: {per_embedder[name]}", file=sys.stderr)
        results["packages"][requirement] = {"functions_defined": defined, "embedders": per_embedder}
    rows = []
    for name in args.embedders:
        total = sum(p["embedders"][name]["functions"] for p in results["packages"].values())
        hits = sum(
            p["embedders"][name]["recall_at_5"] * p["embedders"][name]["functions"]
            for p in results["packages"].values()
        )
        mrr = sum(p["embedders"][name]["mrr"] * p["embedders"][name]["functions"] for p in results["packages"].values())
        for requirement, package in results["packages"].items():
            r = package["embedders"][name]
            rows.append((name, requirement, r["functions"], r["tests_indexed"], r["recall_at_5"], r["mrr"],
                         r["index_s"], r["query_ms"]))  # fmt: skip
        rows.append((name, "**all**", total, "", round(hits / total, 4), round(mrr / total, 4), "", ""))
        results.setdefault("overall", {})[name] = {"recall_at_5": round(hits / total, 4), "mrr": round(mrr / total, 4)}
    print(f"Machine: {json.dumps(results['machine'])}\n")
    print(markdown_table(("embedder", "package", "functions", "tests", "recall@5", "MRR", "index s", "ms/query"), rows))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
