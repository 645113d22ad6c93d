"""The local model runtime on the default model (Gemma 3 270M): speed, caching, latency, batching.

In one run on one machine, with the same model, prompts and thread count throughout:

1. tokens/s through LlamaCppProvider (worker process, confidence, stop handling) against raw
   llama-cpp-python (`Llama.create_completion`) in this process; runs alternate A, B, A, B.
2. latency of a prompt whose long prefix is already cached against the same-sized prompt with a
   fresh prefix (cold), both through the provider.
3. latency of 100 local queries (test-generation continuations of real standard-library functions)
   of at most 128 new tokens: p50, p95, max; once with a stop sequence, once forced to 128 tokens.
4. throughput of 8 concurrent requests through ModelQueue against one at a time, for batch sizes
   1, 2, 4 and 8 (decoded together in one llama.cpp batch) and for two 1-thread workers.
5. time to first token with and without the warm pool.
6. what else a user waits for: cancellation, embeddings, worker memory, and the per-token cost of
   the confidence figure.

    python tests/bench/bench_local_model.py [--threads N] [--queries 100] [--runs 5] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import datetime
import importlib.util
import inspect
import json
import math
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from bench_support import cpu_model

from aqe import __version__ as aqe_version
from aqe.llm.default_model import default_model
from aqe.llm.local import LlamaCppProvider, physical_cores
from aqe.llm.queue import ModelQueue
from aqe.llm.types import CancelToken, CompletionOptions, Priority, Prompt, RequestCancelled

GOAL_SPEED_RATIO = 0.95
GOAL_PREFIX_RATIO = 0.6
GOAL_P95_S = 2.0
CONTEXT = 2048
STDLIB_MODULES = (
    "textwrap",
    "shlex",
    "fractions",
    "statistics",
    "difflib",
    "calendar",
    "colorsys",
    "heapq",
    "string",
    "shutil",
    "base64",
    "inspect",
    "glob",
    "fnmatch",
)

SPEED_PROMPT = Prompt(
    "import unittest\n\nfrom calculator import Calculator\n\n\nclass TestCalculator(unittest.TestCase):\n"
    "    def setUp(self):\n        self.calc = Calculator()\n\n"
    "    def test_add(self):\n        self.assertEqual(self.calc.add(2, 3), 5)\n\n"
    "    def test_subtract(self):\n        self.assertEqual(self.calc.subtract(5, 3), 2)\n\n    def test_"
)


# --- helpers ----------------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: a value that was actually measured."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def machine() -> dict[str, str]:
    cpu = cpu_model()
    import llama_cpp

    return {
        "cpu": cpu,
        "logical_cpus": str(os.cpu_count()),
        "physical_cores": str(physical_cores()),
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "llama_cpp_python": llama_cpp.__version__,
        "llama_cpp_build": llama_cpp.llama_print_system_info().decode().strip(),
        "aqe": aqe_version,
        "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def stdlib_prompts(count: int) -> list[Prompt]:
    """Test-generation continuations of real functions: the code, then the start of its test."""
    prompts: list[Prompt] = []
    for name in STDLIB_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None or not Path(spec.origin).is_file():
            continue
        source = Path(spec.origin).read_text(encoding="utf-8")
        for node in ast.parse(source).body:
            if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
                continue
            code = ast.get_source_segment(source, node) or ""
            if not 3 <= code.count("\n") <= 60:
                continue
            prompts.append(
                Prompt(
                    f"# {name}.py\n{code}\n\n\n# test_{name}.py\nfrom {name} import {node.name}\n\n\n"
                    f"def test_{node.name}():\n    "
                )
            )
    if len(prompts) < count:
        raise SystemExit(f"only {len(prompts)} stdlib functions found, {count} needed")
    return prompts[:count]


def long_prefix(lines: int = 140) -> str:
    spec = importlib.util.find_spec("difflib")
    assert spec is not None and spec.origin is not None
    return "".join(Path(spec.origin).read_text(encoding="utf-8").splitlines(keepends=True)[:lines])


def worker_rss_mb(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|",
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


# --- 1. provider vs raw llama-cpp-python --------------------------------------------------------------


def bench_speed(model: Path, threads: int, runs: int) -> dict[str, Any]:
    """Raw llama-cpp-python twice (its default, and with flash attention as llama.cpp's own default
    picks for the provider's context), then the provider; the three alternate run by run."""
    from llama_cpp import Llama

    raws = {
        "raw `create_completion`, flash attention off (llama-cpp-python default)": Llama(
            model_path=str(model), n_ctx=CONTEXT, n_threads=threads, n_threads_batch=threads, verbose=False
        ),
        "raw `create_completion`, flash attention on (as in the provider)": Llama(
            model_path=str(model),
            n_ctx=CONTEXT,
            n_threads=threads,
            n_threads_batch=threads,
            flash_attn=True,
            verbose=False,
        ),
    }
    provider = LlamaCppProvider(model, threads=threads, context_size=CONTEXT)
    provider.start()
    provider_label = "`LlamaCppProvider.complete` (worker process, confidence on)"
    rates: dict[str, list[float]] = {label: [] for label in [*raws, provider_label]}
    texts: dict[str, str] = {}
    try:
        for llama in raws.values():
            llama.create_completion(SPEED_PROMPT.text, max_tokens=8, temperature=0.0)
        provider.complete(SPEED_PROMPT, CompletionOptions(max_tokens=8))
        for _ in range(runs):
            for label, llama in raws.items():
                started = time.perf_counter()
                out = llama.create_completion(SPEED_PROMPT.text, max_tokens=128, temperature=0.0)
                rates[label].append(out["usage"]["completion_tokens"] / (time.perf_counter() - started))
                texts[label] = out["choices"][0]["text"]
            started = time.perf_counter()
            completion = provider.complete(SPEED_PROMPT, CompletionOptions(max_tokens=128))
            rates[provider_label].append(completion.completion_tokens / (time.perf_counter() - started))
            texts[provider_label] = completion.text
    finally:
        provider.close()
        for llama in raws.values():
            llama.close()
    medians = {label: statistics.median(values) for label, values in rates.items()}
    baseline = max(medians[label] for label in raws)
    return {
        "threads": threads,
        "rates": rates,
        "medians": medians,
        "ratio_to_best_raw": medians[provider_label] / baseline,
        "same_text_as_raw": {label: texts[label] == texts[provider_label] for label in raws},
    }


# --- 2. repeated prefix ---------------------------------------------------------------------------------


def bench_prefix(model: Path, threads: int, runs: int) -> dict[str, Any]:
    provider = LlamaCppProvider(model, threads=threads, context_size=CONTEXT)
    provider.start()
    prefix = long_prefix()
    options = CompletionOptions(max_tokens=16)
    cold: list[float] = []
    warm: list[float] = []
    prompt_tokens = 0
    try:
        provider.complete(Prompt(prefix + "\n\ndef test_warmup():\n    "), options)
        for i in range(runs):
            fresh = Prompt(
                f"# revision {i} of the module, reviewed {i * 7919 % 1000}\n" + prefix + f"\n\ndef test_{i}():\n    "
            )
            started = time.perf_counter()
            completion = provider.complete(fresh, options)
            cold.append(time.perf_counter() - started)
            prompt_tokens = completion.prompt_tokens
            provider.complete(Prompt(prefix + "\n\ndef test_warmup():\n    "), CompletionOptions(max_tokens=1))
            started = time.perf_counter()
            provider.complete(Prompt(prefix + f"\n\ndef test_case_number_{i}():\n    "), options)
            warm.append(time.perf_counter() - started)
    finally:
        provider.close()
    return {
        "prompt_tokens": prompt_tokens,
        "cold_s": cold,
        "warm_s": warm,
        "ratio": statistics.median(warm) / statistics.median(cold),
    }


# --- 3. p95 latency of 100 queries ------------------------------------------------------------------------


def bench_latency(model: Path, threads: int, prompts: list[Prompt]) -> dict[str, Any]:
    provider = LlamaCppProvider(model, threads=threads, context_size=CONTEXT)
    provider.start()
    results: dict[str, Any] = {}
    try:
        for label, options in (
            ("stop at the next blank-line pair (realistic)", CompletionOptions(max_tokens=128, stop=("\n\n\n",))),
            ("no stop sequence: up to 128 new tokens", CompletionOptions(max_tokens=128)),
        ):
            latencies: list[float] = []
            tokens: list[int] = []
            prompt_tokens: list[int] = []
            for prompt in prompts:
                started = time.perf_counter()
                completion = provider.complete(prompt, options)
                latencies.append(time.perf_counter() - started)
                tokens.append(completion.completion_tokens)
                prompt_tokens.append(completion.prompt_tokens)
            results[label] = {
                "queries": len(latencies),
                "p50_s": percentile(latencies, 0.5),
                "p95_s": percentile(latencies, 0.95),
                "max_s": max(latencies),
                "mean_new_tokens": statistics.mean(tokens),
                "mean_prompt_tokens": statistics.mean(prompt_tokens),
                "tokens_per_s": sum(tokens) / sum(latencies),
            }
    finally:
        provider.close()
    return results


# --- 4. throughput through the queue ----------------------------------------------------------------------


async def _throughput(
    model: Path, threads: int, prompts: list[Prompt], batch: int, pool: int, concurrent: bool
) -> dict[str, Any]:
    queue = ModelQueue(
        lambda: LlamaCppProvider(model, threads=threads, context_size=512, slots=batch),
        warm_pool_size=pool,
        batch_size=batch,
        batch_interval_ms=0,
    )
    options = CompletionOptions(max_tokens=128)
    try:
        await queue.start()
        await queue.submit(Prompt("warm up"), CompletionOptions(max_tokens=2))
        latencies: list[float] = []

        async def one(prompt: Prompt) -> int:
            started = time.perf_counter()
            completion = await queue.submit(prompt, options, Priority.BACKGROUND)
            latencies.append(time.perf_counter() - started)
            return completion.completion_tokens

        started = time.perf_counter()
        if concurrent:
            tokens = await asyncio.gather(*(one(prompt) for prompt in prompts))
        else:
            tokens = [await one(prompt) for prompt in prompts]
        wall = time.perf_counter() - started
        rss = sum(worker_rss_mb(getattr(p, "worker_pid", None)) for p in queue.providers)
    finally:
        await queue.close()
    return {
        "wall_s": wall,
        "tokens": sum(tokens),
        "tokens_per_s": sum(tokens) / wall,
        "p50_request_s": percentile(latencies, 0.5),
        "max_request_s": max(latencies),
        "worker_rss_mb": rss,
    }


def bench_throughput(model: Path, threads: int, prompts: list[Prompt]) -> list[dict[str, Any]]:
    configs = [
        ("one at a time (batch 1)", 1, 1, threads, False),
        ("8 concurrent, batch 1", 1, 1, threads, True),
        ("8 concurrent, batch 2", 2, 1, threads, True),
        ("8 concurrent, batch 4", 4, 1, threads, True),
        ("8 concurrent, batch 8", 8, 1, threads, True),
        ("8 concurrent, 2 workers x 1 thread", 1, 2, 1, True),
    ]
    rows = []
    for label, batch, pool, worker_threads, concurrent in configs:
        result = asyncio.run(_throughput(model, worker_threads, prompts, batch, pool, concurrent))
        rows.append({"config": label, **result})
    return rows


# --- 5. time to first token ------------------------------------------------------------------------------


async def _first_token(model: Path, threads: int, warm_pool: int, index: int) -> tuple[float, float]:
    queue = ModelQueue(
        lambda: LlamaCppProvider(model, threads=threads, context_size=CONTEXT),
        warm_pool_size=warm_pool,
        batch_interval_ms=0,
    )
    try:
        started = time.perf_counter()
        await queue.start()
        start_s = time.perf_counter() - started
        started = time.perf_counter()
        await queue.submit(Prompt(f"# first request {index}\ndef parse(text):\n    "), CompletionOptions(max_tokens=1))
        return start_s, time.perf_counter() - started
    finally:
        await queue.close()


def bench_first_token(model: Path, threads: int, runs: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for label, pool in (("without warm pool (warmPoolSize 0)", 0), ("with warm pool (warmPoolSize 1)", 1)):
        pairs = [asyncio.run(_first_token(model, threads, pool, i)) for i in range(runs)]
        results[label] = {
            "start_s": statistics.median(start for start, _ in pairs),
            "first_token_s": [first for _, first in pairs],
            "median_first_token_s": statistics.median(first for _, first in pairs),
        }
    return results


# --- 6. cancellation, embeddings, memory, confidence cost -----------------------------------------------


def bench_other(model: Path, threads: int, runs: int) -> dict[str, Any]:
    provider = LlamaCppProvider(model, threads=threads, context_size=CONTEXT)
    provider.start()
    cancel_s: list[float] = []
    idle_s: list[float] = []
    try:
        for _ in range(runs):
            token = CancelToken()
            stream = provider.stream(SPEED_PROMPT, CompletionOptions(max_tokens=1000), cancel=token)
            next(stream)
            time.sleep(0.3)
            started = time.perf_counter()
            threading.Timer(0, token.cancel).start()
            try:
                for _ in stream:
                    pass
            except RequestCancelled:
                cancel_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            provider.complete(Prompt("x = 1"), CompletionOptions(max_tokens=1))
            idle_s.append(time.perf_counter() - started)
        snippets = [inspect.getsource(function) for function in (percentile, machine, table, worker_rss_mb)] * 5
        rss_before_embeddings = worker_rss_mb(provider.worker_pid)
        provider.embed(snippets[:1])
        started = time.perf_counter()
        provider.embed(snippets)
        embed_s = (time.perf_counter() - started) / len(snippets)
        rss = worker_rss_mb(provider.worker_pid)
    finally:
        provider.close()
    logits = np.random.default_rng(0).normal(size=262_144).astype(np.float32)
    scratch = np.empty_like(logits)
    started = time.perf_counter()
    for _ in range(200):
        top = logits.max()
        np.subtract(logits, top, out=scratch)
        np.exp(scratch, out=scratch)
        float(np.exp(logits[7] - top) / scratch.sum())
    confidence_ms = (time.perf_counter() - started) / 200 * 1000
    return {
        "cancel_to_error_s": cancel_s,
        "next_request_after_cancel_s": idle_s,
        "embedding_ms_per_text": embed_s * 1000,
        "embedded_chars_mean": statistics.mean(len(s) for s in snippets),
        "worker_rss_mb_slots_1": rss_before_embeddings,
        "worker_rss_mb_after_embeddings": rss,
        "confidence_ms_per_token": confidence_ms,
    }


# --- report -------------------------------------------------------------------------------------------


def report(results: dict[str, Any]) -> str:
    out: list[str] = []
    for speed in results["speed"]:
        out.append(f"### 1. Tokens/s: provider vs raw llama-cpp-python, {speed['threads']} thread(s)\n")
        out.append(
            table(
                ["path", "runs", "median tokens/s", "min", "max", "same text as provider"],
                [
                    [
                        label,
                        len(values),
                        f"{speed['medians'][label]:.1f}",
                        f"{min(values):.1f}",
                        f"{max(values):.1f}",
                        speed["same_text_as_raw"].get(label, "-"),
                    ]
                    for label, values in speed["rates"].items()
                ],
            )
        )
        ratio = speed["ratio_to_best_raw"]
        out.append(
            f"\nProvider / faster raw (medians): **{ratio:.2f}x** (goal >= {GOAL_SPEED_RATIO}x: "
            f"{'met' if ratio >= GOAL_SPEED_RATIO else 'NOT met'}).\n"
        )
    prefix = results["prefix"]
    out.append("### 2. Repeated prefix vs cold\n")
    out.append(
        table(
            ["prompt", "runs", "prompt tokens", "median s", "max s"],
            [
                [
                    "fresh prefix (cold)",
                    len(prefix["cold_s"]),
                    prefix["prompt_tokens"],
                    f"{statistics.median(prefix['cold_s']):.3f}",
                    f"{max(prefix['cold_s']):.3f}",
                ],
                [
                    "cached prefix, new suffix",
                    len(prefix["warm_s"]),
                    prefix["prompt_tokens"],
                    f"{statistics.median(prefix['warm_s']):.3f}",
                    f"{max(prefix['warm_s']):.3f}",
                ],
            ],
        )
    )
    out.append(
        f"\nRatio cached/cold (medians): **{prefix['ratio']:.2f}x** (goal <= {GOAL_PREFIX_RATIO}x: "
        f"{'met' if prefix['ratio'] <= GOAL_PREFIX_RATIO else 'NOT met'}).\n"
    )
    out.append("### 3. Latency of local queries of at most 128 new tokens\n")
    rows = []
    for label, row in results["latency"].items():
        rows.append(
            [
                label,
                row["queries"],
                f"{row['mean_prompt_tokens']:.0f}",
                f"{row['mean_new_tokens']:.0f}",
                f"{row['p50_s']:.2f}",
                f"{row['p95_s']:.2f}",
                f"{row['max_s']:.2f}",
                f"{row['tokens_per_s']:.1f}",
            ]
        )
    out.append(
        table(["queries", "n", "mean prompt tokens", "mean new tokens", "p50 s", "p95 s", "max s", "tokens/s"], rows)
    )
    out.append(f"\nGoal: p95 < {GOAL_P95_S} s.\n")
    out.append("### 4. Throughput of 8 requests through the queue\n")
    out.append(
        table(
            ["configuration", "wall s", "tokens", "tokens/s", "p50 request s", "slowest request s", "worker RSS MB"],
            [
                [
                    r["config"],
                    f"{r['wall_s']:.2f}",
                    r["tokens"],
                    f"{r['tokens_per_s']:.1f}",
                    f"{r['p50_request_s']:.2f}",
                    f"{r['max_request_s']:.2f}",
                    f"{r['worker_rss_mb']:.0f}",
                ]
                for r in results["throughput"]
            ],
        )
    )
    out.append("\n### 5. Time to first token\n")
    out.append(
        table(
            ["queue", "runs", "start() s", "first request (1 token) median s", "each run s"],
            [
                [
                    label,
                    len(row["first_token_s"]),
                    f"{row['start_s']:.2f}",
                    f"{row['median_first_token_s']:.3f}",
                    ", ".join(f"{x:.3f}" for x in row["first_token_s"]),
                ]
                for label, row in results["first_token"].items()
            ],
        )
    )
    other = results["other"]
    cancel_ms = [x * 1000 for x in other["cancel_to_error_s"]]
    after_cancel_ms = [x * 1000 for x in other["next_request_after_cancel_s"]]
    out.append("\n### 6. Cancellation, embeddings, memory, confidence\n")
    out.append(
        table(
            ["measure", "value"],
            [
                [
                    "cancel -> RequestCancelled, p50 / max ms",
                    f"{percentile(cancel_ms, 0.5):.0f} / {max(cancel_ms):.0f}",
                ],
                [
                    "next 1-token request right after a cancel, p50 / max ms",
                    f"{percentile(after_cancel_ms, 0.5):.0f} / {max(after_cancel_ms):.0f}",
                ],
                [
                    f"embedding, ms per text (mean {other['embedded_chars_mean']:.0f} chars)",
                    f"{other['embedding_ms_per_text']:.0f}",
                ],
                ["worker RSS, 1 slot, 2,048-token context, MB", f"{other['worker_rss_mb_slots_1']:.0f}"],
                ["worker RSS after its first embeddings, MB", f"{other['worker_rss_mb_after_embeddings']:.0f}"],
                ["confidence (softmax over 262,144 logits), ms per token", f"{other['confidence_ms_per_token']:.2f}"],
            ],
        )
    )
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=0, help="threads for every model (0: physical cores)")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5, help="repetitions of the paired and first-token measurements")
    parser.add_argument(
        "--only", nargs="*", choices=["speed", "prefix", "latency", "throughput", "first_token", "other"]
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--report", type=Path, help="print the report of an earlier --json file and exit")
    args = parser.parse_args(argv)
    if args.report:
        print(report(json.loads(args.report.read_text())))
        return 0
    threads = args.threads or physical_cores()
    model = default_model().path
    info = machine()
    command = " ".join([Path(sys.executable).name, *sys.argv])
    print(f"# Local model benchmark, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"command: {command}")
    for key, value in info.items():
        print(f"{key}: {value}")
    print(f"model: {model} ({model.stat().st_size:,} bytes), threads: {threads}\n", flush=True)
    prompts = stdlib_prompts(args.queries)
    steps: dict[str, Callable[[], Any]] = {
        "speed": lambda: [bench_speed(model, n, args.runs) for n in sorted({1, threads})],
        "prefix": lambda: bench_prefix(model, threads, max(args.runs, 10)),
        "latency": lambda: bench_latency(model, threads, prompts),
        "throughput": lambda: bench_throughput(model, threads, prompts[:8]),
        "first_token": lambda: bench_first_token(model, threads, args.runs),
        "other": lambda: bench_other(model, threads, max(args.runs, 10)),
    }
    results: dict[str, Any] = {}
    for name, step in steps.items():
        if args.only and name not in args.only:
            continue
        started = time.perf_counter()
        results[name] = step()
        print(
            f"[{name} done in {time.perf_counter() - started:.0f} s, load average {os.getloadavg()[0]:.2f}]", flush=True
        )
    results["machine"] = {**info, "load_average_after": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    if not args.only:
        print()
        print(report(results))
    else:
        print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=1, default=str))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
