"""What the sandbox costs per run: `python -c pass` bare, in the sandbox without namespaces, and in the
full sandbox (user, network and mount namespaces), each timed end to end from the caller.

    python tests/bench/bench_sandbox.py [--runs 30]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from aqe.sandbox.runner import SandboxRunner, SandboxSpec, isolation_support

COMMAND = (sys.executable, "-c", "pass")


def _time(run, runs: int) -> list[float]:
    run()  # warm-up: page cache, the first unshare
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return sorted(samples)


def _nearest_rank(samples: list[float], fraction: float) -> float:
    return samples[max(0, min(len(samples) - 1, round(fraction * len(samples)) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    runner = SandboxRunner(trusted=True)
    plain = SandboxSpec(command=COMMAND, allow_network=True, read_only_outside=False)
    full = SandboxSpec(command=COMMAND)
    rows = [
        ("bare subprocess.run", _time(lambda: subprocess.run(COMMAND, check=True), args.runs)),
        ("sandbox, no namespaces", _time(lambda: runner.run(plain), args.runs)),
        ("sandbox, no network + read-only mounts", _time(lambda: runner.run(full), args.runs)),
    ]
    print(f"sandbox: {isolation_support().detail}; {args.runs} runs each after one warm-up")
    print("| command | p50 ms | p95 ms | mean ms |")
    print("|---|---:|---:|---:|")
    for name, samples in rows:
        p50, p95 = _nearest_rank(samples, 0.5), _nearest_rank(samples, 0.95)
        print(f"| {name} | {p50:.0f} | {p95:.0f} | {statistics.fmean(samples):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
