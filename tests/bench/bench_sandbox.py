"""What the sandbox costs per run: `python -c pass` bare, and in each engine of the sandbox (bubblewrap,
aqe's own namespaces, and uncontained), each timed end to end from the caller, interleaved round by
round so that load on a shared machine falls on every row alike.

    python tests/bench/bench_sandbox.py [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from aqe.sandbox.engines import ENGINE_BWRAP, ENGINE_NAMESPACES, isolation_support
from aqe.sandbox.runner import SandboxRunner, SandboxSpec

COMMAND = (sys.executable, "-c", "pass")


def _nearest_rank(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    spec = SandboxSpec(command=COMMAND)
    rows: dict[str, Callable[[], object]] = {"bare subprocess.run": lambda: subprocess.run(COMMAND, check=True)}
    for engine in (ENGINE_BWRAP, ENGINE_NAMESPACES):
        support = isolation_support(engine)
        if support.engine == engine:
            runner = SandboxRunner(trusted=True, engine=engine)
            rows[f"sandbox: {support.detail}"] = lambda runner=runner: runner.run(spec)
        else:
            print(f"skipped {engine}: {support.detail}")
    uncontained = SandboxRunner(trusted=True, engine="none", allow_uncontained=True)
    rows["sandbox: uncontained (engine none)"] = lambda: uncontained.run(spec)
    samples: dict[str, list[float]] = {name: [] for name in rows}
    for run in rows.values():
        run()  # warm-up: page cache, the first namespaces
    for _ in range(args.runs):
        for name, run in rows.items():
            started = time.perf_counter()
            run()
            samples[name].append((time.perf_counter() - started) * 1000)
    bare = statistics.median(samples["bare subprocess.run"])
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{args.runs} interleaved runs each after one warm-up")  # fmt: skip
    print("| command | p50 ms | p95 ms | mean ms | p50 overhead over bare ms |")
    print("|---|---:|---:|---:|---:|")
    for name, values in samples.items():
        p50, p95 = _nearest_rank(values, 0.5), _nearest_rank(values, 0.95)
        print(f"| {name} | {p50:.0f} | {p95:.0f} | {statistics.fmean(values):.0f} | {p50 - bare:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
