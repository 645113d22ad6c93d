"""A one-token decode in a child process: proves the llama.cpp build runs on this CPU.

A build compiled for the wrong CPU (AMX tile code on a virtual machine, for instance) dies with
SIGSEGV at the first decode, with no Python error. Running that decode in a child turns the crash
into a clear report instead of taking the caller down.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_CHILD = r"""
import json, sys, time
from llama_cpp import Llama
start = time.perf_counter()
llm = Llama(model_path=sys.argv[1], n_ctx=256, n_threads=2, verbose=False)
loaded = time.perf_counter()
out = llm.create_completion("def add(a, b):\n    return", max_tokens=1, temperature=0.0)
print(json.dumps({"text": out["choices"][0]["text"], "load_s": loaded - start,
                  "decode_s": time.perf_counter() - loaded}))
"""


@dataclass(frozen=True)
class SmokeResult:
    ok: bool
    detail: str
    text: str = ""
    load_seconds: float = 0.0
    decode_seconds: float = 0.0


def smoke_decode(model_path: Path, timeout: float = 120.0) -> SmokeResult:
    try:
        completed = subprocess.run(
            [sys.executable, "-c", _CHILD, str(model_path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired:
        return SmokeResult(False, f"the test decode did not finish within {timeout:.0f} s")
    if completed.returncode < 0:
        name = signal.Signals(-completed.returncode).name
        return SmokeResult(
            False,
            f"llama.cpp crashed with {name} during a test decode: the build does not suit this CPU; "
            "rebuild it with scripts/setup (portable flags, no AMX)",
        )
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        return SmokeResult(False, f"the test decode failed: {last}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    return SmokeResult(True, "ok", result["text"], result["load_s"], result["decode_s"])
