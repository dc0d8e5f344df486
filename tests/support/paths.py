"""Where things are, however deep the test module that asks: the repository and its test data."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"  # recorded news, prices and feeds, and the labelled headlines
