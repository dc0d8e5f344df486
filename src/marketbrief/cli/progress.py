"""Progress bars for long commands: Rich on a terminal, silence in scripts.

The library (backup, restore, the D1 import) reports no progress unless it is passed a
`marketbrief.ops.progress.Progress`; the commands pass `progress_bar`, the backfill uses it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import Progress


@contextmanager
def progress_bar(total: int, label: str) -> Iterator[Callable[[], None]]:
    """Yield an `advance()` callable; draws a bar only when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield lambda: None
        return
    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda: progress.advance(task)
