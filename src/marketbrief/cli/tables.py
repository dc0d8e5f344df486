"""A report's payload as text for a terminal: its plain fields, then each list of rows as a table.

Generic over the four report types on purpose: whatever rows a payload holds (per symbol, per
session), the table shows their plain columns, so a field a builder adds is shown without
touching this module. `--json` prints the payload itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_HIDDEN = frozenset({"report_type", "business_date"})  # already in the header line
MAX_CELL = 40


def cell(value: Any, limit: int = MAX_CELL) -> str:
    """One value as people read it: 2 decimals, yes/no, a dash for nothing."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _rows(values: Any) -> list[bool]:
    return [isinstance(v, Mapping) for v in values]


def table(rows: Sequence[Mapping[str, Any]], first: str | None = None) -> list[str]:
    """Rows of dicts as aligned lines: a header, a rule, one line per row (plain columns)."""
    columns: list[str] = [first] if first else []
    for row in rows:
        for name, value in row.items():
            if name not in columns and _plain(value):
                columns.append(name)
    grid = [[cell(row.get(name)) for name in columns] for row in rows]
    widths = [max([len(name)] + [len(line[i]) for line in grid]) for i, name in enumerate(columns)]
    lines = ["  ".join(name.ljust(w) for name, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) for line in grid]
    return [line.rstrip() for line in lines]


def report_lines(data: Mapping[str, Any]) -> list[str]:
    """A payload as text: `name: value` for its plain fields, then a table per list of rows."""
    lines = [
        f"  {name}: {cell(v)}" for name, v in data.items() if _plain(v) and name not in _HIDDEN
    ]
    for name, value in data.items():
        rows: list[Mapping[str, Any]] = []
        first = None
        if isinstance(value, list) and value and all(isinstance(r, Mapping) for r in value):
            rows = value
        elif (
            isinstance(value, Mapping)
            and value
            and all(isinstance(r, Mapping) for r in value.values())
        ):
            first = "key"
            rows = [{"key": key, **row} for key, row in value.items()]
        elif isinstance(value, Mapping) and value and all(_plain(v) for v in value.values()):
            lines.append(f"  {name}: " + ", ".join(f"{k} {cell(v)}" for k, v in value.items()))
            continue
        if rows:
            lines += ["", f"{name}:", *table(rows, first)]
    return lines
