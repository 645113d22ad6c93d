"""A real, throwaway PostgreSQL server for the tests and the benchmark of the shared flaky history.

It runs the machine's own server binaries (Debian's `postgresql` package puts them under
/usr/lib/postgresql/<version>/bin; `scripts/install-postgres` installs them) in a fresh temporary
folder, on a free loopback port, with password authentication, so that the password a URL carries is
really used and can be looked for in logs. initdb and postgres refuse to run as root: as root the
server runs as `nobody`, in a folder made with mkdtemp (pytest's own temporary root is private to
the user running pytest, so `nobody` could not enter it) and removed when the server is stopped.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
SUPERUSER = "aqe"
UNPRIVILEGED_USER = "nobody"


def find_server_binaries() -> Path | None:
    """The newest folder holding initdb, pg_ctl and postgres (Debian's layout first, then PATH)."""
    candidates = sorted(
        (Path(folder) for folder in glob.glob("/usr/lib/postgresql/*/bin")),
        key=lambda folder: _version_key(folder.parent.name),
        reverse=True,
    )
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(os.path.realpath(on_path)).parent)
    for folder in candidates:
        if all((folder / name).is_file() and os.access(folder / name, os.X_OK) for name in SERVER_BINARIES):
            return folder
    return None


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class PostgresServer:
    binaries: Path
    base: Path
    port: int
    password: str
    run_as: tuple[str, ...]
    """The command prefix that drops root privileges (empty when not root)."""

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def log_file(self) -> Path:
        return self.base / "server.log"

    @property
    def socket_dir(self) -> Path:
        return self.base / "sockets"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}:{quote(self.password, safe='')}@127.0.0.1:{self.port}/{database}"

    def _pg_ctl(self, *arguments: str) -> None:
        completed = subprocess.run(
            [*self.run_as, str(self.binaries / "pg_ctl"), "-D", str(self.data), *arguments],
            capture_output=True,
            text=True,
            env=_server_environment(),
            timeout=120,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"pg_ctl {' '.join(arguments)} failed: {completed.stderr}\n{self.server_log()}")

    def start(self) -> None:
        """Returns once the server accepts connections (pg_ctl -w waits for it)."""
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c max_connections=200"
        self._pg_ctl("-l", str(self.log_file), "-o", options, "-w", "-t", "120", "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-m", mode, "-w", "-t", "120", "stop")

    def server_log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def remove(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


def _server_environment() -> dict[str, str]:
    keep = {key: value for key, value in os.environ.items() if not key.startswith(("PG", "LC_", "LANG"))}
    return {**keep, "LC_ALL": "C", "LANG": "C"}


def start_server(binaries: Path) -> PostgresServer:
    """initdb a new cluster in a temporary folder and start it on a free loopback port."""
    base = Path(tempfile.mkdtemp(prefix="aqe-postgres-"))
    run_as: tuple[str, ...] = ()
    if os.geteuid() == 0:
        user = pwd.getpwnam(UNPRIVILEGED_USER)
        run_as = ("setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--")
    password = "pw-" + secrets.token_hex(12)
    (base / "sockets").mkdir()
    password_file = base / "password"
    password_file.write_text(password + "\n")
    if run_as:
        for path in (base, base / "sockets", password_file):
            os.chown(path, user.pw_uid, user.pw_gid)
    initdb = subprocess.run(
        [*run_as, str(binaries / "initdb"), "-D", str(base / "data"), "-U", SUPERUSER, f"--pwfile={password_file}",
         "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"],
        capture_output=True, text=True, env=_server_environment(), timeout=300,
    )  # fmt: skip
    password_file.unlink()
    if initdb.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {initdb.stderr}")
    last_error: RuntimeError | None = None
    for _ in range(3):  # the free port may be taken between finding it and the server binding it
        server = PostgresServer(binaries, base, free_port(), password, run_as)
        try:
            server.start()
            return server
        except RuntimeError as error:
            last_error = error
    shutil.rmtree(base, ignore_errors=True)
    raise RuntimeError(f"the PostgreSQL server did not start: {last_error}")
