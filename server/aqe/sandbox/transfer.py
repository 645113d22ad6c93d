"""Moving bytes in and out of the box: the project as a tar stream, the command's output, its report.

The runner reads every pipe from one thread with `selectors`, never with a blocking read in a
helper thread: a process that outlives the command and keeps a pipe open must not be able to hang
the reader (closing a stream while another thread is blocked reading it waits for ever).
"""

from __future__ import annotations

import collections
import contextlib
import io
import os
import selectors
import stat
import tarfile
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path


class Tail:
    """The last `cap` bytes of a stream, and how many bytes it carried in all."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.total = 0
        self._chunks: collections.deque[bytes] = collections.deque()
        self._kept = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self._chunks.append(chunk)
        self._kept += len(chunk)
        while self._kept - len(self._chunks[0]) >= self.cap:
            self._kept -= len(self._chunks.popleft())

    def data(self) -> bytes:
        return b"".join(self._chunks)[-self.cap :] if self.cap else b""

    def text(self) -> str:
        return self.data().decode("utf-8", errors="replace")


class Capped:
    """All of a stream up to `cap` bytes; past that it is marked overflowed and the rest dropped."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.buffer = bytearray()
        self.overflowed = False

    def add(self, chunk: bytes) -> None:
        room = self.cap - len(self.buffer)
        if len(chunk) > room:
            self.overflowed = True
            chunk = chunk[: max(room, 0)]
        self.buffer += chunk


class PipeReader:
    """Reads several pipes from the calling thread until each reaches EOF or the caller gives up."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._open: dict[int, Callable[[bytes], None]] = {}
        self._owned: set[int] = set()

    def add(self, fd: int, sink: Callable[[bytes], None], *, owned: bool = True) -> None:
        """Read `fd` into `sink`. An fd that is not `owned` (a subprocess's stdout, which its file
        object closes) is only forgotten at EOF, never closed here: closing it twice could close
        another thread's file that reused the number in between."""
        os.set_blocking(fd, False)
        self._selector.register(fd, selectors.EVENT_READ)
        self._open[fd] = sink
        if owned:
            self._owned.add(fd)

    @property
    def all_closed(self) -> bool:
        return not self._open

    def pump(self, timeout: float) -> None:
        """Read whatever is ready within `timeout` seconds."""
        if not self._open:
            return
        for key, _ in self._selector.select(timeout):
            fd = int(key.fd)
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    break
                except OSError:
                    chunk = b""
                if not chunk:
                    self._close(fd)
                    break
                self._open[fd](chunk)

    def _close(self, fd: int) -> None:
        self._selector.unregister(fd)
        del self._open[fd]
        if fd in self._owned:
            self._owned.discard(fd)
            with contextlib.suppress(OSError):
                os.close(fd)

    def close(self) -> None:
        """Stop reading: whatever still holds the other end of a pipe no longer matters."""
        for fd in list(self._open):
            self._close(fd)
        self._selector.close()


def project_members(root: Path, excluded: Sequence[str]) -> Iterable[tuple[str, Path, os.stat_result]]:
    """(relative name, path, lstat) of every folder, regular file and symlink under `root`, without
    following symlinks and without the excluded names; FIFOs, sockets and devices are left out."""
    skip = set(excluded)
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name in skip:
                continue
            path = Path(entry.path)
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            relative = path.relative_to(root).as_posix()
            if stat.S_ISDIR(info.st_mode):
                yield relative, path, info
                stack.append(path)
            elif stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode):
                yield relative, path, info


def write_archive(
    fd: int, root: Path | None, excluded: Sequence[str], files: Sequence[tuple[str, str]]
) -> threading.Thread:
    """Start a thread that writes the project (and `files` on top) as a tar stream to `fd`, then
    closes it. A box that dies early makes the write fail with EPIPE, which ends the thread quietly."""

    def run() -> None:
        try:
            with os.fdopen(fd, "wb") as stream, tarfile.open(fileobj=stream, mode="w|") as archive:
                if root is not None:
                    for relative, path, info in project_members(root, excluded):
                        _add(archive, relative, path, info)
                for relative, text in files:
                    data = text.encode("utf-8")
                    member = tarfile.TarInfo(relative)
                    member.size = len(data)
                    member.mode = 0o644
                    archive.addfile(member, io.BytesIO(data))
        except (OSError, ValueError, tarfile.TarError):
            pass

    thread = threading.Thread(target=run, name="aqe-sandbox-archive", daemon=True)
    thread.start()
    return thread


def _add(archive: tarfile.TarFile, relative: str, path: Path, info: os.stat_result) -> None:
    member = tarfile.TarInfo(relative)
    member.mtime = int(info.st_mtime)
    if stat.S_ISDIR(info.st_mode):
        member.type = tarfile.DIRTYPE
        member.mode = 0o755
        archive.addfile(member)
    elif stat.S_ISLNK(info.st_mode):
        member.type = tarfile.SYMTYPE
        member.linkname = os.readlink(path)
        archive.addfile(member)
    else:
        # Opened without following a link and without blocking: the file was regular when listed, and
        # must still be one now (a FIFO swapped in would otherwise hang the archive).
        try:
            handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return
        with os.fdopen(handle, "rb") as source:
            now = os.fstat(source.fileno())
            if not stat.S_ISREG(now.st_mode):
                return
            member.size = now.st_size
            member.mode = 0o755 if now.st_mode & 0o111 else 0o644
            archive.addfile(member, _Exactly(source, now.st_size))


class _Exactly(io.RawIOBase):
    """`size` bytes of a file, padded with zeros if it shrank while being archived (tar needs the
    size announced in the header)."""

    def __init__(self, source: io.BufferedReader, size: int) -> None:
        self._source = source
        self._left = size

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        want = self._left if size < 0 else min(size, self._left)
        chunk = self._source.read(want) or b"\0" * want
        self._left -= len(chunk)
        return chunk


def read_artifacts(data: bytes, wanted: Sequence[str], cap: int) -> dict[str, bytes]:
    """The files the supervisor sent back, as {relative name: content}; anything not asked for, or
    over the cap, is dropped (the stream comes from inside the box)."""
    found: dict[str, bytes] = {}
    if not data:
        return found
    wanted_names = set(wanted)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            for member in archive:
                if member.name not in wanted_names or not member.isfile() or member.size > cap:
                    continue
                extracted = archive.extractfile(member)
                if extracted is not None:
                    found[member.name] = extracted.read()
    except (tarfile.TarError, OSError, EOFError):
        pass
    return found
