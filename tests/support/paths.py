"""Where things are, however deep the test module that asks: the repository and its test data.

DATA holds recorded news, prices and feeds, and the labelled headlines; SINCE and UNTIL are the
window its news was recorded for.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
# A pre-market run on 2025-01-07 (08:30 New York) looking back one day.
UNTIL = datetime(2025, 1, 7, 13, 30, tzinfo=UTC)
SINCE = UNTIL - timedelta(days=1)
