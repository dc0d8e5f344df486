"""The arithmetic every section of docs/performance.md shares: medians, spreads, ratios."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from statistics import median

from benchmarks.outcome import Outcome

Emit = Callable[[str], None]


def spread(values: Sequence[float], digits: int = 0, unit: str = "") -> str:
    """`median (min–max)` of values, or the one value when there is one."""
    if not values:
        return "—"
    fmt = f"{{:,.{digits}f}}"
    mid = fmt.format(median(values)) + unit
    if len(values) == 1:
        return mid
    return f"{mid} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def ms(value: float, digits: int = 2) -> str:
    """A latency in ms; "∞" for requests never answered (the open loop counts them so)."""
    return "∞" if value == float("inf") else f"{value:,.{digits}f}"


def times(value: float) -> str:
    """A multiple, "∞×" when the numerator was never answered."""
    return "∞×" if value == float("inf") else f"{value:.1f}×"


def round_ratios(outcome: Outcome, key: str, over: str) -> list[float]:
    """rps(key) / rps(over), round by round (each pair measured seconds apart)."""
    a = outcome.throughput.get(key, [])
    b = outcome.throughput.get(over, [])
    return [x.requests_per_second / y.requests_per_second for x, y in zip(a, b, strict=False)]


def fastest_ratios(outcome: Outcome, key: str) -> list[float]:
    """rps(key) over the faster of the two bare ceilings of the same round."""
    fastest = [
        max(pair)
        for pair in zip(
            rps_of(outcome, "ceiling"), rps_of(outcome, "ceiling_fastest"), strict=False
        )
    ] or rps_of(outcome, "ceiling")
    return [x / y for x, y in zip(rps_of(outcome, key), fastest, strict=False)]


def rps_of(outcome: Outcome, key: str) -> list[float]:
    """The requests/s of every closed-loop round of `key`."""
    return [r.requests_per_second for r in outcome.throughput.get(key, [])]


def cost_us(outcome: Outcome, key: str) -> float | None:
    """Server time per request at the closed-loop maximum (1 / median req/s), in µs."""
    rps = rps_of(outcome, key)
    return 1e6 / median(rps) if rps else None
