"""A real, headless Neovim with the aqe plugin loaded, driven over its RPC API (pynvim).

Neovim runs as its own process (`nvim --headless --listen SOCKET`), with its own config, data and state
folders, so nothing of the developer's own Neovim is read; the test talks to it through the socket.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pynvim

PLUGIN = Path(__file__).resolve().parents[2] / "clients" / "neovim"
STARTUP_TIMEOUT_S = 30

INIT_LUA = """
vim.opt.runtimepath:prepend({plugin})
vim.opt.swapfile = false
_G.aqe_test = {{ progress = {{}} }}
vim.api.nvim_create_autocmd("LspProgress", {{
  callback = function(event)
    local value = event.data.params.value
    table.insert(_G.aqe_test.progress, {{ kind = value.kind, title = value.title, message = value.message }})
  end,
}})
{setup}
"""
"""The test's init.lua: the plugin on the runtimepath, a record of LspProgress events, then `setup`."""


class Neovim:
    def __init__(self, nvim: str, workspace: Path, home: Path, setup_lua: str, env: dict[str, str]) -> None:
        self.workspace = workspace
        init = home / "init.lua"
        init.write_text(INIT_LUA.format(plugin=lua_string(str(PLUGIN)), setup=setup_lua))
        # A short folder of its own: a socket path longer than about 100 bytes cannot be bound.
        self._socket_dir = tempfile.TemporaryDirectory(prefix="aqe-nvim-")
        self.socket = Path(self._socket_dir.name) / "nvim.sock"
        environment = {
            **env,
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_STATE_HOME": str(home / "state"),
            "XDG_CACHE_HOME": str(home / "cache"),
        }
        self.log = (home / "nvim.log").open("wb")
        self.process = subprocess.Popen(
            [nvim, "--headless", "--listen", str(self.socket), "-u", str(init), "-i", "NONE", "-n"],
            cwd=workspace,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.nvim = self._attach(time.monotonic() + STARTUP_TIMEOUT_S)

    def _attach(self, deadline: float) -> Any:
        """Connect once Neovim listens. The socket file appears at bind(), a moment before listen():
        a connection in between is refused, so a refusal before the deadline means try again."""
        while True:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nvim did not start (exit {self.process.poll()}); see {self.log.name}")
            if self.socket.exists():
                try:
                    return pynvim.attach("socket", path=str(self.socket))
                except ConnectionRefusedError:
                    pass
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.process.pid

    def lua(self, code: str, *args: Any) -> Any:
        """Run Lua in Neovim (`...` holds `args`) and return its value."""
        return self.nvim.exec_lua(code, *args)

    def edit(self, relative: str) -> None:
        self.nvim.command(f"edit {relative}")

    def wait_until(self, read: Callable[[], Any], condition: Callable[[Any], bool], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        value = read()
        while not condition(value):
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not seen within {timeout:.0f} s; last {value!r}")
            time.sleep(0.2)
            value = read()
        return value

    def diagnostics(self) -> list[dict[str, Any]]:
        return self.lua("return vim.diagnostic.get(0)")

    def messages(self) -> str:
        """What `:messages` shows: every notification (vim.notify) and error so far."""
        return self.lua('return vim.api.nvim_exec2("messages", { output = true }).output')

    def buffer_text(self) -> str:
        return "\n".join(self.nvim.current.buffer[:])

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.nvim.command("qa!")
        with contextlib.suppress(Exception):
            self.nvim.close()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait()
        self.log.close()
        self._socket_dir.cleanup()


def lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def aqe_setup_lua(**options: str) -> str:
    """`require("aqe").setup({...})` with this checkout's Python running the server; `options` are raw Lua."""
    fields = {"python": lua_string(sys.executable), **options}
    return 'require("aqe").setup({ ' + ", ".join(f"{key} = {value}" for key, value in fields.items()) + " })"
