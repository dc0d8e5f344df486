"""What `serve` logs: uvicorn's format, the access log only when asked, and no floods.

A burst of connections that time out, are refused, or send garbage makes the server repeat
one message per connection. The `Throttle` filter lets each message (by its template, per
logger) through at most once per interval; the next one through says how many it stood for.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any


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


def log_config(*, access_log: bool, throttle_seconds: float) -> dict[str, Any]:
    """A `logging.config.dictConfig` for uvicorn and marketbrief under `serve`."""
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "default",
        "filters": ["throttle"],
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "throttle": {"()": Throttle, "interval": throttle_seconds},
        },
        "formatters": {
            "default": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(levelprefix)s %(message)s",
                "use_colors": None,
            },
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
            },
        },
        "handlers": {
            "default": handler,
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
            "marketbrief": {"handlers": ["default"], "level": "WARNING", "propagate": False},
        },
    }
