"""The server-subprocess harness `benchmarks` and `resilience` share: start, await, stop by id."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
