"""What a world may leave behind, seen from /proc and /dev/shm (Linux)."""

from __future__ import annotations

import os
import time
from pathlib import Path

SHM = Path("/dev/shm")


def alive(pid: int) -> bool:
    """True while the process exists at all, a zombie included (a zombie is a leak too)."""
    return Path(f"/proc/{pid}").exists()


def children(pid: int | None = None) -> list[int]:
    """Processes whose parent is `pid` (default: this process), zombies included."""
    pid = os.getpid() if pid is None else pid
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def shm_entries() -> set[str]:
    return {p.name for p in SHM.iterdir()} if SHM.is_dir() else set()


def _in_use() -> set[str]:
    """Names under /dev/shm that some living process has open or mapped."""
    used: set[str] = set()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            used.update(Path(os.readlink(fd)).name for fd in (proc / "fd").iterdir()
                        if os.readlink(fd).startswith(str(SHM)))
            used.update(line.rsplit("/", 1)[-1].split()[0] for line in
                        (proc / "maps").read_text().splitlines() if str(SHM) in line)
        except OSError:
            continue
    return used


def orphaned_shm(before: set[str], settle: float = 5.0) -> list[str]:
    """Segments created since `before` that stay unused by any living process for `settle` s.

    Other pytest workers create and unlink their own segments meanwhile (a multiprocessing
    queue's semaphore lives unmapped for a moment between its owner's exit and the resource
    tracker's unlink), so one look would blame them on the world under test; a real leak stays.
    """
    deadline = time.monotonic() + settle
    persistent: set[str] | None = None
    while True:
        new = shm_entries() - before
        # /proc is read only when something is new; what was unlinked meanwhile is no leak
        orphans = (new - _in_use()) & shm_entries() if new else set()
        persistent = orphans if persistent is None else persistent & orphans
        if not persistent or time.monotonic() >= deadline:
            return sorted(persistent)
        time.sleep(0.2)


def pids_with(marker: str) -> list[int]:
    """Processes whose environment contains `marker` (a path only one test's ranks carry)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker.encode() in environ.read_bytes():
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found
