"""`-o` to something that is not a regular file: written to, never renamed over (as root, a rename
over /dev/null replaced the device with a file and broke every later process on the machine)."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from aqe.cli import main

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_a_report_to_a_character_device_leaves_the_device_in_place(tmp_path: Path):
    null = tmp_path / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # the same device as /dev/null
    assert main(["analyze", str(SHOP), "--fail-on", "never", "-o", str(null)]) == 0
    assert stat.S_ISCHR(os.stat(null).st_mode)
    assert [path.name for path in tmp_path.iterdir()] == ["null"]  # no temp file left beside it


def test_a_report_to_a_fifo_reaches_its_reader(tmp_path: Path):
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    ready = threading.Event()

    def read() -> None:
        with open(fifo, "rb") as reader:  # blocks until the writer opens it
            ready.set()
            received.append(reader.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert main(["analyze", str(SHOP), "--fail-on", "never", "--format", "json", "-o", str(fifo)]) == 0
    reader.join()
    assert received and b"QE101" in received[0]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_fifo_nobody_reads_is_a_clear_error_not_a_hang(tmp_path: Path, capsys):
    fifo = tmp_path / "nobody.fifo"
    os.mkfifo(fifo)
    assert main(["analyze", str(SHOP), "--fail-on", "never", "-o", str(fifo)]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_symlink_target_is_replaced_and_the_link_kept(tmp_path: Path):
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    assert main(["analyze", str(SHOP), "--fail-on", "never", "-o", str(link)]) == 0
    assert link.is_symlink() and "QE" in real.read_text()
