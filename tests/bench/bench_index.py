"""The workspace index: embedder throughput, search through our store vs raw hnswlib, and indexing
the Python standard library.

    python tests/bench/bench_index.py [--only embed search stdlib] [--units 20000] [--queries 1000]
                                      [--json OUT.json]

All vectors are real: units (functions, methods, classes, tests) parsed with tree-sitter from the
running interpreter's standard library and embedded by the default embedder. For search, the same
vectors go into `VectorStore` (what aqe uses: hnswlib plus SQLite metadata, under its lock, returning
records) and into a bare `hnswlib.Index` with the same space, M, efConstruction and ef; both answer
the same held-out queries one call at a time, as the editor asks them. recall@10 is measured against
an exact (brute-force) search. Indexing runs in a child process so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

import hnswlib
import numpy as np
from bench_support import machine, markdown_table

from aqe.config import Settings
from aqe.index.embedders import HashingCodeEmbedder
from aqe.index.records import records_for_document
from aqe.index.store import HnswParams, IndexRecord, VectorStore
from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language

SEED_CLAIM_EMBEDS_PER_S = 140_000
GOAL_SEARCH_RATIO = 0.8
GOAL_RECALL = 0.95
GOAL_MB_PER_S = 1.0
GOAL_PEAK_RSS_MB = 500


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_units(limit: int) -> tuple[list[IndexRecord], list[str]]:
    records: list[IndexRecord] = []
    texts: list[str] = []
    for path in sorted(stdlib_root().rglob("*.py")):
        if "site-packages" in path.parts or "__pycache__" in path.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        relative = path.relative_to(stdlib_root()).as_posix()
        for prepared in records_for_document(ParsedDocument.parse(relative, text, Language.PYTHON), relative):
            if prepared.record.kind == "module":
                continue
            records.append(prepared.record)
            texts.append(prepared.embedding_text)
            if len(records) >= limit:
                return records, texts
    return records, texts


# --- embedder throughput ------------------------------------------------------------------------------


def bench_embed(texts: list[str], repeats: int = 3) -> dict[str, Any]:
    """Cold: a fresh embedder meets every token for the first time (a first scan). Warm: the same
    texts again, every token already analysed (a server that has seen the workspace)."""
    short = [text.splitlines()[1].strip() if len(text.splitlines()) > 1 else text for text in texts]
    short = [line for line in short if line]
    results = {}
    for name, sample in (("one-line (a def line)", short), ("whole units", texts[:20_000])):
        cold = warm = float("inf")
        for _ in range(repeats):
            embedder = HashingCodeEmbedder(768)
            started = time.perf_counter()
            embedder.embed(sample)
            cold = min(cold, time.perf_counter() - started)
            started = time.perf_counter()
            embedder.embed(sample)
            warm = min(warm, time.perf_counter() - started)
        chars = sum(len(t) for t in sample) / len(sample)
        results[name] = {
            "texts": len(sample),
            "mean_chars": round(chars),
            "cold_embeds_per_s": round(len(sample) / cold),
            "warm_embeds_per_s": round(len(sample) / warm),
        }
    return results


# --- search: our store vs raw hnswlib -----------------------------------------------------------------


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    scores = queries @ vectors.T
    if allowed is not None:
        scores[:, ~allowed] = -np.inf
    return np.argsort(-scores, axis=1)[:, :k]


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(row) & set(truth[i])) / k for i, row in enumerate(found)]))


def bench_search(records: list[IndexRecord], texts: list[str], queries: int, params: HnswParams) -> dict[str, Any]:
    vectors = HashingCodeEmbedder(768).embed(texts)
    base, held_out = vectors[:-queries], vectors[-queries:]
    base_records = records[:-queries]
    is_test = np.array([r.category == "code/tests" for r in base_records])
    k = 10

    started = time.perf_counter()
    raw = hnswlib.Index(space="ip", dim=768)
    raw.init_index(max_elements=len(base), ef_construction=params.ef_construction, M=params.m)
    raw.add_items(base, np.arange(len(base)), num_threads=1)
    raw.set_ef(params.ef_search)
    raw.set_num_threads(1)
    raw_build = time.perf_counter() - started

    started = time.perf_counter()
    store = VectorStore(None, HashingCodeEmbedder(768).identity, params)
    store.upsert(base_records, base)
    store_build = time.perf_counter() - started
    key_to_row = {record.key: i for i, record in enumerate(base_records)}

    rows = []
    for label, category, allowed in (("all units", None, None), ("tests only (filter)", "code/tests", is_test)):
        truth = exact_top(base, held_out, k, allowed)
        filter_fn = None if allowed is None else (lambda i, allowed=allowed: bool(allowed[i]))

        def run_raw(filter_fn: Any = filter_fn) -> list[list[int]]:
            return [list(raw.knn_query(q, k=k, filter=filter_fn)[0][0]) for q in held_out]

        def run_store(category: str | None = category) -> list[list[int]]:
            return [[key_to_row[hit.record.key] for hit in store.search(q, k, category)] for q in held_out]

        raw_found, raw_s = timed(run_raw)
        store_found, store_s = timed(run_store)
        rows.append(
            {
                "queries": label,
                "raw_qps": round(len(held_out) / raw_s),
                "store_qps": round(len(held_out) / store_s),
                "ratio": round(raw_s / store_s, 3),
                "raw_recall_at_10": round(recall(raw_found, truth), 4),
                "store_recall_at_10": round(recall(store_found, truth), 4),
            }
        )
    return {
        "vectors": len(base),
        "queries": len(held_out),
        "params": {"m": params.m, "ef_construction": params.ef_construction, "ef_search": params.ef_search},
        "build_s": {"raw": round(raw_build, 2), "store": round(store_build, 2)},
        "rows": rows,
    }


def timed(work: Any, repeats: int = 3) -> tuple[Any, float]:
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return result, best


# --- indexing the standard library (child process) ----------------------------------------------------


def index_stdlib_child(root: Path, index_dir: Path) -> dict[str, Any]:
    from aqe.index.service import WorkspaceIndex

    settings = Settings(index_dir=str(index_dir), max_file_size_mb=2.0)
    index = WorkspaceIndex(root, settings)
    started = time.perf_counter()
    index.open()
    report = index.scan()
    scanned = time.perf_counter() - started
    index.save()
    total = time.perf_counter() - started
    index.close()
    peak_kb = _peak_rss_kb()
    # What every later start costs: open the saved index and bring it up to date (nothing changed).
    started = time.perf_counter()
    again = WorkspaceIndex(root, settings)
    again.open()
    rescan = again.scan()
    rescan_s = time.perf_counter() - started
    again.close()
    return {
        "files": report.files_seen,
        "megabytes": round(report.bytes_read / 1e6, 2),
        "units": report.units,
        "skipped": dict(report.skipped),
        "scan_s": round(scanned, 2),
        "with_save_s": round(total, 2),
        "files_per_s": round(report.files_seen / total),
        "mb_per_s": round(report.bytes_read / 1e6 / total, 2),
        "peak_rss_mb": round(peak_kb / 1024),
        "reopen_and_rescan_s": round(rescan_s, 2),
        "rescan_embedded": rescan.embedded,
        "index_bytes": sum(p.stat().st_size for p in index_dir.joinpath("index").iterdir()),
    }


def _peak_rss_kb() -> int:
    """VmHWM: this process's own peak. (ru_maxrss survives exec on Linux, so a child started from a
    large parent would report the parent's peak.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def bench_stdlib() -> dict[str, Any]:
    """The standard library copied out of its installation first: under pyenv it sits in a git
    repository that ignores it, and the index honours .gitignore as git does."""
    with tempfile.TemporaryDirectory(prefix="aqe-bench-index-") as folder:
        copy = Path(folder) / "stdlib"
        shutil.copytree(stdlib_root(), copy, ignore=shutil.ignore_patterns("site-packages", "__pycache__", "*.pyc"))
        index_dir = Path(folder) / "index-store"
        output = subprocess.run(
            [sys.executable, __file__, "--child-stdlib", str(copy), str(index_dir)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    return json.loads(output)


# --- report -------------------------------------------------------------------------------------------


def report(results: dict[str, Any]) -> str:
    parts = [f"Machine: {json.dumps(results['machine'])}"]
    if "embed" in results:
        rows = [
            (name, r["texts"], r["mean_chars"], f"{r['cold_embeds_per_s']:,}", f"{r['warm_embeds_per_s']:,}",
             f"{r['warm_embeds_per_s'] / SEED_CLAIM_EMBEDS_PER_S:.2f}x")
            for name, r in results["embed"].items()
        ]  # fmt: skip
        header = ("texts", "count", "mean chars", "cold embeds/s", "warm embeds/s", "warm vs 140K claim")
        parts.append(markdown_table(header, rows))
    for s in results.get("search", []):
        parts.append(
            f"{s['vectors']} vectors, {s['queries']} held-out queries, k=10, params {s['params']}, "
            f"build s {s['build_s']}"
        )
        rows = [
            (r["queries"], f"{r['raw_qps']:,}", f"{r['store_qps']:,}", f"{r['ratio']:.2f}x",
             r["raw_recall_at_10"], r["store_recall_at_10"])
            for r in s["rows"]
        ]  # fmt: skip
        parts.append(
            markdown_table(
                ("queries", "raw hnswlib q/s", "aqe store q/s", "store/raw", "raw recall@10", "store recall@10"), rows
            )
        )
    if "stdlib" in results:
        r = results["stdlib"]
        parts.append(
            markdown_table(
                (
                    "files",
                    "MB",
                    "units",
                    "scan s",
                    "with save s",
                    "files/s",
                    "MB/s",
                    "peak RSS MB",
                    "index MB",
                    "reopen + rescan s",
                ),
                [
                    (
                        r["files"],
                        r["megabytes"],
                        r["units"],
                        r["scan_s"],
                        r["with_save_s"],
                        r["files_per_s"],
                        r["mb_per_s"],
                        r["peak_rss_mb"],
                        round(r["index_bytes"] / 1e6, 1),
                        r["reopen_and_rescan_s"],
                    )
                ],
            )
        )
    return "\n\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--only", nargs="+", choices=("embed", "search", "stdlib"), default=["embed", "search", "stdlib"]
    )
    parser.add_argument("--units", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--hnsw",
        nargs="+",
        metavar="M:EFC:EF",
        help="search with these graph parameters instead of the defaults (compare several in one run)",
    )
    parser.add_argument("--child-stdlib", nargs=2, metavar=("ROOT", "INDEX_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_stdlib:
        print(json.dumps(index_stdlib_child(Path(args.child_stdlib[0]), Path(args.child_stdlib[1]))))
        return
    results: dict[str, Any] = {"machine": machine("hnswlib", "numpy", "tree-sitter")}
    if "embed" in args.only or "search" in args.only:
        records, texts = stdlib_units(max(args.units, 20_000))
    if "embed" in args.only:
        results["embed"] = bench_embed(texts)
    if "search" in args.only:
        choices = [HnswParams(*map(int, spec.split(":"))) for spec in args.hnsw] if args.hnsw else [HnswParams()]
        results["search"] = [
            bench_search(records[: args.units], texts[: args.units], args.queries, params) for params in choices
        ]
    if "stdlib" in args.only:
        results["stdlib"] = bench_stdlib()
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
