"""What every scenario shares: its result (checks, counts, tables, notes) and its cleanup stack."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Check:
    """One promise a scenario tested: whether it held, and the numbers behind the verdict."""

    name: str
    ok: bool
    detail: str = ""


@dataclass
class ScenarioResult:
    """What one scenario did and saw; rendered into docs/resilience.md."""

    key: str
    title: str
    counts: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    tables: list[tuple[str, list[str], list[list[Any]]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        """Record one check; returns `ok` so callers can branch on it."""
        self.checks.append(Check(name, bool(ok), detail))
        return bool(ok)

    def add_counts(self, counts: dict[str, Any], *, prefix: str) -> None:
        """Record each of `counts` as "<prefix> <name>" (one backend's counts among others)."""
        for key, value in counts.items():
            self.counts[f"{prefix} {key}"] = value

    @property
    def ok(self) -> bool:
        """Every check held and nothing crashed."""
        return self.error is None and all(c.ok for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (for --json and the pytest entry)."""
        return {
            "key": self.key,
            "title": self.title,
            "ok": self.ok,
            "seconds": round(self.seconds, 1),
            "error": self.error,
            "counts": self.counts,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
            "tables": [{"title": t, "header": h, "rows": r} for t, h, r in self.tables],
            "notes": self.notes,
        }


@contextlib.contextmanager
def cleanup() -> Iterator[contextlib.ExitStack]:
    """An exit stack whose callbacks run even when a scenario fails half-way."""
    with contextlib.ExitStack() as stack:
        yield stack
