import os
import random
import tempfile


def rotated_logs() -> list[str]:
    """The rotated log files; how many there are depends on the traffic (30 to 80)."""
    folder = tempfile.mkdtemp(prefix="logs-")
    paths = []
    for index in range(random.randint(30, 80)):
        path = os.path.join(folder, f"app-{index}.log")
        with open(path, "w") as handle:
            handle.write("line\n")
        paths.append(path)
    return paths
