"""Resident memory of a server: VmRSS of its process and of every process under it."""

from __future__ import annotations

from pathlib import Path


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.extend(int(x) for x in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def rss_mb(pid: int) -> dict[int, float]:
    """MB (10^6 bytes) resident for `pid` and each descendant (a multi-process server's workers)."""
    out: dict[int, float] = {}
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                out[current] = int(line.split()[1]) * 1024 / 1e6  # kB (KiB) to MB
        pending.extend(_children(current))
    return out


def worker_rss_mb(pid: int) -> float:
    """The largest VmRSS among `pid` and its descendants: the memory of the biggest worker."""
    sizes = rss_mb(pid)
    return max(sizes.values()) if sizes else float("nan")
