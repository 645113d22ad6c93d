"""A separate process that writes to a VectorStore, for the crash and concurrency tests.

    python store_writer.py DIRECTORY NAME COUNT [--forever]

Upserts keys NAME-0, NAME-1, ... one per save (continuing after the keys it already finds), and
prints "saved <generation> <count>" after each commit. With --forever it never stops on its own.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from aqe.index.embedders import EmbedderIdentity
from aqe.index.store import IndexRecord, VectorStore

DIM = 32
IDENTITY = EmbedderIdentity("hashing", DIM, "1")


def main() -> None:
    directory, name, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    forever = "--forever" in sys.argv
    store = VectorStore.open(directory, IDENTITY)
    go = os.environ.get("AQE_TEST_START_FILE")
    if go:  # start writing together with the other writer (the parent creates the file)
        print("ready", flush=True)
        while not Path(go).exists():
            time.sleep(0.005)
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    first = sum(1 for r in store.records() if r.key.startswith(name + "-"))
    number = first
    while forever or number < count:
        vector = rng.normal(size=(1, DIM)).astype(np.float32)
        vector /= np.linalg.norm(vector)
        key = f"{name}-{number}"
        store.upsert([IndexRecord(key, f"{key}.py", "function", key, "code/source", "h")], vector)
        generation = store.save()
        print(f"saved {generation} {store.count}", flush=True)
        if number == first and os.environ.get("AQE_TEST_PARTNER_FILE"):
            # Committed once: say so, and wait for the other writer's first commit, so the two really
            # interleave however the machine schedules them (the test checks they lost nothing).
            Path(os.environ["AQE_TEST_MY_FILE"]).touch()
            while not Path(os.environ["AQE_TEST_PARTNER_FILE"]).exists():
                time.sleep(0.005)
        number += 1


if __name__ == "__main__":
    main()
