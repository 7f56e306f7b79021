"""Run a benchmark case in a fresh process under a memory watchdog and a time limit.

Shared by the benchmark scripts of this folder (run as scripts, they import it
from their own folder).
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

GIB = 1024**3


@dataclass(frozen=True)
class Watched:
    """What a watched process did: its exit code, output, wall time and resident peak."""

    returncode: int
    stdout: str
    stderr: str
    wall: float
    peak_gib: float  # largest resident set seen, polled every 0.1 s
    stopped: str | None  # why the watchdog stopped it, None if it ran to its end


def status_gib(pid: int | str, field: str) -> float:
    """Return ``field`` (``VmRSS``, ``VmHWM``) of ``/proc/<pid>/status`` in GiB, 0.0 if gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024 / GIB
    except OSError:
        pass
    return 0.0


def tree_rss_gib(pid: int) -> float:
    """Return the resident set of ``pid`` and all its descendants, in GiB (needs psutil)."""
    import psutil

    total = 0
    try:
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return total / GIB


def run_watched(
    cmd: Sequence[str],
    *,
    max_rss_gib: float,
    timeout: float,
    env: Mapping[str, str] | None = None,
    tree: bool = False,
) -> Watched:
    """Run ``cmd``; kill it above ``max_rss_gib`` resident or after ``timeout`` seconds.

    With ``tree``, the resident set is that of the process and all its
    descendants together (a Jupyter kernel started by the command, say;
    needs ``psutil``).
    """
    child = subprocess.Popen(
        list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    stopped: list[str] = []
    seen = [0.0]

    def watch() -> None:
        begun = time.monotonic()
        while child.poll() is None:
            rss = tree_rss_gib(child.pid) if tree else status_gib(child.pid, "VmRSS")
            seen[0] = max(seen[0], rss)
            if rss > max_rss_gib:
                stopped.append(f"stopped at {rss:.1f} GiB resident (cap {max_rss_gib:.1f} GiB)")
            elif time.monotonic() - begun > timeout:
                stopped.append(f"stopped after {timeout:.0f} s (time limit)")
            if stopped:
                child.kill()
                return
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    start = time.perf_counter()
    watcher.start()
    out, err = child.communicate()
    wall = time.perf_counter() - start
    watcher.join()
    return Watched(child.returncode, out, err, wall, seen[0], stopped[0] if stopped else None)
