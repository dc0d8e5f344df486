"""What marketbrief logs and how: one line per event, human or JSON lines, and no floods.

Every process writes its events (a run started, finished or failed; a completion spooled to
the outbox or replayed from it; each catch-up decision) one line each: a human line by
default, a JSON object per line with `MARKETBRIEF_LOG_FORMAT=json`. An event's fields ride on
the record (`extra={"event": "run_finished", "run_id": ...}`) and become the JSON line's keys.
`serve` and `scheduler` log events from INFO; the one-shot commands, which print what they
did, only warnings (`install`). Under `serve`, uvicorn's own lines share the format, and the
access log is off unless asked.

A burst of connections that time out, are refused, or send garbage makes the server repeat
one message per connection. The `Throttle` filter lets each message (by its template, per
logger) through at most once per interval; the next one through says how many it stood for.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

LOGGER = "marketbrief"
# What every LogRecord carries by itself: anything else on a record is an event's field.
_RECORD_KEYS = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's coloured copy of the message
    "taskName",
}


def _instant(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class HumanLines(logging.Formatter):
    """`2026-12-02T10:25:01.250Z INFO    run ... finished success in 812 ms`: one line each."""

    def format(self, record: logging.LogRecord) -> str:
        """The instant, the level and the message (and a trace, when there is one)."""
        line = f"{_instant(record)} {record.levelname:<7} {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonLines(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the event's own fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (a trace, when there is one, as the `trace` field)."""
        line: dict[str, Any] = {
            "time": _instant(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_KEYS and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["trace"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def formatter(log_format: str) -> logging.Formatter:
    """The formatter for a `MARKETBRIEF_LOG_FORMAT` value (`human` or `json`)."""
    return JsonLines() if log_format == "json" else HumanLines()


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a record comes, never to a stream since closed."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record to the current standard error."""
        self.stream = sys.stderr
        super().emit(record)


def install(log_format: str, *, events: bool) -> None:
    """Write log records to standard error in `log_format`.

    With `events` (the long-running commands) marketbrief's records from INFO up get a
    handler of their own. Otherwise only warnings are written, and only where nothing else
    handles them: the standard library's last resort, given this format.
    """
    handler = StderrHandler()
    handler.setFormatter(formatter(log_format))
    if not events:
        handler.setLevel(logging.WARNING)
        logging.lastResort = handler
        return
    logger = logging.getLogger(LOGGER)
    for old in [h for h in logger.handlers if isinstance(h, StderrHandler)]:
        logger.removeHandler(old)
    handler.setLevel(logging.INFO)
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)


class Throttle(logging.Filter):
    """Each (logger, message template) at most once per `interval` seconds, with a count."""

    def __init__(self, interval: float = 10.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], float] = {}
        self._held: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """Pass the record if its template was quiet for an interval; otherwise count it."""
        key = (record.name, str(record.msg))
        now = self.clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                self._held[key] = self._held.get(key, 0) + 1
                return False
            self._last[key] = now
            held = self._held.pop(key, 0)
            if len(self._last) > 10_000:  # templates are few; never let the table grow
                self._last = {key: now}
        if held:
            record.msg = f"{record.msg} (and {held} more like it in the last {self.interval:g} s)"
        return True


def log_config(
    *, access_log: bool, throttle_seconds: float, log_format: str = "human"
) -> dict[str, Any]:
    """A `logging.config.dictConfig` for uvicorn and marketbrief under `serve`."""
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "default",
        "filters": ["throttle"],
        "stream": "ext://sys.stderr",
    }
    lines: dict[str, Any] | None = {"()": JsonLines} if log_format == "json" else None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "throttle": {"()": Throttle, "interval": throttle_seconds},
        },
        "formatters": {
            "default": lines
            or {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(levelprefix)s %(message)s",
                "use_colors": None,
            },
            "access": lines
            or {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
            },
            "events": lines or {"()": HumanLines},
        },
        "handlers": {
            "default": handler,
            "events": {**handler, "formatter": "events"},
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "access",
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {
                "handlers": ["access"] if access_log else [],
                "level": "INFO" if access_log else "WARNING",
                "propagate": False,
            },
            "asyncio": {"handlers": ["default"], "level": "WARNING", "propagate": False},
            LOGGER: {"handlers": ["events"], "level": "INFO", "propagate": False},
        },
    }
