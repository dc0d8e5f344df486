"""Durable file writes for archives: every OSError named, every file and rename fsync'd."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

from marketbrief.errors import MarketbriefError


def guarded(action: Any, path: Path) -> Any:
    """Run a file operation; an OSError becomes a MarketbriefError naming the path (exit 1)."""
    try:
        return action()
    except OSError as error:
        raise MarketbriefError(f"cannot write {path}: {error.strerror or error}") from None


def opened(path: Path, mode: str) -> IO[bytes]:
    """Open a file; an OSError becomes a MarketbriefError naming the path."""
    handle: IO[bytes] = guarded(lambda: path.open(mode), path)
    return handle


def fsync_handle(handle: IO[bytes], path: Path) -> None:
    """Flush an open file through to the disk."""
    guarded(handle.flush, path)
    guarded(lambda: os.fsync(handle.fileno()), path)


def fsync_dir(path: Path) -> None:
    """Make a rename durable: fsync the folder that holds it (a no-op where unsupported)."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def fsync_file(path: Path) -> None:
    """Flush one finished file to disk."""
    with opened(path, "rb") as handle:
        guarded(lambda: os.fsync(handle.fileno()), path)
