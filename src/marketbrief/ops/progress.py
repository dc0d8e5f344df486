"""Progress reporting for long library operations: none unless the caller passes a reporter.

A `Progress` is called with the number of steps and a label and gives a context manager that
yields `advance()`, to call once a step. Backup, restore and the D1 import take
`progress: Progress | None = None` and report nothing by default; the CLI passes its bar.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

Advance = Callable[[], None]
Progress = Callable[[int, str], AbstractContextManager[Advance]]


def advancing(progress: Progress | None, total: int, label: str) -> AbstractContextManager[Advance]:
    """`progress(total, label)`, or a silent `advance()` when no reporter was passed."""
    return nullcontext(_silent) if progress is None else progress(total, label)


def _silent() -> None:
    """A step done, reported to no one."""
