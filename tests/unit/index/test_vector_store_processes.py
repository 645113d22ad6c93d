"""The store across processes: a kill -9 at any instant of a save, and two writers at once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from aqe.index.embedders import EmbedderIdentity
from aqe.index.store import LoadOutcome, VectorStore

WRITER = Path(__file__).with_name("store_writer.py")
IDENTITY = EmbedderIdentity("hashing", 32, "1")


def start_writer(
    directory: Path,
    name: str,
    count: int,
    *extra: str,
    start_file: Path | None = None,
    handshake: tuple[Path, Path] | None = None,
) -> subprocess.Popen[str]:
    env = {**os.environ, **({"AQE_TEST_START_FILE": str(start_file)} if start_file else {})}
    if handshake is not None:  # (this writer's file, its partner's): both commit once before going on
        env.update({"AQE_TEST_MY_FILE": str(handshake[0]), "AQE_TEST_PARTNER_FILE": str(handshake[1])})
    return subprocess.Popen(
        [sys.executable, str(WRITER), str(directory), name, str(count), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_a_writer_killed_at_random_points_of_its_saves_always_leaves_the_last_committed_generation(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "index"
    shuffle = random.Random(20261201)
    committed = 0
    for _ in range(25):
        writer = start_writer(directory, "w", 0, "--forever")
        assert writer.stdout is not None
        first = writer.stdout.readline()  # it has loaded the store and committed once
        assert first.startswith("saved"), writer.stderr.read() if writer.stderr else first
        time.sleep(shuffle.uniform(0, 0.15))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        lines = [first, *writer.stdout.read().splitlines()]
        last_reported = int(lines[-1].split()[1])

        store = VectorStore.open(directory, IDENTITY)

        assert store.load_report.outcome is LoadOutcome.LOADED, store.load_report.message
        # Each generation adds one key: generation g holds exactly w-0 .. w-(g-1).
        assert store.generation >= last_reported >= committed
        assert store.count == store.generation
        assert {r.key for r in store.records()} == {f"w-{i}" for i in range(store.generation)}
        committed = store.generation
        store.close()
    assert committed > 25


def test_two_processes_writing_at_once_lose_none_of_each_others_writes(tmp_path: Path) -> None:
    directory = tmp_path / "index"
    per_writer = 500
    go = tmp_path / "go"
    marks = {name: tmp_path / f"{name}-committed" for name in ("left", "right")}
    partners = {"left": marks["right"], "right": marks["left"]}
    writers = [
        start_writer(directory, name, per_writer, start_file=go, handshake=(marks[name], partners[name]))
        for name in ("left", "right")
    ]
    for writer in writers:
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
    go.touch()  # both have opened the store: now they write at the same time
    generations: list[list[int]] = []
    for writer in writers:
        stdout, stderr = writer.communicate(timeout=300)
        assert writer.returncode == 0, stderr
        generations.append([int(line.split()[1]) for line in stdout.splitlines()])

    store = VectorStore.open(directory, IDENTITY)
    keys = {record.key for record in store.records()}

    assert keys == {f"{name}-{i}" for name in ("left", "right") for i in range(per_writer)}
    assert store.count == 2 * per_writer
    # The writers really interleaved (the handshake makes sure of it): a writer's commits are not one
    # unbroken run of generations.
    assert any(max(run) - min(run) + 1 > len(run) for run in generations)
    assert sorted(generations[0] + generations[1]) == list(range(1, 2 * per_writer + 1))
