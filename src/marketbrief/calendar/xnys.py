"""The NYSE (XNYS) sessions from exchange_calendars, worked out in a child process.

exchange_calendars builds its schedule with pandas, which would stay in a serving process's
memory for good (about 45 MB per worker, measured) to answer what a few dictionaries hold. So
the schedule is computed in a short-lived child (`print_schedule`), which prints it as JSON
lines; the parent keeps plain dates and instants and never imports pandas.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from datetime import UTC, date, datetime

from marketbrief.errors import ConfigError

Sessions = dict[date, tuple[datetime, datetime]]
_CHILD = (
    "import sys; from marketbrief.calendar.xnys import print_schedule; "
    "print_schedule(*sys.argv[1:])"
)


def sessions(start: date, end: date) -> tuple[Sessions, frozenset[date]]:
    """Every XNYS session from `start` to `end` (open and close, UTC) and its early closes."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run(  # noqa: S603 - our own interpreter and module, fixed arguments
        [sys.executable, "-c", _CHILD, start.isoformat(), end.isoformat()],
        capture_output=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise ConfigError(
            "could not build the NYSE calendar (exchange_calendars): "
            + done.stderr.decode(errors="replace").strip()[-500:]
        )
    lines = done.stdout.decode().splitlines()
    early = frozenset(date.fromisoformat(d) for d in json.loads(lines[0]))
    times: Sessions = {}
    for line in lines[1:]:
        day, opened, closed = json.loads(line)
        times[date.fromisoformat(day)] = (
            datetime.fromisoformat(opened),
            datetime.fromisoformat(closed),
        )
    return times, early


def print_schedule(start: str, end: str) -> None:
    """Print the XNYS schedule as JSON lines: the early closes, then one line per session."""
    with warnings.catch_warnings():
        # exchange_calendars 4.13 trips pandas 3 deprecation warnings inside its own
        # constructor; they are not ours to fix and must not fail warnings-as-errors runs.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        import exchange_calendars

        xnys = exchange_calendars.get_calendar("XNYS", start=start, end=end)
        schedule = xnys.schedule
        out = [json.dumps(sorted(label.date().isoformat() for label in xnys.early_closes))]
        for label, opened, closed in zip(
            schedule.index, schedule["open"], schedule["close"], strict=True
        ):
            # pandas hands out ZoneInfo("UTC"); normalise to datetime.UTC.
            out.append(
                json.dumps(
                    [
                        label.date().isoformat(),
                        opened.to_pydatetime().astimezone(UTC).isoformat(),
                        closed.to_pydatetime().astimezone(UTC).isoformat(),
                    ]
                )
            )
    sys.stdout.write("\n".join(out) + "\n")
