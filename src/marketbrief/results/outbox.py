"""A durable local spool for completions the store could not take.

One file per run (`<run_id>.json`), written to a temporary name, fsync'd, renamed into place and
the directory fsync'd: once `append` returns, the write survives a crash, `kill -9` included.
Replay hands each file to `store.finish_run`, which is idempotent, so replaying twice (or from
two processes at once) stores each completion exactly once.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson

from marketbrief.errors import OutboxError, StoreConflict, StoreUnavailable
from marketbrief.models import (
    Completion,
    DailyAnalysis,
    Outcome,
    Prediction,
    ReportType,
    RunStatus,
    StageRecord,
    TriggerSource,
    version_of,
)

log = logging.getLogger(__name__)
_SAFE_RUN_ID = re.compile(r"^[A-Za-z0-9._-]{1,160}$")
FORMAT = 1


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """What one replay did: stored, rejected (with reasons) and left for later."""

    stored: list[tuple[Completion, Outcome]] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    remaining: int = 0
    store_unavailable: bool = False


class Outbox:
    """Completions waiting for the store, one fsync'd file each under `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.rejected_dir = self.directory / "rejected"

    def append(self, completion: Completion) -> Path:
        """Durably record a completion; returns only after the data and its name are on disk."""
        if not _SAFE_RUN_ID.match(completion.run_id):
            raise OutboxError(f"run_id {completion.run_id!r} cannot name an outbox file")
        body = orjson.dumps(encode(completion))
        target = self.directory / f"{completion.run_id}.json"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(body)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            _fsync_directory(self.directory)
        except OSError as error:
            raise OutboxError(f"cannot write the outbox at {self.directory}: {error}") from error
        log.info(
            "run %s (%s) spooled to the outbox %s: the store did not take it",
            completion.run_id,
            completion.status.value,
            self.directory,
            extra={
                "event": "outbox_spooled",
                "run_id": completion.run_id,
                "status": completion.status.value,
                "outbox": str(self.directory),
            },
        )
        return target

    def pending(self) -> list[Path]:
        """The waiting files, oldest first."""
        if not self.directory.is_dir():
            return []
        stamped: list[tuple[int, str, Path]] = []
        for path in self.directory.glob("*.json"):
            if path.name.startswith(".tmp-"):
                continue
            try:
                stamped.append((path.stat().st_mtime_ns, path.name, path))
            except FileNotFoundError:
                continue  # another process replayed it since the listing
        return [path for _, _, path in sorted(stamped)]

    def depth(self) -> int:
        """How many completions are waiting."""
        return len(self.pending())

    def rejected(self) -> list[Path]:
        """Completions the store refused for good (each with a `.reason` file beside it)."""
        if not self.rejected_dir.is_dir():
            return []
        return sorted(self.rejected_dir.glob("*.json"))

    def rejections(self) -> dict[str, str]:
        """Rejected run ids with the reason each was refused."""
        reasons: dict[str, str] = {}
        for path in self.rejected():
            reason = path.with_suffix(".reason")
            reasons[path.stem] = reason.read_text().strip() if reason.exists() else "unknown"
        return reasons

    def read(self, path: Path) -> Completion:
        """Decode one waiting file."""
        try:
            return decode(orjson.loads(path.read_bytes()))
        except (OSError, orjson.JSONDecodeError, KeyError, ValueError, TypeError) as error:
            raise OutboxError(f"unreadable outbox file {path.name}: {error}") from error

    async def replay(self, finish: Callable[[Completion], Awaitable[Outcome]]) -> ReplayReport:
        """Hand every waiting completion to `finish` (the store); stop at the first outage."""
        report = ReplayReport()
        waiting = self.pending()
        for index, path in enumerate(waiting):
            try:
                completion = self.read(path)
                try:
                    result = await finish(completion)
                except StoreConflict:
                    # Another process replaying the same file may have inserted this run a
                    # moment ago; finish_run is idempotent, so a second call tells that race
                    # (already finished) from a real conflict (which fails again).
                    result = await finish(completion)
            except StoreUnavailable:
                return ReplayReport(report.stored, report.rejected, len(waiting) - index, True)
            except (StoreConflict, OutboxError) as error:
                # Retrying cannot help; keep the data aside with the reason, never drop it.
                # A file that vanished meanwhile was taken by another replayer: not ours.
                if path.exists() and self._reject(path, str(error)):
                    report.rejected[path.stem] = str(error)
                    log.warning(
                        "run %s rejected by the outbox replay, kept aside: %s",
                        path.stem,
                        error,
                        extra={
                            "event": "outbox_rejected",
                            "run_id": path.stem,
                            "reason": str(error),
                        },
                    )
                continue
            report.stored.append((completion, result))
            path.unlink(missing_ok=True)
            log.info(
                "run %s replayed from the outbox into the store",
                completion.run_id,
                extra={
                    "event": "outbox_replayed",
                    "run_id": completion.run_id,
                    "status": completion.status.value,
                    "published": result.published,
                },
            )
        return report

    def _reject(self, path: Path, reason: str) -> bool:
        """Move a waiting file to rejected/ beside its reason; False if it is already gone."""
        self.rejected_dir.mkdir(parents=True, exist_ok=True)
        reason_file = self.rejected_dir / f"{path.stem}.reason"
        reason_file.write_text(reason + "\n")
        try:
            os.replace(path, self.rejected_dir / path.name)
        except FileNotFoundError:
            reason_file.unlink(missing_ok=True)  # another replayer took it meanwhile
            return False
        _fsync_directory(self.rejected_dir)
        _fsync_directory(self.directory)
        return True


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def encode(c: Completion) -> dict[str, Any]:
    """A completion as a JSON-ready dict (content as base64, so bytes survive exactly)."""
    return {
        "format": FORMAT,
        "run_id": c.run_id,
        "job_type": c.report_type.value,
        "scheduled_date": c.scheduled_date.isoformat(),
        "trigger_source": c.trigger_source.value,
        "started_at": c.started_at.isoformat(),
        "executed_at": c.executed_at.isoformat(),
        "status": c.status.value,
        "content": None if c.content is None else base64.b64encode(c.content).decode(),
        "version": c.version,
        "metadata": c.metadata,
        "predictions": [p.as_dict() for p in c.predictions],
        "symbols": [
            c.symbols_processed,
            c.symbols_successful,
            c.symbols_fallback,
            c.symbols_failed,
        ],
        "errors": list(c.errors),
        "warnings": list(c.warnings),
        "stages": [record.as_dict() for record in c.stages],
        "daily_analysis": c.daily_analysis.as_dict() if c.daily_analysis else None,
    }


def decode(raw: dict[str, Any]) -> Completion:
    """The inverse of `encode`."""
    if raw.get("format") != FORMAT:
        raise ValueError(f"unknown outbox format {raw.get('format')!r}")
    processed, successful, fallback, failed = raw["symbols"]
    content = raw["content"]
    analysis = raw.get("daily_analysis")  # absent from files spooled before it was kept here
    started_at = datetime.fromisoformat(raw["started_at"])
    # A file spooled before the store issued versions carries none: its version was its start.
    version = raw.get("version")
    return Completion(
        run_id=raw["run_id"],
        report_type=ReportType(raw["job_type"]),
        scheduled_date=date.fromisoformat(raw["scheduled_date"]),
        trigger_source=TriggerSource(raw["trigger_source"]),
        started_at=started_at,
        executed_at=datetime.fromisoformat(raw["executed_at"]),
        status=RunStatus(raw["status"]),
        content=None if content is None else base64.b64decode(content, validate=True),
        version=int(version) if version is not None else version_of(started_at),
        metadata=raw["metadata"],
        predictions=tuple(Prediction.from_dict(p) for p in raw["predictions"]),
        symbols_processed=processed,
        symbols_successful=successful,
        symbols_fallback=fallback,
        symbols_failed=failed,
        errors=tuple(raw["errors"]),
        warnings=tuple(raw["warnings"]),
        stages=tuple(StageRecord.from_dict(r) for r in raw.get("stages", [])),
        daily_analysis=DailyAnalysis.from_dict(analysis) if analysis else None,
    )
