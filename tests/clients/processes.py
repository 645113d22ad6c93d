"""The aqe servers an editor started, found the way a person would with `ps`: by walking /proc."""

from __future__ import annotations

from pathlib import Path


def aqe_server_pids(ancestor: int) -> list[int]:
    """Running `aqe serve` processes started (at any depth) by process `ancestor`."""
    parents: dict[int, int] = {}
    servers: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] == "Z":
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        if b"aqe" in command and b"serve" in command and b"-c" not in command:
            servers.append(pid)

    def descends(pid: int) -> bool:
        seen = set()
        while pid > 1 and pid not in seen:
            if pid == ancestor:
                return True
            seen.add(pid)
            pid = parents.get(pid, 0)
        return False

    return sorted(pid for pid in servers if descends(parents.get(pid, 0)))
